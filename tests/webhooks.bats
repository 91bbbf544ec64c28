#!/usr/bin/env bats
# Webhooks (API.md 4 and 4.1): the endpoints, the events recorded with the
# changes they report, and `reassess deliver` sending them to a receiver on
# a loopback port (tests/fixtures/webhook-receiver.py) that records what it
# gets.
#
# Rationale for the environment: the receiver listens on 127.0.0.1 over
# plain http, which the URL policy refuses unless the operator sets
# REASSESS_WEBHOOK_ALLOW_PRIVATE=1. It is exported before setup_db, so the
# CGI runs and, under REASSESS_TRANSPORT=http, `reassess serve` have it; the
# tests of the policy without it unset it per request, which only the CGI
# transport can do (they skip over http). Retry delays of 0 s let one
# `deliver --once` run every attempt at once. The second generation of 4.2
# (timestamps, Standard Webhooks signatures, rotation, retries by kind) is
# tests/webhooks_v2.bats's.

load helper

# The event types this program emits (4.1).
EMITTED='["Vendor.Created","Vendor.Updated","RadarEvent.Created","RadarDetectorResult.Created","RadarDetectorResult.Updated","Reassessment.Created","Reassessment.Updated","Assessment.Created"]'
SECRET="whsec_0123456789abcdef"
WEBHOOK_KEYS="created_at,delivery_count,delivery_success_rate,description,enabled,events,id,last_delivery_status,secret_rotating_until,url"
DELIVERY_KEYS="attempted_at,created_at,error,event_id,event_type,id,payload,response_status,response_time_ms,status,webhook_id"

setup_file() {
  # A receiver's time to answer: generous, since a slow machine or valgrind
  # must not turn an answer into a timeout (and a retry into a duplicate);
  # the test of a hanging receiver sets its own.
  export REASSESS_WEBHOOK_ALLOW_PRIVATE=1 REASSESS_WEBHOOK_TIMEOUT_MS=4000 \
    REASSESS_WEBHOOK_DELAYS=0,0,0,0
  setup_db
  start_receiver
}

teardown_file() {
  if [ -n "${RECV_PID:-}" ]; then
    kill -TERM "$RECV_PID" 2>/dev/null || true
    wait "$RECV_PID" 2>/dev/null || true
  fi
  teardown_db
}

# Each test gets two orgs of its own, so that the deliveries of one test
# never show up in another's, and a receiver path of its own.
setup() {
  ORG=$(cli org create "Webhooks A $BATS_TEST_NUMBER")
  KEY=$(cli key create "$ORG" 2>/dev/null)
  ORG_B=$(cli org create "Webhooks B $BATS_TEST_NUMBER")
  KEY_B=$(cli key create "$ORG_B" 2>/dev/null)
  T="t$BATS_TEST_NUMBER-$RANDOM"
}

# start_receiver: the receiver on a port the kernel picks; it writes the
# port to a file once it listens (polled, bounded at 10 s). Exports
# RECV_URL, RECV_LOG and RECV_PID.
start_receiver() {
  local dir="$BATS_FILE_TMPDIR/receiver" i
  mkdir -p "$dir"
  RECV_LOG="$dir/requests.jsonl"
  python3 "$BATS_TEST_DIRNAME/fixtures/webhook-receiver.py" \
    "$dir/port" "$RECV_LOG" 2> "$dir/stderr" 3>&- &
  RECV_PID=$!
  for i in $(seq 200); do
    [ -s "$dir/port" ] && break
    kill -0 "$RECV_PID" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$dir/port" ]; then
    echo "start_receiver: the receiver did not come up" >&2
    cat "$dir/stderr" >&2
    return 1
  fi
  RECV_URL="http://127.0.0.1:$(cat "$dir/port")"
  export RECV_URL RECV_LOG RECV_PID
}

# deliver [ENV=VALUE...]: one `reassess deliver --once` over the suite's
# database, with these environment changes; fails the test unless it exits 0.
# Under make valgrind it runs under memcheck too (REASSESS_WRAP).
deliver() {
  env "$@" ${REASSESS_WRAP:-} "$REASSESS" --db "$REASSESS_DB" deliver --once \
    2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- ||
    fail "deliver --once failed: $(cat "$BATS_TEST_TMPDIR/deliver.log")"
}

# need_private_hosts: skip unless deliver can be given its own /etc/hosts
# (a private mount namespace: root, util-linux's unshare).
need_private_hosts() {
  command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
  unshare --mount true 2>/dev/null || skip "unshare --mount is not allowed here (needs root)"
}

# deliver_hosts HOSTS [ENV=VALUE...]: one `reassess deliver --once` that
# sees the file HOSTS as /etc/hosts (bound over it in a private mount
# namespace) and runs without the operator's REASSESS_WEBHOOK_ALLOW_PRIVATE.
deliver_hosts() {
  local hosts="$1"
  shift
  unshare --mount sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh \
    "$hosts" env -u REASSESS_WEBHOOK_ALLOW_PRIVATE "$@" \
    "$REASSESS" --db "$REASSESS_DB" deliver --once \
    2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- ||
    fail "deliver failed: $(cat "$BATS_TEST_TMPDIR/deliver.log")"
}

# start_canary: a listener on a loopback port that records every connection
# made to it (one line each in CANARY_LOG), whatever is then sent: a TLS
# handshake counts as much as an HTTP request. Exports CANARY_PORT,
# CANARY_LOG, CANARY_PID; stop_canary stops it by its PID.
start_canary() {
  local dir="$BATS_TEST_TMPDIR/canary" i
  mkdir -p "$dir"
  CANARY_LOG="$dir/connections"
  : > "$CANARY_LOG"
  python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, a = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("connection from %s\n" % a[0])
    c.close()
' "$dir/port" "$CANARY_LOG" 2> "$dir/stderr" 3>&- &
  CANARY_PID=$!
  for i in $(seq 200); do
    [ -s "$dir/port" ] && break
    kill -0 "$CANARY_PID" 2>/dev/null || break
    sleep 0.05
  done
  [ -s "$dir/port" ] || fail "the canary did not come up: $(cat "$dir/stderr")"
  CANARY_PORT="$(cat "$dir/port")"
}

stop_canary() {
  kill -TERM "$CANARY_PID" 2>/dev/null || true
  wait "$CANARY_PID" 2>/dev/null || true
  CANARY_PID=
}

# teardown: a canary a failed test left running.
teardown() {
  if [ -n "${CANARY_PID:-}" ]; then
    stop_canary
  fi
}

# received PATH: the requests the receiver got on PATH, one JSON a line.
received() {
  jq -c --arg p "$1" 'select(.path == $p)' "$RECV_LOG"
}

# received_count PATH
received_count() {
  received "$1" | wc -l
}

