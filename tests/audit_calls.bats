#!/usr/bin/env bats
# API-call records (API.md 6.4): one external_api_call record for every
# authenticated /v1 call, refused ones included, written after the answer
# (CGI: by the process, before it exits; FastCGI: by the worker, in
# batches, within about a second, and at SIGTERM); api_keys.last_used_at.

load helper

setup_file() { setup_db; }
teardown_file() { teardown_db; }

teardown() {
  local p
  for p in ${OWN_PIDS:-}; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

# sqlw SQL: a write to the suite's database beside a running server.
sqlw() {
  sqlite3 -batch -noheader -cmd ".timeout 5000" "$REASSESS_DB" "$1" > /dev/null
}

# record RID [COLUMNS]: the call record of the request RID (its
# X-Request-Id), polled for a bounded time (10 s; a worker writes its
# records within about a second); fails when none comes.
record() {
  local i out
  for i in $(seq 200); do
    out=$(sql "SELECT ${2:-data} FROM audit_log WHERE event_type = 'external_api_call' AND target_id = '$1'")
    [ -n "$out" ] && { printf '%s\n' "$out"; return 0; }
    sleep 0.05
  done
  echo "no call record for request $1" >&2
  return 1
}

# rid: the X-Request-Id of the last response.
rid() { header X-Request-Id; }

# key_id NAME: the id of org A's key of that name.
key_id() { sql "SELECT id FROM api_keys WHERE name = '$1'"; }

# own_serve ARGS...: reassess serve on a unix socket of this test, in the
# background (its PID in OWN_PID, stopped by teardown), with ENV_ (an
# array) in its environment; waits, bounded, until it answers.
own_serve() {
  OWN_SOCK="$BATS_TEST_TMPDIR/own.sock"
  env "${ENV_[@]}" "$REASSESS" --db "$REASSESS_DB" serve --listen "$OWN_SOCK" \
    "$@" 2> "$BATS_TEST_TMPDIR/own.log" 3>&- &
  OWN_PID=$!
  OWN_PIDS="${OWN_PIDS:-} $OWN_PID"
  local i
  for i in $(seq 100); do
    [ -S "$OWN_SOCK" ] && fcgi GET /v1/vendors none 2>/dev/null &&
      [ "$code" = 401 ] && return 0
    sleep 0.05
  done
  fail "reassess serve did not answer: $(cat "$BATS_TEST_TMPDIR/own.log")"
}

# fcgi METHOD PATH SECRET [REQUEST_ID]: one FastCGI request to own_serve's
# socket with libfcgi's cgi-fcgi; sets code.
fcgi() {
  local out="$BATS_TEST_TMPDIR/fcgi.out"
  env -i REQUEST_METHOD="$1" PATH_INFO="$2" QUERY_STRING= \
    HTTP_AUTHORIZATION="Bearer $3" REQUEST_ID="${4:-}" \
    cgi-fcgi -bind -connect "$OWN_SOCK" < /dev/null > "$out"
  code=$(sed -n 's/^Status: \([0-9]*\).*/\1/p' "$out" | head -n 1)
}

# stop_own: SIGTERM to own_serve's server; its exit status must be 0.
stop_own() {
  local rc=0
  kill -TERM "$OWN_PID"
  wait "$OWN_PID" || rc=$?
  OWN_PIDS=""
  assert_equal "$rc" 0
}

@test "a 200 leaves one external_api_call record of the key, with every field of its data" {
  local r kid ip
  api GET "/v1/vendors?limit=5&offset=0"
  assert_status 200
  r=$(rid)
  kid=$(key_id "test key A")
  run record "$r" "org_id, actor_id, actor_name, event_type, event_group, target_type, target_id, summary"
  assert_success
  assert_output "$ORG|$kid|test key A|external_api_call|integrations|external_api_request|$r|GET /v1/vendors answered 200."
  run record "$r"
  assert_success
  ip=null
  [ "$REASSESS_TRANSPORT" = http ] && ip='"127.0.0.1"'
  assert_equal "$(jq -c 'del(.duration_ms)' <<< "$output")" \
    "{\"method\":\"GET\",\"path\":\"/v1/vendors\",\"route\":\"/v1/vendors\",\"status\":200,\"query_params\":[\"limit\",\"offset\"],\"key_id\":\"$kid\",\"key_name\":\"test key A\",\"client_ip\":$ip,\"request_id\":\"$r\"}"
  assert_equal "$(jq '.duration_ms | type == "number" and . >= 0 and . < 60000' <<< "$output")" true
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE target_id = '$r'")" 1
  assert_equal "$(sql "SELECT id LIKE 'cbaud_%' AND length(id) = 38 FROM audit_log WHERE target_id = '$r'")" 1
}

@test "a 404 is recorded with the route's template and the path as asked" {
  local id r
  id=$(unknown_id cbvndr)
  api GET "/v1/vendors/$id"
  assert_error 404 vendor_not_found
  r=$(rid)
  run record "$r" "summary, json_extract(data, '$.status'), json_extract(data, '$.route'), json_extract(data, '$.path')"
  assert_success
  assert_output "GET /v1/vendors/$id answered 404.|404|/v1/vendors/{id}|/v1/vendors/$id"
}

@test "a 422 is recorded, and so is a POST that creates" {
  local r
  api GET "/v1/vendors?limit=0"
  assert_status 422
  r=$(rid)
  run record "$r" "summary, json_extract(data, '$.query_params')"
  assert_success
  assert_output 'GET /v1/vendors answered 422.|["limit"]'
  api POST /v1/vendors '{"name":"Recorded Vendor"}'
  assert_status 201
  r=$(rid)
  run record "$r" "summary, json_extract(data, '$.method')"
  assert_success
  assert_output "POST /v1/vendors answered 201.|POST"
}

@test "a 403 ip_not_allowed is recorded for the key it refused" {
  local r
  sqlw "UPDATE orgs SET api_ip_allowlist = '[\"10.0.0.0/8\"]' WHERE id = '$ORG_B'"
  api --key "$KEY_B" GET /v1/vendors
  sqlw "UPDATE orgs SET api_ip_allowlist = '[]' WHERE id = '$ORG_B'"
  assert_error 403 ip_not_allowed
  r=$(rid)
  run record "$r" "org_id, actor_name, summary, json_extract(data, '$.status')"
  assert_success
  assert_output "$ORG_B|test key B|GET /v1/vendors answered 403.|403"
}

@test "query parameters are recorded by name, each once, never with their values" {
  local r
  api GET "/v1/vendors?name=qv_needle_one&limit=2&name=qv_needle_two&external_id="
  assert_status 200
  r=$(rid)
  run record "$r" "json_extract(data, '$.query_params'), json_extract(data, '$.path')"
  assert_success
  assert_output '["name","limit","external_id"]|/v1/vendors'
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE data LIKE '%qv_needle%' OR summary LIKE '%qv_needle%'")" 0
}

@test "a secret in a query value or a body never reaches the database file or its WAL" {
  local qs bs r f n
  qs="qsecret$RANDOM$RANDOM$RANDOM"
  bs="bsecret$RANDOM$RANDOM$RANDOM"
  api GET "/v1/vendors?api_token=$qs"
  assert_status 200
  r=$(rid)
  record "$r" > /dev/null
  # An unknown body field is ignored (1.4): nothing may keep its value.
  api POST /v1/vendors "{\"name\":\"Secretive Vendor\",\"password\":\"$bs\"}"
  assert_status 201
  r=$(rid)
  record "$r" > /dev/null
  assert_equal "$(record "$r" "json_extract(data, '$.status')")" 201
  assert_equal "$(sql "SELECT json_extract(data, '$.query_params') FROM audit_log WHERE summary = 'GET /v1/vendors answered 200.' AND data LIKE '%api_token%'")" '["api_token"]'
  for f in "$REASSESS_DB" "$REASSESS_DB-wal"; do
    [ -e "$f" ] || continue
    n=$(grep -a -c -e "$qs" -e "$bs" "$f" || true)
    assert_equal "$f: $n" "$f: 0"
  done
}

@test "a 401 leaves no record, and an idle worker writes a call's record unasked" {
  local r
  api --key "ak_live_NotAKeyNotAKeyNotAKeyNotAKeyNotAKeyNotAKeyNo" GET /v1/vendors
  assert_status 401
  r=$(rid)
  # The next call is the last one: its record must come without another.
  api GET /v1/vendors
  assert_status 200
  record "$(rid)" > /dev/null
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE target_id = '$r'")" 0
}

@test "a call sets its key's last_used_at, which only moves forward" {
  local secret kid before after
  secret=$(cli key create "$ORG" --name "used key $BATS_TEST_NUMBER" 2>/dev/null)
  kid=$(key_id "used key $BATS_TEST_NUMBER")
  assert_equal "$(sql "SELECT last_used_at IS NULL FROM api_keys WHERE id = '$kid'")" 1
  before=$(date +%s)
  api --key "$secret" GET /v1/vendors
  after=$(date +%s)
  assert_status 200
  record "$(rid)" > /dev/null
  assert_equal "$(sql "SELECT last_used_at BETWEEN $before AND $after FROM api_keys WHERE id = '$kid'")" 1
  # The other keys' last use is theirs alone.
  assert_equal "$(sql "SELECT count(*) FROM api_keys WHERE org_id = '$ORG_B' AND last_used_at > $after")" 0
  sqlw "UPDATE api_keys SET last_used_at = $((after + 1000)) WHERE id = '$kid'"
  api --key "$secret" GET /v1/vendors
  record "$(rid)" > /dev/null
  assert_equal "$(sql "SELECT last_used_at FROM api_keys WHERE id = '$kid'")" "$((after + 1000))"
}

@test "REASSESS_AUDIT_CALLS=off writes no call record" {
  [ "$REASSESS_TRANSPORT" = cgi ] || skip "sets the program's environment (CGI only)"
  local r
  REASSESS_AUDIT_CALLS=off api GET /v1/vendors
  assert_status 200
  r=$(rid)
  api GET /v1/vendors
  record "$(rid)" > /dev/null
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE target_id = '$r'")" 0
}

@test "SIGTERM makes reassess serve write the records it holds before it exits" {
  local n
  # Records wait up to an hour here: only the exit can write them.
  ENV_=(REASSESS_AUDIT_CALLS_WAIT_MS=3600000)
  own_serve --workers 2
  fcgi GET /v1/vendors "$KEY" "sigterm-$BATS_TEST_NUMBER-a"
  assert_equal "$code" 200
  fcgi GET "/v1/vendors/$(unknown_id cbvndr)" "$KEY" "sigterm-$BATS_TEST_NUMBER-b"
  assert_equal "$code" 404
  fcgi GET /v1/vendors "ak_live_NotAKeyNotAKeyNotAKeyNotAKeyNotAKeyNotAKeyNo" "sigterm-$BATS_TEST_NUMBER-c"
  assert_equal "$code" 401
  n=$(sql "SELECT count(*) FROM audit_log WHERE target_id LIKE 'sigterm-$BATS_TEST_NUMBER-%'")
  assert_equal "$n" 0
  stop_own
  assert_equal "$(sql "SELECT group_concat(target_id || ' ' || json_extract(data, '$.status'), ',') FROM (SELECT * FROM audit_log WHERE target_id LIKE 'sigterm-$BATS_TEST_NUMBER-%' ORDER BY target_id)")" \
    "sigterm-$BATS_TEST_NUMBER-a 200,sigterm-$BATS_TEST_NUMBER-b 404"
}

@test "a worker writes its records while the database is free again, and serves while it is busy" {
  local fifo="$BATS_TEST_TMPDIR/lock.fifo" lockpid i n
  ENV_=()
  own_serve --workers 1
  # Another connection holds the write lock: reads go on, records wait.
  mkfifo "$fifo"
  sqlite3 "$REASSESS_DB" < "$fifo" > /dev/null 2>&1 3>&- &
  lockpid=$!
  OWN_PIDS="${OWN_PIDS:-} $lockpid"
  exec 5> "$fifo"
  echo "BEGIN IMMEDIATE;" >&5
  for i in $(seq 200); do
    sqlite3 "$REASSESS_DB" "BEGIN IMMEDIATE; ROLLBACK;" 2>/dev/null || break
    sleep 0.05
  done
  [ "$i" -lt 200 ] || fail "the lock was not taken"
  for i in 1 2 3; do
    fcgi GET /v1/vendors "$KEY" "busy-$BATS_TEST_NUMBER-$i"
    assert_equal "$code" 200
  done
  n=$(sql "SELECT count(*) FROM audit_log WHERE target_id LIKE 'busy-$BATS_TEST_NUMBER-%'")
  assert_equal "$n" 0
  echo "COMMIT;" >&5
  exec 5>&-
  wait "$lockpid" || true
  for i in $(seq 200); do
    n=$(sql "SELECT count(*) FROM audit_log WHERE target_id LIKE 'busy-$BATS_TEST_NUMBER-%'")
    [ "$n" = 3 ] && break
    sleep 0.05
  done
  assert_equal "$n" 3
  stop_own
}
