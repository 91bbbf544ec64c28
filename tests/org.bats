#!/usr/bin/env bats
# The org, its IP allowlist and two utilities (API.md 6.3): GET and POST
# /v1/org/{id}, the allowlist as the front line enforces it, GET
# /v1/whoami/ip, GET /v1/utils/authtest, and `reassess org allowlist`.
#
# Rationale for the caller's address: through nginx (REASSESS_TRANSPORT=
# http) every request comes from 127.0.0.1. In CGI mode setup_file makes
# the same the default (CGI_REMOTE_ADDR, tests/helper.bash), so that a test
# reads the same under both transports; the tests of other addresses (IPv4,
# IPv6, mapped, none) set CGI_REMOTE_ADDR per request, which only the CGI
# transport can do (they skip over http). The test of a proxy in front
# starts an nginx of its own with the realip module, over the file's
# `reassess serve` (http only).

load helper

ORG_KEYS="api_ip_allowlist,created_at,id,name,updated_at"

setup_file() {
  setup_db
  # Org A's key may change the org; KEY_PLAIN, a second key of org A, may not.
  sql "UPDATE api_keys SET scopes = '[\"keys:manage\"]' WHERE org_id = '$ORG'"
  KEY_PLAIN=$(cli key create "$ORG" --name "plain key" 2>/dev/null)
  sql "UPDATE api_keys SET scopes = '[\"keys:manage\"]' WHERE org_id = '$ORG_B'"
  export KEY_PLAIN CGI_REMOTE_ADDR=127.0.0.1
}

teardown_file() {
  teardown_db
}

setup() {
  # Each test starts with open orgs.
  sql "UPDATE orgs SET api_ip_allowlist = '[]'"
}

teardown() {
  if [ -n "${PROXY_PID:-}" ]; then
    kill -TERM "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
  fi
}

# allow LIST_JSON [ORG]: set an org's allowlist behind the API's back.
allow() {
  sql "UPDATE orgs SET api_ip_allowlist = '$1' WHERE id = '${2:-$ORG}'"
}

# cgi_only: skip a test that sets the caller's address itself.
cgi_only() {
  [ "$REASSESS_TRANSPORT" = cgi ] ||
    skip "sets REMOTE_ADDR per request (CGI transport only)"
}

# audit_count: change records about org A.
audit_count() {
  sql "SELECT count(*) FROM audit_log WHERE target_id = '$ORG'"
}

# ---------------------------------------------------------------- the org

@test "GET /v1/org/{id} answers the key's org, updated_at as created_at until a change" {
  sql "UPDATE orgs SET created_at = created_at - 100, updated_at = NULL WHERE id = '$ORG'"
  api GET "/v1/org/$ORG"
  assert_status 200
  assert_json 'keys_unsorted | join(",")' "id,name,api_ip_allowlist,created_at,updated_at"
  assert_json .id "$ORG"
  assert_json .api_ip_allowlist '[]'
  assert_json '.created_at == .updated_at' true
  assert_json .created_at "$(sql "SELECT created_at FROM orgs WHERE id = '$ORG'")"
  # Any key of the org: no scope needed to read it.
  api --key "$KEY_PLAIN" GET "/v1/org/$ORG"
  assert_status 200
  assert_json .id "$ORG"
}

@test "GET /v1/org/{id} of another org, an unknown or a malformed id is 404 org_not_found" {
  assert_hidden 404 org_not_found GET /v1/org/ID "$ORG"
  api GET /v1/org/cborg_nothex
  assert_error 404 org_not_found
  api GET "/v1/org/cbvndr_${ORG#cborg_}"
  assert_error 404 org_not_found
}

@test "the org's path has GET and POST only; no key is a 401" {
  api DELETE "/v1/org/$ORG"
  assert_detail 405 "Method Not Allowed"
  assert_equal "$(header Allow)" "GET, POST"
  api --no-auth GET "/v1/org/$ORG"
  assert_detail 401 "Not authenticated"
  api --key ak_live_nope GET "/v1/org/$ORG"
  assert_detail 401 "Invalid or expired API key."
}