# mk_hook [--key K] URL EVENTS_JSON [SECRET]: a webhook; prints its id.
mk_hook() {
  local k="$KEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  api --key "$k" POST /v1/webhooks \
    "{\"url\":\"$1\",\"events\":$2,\"secret\":\"${3:-$SECRET}\"}"
  [ "$code" = 201 ] || { echo "mk_hook: $code $body" >&2; return 1; }
  json .id
}

# strict: the next request without REASSESS_WEBHOOK_ALLOW_PRIVATE, which
# only the CGI transport can give one request.
strict() {
  if [ "$REASSESS_TRANSPORT" = http ]; then
    skip "the server of this file runs with REASSESS_WEBHOOK_ALLOW_PRIVATE=1"
  fi
}

# deliveries [--key K] WEBHOOK: GET its deliveries (all, newest first).
deliveries() {
  local k="$KEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  api --key "$k" GET "/v1/webhooks/$1/deliveries?limit=200"
  assert_status 200
}

# payloads WEBHOOK TYPE: the payloads queued for WEBHOOK of event TYPE,
# oldest first, as a JSON array.
payloads() {
  deliveries "$1"
  json "[.data[] | select(.event_type == \"$2\") | .payload] | reverse | tojson"
}

# last_payload WEBHOOK TYPE: the newest payload of TYPE queued for WEBHOOK.
last_payload() {
  deliveries "$1"
  json "[.data[] | select(.event_type == \"$2\")][0].payload | tojson"
}

# count_of WEBHOOK TYPE: how many events of TYPE were queued for WEBHOOK.
count_of() {
  deliveries "$1"
  json "[.data[] | select(.event_type == \"$2\")] | length"
}

# assert_updated PAYLOAD TYPE IDFIELD ID BEFORE AFTER CHANGED: PAYLOAD is a
# TYPE event of object ID (data: event_type, IDFIELD, field_diffs) whose
# field_diffs are exactly those of an object that went from BEFORE to AFTER
# (every field that differs, updated_at left out), and name the fields
# CHANGED (comma-separated, sorted).
assert_updated() {
  local got want
  got="$(jq -cS --arg f "$3" '{event_type, data_event_type: .data.event_type,
      id: .data[$f], keys: (.data | keys), diffs: .data.field_diffs,
      changed: (.data.field_diffs | keys | join(","))}' <<< "$1")"
  want="$(jq -cnS --arg t "$2" --arg f "$3" --arg id "$4" --argjson a "$5" \
      --argjson b "$6" --arg changed "$7" '{event_type: $t, data_event_type: $t,
      id: $id, keys: (["event_type", "field_diffs", $f] | sort),
      diffs: (reduce ($b | keys[]) as $k ({};
        if $k != "updated_at" and $a[$k] != $b[$k]
        then . + {($k): {old_value: $a[$k], new_value: $b[$k]}} else . end)),
      changed: $changed}')"
  assert_equal "$got" "$want"
}

# assert_code STATUS CODE: a coded error, checked with one jq (assert_error
# checks the whole shape; loops over many refusals use this).
assert_code() {
  assert_status "$1"
  assert_json '.detail.code' "$2"
}

# events_recorded: rows in the outbox, every org.
events_recorded() {
  sql "SELECT count(*) FROM webhook_events"
}

# signature_of FILE SECRET: lowercase hex HMAC-SHA256 of FILE, as a
# receiver computes it with openssl.
signature_of() {
  openssl dgst -sha256 -hmac "$2" -r < "$1" | cut -d' ' -f1
}

# assert_signed REQUEST_JSON SECRET: the request's Coverbase-Signature is
# the HMAC of its raw body under SECRET.
assert_signed() {
  local f="$BATS_TEST_TMPDIR/signed.body"
  jq -r .body_b64 <<< "$1" | base64 -d > "$f"
  assert_equal "$(jq -r '.headers["coverbase-signature"]' <<< "$1")" \
    "$(signature_of "$f" "$2")"
}

# --- create -------------------------------------------------------------

@test "creating a webhook returns 201 and the object, never the secret" {
  local before after id
  before=$(date +%s)
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\",\"Reassessment.Updated\"],\"secret\":\"$SECRET\",\"description\":\"CRM sync\"}"
  after=$(date +%s)
  assert_status 201
  assert_json 'keys | join(",")' "$WEBHOOK_KEYS"
  assert_json '.id | test("^cbwh_[0-9a-f]{32}$")' true
  assert_json .url "$RECV_URL/ok/$T"
  assert_json '.events | join(",")' "Vendor.Created,Reassessment.Updated"
  assert_json .description "CRM sync"
  assert_json .enabled true
  assert_json ".created_at >= $before and .created_at <= $after" true
  assert_json .last_delivery_status null
  assert_json .delivery_success_rate null
  assert_json .delivery_count 0
  [[ "$body" != *"$SECRET"* ]] || fail "the secret was returned: $body"
  id="$(json .id)"
  api GET "/v1/webhooks/$id"
  assert_status 200
  assert_json 'keys | join(",")' "$WEBHOOK_KEYS"
  [[ "$body" != *"$SECRET"* ]] || fail "the secret was returned: $body"
  api GET /v1/webhooks
  [[ "$body" != *"$SECRET"* ]] || fail "the secret was returned: $body"
  assert_equal "$(sql "SELECT org_id, enabled FROM webhooks WHERE id = '$id'")" "$ORG|1"
}

@test "a secret shorter than 16 characters is 400 weak_secret, checked before the URL and the event types" {
  local d
  d="$(db_digest)"
  api POST /v1/webhooks '{"url":"ftp://nowhere","events":["No.Such"],"secret":"0123456789abcde"}'
  assert_error 400 weak_secret
  # Characters, not bytes: 15 two-byte characters are still too few.
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"ééééééééééééééé\"}"
  assert_error 400 weak_secret
  assert_equal "$(db_digest)" "$d"
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"éééééééééééééééé\"}"
  assert_status 201
}

