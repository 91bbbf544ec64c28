#!/usr/bin/env bats
# API keys (API.md 6.1 and 6.2): /v1/api-keys with the keys:manage scope,
# scopes granted only on the command line, expiry, rotation, revocation,
# another org's keys hidden, and the change records of 6.4 in audit_log.
#
# ADMIN (org A) and ADMIN_B (org B) carry keys:manage; KEY and KEY_B, from
# setup_db, carry no scope.

load helper

KEY_FIELDS="created_at,created_by,expired,expires_at,id,last_used_at,name,revoked,scopes"
NEW_FIELDS="created_at,expires_at,id,name,scopes,secret"
ROTATED_FIELDS="created_at,expires_at,id,name,revoked_id,scopes,secret"

setup_file() {
  setup_db
  ADMIN=$(cli key create "$ORG" --name "admin A" --scope keys:manage 2>/dev/null)
  ADMIN_B=$(cli key create "$ORG_B" --name "admin B" --scope keys:manage 2>/dev/null)
  ADMIN_ID=$(sql "select id from api_keys where name = 'admin A'")
  export ADMIN ADMIN_B ADMIN_ID
}
teardown_file() { teardown_db; }

# keys_digest: the keys and the change records (not the API-call records
# or last_used_at, which every authenticated call may write), to show
# that a refused request changed nothing.
keys_digest() {
  sql "select id, name, secret_hash, created_at, revoked_at, scopes,
         expires_at, created_by from api_keys order by rowid;
       select * from audit_log where event_type <> 'external_api_call'
         order by seq" | sha256sum | cut -d' ' -f1
}

# mk_key NAME [EXTRA_JSON_FIELDS]: a key made through the API by ADMIN;
# sets KID (its id) and SECRET. (Not in $(...): it sets variables.)
mk_key() {
  api --key "$ADMIN" POST /v1/api-keys "{\"name\":\"$1\"${2:+,$2}}"
  [ "$code" = 201 ] || { echo "mk_key: $code $body" >&2; return 1; }
  SECRET="$(json .secret)"
  KID="$(created_id)"
}

# cli_key NAME [OPTIONS...]: a key of org A made on the command line;
# prints its secret.
cli_key() {
  local name="$1"
  shift
  cli key create "$ORG" --name "$name" "$@" 2>/dev/null
}

# id_of NAME: the id of org A's key with this name.
id_of() {
  sql "select id from api_keys where org_id = '$ORG' and name = '$1'"
}

# changes TARGET: the change records of TARGET, oldest first, one per line:
# event_type|event_group|target_type|actor_id|actor_name.
changes() {
  sql "select event_type, event_group, target_type, coalesce(actor_id, '-'),
         coalesce(actor_name, '-') from audit_log
       where target_id = '$1' and event_type <> 'external_api_call'
       order by seq"
}

# day EPOCH: the UTC date of a Unix time, as a rotation names it.
day() { date -u -d "@$1" +%F; }

# -------------------------------------------------------------------------
# Scope (6.1): before anything else of the request

@test "a key without keys:manage gets 403 insufficient_scope on every route, even with a malformed body" {
  local id before
  id="$(id_of "admin A")"
  before="$(keys_digest)"
  api GET /v1/api-keys
  assert_error 403 insufficient_scope
  assert_json '.detail.message | contains("keys:manage")' true
  api POST /v1/api-keys '{"name":'
  assert_error 403 insufficient_scope
  api POST /v1/api-keys '[1,2]'
  assert_error 403 insufficient_scope
  api POST /v1/api-keys '{"name":"ok"}'
  assert_error 403 insufficient_scope
  api POST "/v1/api-keys/$id/rotate"
  assert_error 403 insufficient_scope
  api POST "/v1/api-keys/$id/revoke" '{"reason":'
  assert_error 403 insufficient_scope
  api POST "/v1/api-keys/$id/revoke" '{"reason":5}'
  assert_error 403 insufficient_scope
  api POST /v1/api-keys/not-an-id/revoke
  assert_error 403 insufficient_scope
  [ "$(keys_digest)" = "$before" ] || fail "a refused request changed the keys or their records"
}

