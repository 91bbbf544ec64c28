#!/usr/bin/env bats
# Bad input to a running service (API.md 1.1, 1.4 and 5): a body shorter
# than its Content-Length, a client that disconnects mid-body, a database
# file that cannot be written or is missing. Each gets a clear status (4xx,
# or 503 with Retry-After) and a log line with the request id; the worker
# survives (the same worker pids) and the next request is served.
#
# nginx reads the whole body before it passes a request on, so the body
# cases that concern the program are sent to `reassess serve` over FastCGI
# directly: with libfcgi's cgi-fcgi, and with raw FastCGI records written
# from bash to a TCP listener when the client must vanish mid-body.

# one pass: over HTTP and FastCGI to its own service, whatever the pass's
#   transport (scripts/test.sh).

load helper

setup_file() {
  setup_db
  stop_service        # setup_db's own service, if any: this file wants its own
  start_service 2 || return 1
  SOCK="$BATS_FILE_TMPDIR/service/reassess.sock"
  LOG="$BATS_FILE_TMPDIR/service/serve.log"
  REASSESS_TRANSPORT=http
  export REASSESS_TRANSPORT SOCK LOG
}
teardown_file() {
  chattr -i "$REASSESS_DB" "$REASSESS_DB-wal" "$REASSESS_DB-shm" 2>/dev/null || true
  teardown_db
}