@test "a URL that is not an https URL is 400 invalid_url, checked before the event types" {
  strict
  local d u
  d="$(db_digest)"
  for u in "not a url" "ftp://files.example.com/hook" "http://hooks.example.com/hook" ""; do
    REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"No.Such\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "a URL to 127.0.0.1 or another private address is refused at registration without the operator setting" {
  strict
  local d u
  d="$(db_digest)"
  for u in "https://127.0.0.1:${RECV_URL##*:}/ok/$T" "$RECV_URL/ok/$T" \
           "https://localhost/hook" "https://[::1]/hook" "https://10.1.2.3/hook" \
           "https://192.168.1.1/hook" "https://169.254.1.1/hook" \
           "https://[fd12::1]/hook" "https://[::ffff:127.0.0.1]/hook" \
           "https://hooks.example.com@127.0.0.1/" "https://2130706433/hook"; do
    REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "cloud metadata addresses are refused even with REASSESS_WEBHOOK_ALLOW_PRIVATE=1" {
  local u
  for u in "http://169.254.169.254/latest/meta-data/" "https://169.254.169.254/" \
           "http://[fd00:ec2::254]/" "http://[::ffff:169.254.169.254]/"; do
    api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
}

@test "with REASSESS_WEBHOOK_ALLOW_PRIVATE=1 an http URL to a loopback receiver is accepted" {
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
  assert_status 201
}

@test "a host spelt in a way no public host needs is refused at registration, with or without the operator setting" {
  local d u
  d="$(db_digest)"
  # %-escapes, non-ASCII bytes, an IPv6 zone id, short and numeric IPv4
  # forms, a trailing dot on the metadata address: each is 400 invalid_url
  # before anything is stored (the file's server allows private targets).
  for u in "https://hooks%2eexample%2ecom/hook" "https://loc%61lhost/hook" \
           "https://ex\u00e4mple.com/hook" "https://b\u00fccher.example/hook" \
           "https://[fe80::1%25eth0]/hook" "https://[fe80::1%eth0]/hook" \
           "https://127.1/hook" "https://0x7f.1/hook" "https://0177.0.0.1/hook" \
           "https://2852039166/hook" "https://0xa9fea9fe/hook" "https://1.2.3.4.5/hook" \
           "https://169.254.169.254./latest/meta-data/" "https://hooks..example.com/hook" \
           "https://hooks.example.com../hook" "https://hooks!.example.com/hook" \
           "https://[127.0.0.1]/hook"; do
    api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "a trailing-dot or .localhost form of a loopback name or address is refused at registration without the operator setting" {
  strict
  local d u
  d="$(db_digest)"
  for u in "https://localhost./hook" "https://LOCALHOST/hook" "https://127.0.0.1./hook" \
           "https://hooks.localhost/hook" "https://hooks.localhost./hook" \
           "https://10.1.2.3./hook" "https://[::1]./hook"; do
    REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "a fully qualified name with its trailing dot is accepted at registration like the name without it" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  api POST /v1/webhooks "{\"url\":\"https://hooks.example.test./$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
  assert_status 201
  assert_json .url "https://hooks.example.test./$T"
}

@test "an https URL whose host does not resolve yet is accepted at registration" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  api POST /v1/webhooks "{\"url\":\"https://hooks.example.test/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
  assert_status 201
}

@test "unknown event types are 422 invalid_event_types naming each unknown one" {
  local d msg
  d="$(db_digest)"
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\",\"Vendor.Exploded\",\"vendor.created\",\"Reassessment.Run\"],\"secret\":\"$SECRET\"}"
  assert_error 422 invalid_event_types
  msg="$(json .detail.message)"
  [[ "$msg" == *Vendor.Exploded* && "$msg" == *vendor.created* && "$msg" == *Reassessment.Run* ]] ||
    fail "the message does not list every unknown type: $msg"
  [[ "$msg" != *Vendor.Created* ]] || fail "the message lists a known type: $msg"
  assert_equal "$(db_digest)" "$d"
}

@test "webhook.test is not subscribable" {
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"webhook.test\"],\"secret\":\"$SECRET\"}"
  assert_error 422 invalid_event_types
  assert_json '.detail.message | contains("webhook.test")' true
}

@test "every event type of Coverbase's catalog can be subscribed to" {
  local all='["Assessment.Created","Assessment.AssigneeChanged","Assessment.StatusChanged","QuestionnaireResponse.Created","QuestionnaireResponse.StatusChanged","Review.StatusChanged","WorkQueueItem.Created","WorkQueueItem.Completed","Vendor.Created","Vendor.Updated","Procurement.Created","Procurement.StatusChanged","Service.Created","Service.Updated","OrgIntake.QuestionnaireRemoved","OrgIntake.Disabled","IntakeSession.Created","IntakeSession.Submitted","RadarEvent.Created","RadarEvent.Updated","RadarEvent.Deleted","RadarDetectorResult.Created","RadarDetectorResult.Updated","RadarDetectorResult.Deleted","Reassessment.Created","Reassessment.Updated","Reassessment.Deleted"]'
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":$all,\"secret\":\"$SECRET\"}"
  assert_status 201
  assert_json '.events | length' 27
}

@test "a body of the wrong shape is 422 listing every problem, before the business rules" {
  local d
  d="$(db_digest)"
  api POST /v1/webhooks '{}'
  assert_422 '["body","url"]' missing
  assert_422 '["body","events"]' missing
  assert_422 '["body","secret"]' missing
  assert_json '.detail | length' 3
  api POST /v1/webhooks '{"url":5,"events":"Vendor.Created","secret":"short","description":7,"enabled":"yes"}'
  assert_422 '["body","url"]' string_type
  assert_422 '["body","events"]' list_type
  assert_422 '["body","description"]' string_type
  assert_422 '["body","enabled"]' bool_type
  api POST /v1/webhooks '{"url":"ftp://x","events":[],"secret":"short"}'
  assert_422 '["body","events"]' too_short
  api POST /v1/webhooks '{"url":"ftp://x","events":["Vendor.Created",7],"secret":12}'
  assert_422 '["body","events",1]' string_type
  assert_422 '["body","secret"]' string_type
  api POST /v1/webhooks ''
  assert_422 '["body"]' missing
  api POST /v1/webhooks '[1]'
  assert_422 '["body"]' model_attributes_type
  api POST /v1/webhooks '{"url":'
  assert_422 '["body"]' json_invalid
  assert_equal "$(db_digest)" "$d"
}

# --- read, list, delete -------------------------------------------------

@test "the webhook list is {\"data\":[...]}, newest first, unpaged, without deleted webhooks" {
  local w1 w2 w3
  w1="$(mk_hook "$RECV_URL/ok/$T-1" '["Vendor.Created"]')"
  w2="$(mk_hook "$RECV_URL/ok/$T-2" '["Vendor.Created"]')"
  w3="$(mk_hook "$RECV_URL/ok/$T-3" '["Vendor.Created"]')"
  mk_hook --key "$KEY_B" "$RECV_URL/ok/$T-b" '["Vendor.Created"]' >/dev/null
  api GET /v1/webhooks
  assert_status 200
  assert_json 'keys | join(",")' data
  assert_json '[.data[].id] | join(",")' "$w3,$w2,$w1"
  assert_json '[.data[] | keys | join(",")] | unique | join(";")' "$WEBHOOK_KEYS"
  api DELETE "/v1/webhooks/$w2"
  assert_status 204
  api GET /v1/webhooks
  assert_json '[.data[].id] | join(",")' "$w3,$w1"
}

@test "an unknown, malformed or wrongly prefixed webhook id is 404 webhook_not_found" {
  local id unk
  unk="$(unknown_id cbwh)"
  api GET "/v1/webhooks/$unk"
  assert_error 404 webhook_not_found
  for id in cbwh_zz "$(unknown_id cbvndr)"; do
    api GET "/v1/webhooks/$id"
    assert_code 404 webhook_not_found
  done
  api PATCH "/v1/webhooks/$unk" '{"description":"x"}'
  assert_code 404 webhook_not_found
  api DELETE "/v1/webhooks/$unk"
  assert_code 404 webhook_not_found
  api POST "/v1/webhooks/$unk/test" '{}'
  assert_code 404 webhook_not_found
  api GET "/v1/webhooks/$unk/deliveries"
  assert_code 404 webhook_not_found
}

@test "org B's key gets the unknown-id 404 on org A's webhook, on every endpoint, and changes nothing" {
  local w d
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  d="$(db_digest)"
  assert_hidden 404 webhook_not_found GET /v1/webhooks/ID "$w"
  assert_hidden 404 webhook_not_found PATCH /v1/webhooks/ID "$w" '{"enabled":false}'
  assert_hidden 404 webhook_not_found DELETE /v1/webhooks/ID "$w"
  assert_hidden 404 webhook_not_found POST /v1/webhooks/ID/test "$w" '{}'
  assert_hidden 404 webhook_not_found GET /v1/webhooks/ID/deliveries "$w"
  assert_equal "$(db_digest)" "$d"
  api --key "$KEY_B" GET /v1/webhooks
  assert_json '.data | length' 0
}

@test "DELETE answers 204 with no body, then the webhook is 404 everywhere" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api DELETE "/v1/webhooks/$w"
  assert_status 204
  assert_equal "$body" ""
  api GET "/v1/webhooks/$w"
  assert_error 404 webhook_not_found
  api DELETE "/v1/webhooks/$w"
  assert_error 404 webhook_not_found
  api PATCH "/v1/webhooks/$w" '{"enabled":true}'
  assert_error 404 webhook_not_found
  api POST "/v1/webhooks/$w/test" '{}'
  assert_error 404 webhook_not_found
  api GET "/v1/webhooks/$w/deliveries"
  assert_error 404 webhook_not_found
  # A soft delete: the row stays, marked.
  assert_equal "$(sql "SELECT deleted_at IS NOT NULL FROM webhooks WHERE id = '$w'")" 1
}

