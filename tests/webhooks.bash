# tests/webhooks.bash: what tests/webhooks.bats and
# tests/webhook_delivery.bats share (loaded after helper): the
# environment, the receiver, and the helpers that make webhooks and read
# what was queued and received. The rationale for the environment is in
# tests/webhooks.bats's header.


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