@test "authentication comes before the scope: no key is 401, a revoked admin key is 401" {
  local secret
  api --no-auth GET /v1/api-keys
  assert_detail 401 "Not authenticated"
  secret="$(cli_key "short-lived admin" --scope keys:manage)"
  cli key revoke "$(id_of "short-lived admin")"
  api --key "$secret" GET /v1/api-keys
  assert_detail 401 "Invalid or expired API key."
}

@test "a route's other methods are 405 with Allow" {
  api --key "$ADMIN" DELETE /v1/api-keys
  assert_detail 405 "Method Not Allowed"
  [ "$(header Allow)" = "GET, POST" ] || fail "Allow: $(header Allow)"
  api --key "$ADMIN" GET "/v1/api-keys/$ADMIN_ID/revoke"
  assert_detail 405 "Method Not Allowed"
  [ "$(header Allow)" = "POST" ] || fail "Allow: $(header Allow)"
}

# -------------------------------------------------------------------------
# GET /v1/api-keys

@test "the list is {data}, every key of the org newest first, revoked and expired included, never a secret" {
  local a b c
  mk_key "list one"; a="$KID"
  mk_key "list two"; b="$KID"
  mk_key "list three"; c="$KID"
  api --key "$ADMIN" POST "/v1/api-keys/$a/revoke"
  assert_status 200
  sql "update api_keys set expires_at = strftime('%s','now') - 10 where id = '$b'"
  api --key "$ADMIN" GET /v1/api-keys
  assert_status 200
  assert_json 'keys | join(",")' data
  assert_json "[.data[].id] | index(\"$c\") < index(\"$b\") and index(\"$b\") < index(\"$a\")" true
  assert_json "[.data[] | keys | join(\",\")] | unique | join(\";\")" "$KEY_FIELDS"
  assert_json ".data | length" "$(sql "select count(*) from api_keys where org_id = '$ORG'")"
  assert_json "[.data[].id] == [$(sql "select group_concat(quote(id), ',') from
     (select id from api_keys where org_id = '$ORG' order by created_at desc, rowid desc)" | tr "'" '"')]" true
  assert_json ".data[] | select(.id == \"$a\") | [.revoked, .expired, .scopes] | tostring" '[true,false,[]]'
  assert_json ".data[] | select(.id == \"$b\") | [.revoked, .expired] | tostring" '[false,true]'
  assert_json ".data[] | select(.id == \"$c\") | [.name, .revoked, .expired, .last_used_at, .expires_at, .created_by] | tostring" \
    "[\"list three\",false,false,null,null,\"$ADMIN_ID\"]"
  assert_json ".data[] | select(.name == \"admin A\") | [.scopes, .created_by] | tostring" '[["keys:manage"],null]'
  [[ "$body" != *ak_live_* ]] || fail "a secret in the list: $body"
  [[ "$body" != *secret* ]] || fail "a secret field in the list: $body"
}

@test "another org's keys are never listed" {
  local mine
  mk_key "org A only"; mine="$KID"
  api --key "$ADMIN_B" GET /v1/api-keys
  assert_status 200
  assert_json "[.data[].id] | index(\"$mine\")" null
  assert_json ".data | length" "$(sql "select count(*) from api_keys where org_id = '$ORG_B'")"
  assert_json '[.data[].name] | index("test key B") != null' true
  assert_json '[.data[].name] | index("admin A")' null
}

# -------------------------------------------------------------------------
# POST /v1/api-keys

@test "create answers 201 with the secret once, and the new key works without any scope" {
  local id secret
  api --key "$ADMIN" POST /v1/api-keys '{"name":"  CI deploy  ","seconds_until_expiration":3600}'
  assert_status 201
  assert_json 'keys | join(",")' "$NEW_FIELDS"
  assert_json '.name' "CI deploy"
  assert_json '.scopes | tostring' '[]'
  assert_json '.expires_at - .created_at' 3600
  assert_json '.id | test("^cbak_[0-9a-f]{32}$")' true
  assert_json '.secret | test("^ak_live_[A-Za-z0-9]{43}$")' true
  id="$(json .id)"
  secret="$(json .secret)"
  [ "$(sql "select lower(hex(secret_hash)) from api_keys where id = '$id'")" = \
    "$(printf %s "$secret" | sha256sum | cut -d' ' -f1)" ] || fail "the stored hash is not the secret's SHA-256"
  [ "$(sql "select created_by || ' ' || scopes from api_keys where id = '$id'")" = "$ADMIN_ID []" ] ||
    fail "created_by or scopes wrong"
  api --key "$secret" GET /v1/vendors
  assert_status 200
  api --key "$secret" GET /v1/api-keys
  assert_error 403 insufficient_scope
}