# --- update -------------------------------------------------------------

@test "PATCH changes the fields given and leaves null or absent ones unchanged" {
  local w
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\",\"description\":\"first\"}"
  w="$(json .id)"
  api PATCH "/v1/webhooks/$w" "{\"url\":\"$RECV_URL/ok/$T-2\",\"events\":[\"Vendor.Updated\",\"RadarEvent.Created\"],\"description\":null,\"enabled\":null}"
  assert_status 200
  assert_json 'keys | join(",")' "$WEBHOOK_KEYS"
  assert_json .url "$RECV_URL/ok/$T-2"
  assert_json '.events | join(",")' "Vendor.Updated,RadarEvent.Created"
  assert_json .description first
  assert_json .enabled true
  api PATCH "/v1/webhooks/$w" '{"enabled":false,"description":"second"}'
  assert_status 200
  assert_json .enabled false
  assert_json .description second
  assert_json .url "$RECV_URL/ok/$T-2"
  local was="$body"
  api PATCH "/v1/webhooks/$w" '{}'
  assert_status 200
  assert_equal "$body" "$was"
  api PATCH "/v1/webhooks/$w" ''
  assert_status 200
  assert_equal "$body" "$was"
  api GET "/v1/webhooks/$w"
  assert_equal "$body" "$was"
}

@test "PATCH makes the create checks on what it is given, in the same order" {
  local w d
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  d="$(db_digest)"
  api PATCH "/v1/webhooks/$w" '{"secret":"too short","url":"ftp://x","events":["No.Such"]}'
  assert_error 400 weak_secret
  api PATCH "/v1/webhooks/$w" '{"url":"ftp://x","events":["No.Such"]}'
  assert_error 400 invalid_url
  api PATCH "/v1/webhooks/$w" '{"url":"http://169.254.169.254/"}'
  assert_error 400 invalid_url
  api PATCH "/v1/webhooks/$w" '{"events":["Vendor.Created","No.Such","webhook.test"]}'
  assert_error 422 invalid_event_types
  assert_json '.detail.message | contains("No.Such") and contains("webhook.test")' true
  api PATCH "/v1/webhooks/$w" '{"events":[],"enabled":"no","url":7,"secret":false}'
  assert_422 '["body","events"]' too_short
  assert_422 '["body","enabled"]' bool_type
  assert_422 '["body","url"]' string_type
  assert_422 '["body","secret"]' string_type
  api PATCH "/v1/webhooks/$(unknown_id cbwh)" '{"enabled":"no"}'
  assert_422 '["body","enabled"]' bool_type
  assert_equal "$(db_digest)" "$d"
}

@test "a URL to a private address is refused by PATCH without the operator setting" {
  strict
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api PATCH "/v1/webhooks/$w" '{"url":"https://127.0.0.1/x"}'
  assert_error 400 invalid_url
  REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api PATCH "/v1/webhooks/$w" '{"description":"no URL given, no URL check"}'
  assert_status 200
}

# --- test events and the deliveries list --------------------------------

@test "POST .../test queues one webhook.test delivery to that webhook alone and answers as the contract gives" {
  local w other before after eid
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  other="$(mk_hook "$RECV_URL/ok/$T-other" "$EMITTED")"
  before=$(date +%s)
  api POST "/v1/webhooks/$w/test"
  after=$(date +%s)
  assert_status 200
  assert_json 'keys | join(",")' "attempted_at,delivered,event_id,response_status,response_time_ms"
  assert_json '.event_id | test("^cbevt_[0-9a-f]{32}$")' true
  assert_json .delivered true
  assert_json .response_status null
  assert_json .response_time_ms null
  assert_json ".attempted_at >= $before and .attempted_at <= $after" true
  eid="$(json .event_id)"
  deliveries "$w"
  assert_json .total 1
  assert_json '.data[0].event_id' "$eid"
  assert_json '.data[0].event_type' webhook.test
  assert_json '.data[0].status' pending
  assert_json '.data[0].payload | keys_unsorted | join(",")' "event_id,event_type,occurred_at,data"
  assert_json '.data[0].payload.data | tojson' '{"event_type":"webhook.test","test":true}'
  deliveries "$other"
  assert_json .total 0
  deliver
  assert_equal "$(received_count "/ok/$T")" 1
  assert_equal "$(received_count "/ok/$T-other")" 0
  assert_equal "$(received "/ok/$T" | jq -r '.headers["x-coverbase-event-type"]')" webhook.test
  assert_equal "$(received "/ok/$T" | jq -c '.body | fromjson | .data')" '{"event_type":"webhook.test","test":true}'
  assert_signed "$(received "/ok/$T")" "$SECRET"
}

@test "POST .../test sends the event type and payload it is given" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test" '{"event_type":"Vendor.Created","payload":{"vendor_id":"cbvndr_x","n":[1,2]}}'
  assert_status 200
  deliver
  assert_equal "$(received "/ok/$T" | jq -r '.headers["x-coverbase-event-type"]')" Vendor.Created
  assert_equal "$(received "/ok/$T" | jq -c '.body | fromjson | [.event_type, .data]')" \
    '["Vendor.Created",{"event_type":"Vendor.Created","vendor_id":"cbvndr_x","n":[1,2]}]'
}

@test "a test payload cannot change the event type inside data" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test" '{"payload":{"event_type":"Reassessment.Deleted","x":1}}'
  assert_status 200
  deliveries "$w"
  assert_json '.data[0].payload | [.event_type, .data.event_type, .data.x] | join(",")' \
    "webhook.test,webhook.test,1"
}

@test "POST .../test refuses a body of the wrong shape" {
  local w d
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  d="$(db_digest)"
  api POST "/v1/webhooks/$w/test" '{"event_type":5,"payload":[1]}'
  assert_status 422
  assert_422 '["body","event_type"]' string_type
  api POST "/v1/webhooks/$w/test" '{"event_type":"a b\r\nX-Injected: 1"}'
  assert_status 422
  assert_json '.detail[0].loc | join(".")' body.event_type
  assert_equal "$(db_digest)" "$d"
}

