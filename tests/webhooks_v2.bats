#!/usr/bin/env bats
# Webhooks, second generation (API.md 4.2): every delivery attempt carries
# Coverbase-Timestamp and the Standard Webhooks headers, signed afresh; a
# receiver verifies them with the npm library `standardwebhooks`
# (tests/receiver/standard-webhooks-receiver.js; scripts/test-npm.sh
# installs the library), which also refuses a timestamp more than five
# minutes old. Secret rotation (two signatures for 24 hours), retries only
# for what a retry can fix, Retry-After, and 410 Gone.
#
# Rationale for the environment: as in tests/webhooks.bats, the receiver
# listens on 127.0.0.1 over plain http (REASSESS_WEBHOOK_ALLOW_PRIVATE=1),
# and retry delays of 0 s let one `deliver --once` run every attempt at
# once; a test that needs the next attempt to wait sets its own delays.
# Time never passes by sleeping: a test that needs a delivery, a rotation
# or a first attempt to be older moves its times back in the database, and
# the receiver's clock is moved ahead with ?skew=N to see a replay late.

load helper

SECRET="whsec_0123456789abcdef"

setup_file() {
  [ -f "$BATS_TEST_DIRNAME/receiver/node_modules/standardwebhooks/package.json" ] ||
    sh "$BATS_TEST_DIRNAME/../scripts/test-npm.sh" >&2
  export REASSESS_WEBHOOK_ALLOW_PRIVATE=1 REASSESS_WEBHOOK_TIMEOUT_MS=4000 \
    REASSESS_WEBHOOK_DELAYS=0
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

# Each test gets an org of its own and a receiver path of its own.
setup() {
  ORG=$(cli org create "Webhooks v2 $BATS_TEST_NUMBER")
  KEY=$(cli key create "$ORG" 2>/dev/null)
  T="t$BATS_TEST_NUMBER-$RANDOM"
}

# start_receiver: the Standard Webhooks receiver on a port the kernel
# picks; it writes the port to a file once it listens (polled, bounded at
# 10 s). Exports RECV_URL, RECV_LOG and RECV_PID.
start_receiver() {
  local dir="$BATS_FILE_TMPDIR/receiver" i
  mkdir -p "$dir"
  RECV_LOG="$dir/requests.jsonl"
  node "$BATS_TEST_DIRNAME/receiver/standard-webhooks-receiver.js" \
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

# deliver [ENV=VALUE...]: one `reassess deliver --once` with these
# environment changes; fails the test unless it exits 0.
deliver() {
  env "$@" ${REASSESS_WRAP:-} "$REASSESS" --db "$REASSESS_DB" deliver --once \
    2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- ||
    fail "deliver --once failed: $(cat "$BATS_TEST_TMPDIR/deliver.log")"
}

# received PATH: the requests the receiver got on PATH, one JSON a line.
received() {
  jq -c --arg p "$1" 'select(.path == $p)' "$RECV_LOG"
}

received_count() {
  received "$1" | wc -l
}

# mk_hook URL EVENTS_JSON [SECRET]: a webhook; prints its id.
mk_hook() {
  api POST /v1/webhooks \
    "{\"url\":\"$1\",\"events\":$2,\"secret\":\"${3:-$SECRET}\"}"
  [ "$code" = 201 ] || { echo "mk_hook: $code $body" >&2; return 1; }
  json .id
}

# attempts WEBHOOK: its attempts' "status response_status", oldest first.
attempts() {
  sql "SELECT group_concat(s, ',') FROM (SELECT status || ' ' || coalesce(response_status, '-') AS s FROM webhook_deliveries WHERE webhook_id = '$1' ORDER BY attempt)"
}

# v1_of REQUEST_JSON SECRET: the Standard Webhooks signature a receiver
# computes by hand (openssl) for the request under SECRET.
v1_of() {
  local id ts
  id="$(jq -r '.headers["webhook-id"]' <<< "$1")"
  ts="$(jq -r '.headers["webhook-timestamp"]' <<< "$1")"
  printf 'v1,%s' "$({ printf '%s.%s.' "$id" "$ts"; jq -j .body <<< "$1"; } |
    openssl dgst -sha256 -hmac "$2" -binary | base64 -w0)"
}

# --- signatures with timestamps -------------------------------------------

@test "every attempt carries the timestamp and Standard Webhooks headers, and the standardwebhooks library verifies it" {
  local w req
  w="$(mk_hook "$RECV_URL/sw/$SECRET/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  api POST "/v1/webhooks/$w/test"
  assert_status 200
  deliver
  assert_equal "$(received_count "/sw/$SECRET/$T")" 2
  while IFS= read -r req; do
    assert_equal "$(jq -c ".verified[\"$SECRET\"]" <<< "$req")" true
    # webhook-id is the event id; both timestamps are the attempt's, as
    # recorded; 4.1's headers are unchanged (the hex HMAC of the body).
    assert_equal "$(jq -r '[.headers["webhook-id"] == (.body | fromjson).event_id,
      .headers["webhook-id"] == .headers["x-coverbase-event-id"],
      .headers["webhook-timestamp"] == .headers["coverbase-timestamp"],
      (.headers["webhook-timestamp"] | test("^[0-9]+$")),
      (.headers["webhook-signature"] | test("^v1,[A-Za-z0-9+/]{43}=$")),
      (.headers["coverbase-signature"] | test("^[0-9a-f]{64}$"))] | all' <<< "$req")" true
    assert_equal "$(jq -r '.headers["webhook-signature"]' <<< "$req")" "$(v1_of "$req" "$SECRET")"
    assert_equal "$(jq -r '.headers["coverbase-signature"]' <<< "$req")" \
      "$(jq -j .body <<< "$req" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
    assert_equal "$(jq -r '.headers["webhook-timestamp"]' <<< "$req")" \
      "$(sql "SELECT attempted_at FROM webhook_deliveries WHERE webhook_id = '$w' AND event_id = '$(jq -r '.headers["webhook-id"]' <<< "$req")'")"
  done < <(received "/sw/$SECRET/$T")
  assert_equal "$(attempts "$w")" "delivered 200,delivered 200"
}