@test "create without an expiry makes a key that never expires; scopes [] and null are allowed" {
  api --key "$ADMIN" POST /v1/api-keys '{"name":"forever","scopes":[]}'
  assert_status 201
  assert_json '.expires_at' null
  api --key "$ADMIN" POST /v1/api-keys '{"name":"forever too","scopes":null,"seconds_until_expiration":null}'
  assert_status 201
  assert_json '.expires_at' null
  assert_json '.scopes | tostring' '[]'
}

@test "create validates the body's shape: 422 with every problem listed" {
  local before
  before="$(keys_digest)"
  api --key "$ADMIN" POST /v1/api-keys '{}'
  assert_422 '["body","name"]' missing
  api --key "$ADMIN" POST /v1/api-keys
  assert_422 '["body"]' missing
  api --key "$ADMIN" POST /v1/api-keys '{"name":null}'
  assert_422 '["body","name"]' string_type
  api --key "$ADMIN" POST /v1/api-keys '{"name":5,"seconds_until_expiration":"60","scopes":"keys:manage"}'
  assert_422 '["body","name"]' string_type
  assert_422 '["body","seconds_until_expiration"]' int_type
  assert_422 '["body","scopes"]' list_type
  assert_json '.detail | length' 3
  api --key "$ADMIN" POST /v1/api-keys "{\"name\":\"$(printf 'n%.0s' $(seq 501))\"}"
  assert_422 '["body","name"]' string_too_long
  api --key "$ADMIN" POST /v1/api-keys '{"name":"x","seconds_until_expiration":59}'
  assert_422 '["body","seconds_until_expiration"]' greater_than_equal
  api --key "$ADMIN" POST /v1/api-keys '{"name":"x","seconds_until_expiration":315360001}'
  assert_422 '["body","seconds_until_expiration"]' less_than_equal
  api --key "$ADMIN" POST /v1/api-keys '{"name":"x","seconds_until_expiration":60.5}'
  assert_422 '["body","seconds_until_expiration"]' int_type
  api --key "$ADMIN" POST /v1/api-keys '{"name":"x","seconds_until_expiration":true}'
  assert_422 '["body","seconds_until_expiration"]' int_type
  api --key "$ADMIN" POST /v1/api-keys '{"name":"x","scopes":[5]}'
  assert_422 '["body","scopes",0]' string_type
  api --key "$ADMIN" POST /v1/api-keys '{"name":'
  assert_422 '["body"]' json_invalid
  api --key "$ADMIN" POST /v1/api-keys '["x"]'
  assert_422 '["body"]' model_attributes_type
  api --key "$ADMIN" --ct text/plain POST /v1/api-keys '{"name":"x"}'
  assert_error 415 unsupported_media_type
  [ "$(keys_digest)" = "$before" ] || fail "a refused create changed something"
}

@test "the bounds of seconds_until_expiration and of name are inclusive" {
  api --key "$ADMIN" POST /v1/api-keys '{"name":"min ttl","seconds_until_expiration":60}'
  assert_status 201
  assert_json '.expires_at - .created_at' 60
  api --key "$ADMIN" POST /v1/api-keys '{"name":"max ttl","seconds_until_expiration":315360000}'
  assert_status 201
  assert_json '.expires_at - .created_at' 315360000
  api --key "$ADMIN" POST /v1/api-keys "{\"name\":\"$(printf 'n%.0s' $(seq 500))\"}"
  assert_status 201
}

@test "a name blank after trimming is 400 invalid_name, after the shape" {
  local before body1
  before="$(keys_digest)"
  for body1 in '{"name":""}' '{"name":"   "}' '{"name":" \t\n "}'; do
    api --key "$ADMIN" POST /v1/api-keys "$body1"
    assert_error 400 invalid_name
  done
  api --key "$ADMIN" POST /v1/api-keys '{"name":" ","seconds_until_expiration":1}'
  assert_422 '["body","seconds_until_expiration"]' greater_than_equal
  [ "$(keys_digest)" = "$before" ] || fail "a refused create changed something"
}