@test "deliveries page newest first with data, total, limit and offset" {
  local w e1 e2 e3
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test"; e1="$(json .event_id)"
  api POST "/v1/webhooks/$w/test"; e2="$(json .event_id)"
  api POST "/v1/webhooks/$w/test"; e3="$(json .event_id)"
  api GET "/v1/webhooks/$w/deliveries"
  assert_status 200
  assert_json 'keys | join(",")' "data,limit,offset,total"
  assert_json '[.total, .limit, .offset] | join(",")' "3,50,0"
  assert_json '[.data[].event_id] | join(",")' "$e3,$e2,$e1"
  assert_json '[.data[] | keys | join(",")] | unique | join(";")' "$DELIVERY_KEYS"
  assert_json '.data[0].id | test("^cbwhd_[0-9a-f]{32}$")' true
  assert_json '[.data[] | .webhook_id == "'"$w"'" and .status == "pending" and .attempted_at == null and .response_status == null and .response_time_ms == null and .error == null and (.created_at | type) == "number"] | all' true
  api GET "/v1/webhooks/$w/deliveries?limit=2"
  assert_json '[.total, .limit, .offset] | join(",")' "3,2,0"
  assert_json '[.data[].event_id] | join(",")' "$e3,$e2"
  api GET "/v1/webhooks/$w/deliveries?limit=2&offset=2"
  assert_json '[.data[].event_id] | join(",")' "$e1"
  api GET "/v1/webhooks/$w/deliveries?offset=5"
  assert_json '[.total, (.data | length)] | join(",")' "3,0"
  api GET "/v1/webhooks/$w/deliveries?limit=0"
  assert_422 '["query","limit"]' greater_than_equal
  api GET "/v1/webhooks/$w/deliveries?limit=201"
  assert_422 '["query","limit"]' less_than_equal
  api GET "/v1/webhooks/$w/deliveries?offset=-1"
  assert_422 '["query","offset"]' greater_than_equal
  api GET "/v1/webhooks/$w/deliveries?limit=ten"
  assert_422 '["query","limit"]' int_type
}

# --- delivery -----------------------------------------------------------

@test "every emitted event type arrives once, with the exact envelope, headers and a signature openssl verifies" {
  local w v v2 ev plan rsm alert req eid n got want
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  api PATCH "/v1/vendors/$v" '{"website":"https://acme.example"}'
  v2="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  api GET "/v1/radar/alerts?vendor_id=$v"
  alert="$(json '.items[0].id')"
  api POST "/v1/radar/alerts/$alert/dismiss" '{"reason":"noise"}'
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\",\"$v2\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  deliveries "$w"
  want="$(json '[.data[].event_type] | sort | join(",")')"
  assert_equal "$want" "Assessment.Created,Assessment.Created,RadarDetectorResult.Created,RadarDetectorResult.Updated,RadarEvent.Created,Reassessment.Created,Reassessment.Updated,Vendor.Created,Vendor.Created,Vendor.Updated"
  deliver
  got="$(received "/ok/$T" | jq -rs '[.[] | .headers["x-coverbase-event-type"]] | sort | join(",")')"
  assert_equal "$got" "$want"
  # The exact envelope, in the contract's key order, and the headers that
  # go with it; what was sent is the payload the deliveries list shows.
  got="$(received "/ok/$T" | jq -rs --argjson sent "$(json '[.data[] | {key: .event_id, value: .payload}] | from_entries')" '
    [.[] | (.body | fromjson) as $b | {
      method: (.method == "POST"),
      content_type: (.headers["content-type"] == "application/json"),
      envelope_keys: (($b | keys_unsorted) == ["event_id", "event_type", "occurred_at", "data"]),
      event_id: ($b.event_id | test("^cbevt_[0-9a-f]{32}$")),
      occurred_at: (($b.occurred_at | type) == "number"),
      data_event_type: ($b.data | keys_unsorted[0] == "event_type" and .event_type == $b.event_type),
      id_header: (.headers["x-coverbase-event-id"] == $b.event_id),
      type_header: (.headers["x-coverbase-event-type"] == $b.event_type),
      as_listed: ($sent[$b.event_id] == $b)
    } | to_entries[] | select(.value | not) | .key] | unique | join(",")')"
  assert_equal "$got" ""
  n=0
  while IFS= read -r req; do
    n=$((n + 1))
    assert_signed "$req" "$SECRET"
  done < <(received "/ok/$T")
  assert_equal "$n" 10
  deliveries "$w"
  assert_json '[.data[] | .status == "delivered" and .response_status == 200 and .error == null and (.response_time_ms | type) == "number" and (.attempted_at | type) == "number"] | all' true
}

@test "a delivered attempt updates the webhook's last status, count and success rate" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status delivered
  assert_json .delivery_count 1
  assert_json .delivery_success_rate 1
}

@test "a receiver answering 500 gets six attempts in all, each recorded as an error with its status" {
  local w eid
  w="$(mk_hook "$RECV_URL/fail/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/fail/$T")" 6
  # The same event each time: same id, same body, same signature of the
  # body (4.1's; 4.2's signs the attempt's timestamp too).
  assert_equal "$(received "/fail/$T" | jq -r '.headers["x-coverbase-event-id"]' | sort -u | wc -l)" 1
  assert_equal "$(received "/fail/$T" | jq -r .body_b64 | sort -u | wc -l)" 1
  assert_equal "$(received "/fail/$T" | jq -r '.headers["coverbase-signature"]' | sort -u | wc -l)" 1
  deliveries "$w"
  assert_json .total 6
  assert_json '[.data[] | .status] | unique | join(",")' error
  assert_json '[.data[] | .response_status] | unique | join(",")' 500
  assert_json '[.data[] | .error | type] | unique | join(",")' string
  assert_json '[.data[] | .event_id] | unique | length' 1
  assert_equal "$(sql "SELECT group_concat(attempt, ',') FROM (SELECT attempt FROM webhook_deliveries WHERE webhook_id = '$w' ORDER BY attempt)")" "1,2,3,4,5,6"
  # Six attempts are all: another pass sends nothing more.
  deliver
  assert_equal "$(received_count "/fail/$T")" 6
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status error
  assert_json .delivery_count 6
  assert_json .delivery_success_rate 0
}

@test "a receiver that hangs past the timeout gets six attempts, each recorded as a timeout" {
  local w
  w="$(mk_hook "$RECV_URL/hang/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver REASSESS_WEBHOOK_TIMEOUT_MS=1000
  # The receiver logs a request once it has read it: poll, bounded at 5 s.
  for _ in $(seq 100); do
    [ "$(received_count "/hang/$T")" -ge 6 ] && break
    sleep 0.05
  done
  assert_equal "$(received_count "/hang/$T")" 6
  deliveries "$w"
  assert_json .total 6
  assert_json '[.data[] | .status] | unique | join(",")' timeout
  assert_json '[.data[] | .response_status] | unique | join(",")' ""
  assert_json '[.data[] | .error | type] | unique | join(",")' string
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status timeout
}