@test "a delivery replayed more than five minutes after its timestamp is refused by the library, and accepted within them" {
  local w req
  w="$(mk_hook "$RECV_URL/sw/$SECRET/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  req="$(received "/sw/$SECRET/$T")"
  assert_equal "$(jq -c ".verified[\"$SECRET\"]" <<< "$req")" true
  # The same request again, as an attacker who recorded it would send it,
  # to a receiver whose clock is 301 s (then 290 s) past its timestamp.
  replay() {
    jq -j .body <<< "$req" | curl -s -o /dev/null -w '%{http_code}' \
      -H 'Content-Type: application/json' \
      -H "webhook-id: $(jq -r '.headers["webhook-id"]' <<< "$req")" \
      -H "webhook-timestamp: $(jq -r '.headers["webhook-timestamp"]' <<< "$req")" \
      -H "webhook-signature: $(jq -r '.headers["webhook-signature"]' <<< "$req")" \
      --data-binary @- "$RECV_URL/sw/$SECRET/$T-replay?skew=$1"
  }
  assert_equal "$(replay 301)" 401
  assert_equal "$(received "/sw/$SECRET/$T-replay" | jq -r ".verified[\"$SECRET\"]")" \
    "Message timestamp too old"
  assert_equal "$(replay 290)" 200
}

@test "a retry is signed afresh with the time it is sent, not the event's or the first attempt's" {
  local w t1 req
  w="$(mk_hook "$RECV_URL/status/503/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver REASSESS_WEBHOOK_DELAYS=3600
  assert_equal "$(attempts "$w")" "error 503,pending -"
  req="$(received "/status/503/$T")"
  t1="$(jq -r '.headers["webhook-timestamp"]' <<< "$req")"
  assert_equal "$t1" "$(sql "SELECT attempted_at FROM webhook_deliveries WHERE webhook_id = '$w' AND attempt = 1")"
  # Ten minutes pass (in the database): the event and the first attempt
  # are older, the retry is due (its hour and the jitter, up to 6 minutes,
  # gone by); the receiver now verifies.
  sql "UPDATE webhook_events SET occurred_at = occurred_at - 600 WHERE id = (SELECT event_id FROM webhook_deliveries WHERE webhook_id = '$w');
    UPDATE webhook_deliveries SET attempted_at = attempted_at - 600, created_at = created_at - 600 WHERE webhook_id = '$w' AND attempt = 1;
    UPDATE webhook_deliveries SET next_attempt_at = next_attempt_at - 4000, created_at = created_at - 600 WHERE webhook_id = '$w' AND attempt = 2;" >/dev/null
  api PATCH "/v1/webhooks/$w" "{\"url\":\"$RECV_URL/sw/$SECRET/$T\"}"
  assert_status 200
  deliver
  req="$(received "/sw/$SECRET/$T")"
  assert_equal "$(jq -c ".verified[\"$SECRET\"]" <<< "$req")" true
  assert_equal "$(jq -r '.headers["webhook-timestamp"]' <<< "$req")" \
    "$(sql "SELECT attempted_at FROM webhook_deliveries WHERE webhook_id = '$w' AND attempt = 2")"
  [ "$(jq -r '.headers["webhook-timestamp"]' <<< "$req")" -ge "$t1" ]
  [ "$(jq -r '.headers["webhook-timestamp"] | tonumber' <<< "$req")" -ge \
    "$(sql "SELECT occurred_at + 600 FROM webhook_events e JOIN webhook_deliveries d ON d.event_id = e.id WHERE d.webhook_id = '$w' AND d.attempt = 2")" ]
  assert_equal "$(attempts "$w")" "error 503,delivered 200"
}