@test "no API call can grant a scope: a non-empty scopes is 403 scope_grant_forbidden" {
  local before s
  before="$(keys_digest)"
  for s in '["keys:manage"]' '["audit:read"]' '["bogus"]' '["keys:manage","audit:read"]'; do
    api --key "$ADMIN" POST /v1/api-keys "{\"name\":\"grabby\",\"scopes\":$s}"
    assert_error 403 scope_grant_forbidden
  done
  api --key "$ADMIN" POST /v1/api-keys '{"name":"  ","scopes":["keys:manage"]}'
  assert_error 400 invalid_name
  [ "$(keys_digest)" = "$before" ] || fail "a refused create changed something"
  [ "$(sql "select count(*) from api_keys where scopes <> '[]' and created_by is not null")" = 0 ] ||
    fail "a key made by the API holds a scope"
}

# -------------------------------------------------------------------------
# Rotate

@test "rotate makes a new key with the old one's scopes and expiry and revokes the old one at once" {
  local old_secret old new new_secret d expires
  old_secret="$(cli_key "rot-$BATS_TEST_NUMBER" --scope keys:manage --scope audit:read --expires-in 7200)"
  old="$(id_of "rot-$BATS_TEST_NUMBER")"
  expires="$(sql "select expires_at from api_keys where id = '$old'")"
  api --key "$old_secret" GET /v1/api-keys
  assert_status 200
  api --key "$ADMIN" POST "/v1/api-keys/$old/rotate"
  assert_status 200
  assert_json 'keys | join(",")' "$ROTATED_FIELDS"
  assert_json '.revoked_id' "$old"
  assert_json '.scopes | tostring' '["keys:manage","audit:read"]'
  assert_json '.expires_at' "$expires"
  d="$(day "$(json .created_at)")"
  assert_json '.name' "rot-$BATS_TEST_NUMBER (rotated $d)"
  new="$(json .id)"
  new_secret="$(json .secret)"
  [ "$new" != "$old" ] || fail "the same id"
  [[ "$new_secret" =~ ^ak_live_[A-Za-z0-9]{43}$ ]] || fail "bad secret $new_secret"
  api --key "$old_secret" GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."
  api --key "$new_secret" GET /v1/api-keys
  assert_status 200
  assert_json ".data[] | select(.id == \"$old\") | [.revoked, .scopes] | tostring" '[true,[]]'
  assert_json ".data[] | select(.id == \"$new\") | [.revoked, .scopes, .expires_at, .created_by] | tostring" \
    "[false,[\"keys:manage\",\"audit:read\"],$expires,\"$ADMIN_ID\"]"
}

@test "a second rotation the same day adds 2, then 3, and an earlier rotation's suffix is not repeated" {
  local k1 k2 k3 d1 d2 d3 name="svc-$BATS_TEST_NUMBER"
  cli_key "$name" >/dev/null
  api --key "$ADMIN" POST "/v1/api-keys/$(id_of "$name")/rotate"
  assert_status 200
  k1="$(json .id)"; d1="$(day "$(json .created_at)")"
  assert_json .name "$name (rotated $d1)"
  api --key "$ADMIN" POST "/v1/api-keys/$k1/rotate"
  assert_status 200
  k2="$(json .id)"; d2="$(day "$(json .created_at)")"
  if [ "$d2" = "$d1" ]; then assert_json .name "$name (rotated $d2) 2"; else assert_json .name "$name (rotated $d2)"; fi
  api --key "$ADMIN" POST "/v1/api-keys/$k2/rotate"
  assert_status 200
  k3="$(json .id)"; d3="$(day "$(json .created_at)")"
  if [ "$d3" = "$d1" ]; then assert_json .name "$name (rotated $d3) 3"; fi
  [ -n "$k3" ]
}