@test "a redirect is not followed: the attempt is an error with status 302, not retried" {
  local w
  w="$(mk_hook "$RECV_URL/redirect/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/redirect/$T")" 1
  assert_equal "$(received_count /ok/redirected)" 0
  deliveries "$w"
  assert_json '[.data[] | "\(.status) \(.response_status)"] | unique | join(",")' "error 302"
}

@test "a failed attempt queues the next after 4, 16, 64, 240 and 240 seconds by default, with up to 10% jitter" {
  local w i
  w="$(mk_hook "$RECV_URL/fail/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  # The default schedule. Each pass sends what is due and queues the next
  # attempt, not due yet; moving its times back by the same amount makes it
  # due without waiting and keeps the delay readable as
  # next_attempt_at - created_at.
  for i in $(seq 10); do
    deliver -u REASSESS_WEBHOOK_DELAYS
    [ "$(sql "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '$w' AND status = 'pending'")" = 0 ] && break
    sql "UPDATE webhook_deliveries SET next_attempt_at = next_attempt_at - 1000, created_at = created_at - 1000 WHERE webhook_id = '$w' AND status = 'pending'" >/dev/null
  done
  # Each delay d is within [d, d + d/10] (whole seconds: 4 s has no room).
  assert_equal "$(sql "SELECT group_concat(ok, ',') FROM (SELECT (next_attempt_at - created_at) BETWEEN d AND d + d / 10 AS ok FROM webhook_deliveries JOIN (SELECT 2 AS a, 4 AS d UNION ALL SELECT 3, 16 UNION ALL SELECT 4, 64 UNION ALL SELECT 5, 240 UNION ALL SELECT 6, 240) ON attempt = a WHERE webhook_id = '$w' ORDER BY attempt)")" \
    "1,1,1,1,1"
  assert_equal "$(received_count "/fail/$T")" 6
  deliveries "$w"
  assert_json .total 6
  assert_json '[.data[] | .status] | unique | join(",")' error
}

@test "the success rate has 4 decimals and counts attempts made, not pending ones" {
  local w
  w="$(mk_hook "$RECV_URL/fail/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test"
  api POST "/v1/webhooks/$w/test"
  deliver REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  api PATCH "/v1/webhooks/$w" "{\"url\":\"$RECV_URL/ok/$T\"}"
  assert_status 200
  api POST "/v1/webhooks/$w/test"
  deliver REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  assert_equal "$(received_count "/ok/$T")" 1
  api GET "/v1/webhooks/$w"
  assert_json .delivery_count 3
  assert_json .last_delivery_status delivered
  [[ "$body" == *'"delivery_success_rate":0.3333,'* ]] ||
    fail "delivery_success_rate is not 0.3333 with 4 decimals: $body"
  deliveries "$w"
  assert_json .total 5
  assert_json '[.data[] | .status] | sort | join(",")' "delivered,error,error,pending,pending"
}

@test "a host that does not resolve at delivery is an error, retried" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  local w
  w="$(mk_hook "https://hooks.example.test/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  deliveries "$w"
  assert_json .total 2
  assert_json '[.data[] | .status] | join(",")' "pending,error"
  api DELETE "/v1/webhooks/$w"
}

@test "a webhook whose host starts resolving to a private address is skipped at delivery, not retried" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  need_private_hosts
  local w port="${RECV_URL##*:}" hosts="$BATS_TEST_TMPDIR/hosts"
  # https://, as a public receiver would be: accepted, as the host does not
  # resolve (it cannot be shown to be private).
  w="$(mk_hook "https://hooks.example.test:$port/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  printf '127.0.0.1 localhost\n127.0.0.1 hooks.example.test\n' > "$hosts"
  deliver_hosts "$hosts"
  assert_equal "$(received_count "/ok/$T")" 0
  deliveries "$w"
  assert_json .total 1
  assert_json '.data[0].status' skipped
  assert_json '.data[0].response_status' null
  assert_json '.data[0].error | contains("127.0.0.1") or contains("loopback")' true
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status skipped
}

@test "a name that /etc/hosts maps to a loopback address is never connected to, whatever its spelling" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  need_private_hosts
  local hosts="$BATS_TEST_TMPDIR/hosts" u w i n=0 ws=()
  start_canary
  # The hosts file maps hooks.example.test to 127.0.0.1, and gives the
  # %-escaped spelling and dot.example.test a public address (TEST-NET-3),
  # so that a check that resolves the name as written, or a pin that
  # libcurl does not find, would pass while the connection goes to the
  # loopback canary.
  printf '%s\n' '127.0.0.1 localhost' '127.0.0.1 hooks.example.test' \
    '203.0.113.7 hooks%2eexample%2etest' '203.0.113.7 dot.example.test' \
    '127.0.0.1 dot.example.test.' > "$hosts"
  # Each spelling is stored as it would be by a registration made before
  # the registration checks (or a later change of /etc/hosts).
  for u in hooks.example.test HOOKS.Example.TEST hooks.example.test. \
           hooks%2eexample%2etest ho%6fks.example.test localhost. 127.1 0x7f.1 \
           2130706433 '[::ffff:127.0.0.1]' '[::1]' dot.example.test.; do
    w="$(mk_hook "https://hooks.example.test:$CANARY_PORT/ok/$T/$n" '["Vendor.Created"]')"
    sql "UPDATE webhooks SET url = 'https://$u:$CANARY_PORT/ok/$T/$n' WHERE id = '$w'"
    api POST "/v1/webhooks/$w/test"
    assert_status 200
    ws+=("$w")
    n=$((n + 1))
  done
  deliver_hosts "$hosts" REASSESS_WEBHOOK_TIMEOUT_MS=1000 \
    REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  assert_equal "$(wc -l < "$CANARY_LOG")" 0
  for i in "${!ws[@]}"; do
    deliveries "${ws[$i]}"
    assert_json '.data | map(select(.status != "pending")) | length' 1
    assert_json '[.data[] | select(.status != "pending")][0] | .response_status' null
    if [ "$i" = $((n - 1)) ]; then
      # dot.example.test.: checked and pinned at the public address, so
      # libcurl connects there (and fails) rather than to its own answer.
      assert_json '[.data[] | select(.status != "pending")][0] | .status == "error" or .status == "timeout"' true
    else
      assert_json '[.data[] | select(.status != "pending")][0] | .status' skipped
      assert_json '[.data[] | select(.status != "pending")][0] | .error | test("loopback|%-escape|IPv4|name")' true
    fi
  done
  stop_canary
}

@test "a disabled webhook receives nothing: its pending attempts are skipped and no new event is queued" {
  local w before
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  api PATCH "/v1/webhooks/$w" '{"enabled":false}'
  assert_status 200
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/ok/$T")" 0
  deliveries "$w"
  assert_json .total 1
  assert_json '.data[0].status' skipped
  # Enabled again, it receives what happens from then on, and only that.
  api PATCH "/v1/webhooks/$w" '{"enabled":true}'
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/ok/$T")" 1
}

@test "a webhook created disabled has nothing queued" {
  local w
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\",\"enabled\":false}"
  assert_status 201
  assert_json '[.enabled, .description] | tojson' '[false,null]'
  w="$(json .id)"
  mk_vendor >/dev/null
  deliveries "$w"
  assert_json .total 0
  deliver
  assert_equal "$(received_count "/ok/$T")" 0
}