# --- retries by kind --------------------------------------------------------

@test "an answer a retry cannot fix (400, 401, 403, 404, 409, 422, 302) is final: exactly one attempt" {
  local c w
  for c in 400 401 403 404 409 422 302; do
    w="$(mk_hook "$RECV_URL/status/$c/$T" '["Vendor.Created"]')"
    ws="$ws $c:$w"
  done
  mk_vendor >/dev/null
  deliver
  deliver
  for cw in $ws; do
    c="${cw%%:*}" w="${cw#*:}"
    assert_equal "$c $(received_count "/status/$c/$T")" "$c 1"
    assert_equal "$(attempts "$w")" "error $c"
  done
}

@test "429, 503 and every other 5xx, 408, a timeout and a refused connection are retried, up to six attempts" {
  local c w port
  for c in 429 503 500 502 504 408; do
    w="$(mk_hook "$RECV_URL/status/$c/$T" '["Vendor.Created"]')"
    ws="$ws $c:$w"
  done
  # A port nobody listens on: the connection is refused.
  port="$(random_port)"
  w="$(mk_hook "http://127.0.0.1:$port/none" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  for cw in $ws; do
    c="${cw%%:*}" w="${cw#*:}"
    assert_equal "$c $(received_count "/status/$c/$T")" "$c 6"
    assert_equal "$(attempts "$w")" "$(printf "error $c,%.0s" 1 2 3 4 5 6 | sed 's/,$//')"
  done
  assert_equal "$(sql "SELECT group_concat(status, ',') FROM (SELECT status FROM webhook_deliveries WHERE webhook_id = '$w' ORDER BY attempt)")" \
    "error,error,error,error,error,error"
}

@test "a Retry-After of up to ten minutes on a 429 or 503 sets the next attempt; a longer one, or one on a 500, does not" {
  local w1 w2 w3 w4 w5
  w1="$(mk_hook "$RECV_URL/status/429/$T?retry_after=120" '["Vendor.Created"]')"
  w2="$(mk_hook "$RECV_URL/status/503/$T?retry_after=600" '["Vendor.Created"]')"
  w3="$(mk_hook "$RECV_URL/status/503/$T-long?retry_after=601" '["Vendor.Created"]')"
  w4="$(mk_hook "$RECV_URL/status/500/$T?retry_after=120" '["Vendor.Created"]')"
  w5="$(mk_hook "$RECV_URL/status/429/$T-short?retry_after=5" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver REASSESS_WEBHOOK_DELAYS=30
  delay() {
    sql "SELECT next_attempt_at - created_at FROM webhook_deliveries WHERE webhook_id = '$1' AND attempt = 2"
  }
  assert_equal "$(delay "$w1")" 120
  assert_equal "$(delay "$w2")" 600
  # Past the limit, or on another status: the schedule (30 s, + up to 3 s).
  [ "$(delay "$w3")" -ge 30 ] && [ "$(delay "$w3")" -le 33 ]
  [ "$(delay "$w4")" -ge 30 ] && [ "$(delay "$w4")" -le 33 ]
  # Shorter than the schedule: the schedule's delay, which is longer.
  [ "$(delay "$w5")" -ge 30 ] && [ "$(delay "$w5")" -le 33 ]
}

@test "410 Gone disables the webhook, with a log line and a change record, and sends no Webhook.Disabled" {
  local w
  w="$(mk_hook "$RECV_URL/status/410/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  mk_vendor >/dev/null
  deliver
  # The first attempt got 410; the second event's, pending meanwhile, is
  # skipped: the webhook was disabled.
  assert_equal "$(received_count "/status/410/$T")" 1
  assert_equal "$(sql "SELECT group_concat(s, ',') FROM (SELECT status || ' ' || coalesce(response_status, '-') AS s FROM webhook_deliveries WHERE webhook_id = '$w' ORDER BY rowid)")" \
    "error 410,skipped -"
  api GET "/v1/webhooks/$w"
  assert_json .enabled false
  grep -q "webhook $w answered 410 Gone: disabled" "$BATS_TEST_TMPDIR/deliver.log" ||
    fail "no log line: $(cat "$BATS_TEST_TMPDIR/deliver.log")"
  assert_equal "$(sql "SELECT count(*) FROM webhook_events WHERE event_type = 'Webhook.Disabled'")" 0
  # One change record (6.4), a system action in the webhook's org.
  assert_equal "$(sql "SELECT org_id || ' ' || event_type || ' ' || event_group || ' ' || target_type || ' ' || coalesce(actor_id, '-') || ' ' || data FROM audit_log WHERE target_id = '$w' AND event_type = 'field_update'")" \
    "$ORG field_update integrations webhook - {\"enabled\":{\"old_value\":true,\"new_value\":false}}"
  mk_vendor >/dev/null
  assert_equal "$(sql "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '$w'")" 2
}