@test "rotation names: an old day's suffix is replaced, a plain number is kept, an unnamed key becomes API key" {
  local id d
  cli_key "svc-old (rotated 2020-01-31) 4" >/dev/null
  api --key "$ADMIN" POST "/v1/api-keys/$(id_of "svc-old (rotated 2020-01-31) 4")/rotate"
  assert_status 200
  d="$(day "$(json .created_at)")"
  assert_json .name "svc-old (rotated $d)"
  cli_key "Build 2" >/dev/null
  api --key "$ADMIN" POST "/v1/api-keys/$(id_of "Build 2")/rotate"
  assert_status 200
  d="$(day "$(json .created_at)")"
  assert_json .name "Build 2 (rotated $d)"
  cli key create "$ORG" >/dev/null 2>&1
  id="$(sql "select id from api_keys where org_id = '$ORG' and name is null order by rowid desc limit 1")"
  api --key "$ADMIN" POST "/v1/api-keys/$id/rotate"
  assert_status 200
  d="$(day "$(json .created_at)")"
  assert_json .name "API key (rotated $d)"
}

@test "rotating a revoked key is 400 api_key_revoked, an expired one 400 api_key_expired, and nothing changes" {
  local a b before
  mk_key "rot revoked"; a="$KID"
  api --key "$ADMIN" POST "/v1/api-keys/$a/revoke"
  assert_status 200
  mk_key "rot expired" '"seconds_until_expiration":60'; b="$KID"
  sql "update api_keys set expires_at = strftime('%s','now') - 1 where id = '$b'"
  before="$(keys_digest)"
  api --key "$ADMIN" POST "/v1/api-keys/$a/rotate"
  assert_error 400 api_key_revoked
  assert_json .detail.message "API key $a is revoked."
  api --key "$ADMIN" POST "/v1/api-keys/$b/rotate"
  assert_error 400 api_key_expired
  [ "$(keys_digest)" = "$before" ] || fail "a refused rotation changed something"
}

@test "a key may rotate itself: the answer carries the new secret, the old one stops" {
  local secret id
  secret="$(cli_key "self-rotate" --scope keys:manage)"
  id="$(id_of self-rotate)"
  api --key "$secret" POST "/v1/api-keys/$id/rotate" '{"ignored":true}'
  assert_status 200
  assert_json .revoked_id "$id"
  api --key "$(json .secret)" GET /v1/api-keys
  assert_status 200
  api --key "$secret" GET /v1/api-keys
  assert_detail 401 "Invalid or expired API key."
}

# -------------------------------------------------------------------------
# Revoke

@test "revoke answers the key object revoked with its scopes cleared; the key is 401 at once" {
  local secret id
  secret="$(cli_key "to revoke" --scope keys:manage --scope audit:read)"
  id="$(id_of "to revoke")"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke" '{"reason":"leaked in a build log"}'
  assert_status 200
  assert_json 'keys | join(",")' "$KEY_FIELDS"
  assert_json '[.id, .name, .revoked, .expired, .scopes] | tostring' "[\"$id\",\"to revoke\",true,false,[]]"
  [ "$(sql "select scopes from api_keys where id = '$id'")" = "[]" ] || fail "scopes kept"
  [ -n "$(sql "select revoked_at from api_keys where id = '$id'")" ] || fail "revoked_at not set"
  api --key "$secret" GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."
  [[ "$(header WWW-Authenticate)" == Bearer* ]] || fail "no WWW-Authenticate"
}

@test "revoking a revoked key is a no-op that writes no record" {
  local id at before
  mk_key "twice revoked"; id="$KID"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke"
  assert_status 200
  at="$(sql "select revoked_at from api_keys where id = '$id'")"
  before="$(keys_digest)"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke" '{"reason":"again"}'
  assert_status 200
  assert_json '[.revoked, .scopes] | tostring' '[true,[]]'
  [ "$(keys_digest)" = "$before" ] || fail "the second revoke changed something"
  [ "$(sql "select count(*) from audit_log where target_id = '$id' and event_type = 'integration_deactivated'")" = 1 ] ||
    fail "not exactly one deactivation record"
  [ "$(sql "select revoked_at from api_keys where id = '$id'")" = "$at" ] || fail "revoked_at moved"
}