@test "a deleted webhook receives nothing: its pending attempts are skipped and no new event is queued" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  api DELETE "/v1/webhooks/$w"
  assert_status 204
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/ok/$T")" 0
  assert_equal "$(sql "SELECT group_concat(status) FROM webhook_deliveries WHERE webhook_id = '$w'")" skipped
}

@test "an org never receives another org's events" {
  local wa wb v ev plan rsm
  wa="$(mk_hook "$RECV_URL/ok/$T-a" "$EMITTED")"
  wb="$(mk_hook --key "$KEY_B" "$RECV_URL/ok/$T-b" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/run"
  api POST "/v1/webhooks/$wa/test"
  deliver
  [ "$(received_count "/ok/$T-a")" -gt 0 ]
  assert_equal "$(received_count "/ok/$T-b")" 0
  deliveries --key "$KEY_B" "$wb"
  assert_json .total 0
  assert_equal "$(sql "SELECT count(*) FROM webhook_events WHERE org_id = '$ORG_B'")" 0
}

@test "a new secret signs the deliveries queued after the change" {
  local w new="whsec_the_new_secret_0000"
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api PATCH "/v1/webhooks/$w" "{\"secret\":\"$new\"}"
  assert_status 200
  [[ "$body" != *"$new"* ]] || fail "the secret was returned: $body"
  mk_vendor >/dev/null
  deliver
  assert_signed "$(received "/ok/$T")" "$new"
}

@test "two deliver --once processes started at once never send one attempt twice" {
  local i v vs="" p1 p2 rc1=0 rc2=0 types='["Vendor.Created","RadarDetectorResult.Created"]'
  # 3 webhooks x (8 vendors + their 8 alerts): 48 attempts from 12 requests.
  for i in 1 2 3; do
    mk_hook "$RECV_URL/slow/$T-$i" "$types" >/dev/null
  done
  for i in $(seq 8); do
    v="$(mk_vendor)"
    vs+="${vs:+,}\"$v\""
  done
  mk_event "[$vs]" >/dev/null
  assert_equal "$(sql "SELECT count(*) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.org_id = '$ORG' AND d.status = 'pending'")" 48
  "$REASSESS" --db "$REASSESS_DB" deliver --once 2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- &
  p1=$!
  "$REASSESS" --db "$REASSESS_DB" deliver --once 2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- &
  p2=$!
  wait "$p1" || rc1=$?
  wait "$p2" || rc2=$?
  assert_equal "$rc1,$rc2" "0,0"
  for i in 1 2 3; do
    assert_equal "$(received_count "/slow/$T-$i")" 16
    assert_equal "$(received "/slow/$T-$i" | jq -r '.headers["x-coverbase-event-id"]' | sort -u | wc -l)" 16
  done
  assert_equal "$(sql "SELECT group_concat(DISTINCT d.status) || ' ' || count(*) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.org_id = '$ORG'")" "delivered 48"
}

@test "deliver without --once keeps sending until SIGTERM, then exits 0" {
  local pid i rc=0
  mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]' >/dev/null
  "$REASSESS" --db "$REASSESS_DB" deliver 2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- &
  pid=$!
  for i in 1 2; do
    mk_vendor >/dev/null
    # Sent by the running process: poll, bounded at 10 s.
    for _ in $(seq 200); do
      [ "$(received_count "/ok/$T")" -ge "$i" ] && break
      sleep 0.05
    done
    assert_equal "$(received_count "/ok/$T")" "$i"
  done
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  assert_equal "$rc" 0
}

@test "deliver takes only --once" {
  run "$REASSESS" --db "$REASSESS_DB" deliver --forever
  assert_equal "$status" 2
}

# --- the events each change records -------------------------------------

@test "creating a vendor records Vendor.Created with vendor_id" {
  local w v
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  assert_equal "$(last_payload "$w" Vendor.Created | jq -c .data)" \
    "{\"event_type\":\"Vendor.Created\",\"vendor_id\":\"$v\"}"
  assert_equal "$(count_of "$w" Vendor.Created)" 1
}

@test "an Idempotency-Key replay of a vendor create records no second event" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api -H "Idempotency-Key: $T" POST /v1/vendors '{"name":"Once"}'
  assert_status 201
  api -H "Idempotency-Key: $T" POST /v1/vendors '{"name":"Once"}'
  assert_status 201
  deliveries "$w"
  assert_json .total 1
}

@test "updating a vendor records Vendor.Updated with the exact field_diffs, and nothing when nothing changed" {
  local w v before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor "Old Name")"
  api GET "/v1/vendors/$v"; before="$body"
  api PATCH "/v1/vendors/$v" '{"name":"New Name","website":"https://new.example","description":null}'
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Vendor.Updated)" Vendor.Updated vendor_id "$v" \
    "$before" "$after" "name,website"
  assert_equal "$(last_payload "$w" Vendor.Updated | jq -c .data.field_diffs.website)" \
    '{"old_value":null,"new_value":"https://new.example"}'
  # The same values again, or nothing: no event.
  api PATCH "/v1/vendors/$v" '{"name":"New Name"}'
  assert_status 200
  api PATCH "/v1/vendors/$v" '{}'
  assert_status 200
  assert_equal "$(count_of "$w" Vendor.Updated)" 1
}

@test "creating a radar event records RadarEvent.Created and one RadarDetectorResult.Created per alert" {
  local w v1 v2 ev alerts got
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  ev="$(mk_event "[\"$v1\",\"$v2\"]")"
  assert_equal "$(last_payload "$w" RadarEvent.Created | jq -c .data)" \
    "{\"event_type\":\"RadarEvent.Created\",\"radar_event_id\":\"$ev\"}"
  api GET "/v1/radar/alerts?include_archived=true&limit=200"
  alerts="$(json "[.items[] | select(.event_id == \"$ev\") | .id] | sort | join(\",\")")"
  got="$(payloads "$w" RadarDetectorResult.Created | jq -r '[.[].data.radar_detector_result_id] | sort | join(",")')"
  assert_equal "$got" "$alerts"
  assert_equal "$(payloads "$w" RadarDetectorResult.Created | jq -r '[.[].data | keys | join(",")] | unique | join(";")')" \
    "event_type,radar_detector_result_id"
  assert_equal "$(echo "$got" | tr ',' '\n' | wc -l)" 2
}

@test "a radar event without alerts records no RadarDetectorResult.Created" {
  local w v
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  api POST /v1/radar/events "{\"name\":\"Quiet\",\"summary\":\"s\",\"primary_impact_type\":\"Legal\",\"vendor_ids\":[\"$v\"],\"create_alert\":false}"
  assert_status 201
  assert_equal "$(count_of "$w" RadarEvent.Created)" 1
  assert_equal "$(count_of "$w" RadarDetectorResult.Created)" 0
}

@test "dismissing and undismissing an alert record RadarDetectorResult.Updated with the exact field_diffs" {
  local w v ev a before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  api GET "/v1/radar/alerts?vendor_id=$v"
  a="$(json '.items[0].id')"
  api GET "/v1/radar/alerts/$a"; before="$body"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"not us"}'
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" RadarDetectorResult.Updated)" RadarDetectorResult.Updated \
    radar_detector_result_id "$a" "$before" "$after" "dismiss_reason,dismissed_at,is_dismissed"
  # A no-op dismiss records nothing; a new reason is a change of its own.
  api POST "/v1/radar/alerts/$a/dismiss"
  assert_status 200
  assert_equal "$(count_of "$w" RadarDetectorResult.Updated)" 1
  before="$after"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"still not us"}'
  after="$body"
  assert_updated "$(last_payload "$w" RadarDetectorResult.Updated)" RadarDetectorResult.Updated \
    radar_detector_result_id "$a" "$before" "$after" "dismiss_reason"
  before="$after"
  api POST "/v1/radar/alerts/$a/undismiss"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" RadarDetectorResult.Updated)" RadarDetectorResult.Updated \
    radar_detector_result_id "$a" "$before" "$after" "dismiss_reason,dismissed_at,is_dismissed"
  assert_equal "$(last_payload "$w" RadarDetectorResult.Updated | jq -c .data.field_diffs.is_dismissed)" \
    '{"old_value":true,"new_value":false}'
  api POST "/v1/radar/alerts/$a/undismiss"
  assert_equal "$(count_of "$w" RadarDetectorResult.Updated)" 3
}