@test "POST /v1/org/{id} renames the org, with a field_update record of the diff" {
  sql "UPDATE orgs SET name = 'Org A', created_at = created_at - 100, updated_at = NULL WHERE id = '$ORG'"
  local n0 kid
  n0=$(audit_count)
  kid=$(sql "SELECT id FROM api_keys WHERE org_id = '$ORG' AND name = 'test key A'")
  api POST "/v1/org/$ORG" '{"name":"Org A renamed"}'
  assert_status 200
  assert_json 'keys_unsorted | join(",")' "id,name,api_ip_allowlist,created_at,updated_at"
  assert_json .name "Org A renamed"
  assert_json '.updated_at > .created_at' true
  assert_equal "$(sql "SELECT name FROM orgs WHERE id = '$ORG'")" "Org A renamed"
  assert_equal "$(audit_count)" $((n0 + 1))
  run sql "SELECT event_type, event_group, target_type, actor_id, actor_name, data
           FROM audit_log WHERE target_id = '$ORG' ORDER BY seq DESC LIMIT 1"
  assert_output "field_update|configuration|org|$kid|test key A|{\"name\":{\"old_value\":\"Org A\",\"new_value\":\"Org A renamed\"}}"
  api GET "/v1/org/$ORG"
  assert_json .name "Org A renamed"
}

@test "POST /v1/org/{id} that changes nothing writes no record and leaves updated_at" {
  api POST "/v1/org/$ORG" '{"name":"Steady"}'
  assert_status 200
  sql "UPDATE orgs SET updated_at = 1000 WHERE id = '$ORG'"
  local n0 d0
  n0=$(audit_count)
  d0=$(db_digest)
  for b in '{"name":"Steady"}' '{}' '{"name":null,"api_ip_allowlist":null}' '{"api_ip_allowlist":[]}'; do
    api POST "/v1/org/$ORG" "$b"
    assert_status 200
    assert_json .name Steady
    assert_json .updated_at 1000
  done
  api POST "/v1/org/$ORG"
  assert_status 200
  assert_equal "$(audit_count)" "$n0"
  assert_equal "$(db_digest)" "$d0"
}

@test "POST /v1/org/{id} stores the allowlist normalised, duplicates dropped, in order" {
  api POST "/v1/org/$ORG" '{"api_ip_allowlist":["10.1.2.3/8","192.0.2.7","2001:DB8:0:0::1/32","::ffff:127.0.0.0/104","10.0.0.0/8","127.0.0.1","::1","192.0.2.7/32"]}'
  assert_status 200
  assert_json '.api_ip_allowlist | join(" ")' "10.0.0.0/8 192.0.2.7/32 2001:db8::/32 127.0.0.0/8 127.0.0.1/32 ::1/128"
  assert_equal "$(sql "SELECT api_ip_allowlist FROM orgs WHERE id = '$ORG'")" \
    '["10.0.0.0/8","192.0.2.7/32","2001:db8::/32","127.0.0.0/8","127.0.0.1/32","::1/128"]'
  run sql "SELECT data FROM audit_log WHERE target_id = '$ORG' ORDER BY seq DESC LIMIT 1"
  assert_output '{"api_ip_allowlist":{"old_value":[],"new_value":["10.0.0.0/8","192.0.2.7/32","2001:db8::/32","127.0.0.0/8","127.0.0.1/32","::1/128"]}}'
  # Still let in: the caller is inside it.
  api GET "/v1/org/$ORG"
  assert_status 200
  # Both fields at once: one record, both in the diff.
  api POST "/v1/org/$ORG" '{"name":"Both","api_ip_allowlist":["127.0.0.0/8"]}'
  assert_status 200
  run sql "SELECT json_group_array(k) FROM (SELECT key AS k FROM audit_log, json_each(data)
           WHERE seq = (SELECT max(seq) FROM audit_log WHERE target_id = '$ORG') ORDER BY k)"
  assert_output '["api_ip_allowlist","name"]'
  api POST "/v1/org/$ORG" '{"api_ip_allowlist":[]}'
  assert_status 200
  assert_json '.api_ip_allowlist | length' 0
}

@test "POST /v1/org/{id} with an invalid entry is 400 in Coverbase's shape and changes nothing" {
  local d0 v rid
  d0=$(db_digest)
  for v in 10.0.0.0/33 10.0.0.256 nonsense "" " 10.0.0.1" 10.0.0.1/ /8 10.0.0.1/-1 10.0.0.1/+8 \
           10.0.0.1/8/8 010.0.0.1 fe80::1%eth0 2001:db8::/129 ::ffff:10.0.0.0/129 localhost; do
    api POST "/v1/org/$ORG" "{\"api_ip_allowlist\":[\"127.0.0.1\",\"$v\",\"also bad\"]}"
    assert_status 400
    rid=$(header X-Request-Id)
    assert_json '.detail.error' "Invalid CIDR in api_ip_allowlist"
    assert_json '.detail.value' "$v"
    assert_json '.detail | keys | join(",")' "error,value"
    assert_json .request_id "$rid"
  done
  assert_equal "$(db_digest)" "$d0"
}