teardown() {
  local p f
  for f in "$REASSESS_DB" "$REASSESS_DB-wal" "$REASSESS_DB-shm"; do
    chattr -i "$f" 2>/dev/null || true
  done
  # A test that moved the database away puts it back.
  if [ -d "$BATS_TEST_TMPDIR/away" ]; then
    for f in "$BATS_TEST_TMPDIR"/away/*; do
      [ -e "$f" ] && mv -f "$f" "$BATS_FILE_TMPDIR/"
    done
    rmdir "$BATS_TEST_TMPDIR/away"
  fi
  for p in ${TCP_PIDS:-}; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  TCP_PIDS=""
}

# workers [PID]: the worker pids of supervisor PID (default: this file's
# service), sorted, on one line.
workers() {
  pgrep -P "${1:-$SERVE_PID}" | sort -n | tr '\n' ' '
}

# assert_logged RID TEXT: the service's log has a line with request id RID
# that says TEXT, within a bounded wait (a worker writes it as it answers).
assert_logged() {
  local i
  for i in $(seq 50); do
    grep "request_id=$1 " "${3:-$LOG}" | grep -q -- "$2" && return 0
    sleep 0.05
  done
  fail "no log line for request $1 saying '$2' in: $(cat "${3:-$LOG}")"
}

# assert_served: the next request through nginx is answered, a write.
assert_served() {
  api POST /v1/vendors '{"name":"Served after"}'
  assert_status 201
}

# fcgi_short DECLARED BODY RID: a FastCGI request to the service's socket
# with cgi-fcgi, declaring DECLARED bytes and sending BODY, then the end of
# the stream. Sets code, body and headers.
fcgi_short() {
  local out="$BATS_TEST_TMPDIR/fcgi.out"
  printf '%s' "$2" |
    env -i REQUEST_METHOD=POST PATH_INFO=/v1/vendors QUERY_STRING= \
      CONTENT_TYPE=application/json CONTENT_LENGTH="$1" REQUEST_ID="$3" \
      HTTP_AUTHORIZATION="Bearer $KEY" cgi-fcgi -bind -connect "$SOCK" > "$out"
  headers="$(sed '/^\r\?$/q' "$out" | tr -d '\r')"$'\n'
  body="$(sed '1,/^\r\?$/d' "$out")"
  code="$(header Status | cut -d' ' -f1)"
}

# hexbyte N: N (0..255) as a printf escape.
hexbyte() { printf '\\x%02x' "$1"; }

# fcgi_record TYPE FILE: one FastCGI record of request 1 whose content is
# FILE (under 64 KiB), on standard output.
fcgi_record() {
  local len
  len=$(stat -c %s "$2")
  printf "\\x01$(hexbyte "$1")\\x00\\x01$(hexbyte $((len >> 8)))$(hexbyte $((len & 255)))\\x00\\x00"
  cat "$2"
}

# fcgi_pairs NAME=VALUE...: FastCGI name-value pairs (each part under 128
# bytes), on standard output.
fcgi_pairs() {
  local nv n v
  for nv in "$@"; do
    n=${nv%%=*} v=${nv#*=}
    printf "$(hexbyte ${#n})$(hexbyte ${#v})%s%s" "$n" "$v"
  done
}

# tcp_request METHOD PATH RID: one bodiless FastCGI request with cgi-fcgi to
# the TCP service of start_tcp; sets code, body and headers.
tcp_request() {
  local out="$BATS_TEST_TMPDIR/tcp.out"
  env -i REQUEST_METHOD="$1" PATH_INFO="$2" QUERY_STRING= REQUEST_ID="$3" \
    HTTP_AUTHORIZATION="Bearer $KEY" cgi-fcgi -bind -connect "127.0.0.1:$TCP_PORT" \
    < /dev/null > "$out"
  headers="$(sed '/^\r\?$/q' "$out" | tr -d '\r')"$'\n'
  body="$(sed '1,/^\r\?$/d' "$out")"
  code="$(header Status | cut -d' ' -f1)"
}

# start_tcp: `reassess serve` for $REASSESS_DB on a free loopback TCP port,
# two workers; sets TCP_PID, TCP_PORT and TCP_LOG. Polls (bounded) until it
# answers anything.
start_tcp() {
  local try i
  TCP_LOG="$BATS_TEST_TMPDIR/tcp.log"
  for try in 1 2 3 4 5; do
    TCP_PORT=$(random_port) || continue
    "$REASSESS" --db "$REASSESS_DB" serve --listen "127.0.0.1:$TCP_PORT" \
      --workers 2 2> "$TCP_LOG" 3>&- &
    TCP_PID=$!
    for i in $(seq 100); do
      kill -0 "$TCP_PID" 2>/dev/null || break
      # (ours, not another file's server on the same port)
      if tcp_request GET /v1/vendors "ready-$$-$i" 2>/dev/null && [ -n "$code" ] &&
        owns_port "$TCP_PID" "$TCP_PORT"; then
        TCP_PIDS="${TCP_PIDS:-} $TCP_PID"    # for teardown: only a live one
        return 0
      fi
      sleep 0.05
    done
    kill "$TCP_PID" 2>/dev/null || true
    wait "$TCP_PID" 2>/dev/null || true
  done
  fail "reassess serve did not come up on TCP: $(cat "$TCP_LOG")"
}

@test "a FastCGI body shorter than its Content-Length gets 400 incomplete_body and a log line" {
  local before rid="short-body-$$-$RANDOM"
  before="$(workers)"
  fcgi_short 100 '{"name":"Short"}' "$rid"
  assert_error 400 incomplete_body
  assert_equal "$(header X-Request-Id)" "$rid"
  assert_logged "$rid" "declared"
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name = 'Short'")" 0
  assert_equal "$(workers)" "$before"
  assert_served
}

@test "a FastCGI client that disconnects mid-body gets a log line and the worker lives on" {
  local before rid="mid-body-$$-$RANDOM" d="$BATS_TEST_TMPDIR/raw"
  start_tcp
  before="$(workers "$TCP_PID")"
  mkdir -p "$d"
  printf '\x00\x01\x00\x00\x00\x00\x00\x00' > "$d/begin"        # responder, close after
  fcgi_pairs REQUEST_METHOD=POST PATH_INFO=/v1/vendors QUERY_STRING= \
    CONTENT_TYPE=application/json CONTENT_LENGTH=4000 REQUEST_ID="$rid" \
    "HTTP_AUTHORIZATION=Bearer $KEY" > "$d/params"
  : > "$d/end"
  printf '{"name":"Cut short, never sent whole' > "$d/stdin"
  {
    fcgi_record 1 "$d/begin"
    fcgi_record 4 "$d/params"
    fcgi_record 4 "$d/end"
    fcgi_record 5 "$d/stdin"
  } > "$d/request"

  # Send the records, then go away without the rest of the body.
  exec 5<> "/dev/tcp/127.0.0.1/$TCP_PORT"
  cat "$d/request" >&5
  exec 5>&-

  assert_logged "$rid" "declared" "$TCP_LOG"
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name LIKE 'Cut short%'")" 0
  assert_equal "$(workers "$TCP_PID")" "$before"
  run env -i REQUEST_METHOD=GET PATH_INFO=/v1/vendors HTTP_AUTHORIZATION="Bearer $KEY" \
    cgi-fcgi -bind -connect "127.0.0.1:$TCP_PORT"
  assert_success
  assert_line --partial "Status: 200"
}

@test "an HTTP client that disconnects mid-body leaves the workers serving" {
  local before hostport=${REASSESS_URL#http://}
  before="$(workers)"
  exec 5<> "/dev/tcp/${hostport%:*}/${hostport##*:}"
  printf 'POST /v1/vendors HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"name":"Cut short over HTTP' "$KEY" >&5
  exec 5>&-
  assert_served
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name LIKE 'Cut short%'")" 0
  assert_equal "$(workers)" "$before"
}

@test "a write while the database file cannot be written gets 503 database_unavailable with Retry-After" {
  local before i rid
  assert_served        # every worker may hold the file open; that is the point
  assert_served
  before="$(workers)"
  chattr +i "$REASSESS_DB" "$REASSESS_DB-wal" 2>/dev/null ||
    skip "chattr +i is not supported on this file system"
  for i in 1 2 3 4 5 6; do
    api POST /v1/vendors '{"name":"Unwritable"}'
    assert_error 503 database_unavailable
    assert_equal "$(header Retry-After)" 1
    rid="$(header X-Request-Id)"
    assert_logged "$rid" "database unavailable"
  done
  # Reads still work from what is there.
  api GET /v1/vendors?limit=1
  assert_status 200
  assert_equal "$(workers)" "$before"
  chattr -i "$REASSESS_DB" "$REASSESS_DB-wal"
  assert_served
  assert_served
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name = 'Unwritable'")" 0
  assert_equal "$(workers)" "$before"
}

@test "a service started before its database exists answers 503 database_not_initialized, then serves" {
  local db="$BATS_TEST_TMPDIR/later.db" before i
  REASSESS_DB="$db" start_tcp
  before="$(workers "$TCP_PID")"
  for i in 1 2 3 4; do
    tcp_request GET /v1/vendors "later-$i-$$"
    assert_error 503 database_not_initialized
    assert_equal "$(header Retry-After)" 1
    assert_logged "later-$i-$$" "database" "$TCP_LOG"
  done
  cli backup "$db"
  for i in 1 2 3 4; do
    tcp_request GET /v1/vendors "ready-$i-$$"
    assert_status 200
  done
  assert_equal "$(workers "$TCP_PID")" "$before"
}

@test "a request while the database file is missing gets a 503 with Retry-After from every worker" {
  local before i rid
  assert_served        # both workers have the file open
  assert_served
  before="$(workers)"
  mkdir "$BATS_TEST_TMPDIR/away"
  mv "$REASSESS_DB" "$REASSESS_DB-wal" "$REASSESS_DB-shm" "$BATS_TEST_TMPDIR/away/"
  for i in 1 2 3 4 5 6; do
    api POST /v1/vendors '{"name":"Written while missing"}'
    [ "$code" = 503 ] ||
      fail "request $i while the database was missing got $code: $body"
    [[ "$(json .detail.code)" == database_not_initialized ||
       "$(json .detail.code)" == database_unavailable ]] || fail "unexpected code: $body"
    assert_equal "$(header Retry-After)" 1
    rid="$(header X-Request-Id)"
    assert_logged "$rid" "database"
  done
  assert_equal "$(workers)" "$before"
  mv "$BATS_TEST_TMPDIR"/away/* "$BATS_FILE_TMPDIR/"
  rmdir "$BATS_TEST_TMPDIR/away"
  assert_served
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name = 'Written while missing'")" 0
}