# --- secret rotation -------------------------------------------------------

@test "a new secret keeps the old one valid for 24 hours: two signatures, the new one first, both verified" {
  local w old="whsec_the_old_secret_000" new="whsec_the_new_secret_111" before req
  w="$(mk_hook "$RECV_URL/sw/$new,$old/$T" '["Vendor.Created"]' "$old")"
  api GET "/v1/webhooks/$w"
  assert_json .secret_rotating_until null
  before="$(date +%s)"
  api PATCH "/v1/webhooks/$w" "{\"secret\":\"$new\"}"
  assert_status 200
  assert_json '.secret_rotating_until - .created_at >= 86400' true
  [ "$(json .secret_rotating_until)" -ge $((before + 86400)) ]
  [ "$(json .secret_rotating_until)" -le $(($(date +%s) + 86400)) ]
  # (The receiver's URL names the secrets; the rest of the object never.)
  [[ "$(json 'del(.url) | tostring')" != *whsec_* ]] || fail "a secret was returned: $body"
  mk_vendor >/dev/null
  deliver
  req="$(received "/sw/$new,$old/$T")"
  assert_equal "$(jq -c '.verified' <<< "$req")" "{\"$new\":true,\"$old\":true}"
  assert_equal "$(jq -r '.headers["webhook-signature"]' <<< "$req")" \
    "$(v1_of "$req" "$new") $(v1_of "$req" "$old")"
  # 4.1's signature is the current secret's alone.
  assert_equal "$(jq -r '.headers["coverbase-signature"]' <<< "$req")" \
    "$(jq -j .body <<< "$req" | openssl dgst -sha256 -hmac "$new" -r | cut -d' ' -f1)"
}

@test "after the 24 hours only the new secret signs, and the webhook shows no rotation" {
  local w old="whsec_the_old_secret_222" new="whsec_the_new_secret_333" req
  w="$(mk_hook "$RECV_URL/sw/$new,$old/$T" '["Vendor.Created"]' "$old")"
  api PATCH "/v1/webhooks/$w" "{\"secret\":\"$new\"}"
  assert_status 200
  # The day passes (in the database).
  sql "UPDATE webhooks SET secret_rotating_until = CAST(strftime('%s', 'now') AS INTEGER) - 1 WHERE id = '$w'" >/dev/null
  api GET "/v1/webhooks/$w"
  assert_json .secret_rotating_until null
  mk_vendor >/dev/null
  deliver
  req="$(received "/sw/$new,$old/$T")"
  assert_equal "$(jq -r '.headers["webhook-signature"]' <<< "$req")" "$(v1_of "$req" "$new")"
  assert_equal "$(jq -c ".verified[\"$new\"]" <<< "$req")" true
  assert_equal "$(jq -r ".verified[\"$old\"]" <<< "$req")" "No matching signature found"
  # deliver forgets the replaced secret once its rotation is over.
  assert_equal "$(sql "SELECT quote(previous_secret) || ' ' || quote(secret_rotating_until) FROM webhooks WHERE id = '$w'")" "NULL NULL"
}

@test "a PATCH with the same secret, or without one, starts no rotation" {
  local w
  w="$(mk_hook "$RECV_URL/sw/$SECRET/$T" '["Vendor.Created"]')"
  api PATCH "/v1/webhooks/$w" "{\"secret\":\"$SECRET\"}"
  assert_status 200
  assert_json .secret_rotating_until null
  api PATCH "/v1/webhooks/$w" '{"description":"no secret"}'
  assert_json .secret_rotating_until null
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received "/sw/$SECRET/$T" | jq -r '.headers["webhook-signature"] | split(" ") | length')" 1
}

@test "a second rotation within the window signs with the two newest secrets" {
  local w s1="whsec_first_secret_aaaa" s2="whsec_second_secret_bbb" s3="whsec_third_secret_cccc" req
  w="$(mk_hook "$RECV_URL/sw/$s3,$s2,$s1/$T" '["Vendor.Created"]' "$s1")"
  api PATCH "/v1/webhooks/$w" "{\"secret\":\"$s2\"}"
  api PATCH "/v1/webhooks/$w" "{\"secret\":\"$s3\"}"
  assert_status 200
  mk_vendor >/dev/null
  deliver
  req="$(received "/sw/$s3,$s2,$s1/$T")"
  assert_equal "$(jq -c '[.verified[]] | map(. == true)' <<< "$req")" '[true,true,false]'
}