@test "POST /v1/org/{id} with a list that shuts out the caller is 400 allowlist_excludes_caller" {
  local d0
  d0=$(db_digest)
  api POST "/v1/org/$ORG" '{"api_ip_allowlist":["10.0.0.0/8"]}'
  assert_error 400 allowlist_excludes_caller
  assert_json .detail.message "The allowlist would shut out 127.0.0.1, the address making this call."
  api POST "/v1/org/$ORG" '{"name":"Locked out","api_ip_allowlist":["::1"]}'
  assert_error 400 allowlist_excludes_caller
  assert_equal "$(db_digest)" "$d0"
}

@test "POST /v1/org/{id} without keys:manage is 403 insufficient_scope, before the body and the id" {
  local d0
  d0=$(db_digest)
  api --key "$KEY_PLAIN" POST "/v1/org/$ORG" '{"name":"Nope"}'
  assert_error 403 insufficient_scope
  api --key "$KEY_PLAIN" POST "/v1/org/$ORG" '{"name":5}'
  assert_error 403 insufficient_scope
  api --key "$KEY_PLAIN" POST "/v1/org/$ORG_B" '{"name":"Nope"}'
  assert_error 403 insufficient_scope
  assert_equal "$(db_digest)" "$d0"
}

@test "POST /v1/org/{id}: another org's id is 404 org_not_found, after the body's shape, before its rules" {
  local d0
  d0=$(db_digest)
  # (org B's key on org A's id)
  assert_hidden 404 org_not_found POST /v1/org/ID "$ORG" '{"name":"Taken over"}'
  assert_hidden 404 org_not_found POST /v1/org/ID "$ORG" '{"api_ip_allowlist":["bad"]}'
  api POST /v1/org/nonsense '{"name":"x"}'
  assert_error 404 org_not_found
  api POST "/v1/org/$ORG_B" '{"name":""}'
  assert_422 '["body","name"]' too_short
  assert_equal "$(db_digest)" "$d0"
}

@test "POST /v1/org/{id} checks the body's shape: 422, every problem listed" {
  local d0 long
  d0=$(db_digest)
  long=$(printf 'x%.0s' $(seq 501))
  api POST "/v1/org/$ORG" "{\"name\":\"$long\",\"api_ip_allowlist\":\"127.0.0.1\"}"
  assert_422 '["body","name"]' string_too_long
  assert_422 '["body","api_ip_allowlist"]' list_type
  api POST "/v1/org/$ORG" '{"name":5,"api_ip_allowlist":["127.0.0.1",7]}'
  assert_422 '["body","name"]' string_type
  assert_422 '["body","api_ip_allowlist",1]' string_type
  api POST "/v1/org/$ORG" '{"name":""}'
  assert_422 '["body","name"]' too_short
  api POST "/v1/org/$ORG" '{"name":'
  assert_422 '["body"]' json_invalid
  api POST "/v1/org/$ORG" '["127.0.0.1"]'
  assert_422 '["body"]' model_attributes_type
  api POST "/v1/org/$ORG" "{\"api_ip_allowlist\":$(jq -cn '[range(101) | "10.0.0.\(.)"]')}"
  assert_422 '["body","api_ip_allowlist"]' too_long
  api --ct text/plain POST "/v1/org/$ORG" '{"name":"x"}'
  assert_error 415 unsupported_media_type
  assert_equal "$(db_digest)" "$d0"
  # 100 entries are fine.
  api POST "/v1/org/$ORG" "{\"api_ip_allowlist\":$(jq -cn '[range(99) | "10.0.0.\(.)"] + ["127.0.0.1"]')}"
  assert_status 200
  assert_json '.api_ip_allowlist | length' 100
}

# ------------------------------------------------------ the two utilities

@test "GET /v1/utils/authtest answers Auth successful to any key, 401 without one" {
  api GET /v1/utils/authtest
  assert_status 200
  assert_equal "$body" '{"msg":"Auth successful"}'
  api --key "$KEY_B" GET /v1/utils/authtest
  assert_status 200
  api --no-auth GET /v1/utils/authtest
  assert_detail 401 "Not authenticated"
  assert_equal "$(header WWW-Authenticate)" Bearer
  api --key ak_live_nope GET /v1/utils/authtest
  assert_detail 401 "Invalid or expired API key."
  api POST /v1/utils/authtest
  assert_detail 405 "Method Not Allowed"
}