@test "a key may revoke itself" {
  local secret id
  secret="$(cli_key "self-revoke" --scope keys:manage)"
  id="$(id_of self-revoke)"
  api --key "$secret" POST "/v1/api-keys/$id/revoke"
  assert_status 200
  assert_json .revoked true
  api --key "$secret" GET /v1/api-keys
  assert_detail 401 "Invalid or expired API key."
  [ "$(changes "$id" | tail -1)" = "integration_deactivated|integrations|api_key|$id|self-revoke" ] ||
    fail "record: $(changes "$id")"
}

@test "revoke checks its body: reason must be a string; an empty body and a null reason are fine" {
  local id before
  mk_key "revoke body"; id="$KID"
  before="$(keys_digest)"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke" '{"reason":5}'
  assert_422 '["body","reason"]' string_type
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke" '{"reason":'
  assert_422 '["body"]' json_invalid
  api --key "$ADMIN" --ct text/plain POST "/v1/api-keys/$id/revoke" 'x'
  assert_error 415 unsupported_media_type
  [ "$(keys_digest)" = "$before" ] || fail "a refused revoke changed something"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke" '{"reason":null}'
  assert_status 200
  mk_key "revoke no body"; id="$KID"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke"
  assert_status 200
  assert_json .revoked true
}

# -------------------------------------------------------------------------
# Expiry (6.1)

@test "an expired key is answered like a revoked one, and listed as expired" {
  local id secret
  mk_key "soon expired" '"seconds_until_expiration":60'; id="$KID"
  secret="$SECRET"
  api --key "$secret" GET /v1/vendors
  assert_status 200
  sql "update api_keys set expires_at = strftime('%s','now') - 1 where id = '$id'"
  api --key "$secret" GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."
  api --key "$ADMIN" GET /v1/api-keys
  assert_json ".data[] | select(.id == \"$id\") | [.expired, .revoked] | tostring" '[true,false]'
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke"
  assert_status 200
  assert_json '[.expired, .revoked] | tostring' '[true,true]'
}

# -------------------------------------------------------------------------
# Ids: unknown, malformed, another org's

@test "an unknown or malformed key id is 404 api_key_not_found" {
  local p
  for p in rotate revoke; do
    api --key "$ADMIN" POST "/v1/api-keys/$(unknown_id cbak)/$p"
    assert_error 404 api_key_not_found
    api --key "$ADMIN" POST "/v1/api-keys/cbvndr_00000000000000000000000000000000/$p"
    assert_error 404 api_key_not_found
    api --key "$ADMIN" POST "/v1/api-keys/nonsense/$p"
    assert_error 404 api_key_not_found
  done
}

@test "another org's key id is 404 exactly as an unknown one, and is left alone" {
  local id secret before
  mk_key "hidden from B"; id="$KID"
  secret="$SECRET"
  before="$(keys_digest)"
  KEY_B="$ADMIN_B" assert_hidden 404 api_key_not_found POST /v1/api-keys/ID/rotate "$id"
  KEY_B="$ADMIN_B" assert_hidden 404 api_key_not_found POST /v1/api-keys/ID/revoke "$id"
  KEY_B="$ADMIN_B" assert_hidden 404 api_key_not_found POST /v1/api-keys/ID/revoke "$id" '{"reason":"x"}'
  [ "$(keys_digest)" = "$before" ] || fail "org B changed org A's key"
  api --key "$secret" GET /v1/vendors
  assert_status 200
}

# -------------------------------------------------------------------------
# Change records (6.4)

