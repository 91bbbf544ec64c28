#!/usr/bin/env bats
# The three ways to serve (API.md section 5), over real sockets, with
# libfcgi's own cgi-fcgi as the FastCGI client: `reassess serve` on a unix
# socket and on TCP, and the plain binary on a socket it inherits on
# standard input (as spawn-fcgi and mod_fcgid start it).

# one pass: FastCGI to servers of its own; the pass's transport only makes
#   the vendor of setup_file (scripts/test.sh).

load helper

setup_file() {
  setup_db
  # A vendor to read back through every transport.
  VENDOR=$(mk_vendor "Served Vendor")
  export VENDOR
}
teardown_file() { teardown_db; }

teardown() {
  local p
  for p in ${SERVE_PIDS:-}; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

# fcgi ADDR METHOD PATH [BODY]: one request over FastCGI; sets code/body.
fcgi() {
  local addr=$1 method=$2 path=$3 data="${4:-}" out="$BATS_TEST_TMPDIR/fcgi.out"
  printf '%s' "$data" |
    env -i REQUEST_METHOD="$method" PATH_INFO="${path%%\?*}" \
      QUERY_STRING="$([[ "$path" == *\?* ]] && printf '%s' "${path#*\?}")" \
      CONTENT_TYPE=application/json CONTENT_LENGTH="${#data}" \
      HTTP_AUTHORIZATION="Bearer $KEY" REQUEST_ID="fcgi-test-$BATS_TEST_NUMBER" \
      cgi-fcgi -bind -connect "$addr" > "$out"
  headers="$(sed '/^\r\?$/q' "$out" | tr -d '\r')"$'\n'
  body="$(sed '1,/^\r\?$/d' "$out")"
  code="$(header Status | cut -d' ' -f1)"
}

# wait_for ADDR: poll (bounded) until a FastCGI server answers on ADDR.
wait_for() {
  local i
  for i in $(seq 100); do
    if fcgi "$1" GET /v1/vendors 2>/dev/null && [ "$code" = 200 ]; then
      return 0
    fi
    sleep 0.05
  done
  fail "nothing answered on $1"
}

# start_serve ARGS...: reassess serve in the background; its PID in SERVE_PID.
start_serve() {
  "$REASSESS" --db "$REASSESS_DB" serve "$@" 2> "$BATS_TEST_TMPDIR/serve.log" 3>&- &
  SERVE_PID=$!
  SERVE_PIDS="${SERVE_PIDS:-} $SERVE_PID"
}

@test "serve on a unix socket answers FastCGI requests with the socket mode asked for" {
  local sock="$BATS_TEST_TMPDIR/r.sock"
  start_serve --listen "$sock" --workers 2 --socket-mode 660
  wait_for "$sock"
  assert_equal "$(stat -c %a "$sock")" 660
  fcgi "$sock" GET "/v1/vendors/$VENDOR"
  assert_status 200
  assert_json .name "Served Vendor"
  assert_equal "$(header X-Request-Id)" "fcgi-test-$BATS_TEST_NUMBER"
  fcgi "$sock" POST /v1/vendors '{"name":"Made over FastCGI"}'
  assert_status 201
  assert_equal "$(sql "SELECT name FROM vendors WHERE id = '$(json .id)'")" "Made over FastCGI"
}

@test "serve on TCP answers, and its workers are its own children" {
  local port i n
  port=$(random_port)
  start_serve --listen "127.0.0.1:$port" --workers 3
  wait_for "127.0.0.1:$port"
  fcgi "127.0.0.1:$port" GET "/v1/vendors?limit=1"
  assert_status 200
  assert_json .limit 1
  for i in $(seq 100); do
    n=$(pgrep -P "$SERVE_PID" -r R,S,D | wc -l)
    [ "$n" -eq 3 ] && break
    sleep 0.05
  done
  assert_equal "$n" 3
}

@test "serve exits 0 on SIGTERM and removes its unix socket" {
  local sock="$BATS_TEST_TMPDIR/t.sock" rc=0
  start_serve --listen "$sock" --workers 2
  wait_for "$sock"
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID" || rc=$?
  SERVE_PIDS=""
  assert_equal "$rc" 0
  [ ! -e "$sock" ] || fail "the socket is still there"
}

@test "a worker killed with SIGKILL is replaced and the service keeps answering" {
  local sock="$BATS_TEST_TMPDIR/k.sock" victim i n
  start_serve --listen "$sock" --workers 2
  wait_for "$sock"
  victim=$(pgrep -P "$SERVE_PID" | head -n1)
  kill -KILL "$victim"
  for i in $(seq 100); do
    n=$(pgrep -P "$SERVE_PID" | grep -vx "$victim" | wc -l)
    [ "$n" -eq 2 ] && break
    sleep 0.05
  done
  assert_equal "$n" 2
  fcgi "$sock" GET "/v1/vendors/$VENDOR"
  assert_status 200
  grep -q "killed by signal 9" "$BATS_TEST_TMPDIR/serve.log" ||
    fail "the supervisor did not log the death: $(cat "$BATS_TEST_TMPDIR/serve.log")"
}

@test "the plain binary serves FastCGI on a socket inherited on standard input" {
  local sock="$BATS_TEST_TMPDIR/s.sock" pidfile="$BATS_TEST_TMPDIR/spawn.pid"
  REASSESS_DB="$REASSESS_DB" spawn-fcgi -s "$sock" -P "$pidfile" -- "$REASSESS" \
    > /dev/null 3>&-
  SERVE_PIDS="$(cat "$pidfile")"
  wait_for "$sock"
  fcgi "$sock" GET "/v1/vendors/$VENDOR"
  assert_status 200
  assert_json .id "$VENDOR"
  fcgi "$sock" GET /v1/nothing
  assert_detail 404 "Not Found"
}

@test "serve refuses bad arguments with a usage error" {
  run "$REASSESS" --db "$REASSESS_DB" serve
  assert_failure 2
  run "$REASSESS" --db "$REASSESS_DB" serve --listen /tmp/x.sock --workers 0
  assert_failure 2
  run "$REASSESS" --db "$REASSESS_DB" serve --listen /tmp/x.sock --socket-mode 999
  assert_failure 2
}