@test "GET /v1/whoami/ip answers the caller's address, 401 without a key" {
  api GET /v1/whoami/ip
  assert_status 200
  assert_equal "$body" '{"client_ip":"127.0.0.1"}'
  api --no-auth GET /v1/whoami/ip
  assert_detail 401 "Not authenticated"
}

# ------------------------------------------ the allowlist in the front line

@test "a caller outside the allowlist gets 403 ip_not_allowed on every route, and nothing changes" {
  local d0 v
  v=$(mk_vendor)
  allow '["10.0.0.0/8"]'
  d0=$(db_digest)
  api GET /v1/vendors
  assert_error 403 ip_not_allowed
  assert_json .detail.message "Access from this IP address is not allowed by the organization's API IP allowlist."
  api GET "/v1/vendors/$v"
  assert_error 403 ip_not_allowed
  api POST /v1/vendors '{"name":"Shut out"}'
  assert_error 403 ip_not_allowed
  api POST /v1/vendors '{"name":5}'
  assert_error 403 ip_not_allowed
  api POST /v1/vendors '{"name":'
  assert_error 403 ip_not_allowed
  api PATCH "/v1/vendors/$v" '{"name":"Shut out"}'
  assert_error 403 ip_not_allowed
  api GET "/v1/org/$ORG"
  assert_error 403 ip_not_allowed
  api POST "/v1/org/$ORG" '{"api_ip_allowlist":[]}'
  assert_error 403 ip_not_allowed
  api --key "$KEY_PLAIN" POST "/v1/org/$ORG" '{"api_ip_allowlist":[]}'
  assert_error 403 ip_not_allowed
  api GET /v1/utils/authtest
  assert_error 403 ip_not_allowed
  api GET /v1/reassessments/cbrsm_nothing
  assert_error 403 ip_not_allowed
  assert_equal "$(db_digest)" "$d0"
  # whoami/ip is exempt, so that a caller shut out can learn its address.
  api GET /v1/whoami/ip
  assert_status 200
  assert_json .client_ip 127.0.0.1
  # Authentication comes first: no key is still a 401.
  api --no-auth GET /v1/vendors
  assert_detail 401 "Not authenticated"
  # Org B has no list.
  api --key "$KEY_B" GET /v1/vendors
  assert_status 200
}

@test "a caller inside the allowlist is let in" {
  allow '["10.0.0.0/8","127.0.0.0/8"]'
  api GET /v1/vendors
  assert_status 200
  api POST /v1/vendors '{"name":"Let in"}'
  assert_status 201
  allow '["127.0.0.1"]'
  api GET /v1/utils/authtest
  assert_status 200
  allow '["::ffff:127.0.0.1/128"]'
  api GET /v1/utils/authtest
  assert_status 200
  api POST "/v1/org/$ORG" '{"api_ip_allowlist":["127.0.0.0/8","10.0.0.0/8"]}'
  assert_status 200
  api GET /v1/vendors
  assert_status 200
}

@test "CGI: IPv4 callers inside and outside, host bits, mapped addresses" {
  cgi_only
  allow '["10.0.0.0/8","192.0.2.9/24"]'
  CGI_REMOTE_ADDR=10.1.2.3 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=192.0.2.200 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=::ffff:10.1.2.3 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=::FFFF:10.1.2.3 api GET /v1/utils/authtest
  assert_status 200
  for ip in 11.0.0.1 192.0.3.1 9.255.255.255 ::ffff:11.0.0.1 ::10.1.2.3 10.1.2.3/32 \
            10.1.2.3/8 " 10.1.2.3" 10.1.2 host.example 2001:db8::1; do
    CGI_REMOTE_ADDR="$ip" api GET /v1/utils/authtest
    assert_error 403 ip_not_allowed
  done
  # A mapped network in the list holds the IPv4 callers.
  allow '["::ffff:10.0.0.0/104"]'
  CGI_REMOTE_ADDR=10.200.0.1 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=::ffff:10.200.0.1 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=11.0.0.1 api GET /v1/utils/authtest
  assert_error 403 ip_not_allowed
}