@test "create, rotate and revoke write their change records, actor the calling key, in integrations" {
  local id new rec
  mk_key "audited" '"seconds_until_expiration":600'; id="$KID"
  [ "$(changes "$id")" = "integration_added|integrations|api_key|$ADMIN_ID|admin A" ] ||
    fail "after create: $(changes "$id")"
  rec="$(sql "select data from audit_log where target_id = '$id' and event_type = 'integration_added'")"
  [ "$(jq -r '[.id, .name, .expires_at - .created_at, (.scopes | tostring), .created_by, .revoked] | join(" ")' <<< "$rec")" = \
    "$id audited 600 [] $ADMIN_ID false" ] || fail "created values: $rec"
  [ "$(sql "select summary from audit_log where target_id = '$id'")" = 'API key "audited" created.' ] ||
    fail "summary: $(sql "select summary from audit_log where target_id = '$id'")"

  api --key "$ADMIN" POST "/v1/api-keys/$id/rotate"
  assert_status 200
  new="$(json .id)"
  [ "$(changes "$id" | tail -1)" = "integration_deactivated|integrations|api_key|$ADMIN_ID|admin A" ] ||
    fail "old key after rotate: $(changes "$id")"
  [ "$(changes "$new")" = "integration_added|integrations|api_key|$ADMIN_ID|admin A" ] ||
    fail "new key after rotate: $(changes "$new")"
  rec="$(sql "select data from audit_log where target_id = '$id' and event_type = 'integration_deactivated'")"
  [ "$(jq -c '{revoked, replaced_by}' <<< "$rec")" = \
    "{\"revoked\":{\"old_value\":false,\"new_value\":true},\"replaced_by\":{\"old_value\":null,\"new_value\":\"$new\"}}" ] ||
    fail "rotation diff: $rec"
  rec="$(sql "select data from audit_log where target_id = '$new'")"
  [ "$(jq -r '.rotated_from' <<< "$rec")" = "$id" ] || fail "rotated_from: $rec"

  api --key "$ADMIN" POST "/v1/api-keys/$new/revoke" '{"reason":"rotated out"}'
  assert_status 200
  rec="$(sql "select data from audit_log where target_id = '$new' and event_type = 'integration_deactivated'")"
  [ "$(jq -c '{revoked, revoke_reason}' <<< "$rec")" = \
    '{"revoked":{"old_value":false,"new_value":true},"revoke_reason":{"old_value":null,"new_value":"rotated out"}}' ] ||
    fail "revoke diff: $rec"
  [ "$(sql "select org_id from audit_log where target_id in ('$id', '$new') group by org_id")" = "$ORG" ] ||
    fail "records filed under another org"
}

@test "a revoke of a scoped key records the scopes it lost" {
  local id rec
  cli_key "scoped audited" --scope audit:read >/dev/null
  id="$(id_of "scoped audited")"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke"
  assert_status 200
  rec="$(sql "select data from audit_log where target_id = '$id' and event_type = 'integration_deactivated'")"
  [ "$(jq -c '.scopes' <<< "$rec")" = '{"old_value":["audit:read"],"new_value":[]}' ] || fail "diff: $rec"
}

@test "a refused change writes no change record" {
  local n id
  mk_key "refusals"; id="$KID"
  n="$(sql "select count(*) from audit_log where event_type <> 'external_api_call'")"
  api --key "$ADMIN" POST /v1/api-keys '{"name":" "}'
  api --key "$ADMIN" POST /v1/api-keys '{"name":"x","scopes":["audit:read"]}'
  api --key "$ADMIN_B" POST "/v1/api-keys/$id/revoke"
  api --key "$KEY" POST "/v1/api-keys/$id/revoke"
  [ "$(sql "select count(*) from audit_log where event_type <> 'external_api_call'")" = "$n" ] ||
    fail "a refused request wrote a change record"
}

@test "no response and no audit row ever holds a secret" {
  local s1 s2 s3 id all
  mk_key "secret keeper"; id="$KID"
  s1="$SECRET"
  all=""
  api --key "$ADMIN" POST "/v1/api-keys/$id/rotate"
  assert_status 200
  s2="$(json .secret)"
  id="$(json .id)"
  api --key "$ADMIN" POST "/v1/api-keys/$id/revoke"
  assert_status 200
  all+="$body"
  api --key "$ADMIN" GET /v1/api-keys
  assert_status 200
  all+="$body"
  s3="$(cli_key "cli secret keeper" --scope audit:read)"
  [[ "$all" != *"$s2"* && "$all" != *"${s1#ak_live_}"* ]] || fail "a later response repeats a secret"
  run sql "select * from audit_log"
  assert_success
  refute_output --partial ak_live_
  refute_output --partial "${s1#ak_live_}"
  refute_output --partial "${s2#ak_live_}"
  refute_output --partial "${s3#ak_live_}"
  run sql "select * from api_keys"
  refute_output --partial ak_live_
}