@test "creating a reassessment records Reassessment.Created with reassessment_id" {
  local w v ev rsm
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  assert_equal "$(last_payload "$w" Reassessment.Created | jq -c .data)" \
    "{\"event_type\":\"Reassessment.Created\",\"reassessment_id\":\"$rsm\"}"
}

@test "confirming a reassessment records Reassessment.Updated with status, and a repeated confirm records nothing" {
  local w v ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" status
  assert_equal "$(last_payload "$w" Reassessment.Updated | jq -c .data.field_diffs)" \
    '{"status":{"old_value":"draft","new_value":"confirmed"}}'
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 1
}

@test "dismissing a reassessment records Reassessment.Updated with status" {
  local w v ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  api POST "/v1/reassessments/$rsm/confirm"
  before="$body"
  api POST "/v1/reassessments/$rsm/dismiss"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" status
  assert_equal "$(last_payload "$w" Reassessment.Updated | jq -c .data.field_diffs)" \
    '{"status":{"old_value":"confirmed","new_value":"dismissed"}}'
}

@test "running a reassessment records Reassessment.Updated and one Assessment.Created per assessment made" {
  local w v1 v2 v3 ev plan rsm before after asmts got
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"; v2="$(mk_vendor)"; v3="$(mk_vendor)"
  ev="$(mk_event "[\"$v1\",\"$v2\",\"$v3\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v1\",\"$v2\",\"$v3\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  before="$body"
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" status,vendors
  assert_equal "$(last_payload "$w" Reassessment.Updated | jq -c .data.field_diffs.status)" \
    '{"old_value":"draft","new_value":"run"}'
  asmts="$(json '[.vendors[] | .assessment_id | select(. != null)] | sort | join(",")')"
  got="$(payloads "$w" Assessment.Created | jq -r '[.[].data.assessment_id] | sort | join(",")')"
  assert_equal "$got" "$asmts"
  assert_equal "$(echo "$got" | tr ',' '\n' | wc -l)" 2
  assert_equal "$(payloads "$w" Assessment.Created | jq -r '[.[].data | keys | join(",")] | unique | join(";")')" \
    "assessment_id,event_type"
}

@test "adding vendors records Reassessment.Updated with vendors, and alert_ids where they move" {
  local w v1 v2 ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"; v2="$(mk_vendor)"
  ev="$(mk_event "[\"$v1\",\"$v2\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v1\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":[\"$v2\"]}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" alert_ids,vendors
  # A vendor already in, and included: nothing changes, nothing is recorded.
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":[\"$v2\"]}"
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 1
}

@test "opting a vendor out records Reassessment.Updated with vendors" {
  local w v1 v2 ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"; v2="$(mk_vendor)"
  ev="$(mk_event "[]")"
  rsm="$(mk_rsm "$ev" "[\"$v1\",\"$v2\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" vendors
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 1
}

@test "patching a reassessment records Reassessment.Updated with the exact field_diffs" {
  local w v ev ev2 plan rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[]")"
  ev2="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api PATCH "/v1/reassessments/$rsm" "{\"title\":\"Q3 review\",\"assessment_plan_id\":\"$plan\"}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" assessment_plan_id,title
  before="$after"
  api PATCH "/v1/reassessments/$rsm" "{\"radar_event_id\":\"$ev2\"}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" alert_ids,radar_event_id
  api PATCH "/v1/reassessments/$rsm" '{"title":"Q3 review"}'
  assert_status 200
  api PATCH "/v1/reassessments/$rsm" '{}'
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 2
}

@test "a refused request records no event" {
  local w v v2 ev plan rsm done_rsm n
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  done_rsm="$(mk_rsm "$ev" "[\"$v\"]" "$plan")"
  api POST "/v1/reassessments/$done_rsm/dismiss"
  assert_status 200
  n="$(events_recorded)"
  api PATCH "/v1/vendors/$v" '{"name":""}'
  assert_status 422
  api PATCH "/v1/vendors/$(unknown_id cbvndr)" '{"name":"Ghost"}'
  assert_code 404 vendor_not_found
  api POST /v1/vendors '{"website":"https://noname.example"}'
  assert_status 422
  api POST /v1/radar/events '{"name":"No summary"}'
  assert_status 422
  api POST "/v1/radar/alerts/$(unknown_id cbrdrres)/dismiss"
  assert_code 404 alert_not_found
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":[\"$v\",\"$(unknown_id cbvndr)\"]}"
  assert_code 422 invalid_reassessment
  api POST "/v1/reassessments/$rsm/run"
  assert_code 400 missing_assessment_plan
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":[\"$(unknown_id cbvndr)\"]}"
  assert_code 422 invalid_reassessment
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$(unknown_id cbvndr)\",\"included\":false}"
  assert_code 404 vendor_not_found
  api PATCH "/v1/reassessments/$rsm" "{\"assessment_plan_id\":\"$(unknown_id cbasmtpl)\"}"
  assert_code 422 invalid_reassessment
  api POST "/v1/reassessments/$done_rsm/confirm"
  assert_code 422 reassessment_immutable
  api POST "/v1/reassessments/$done_rsm/run"
  assert_code 422 reassessment_immutable
  api --key "$KEY_B" POST "/v1/reassessments/$rsm/confirm"
  assert_code 404 reassessment_not_found
  api POST "/v1/webhooks/$w/test" '{"event_type":"has space"}'
  assert_status 422
  assert_equal "$(events_recorded)" "$n"
}

@test "a run refused because every vendor is opted out records no event and no assessment" {
  local w v ev plan rsm n
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v\",\"included\":false}"
  n="$(events_recorded)"
  api POST "/v1/reassessments/$rsm/run"
  assert_error 400 no_included_vendors
  assert_equal "$(events_recorded)" "$n"
  assert_equal "$(count_of "$w" Assessment.Created)" 0
}