@test "CGI: IPv6 callers inside and outside; IPv6 networks hold no IPv4 caller" {
  cgi_only
  allow '["2001:db8::/32","::1"]'
  CGI_REMOTE_ADDR=2001:db8::5 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=2001:DB8:ffff::1 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=::1 api GET /v1/utils/authtest
  assert_status 200
  for ip in 2001:db9::1 ::2 10.1.2.3 127.0.0.1 fe80::1%eth0; do
    CGI_REMOTE_ADDR="$ip" api GET /v1/utils/authtest
    assert_error 403 ip_not_allowed
  done
  allow '["::/0"]'
  CGI_REMOTE_ADDR=2a00::1 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=10.1.2.3 api GET /v1/utils/authtest
  assert_error 403 ip_not_allowed
  allow '["0.0.0.0/0"]'
  CGI_REMOTE_ADDR=10.1.2.3 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=::ffff:10.1.2.3 api GET /v1/utils/authtest
  assert_status 200
  CGI_REMOTE_ADDR=2a00::1 api GET /v1/utils/authtest
  assert_error 403 ip_not_allowed
}

@test "CGI: a caller the web server gave no address is outside any list, never an empty one" {
  cgi_only
  allow '["0.0.0.0/0","::/0"]'
  CGI_REMOTE_ADDR= api GET /v1/utils/authtest
  assert_error 403 ip_not_allowed
  CGI_REMOTE_ADDR= api GET /v1/whoami/ip
  assert_status 200
  assert_equal "$body" '{"client_ip":null}'
  allow '[]'
  CGI_REMOTE_ADDR= api GET /v1/utils/authtest
  assert_status 200
  # Setting a list without an address to keep is shutting oneself out.
  CGI_REMOTE_ADDR= api POST "/v1/org/$ORG" '{"api_ip_allowlist":["0.0.0.0/0"]}'
  assert_error 400 allowlist_excludes_caller
  CGI_REMOTE_ADDR= api POST "/v1/org/$ORG" '{"api_ip_allowlist":[]}'
  assert_status 200
}

@test "CGI: POST /v1/org/{id} keeps the caller in by its own address, mapped or not" {
  cgi_only
  CGI_REMOTE_ADDR=10.1.2.3 api POST "/v1/org/$ORG" '{"api_ip_allowlist":["192.0.2.0/24"]}'
  assert_error 400 allowlist_excludes_caller
  assert_json .detail.message "The allowlist would shut out 10.1.2.3, the address making this call."
  CGI_REMOTE_ADDR=::ffff:10.1.2.3 api POST "/v1/org/$ORG" '{"api_ip_allowlist":["10.0.0.0/8"]}'
  assert_status 200
  CGI_REMOTE_ADDR=10.1.2.3 api POST "/v1/org/$ORG" '{"api_ip_allowlist":["::ffff:10.1.0.0/112"]}'
  assert_status 200
  assert_json '.api_ip_allowlist | join(",")' "10.1.0.0/16"
  CGI_REMOTE_ADDR=2001:db8::7 api GET /v1/whoami/ip
  assert_json .client_ip 2001:db8::7
  CGI_REMOTE_ADDR=2001:db8::7 api POST "/v1/org/$ORG" '{"api_ip_allowlist":["2001:db8::/32"]}'
  assert_error 403 ip_not_allowed
}

# ------------------------------------------------------------ the command line

@test "reassess org allowlist prints the list, one entry a line" {
  run cli org allowlist "$ORG"
  assert_success
  assert_output ""
  api POST "/v1/org/$ORG" '{"api_ip_allowlist":["127.0.0.1","2001:db8::/32"]}'
  assert_status 200
  run cli org allowlist "$ORG"
  assert_success
  assert_output $'127.0.0.1/32\n2001:db8::/32'
}

@test "reassess org allowlist --clear lets the org's keys back in, with a record by no one" {
  local n0
  allow '["10.0.0.0/8"]'
  api GET /v1/vendors
  assert_error 403 ip_not_allowed
  n0=$(audit_count)
  run cli org allowlist "$ORG" --clear
  assert_success
  assert_equal "$(sql "SELECT api_ip_allowlist FROM orgs WHERE id = '$ORG'")" '[]'
  api GET /v1/vendors
  assert_status 200
  assert_equal "$(audit_count)" $((n0 + 1))
  run sql "SELECT event_type, event_group, target_type, actor_id IS NULL, actor_name IS NULL, data
           FROM audit_log WHERE target_id = '$ORG' ORDER BY seq DESC LIMIT 1"
  assert_output 'field_update|configuration|org|1|1|{"api_ip_allowlist":{"old_value":["10.0.0.0/8"],"new_value":[]}}'
  api GET "/v1/org/$ORG"
  assert_json '.api_ip_allowlist | length' 0
  # Clearing an empty list changes nothing and records nothing.
  local d0
  d0=$(db_digest)
  run cli org allowlist "$ORG" --clear
  assert_success
  assert_equal "$(db_digest)" "$d0"
}

@test "reassess org allowlist: an unknown org is exit 1, bad usage exit 2" {
  local d0
  d0=$(db_digest)
  run cli org allowlist "cborg_$(printf '0%.0s' $(seq 32))"
  assert_failure 1
  assert_output --partial "no org"
  run cli org allowlist nonsense --clear
  assert_failure 1
  run cli org allowlist
  assert_failure 2
  run cli org allowlist "$ORG" --bogus
  assert_failure 2
  run cli org allowlist "$ORG" --clear extra
  assert_failure 2
  run cli org allowlist --clear
  assert_failure 2
  assert_equal "$(db_digest)" "$d0"
}

# ------------------------------------------------------ behind a proxy (http)

# start_proxy: an nginx of its own in front of the file's `reassess serve`,
# configured as docs/deployment.md says for a proxy at 127.0.0.1 that
# passes the client in X-Forwarded-For. Sets PROXY_URL and PROXY_PID.
start_proxy() {
  local dir="$BATS_TEST_TMPDIR/proxy" port try
  mkdir -p "$dir"
  for try in 1 2 3 4 5 6 7 8; do
    port=$(random_port) || continue
    "$TOP/scripts/nginx-conf.sh" "$dir" "127.0.0.1:$port" \
      "$BATS_FILE_TMPDIR/service/reassess.sock" |
      sed 's|^\(    server {\)$|\1\n        set_real_ip_from 127.0.0.1;\n        real_ip_header X-Forwarded-For;|' \
      > "$dir/nginx.conf"
    grep -q 'real_ip_header X-Forwarded-For;' "$dir/nginx.conf" || return 1
    nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" 3>&- &
    PROXY_PID=$!
    wait_http "http://127.0.0.1:$port/v1/vendors" 401 "$PROXY_PID" && break
    kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
  done
  [ -n "$PROXY_PID" ] || return 1
  PROXY_URL="http://127.0.0.1:$port"
}

@test "HTTP: X-Forwarded-For is not trusted by the plain configuration" {
  [ "$REASSESS_TRANSPORT" = http ] || skip "through nginx only"
  api -H 'X-Forwarded-For: 10.1.2.3' GET /v1/whoami/ip
  assert_json .client_ip 127.0.0.1
  allow '["10.0.0.0/8"]'
  api -H 'X-Forwarded-For: 10.1.2.3' GET /v1/vendors
  assert_error 403 ip_not_allowed
}

@test "HTTP: behind a proxy, realip makes X-Forwarded-For the client the allowlist sees" {
  [ "$REASSESS_TRANSPORT" = http ] || skip "through nginx only"
  start_proxy
  REASSESS_URL=$PROXY_URL api -H 'X-Forwarded-For: 10.1.2.3' GET /v1/whoami/ip
  assert_status 200
  assert_json .client_ip 10.1.2.3
  REASSESS_URL=$PROXY_URL api -H 'X-Forwarded-For: 2001:db8::9' GET /v1/whoami/ip
  assert_json .client_ip 2001:db8::9
  allow '["10.0.0.0/8"]'
  REASSESS_URL=$PROXY_URL api -H 'X-Forwarded-For: 10.1.2.3' GET /v1/vendors
  assert_status 200
  REASSESS_URL=$PROXY_URL api -H 'X-Forwarded-For: 11.0.0.1' GET /v1/vendors
  assert_error 403 ip_not_allowed
  REASSESS_URL=$PROXY_URL api GET /v1/vendors
  assert_error 403 ip_not_allowed
  # The list is kept with the caller in it, seen through the proxy.
  REASSESS_URL=$PROXY_URL api -H 'X-Forwarded-For: 10.1.2.3' POST "/v1/org/$ORG" '{"api_ip_allowlist":["10.1.0.0/16"]}'
  assert_status 200
  REASSESS_URL=$PROXY_URL api -H 'X-Forwarded-For: 10.2.0.1' POST "/v1/org/$ORG" '{"api_ip_allowlist":["10.1.0.0/16"]}'
  assert_error 403 ip_not_allowed
}
