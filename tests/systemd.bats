#!/usr/bin/env bats
# The README's systemd deployment: deploy/reassess.service (reassess serve
# on its own socket) and deploy/reassess.socket with
# deploy/reassess-activated.service (socket activation). The units are
# checked with `systemd-analyze verify`, and the command lines they run are
# taken from the files themselves and run here: the activated one under
# systemd-socket-activate, which passes the socket as systemd does (fd 3,
# LISTEN_FDS, LISTEN_PID). Requests go with libfcgi's cgi-fcgi, whatever
# REASSESS_TRANSPORT the run has. (systemd itself is not PID 1 in a
# container, so the units' sandboxing is verified, not run.)

# one pass: FastCGI to the units' own servers, and the CGI transport for
#   the rest, whatever the pass's (scripts/test.sh).

load helper

setup_file() {
  export REASSESS_TRANSPORT=cgi
  setup_db
  VENDOR=$(mk_vendor "Unit Vendor")
  export VENDOR
}
teardown_file() { teardown_db; }

teardown() {
  if [ -n "${UNIT_PID:-}" ]; then
    kill -TERM "$UNIT_PID" 2>/dev/null || true
    wait "$UNIT_PID" 2>/dev/null || true
  fi
}

# unit_value UNIT KEY: the value of the first KEY= line of deploy/UNIT.
unit_value() {
  sed -n "s/^$2=//p" "$TOP/deploy/$1" | head -n1
}

# unit_command UNIT KEY [SOCKET]: the command line of KEY (ExecStart,
# ExecStartPre) of deploy/UNIT, with the binary, and the socket path when
# given, replaced by this suite's, and 2 workers instead of the unit's.
unit_command() {
  local line
  line="$(unit_value "$1" "$2")"
  [ -n "$line" ] || fail "deploy/$1 has no $2="
  line="${line//\/usr\/local\/bin\/reassess/$REASSESS}"
  [ -n "${3:-}" ] && line="${line//\/run\/reassess\/reassess.sock/$3}"
  line="$(printf '%s' "$line" | sed 's/--workers [0-9]*/--workers 2/')"
  printf '%s' "$line"
}

# unit_db UNIT: the unit's REASSESS_DB, with this suite's database instead.
unit_db() {
  local env
  env="$(unit_value "$1" Environment)"
  [ "$env" = REASSESS_DB=/var/lib/reassess/reassess.db ] ||
    fail "deploy/$1 sets no REASSESS_DB=/var/lib/reassess/reassess.db: $env"
  printf 'REASSESS_DB=%s' "$REASSESS_DB"
}

# fcgi SOCKET METHOD PATH [BODY]: one request over FastCGI; sets code/body.
fcgi() {
  local addr=$1 method=$2 path=$3 data="${4:-}" out="$BATS_TEST_TMPDIR/fcgi.out"
  printf '%s' "$data" |
    env -i REQUEST_METHOD="$method" PATH_INFO="${path%%\?*}" \
      QUERY_STRING="$([[ "$path" == *\?* ]] && printf '%s' "${path#*\?}")" \
      CONTENT_TYPE=application/json CONTENT_LENGTH="${#data}" \
      HTTP_AUTHORIZATION="Bearer $KEY" REQUEST_ID="unit-test-$BATS_TEST_NUMBER" \
      timeout 10 cgi-fcgi -bind -connect "$addr" > "$out"
  headers="$(sed '/^\r\?$/q' "$out" | tr -d '\r')"$'\n'
  body="$(sed '1,/^\r\?$/d' "$out")"
  code="$(header Status | cut -d' ' -f1)"
  [ -n "$code" ] || code=200
}

# wait_socket SOCKET: poll (bounded) until SOCKET exists.
wait_socket() {
  local i
  for i in $(seq 200); do
    [ -S "$1" ] && return 0
    kill -0 "$UNIT_PID" 2>/dev/null || fail "the server exited: $(cat "$BATS_TEST_TMPDIR/unit.log")"
    sleep 0.05
  done
  fail "no socket at $1"
}

# serves SOCKET: the service answers reads and writes on SOCKET.
serves() {
  fcgi "$1" GET "/v1/vendors/$VENDOR"
  assert_status 200
  assert_json .name "Unit Vendor"
  assert_equal "$(header X-Request-Id)" "unit-test-$BATS_TEST_NUMBER"
  fcgi "$1" POST /v1/vendors '{"name":"Made through a unit"}'
  assert_status 201
  assert_equal "$(sql "SELECT name FROM vendors WHERE id = '$(json .id)'")" "Made through a unit"
  fcgi "$1" GET /v1/nothing
  assert_detail 404 "Not Found"
}

# stops_cleanly: SIGTERM to the unit's main process exits 0.
stops_cleanly() {
  local rc=0
  kill -TERM "$UNIT_PID"
  wait "$UNIT_PID" || rc=$?
  UNIT_PID=""
  assert_equal "$rc" 0
}

@test "the service, socket, activated service and deliver units pass systemd-analyze verify" {
  command -v systemd-analyze > /dev/null || skip "systemd-analyze is not installed"
  local dir="$BATS_TEST_TMPDIR/units" u out rc=0
  mkdir -p "$dir"
  # verify checks that ExecStart's binary exists: point it at this one.
  for u in reassess.service reassess.socket reassess-activated.service \
           reassess-deliver.service; do
    sed "s|/usr/local/bin/reassess|$REASSESS|g" "$TOP/deploy/$u" > "$dir/$u"
  done
  out="$(cd "$dir" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify \
    ./reassess.service ./reassess.socket ./reassess-activated.service \
    ./reassess-deliver.service 2>&1)" || rc=$?
  case "$out" in
    *"Failed to"*"bus"* | *"not been booted with systemd"*)
      skip "systemd-analyze verify cannot run here: $out" ;;
  esac
  assert_equal "$rc" 0
  # Unknown keys and bad values are only warnings: none may appear.
  assert_equal "$out" ""
}

@test "the socket unit's activation serves: reassess serve takes the socket on fd 3" {
  command -v systemd-socket-activate > /dev/null || skip "systemd-socket-activate is not installed"
  local sock="$BATS_TEST_TMPDIR/activated.sock" cmd pre listen
  listen="$(unit_value reassess.socket ListenStream)"
  assert_equal "$listen" /run/reassess/reassess.sock
  assert_equal "$(unit_value reassess.socket Service)" reassess-activated.service
  cmd="$(unit_command reassess-activated.service ExecStart)"
  [[ "$cmd" != *--listen* ]] || fail "the activated unit must not pass --listen: $cmd"
  # The unit's ExecStartPre (init) is harmless on a current database. The
  # units' command lines are words without quotes: split them on purpose.
  pre="$(unit_command reassess-activated.service ExecStartPre)"
  # shellcheck disable=SC2086
  env "$(unit_db reassess-activated.service)" $pre
  # shellcheck disable=SC2086
  systemd-socket-activate -l "$sock" -E "$(unit_db reassess-activated.service)" \
    $cmd 2> "$BATS_TEST_TMPDIR/unit.log" 3>&- &
  UNIT_PID=$!
  wait_socket "$sock"
  # The first connection starts it (exec: the same PID).
  serves "$sock"
  assert_equal "$(cat "/proc/$UNIT_PID/comm")" reassess
  assert_equal "$(pgrep -P "$UNIT_PID" | wc -l)" 2
  stops_cleanly
}

@test "the service unit's command lines init and serve on the unit's socket" {
  local sock="$BATS_TEST_TMPDIR/unit.sock" cmd pre
  cmd="$(unit_command reassess.service ExecStart "$sock")"
  [[ "$cmd" == *"--listen $sock"* ]] || fail "unexpected ExecStart: $cmd"
  pre="$(unit_command reassess.service ExecStartPre)"
  [ "$pre" = "$REASSESS init" ] || fail "unexpected ExecStartPre: $pre"
  # shellcheck disable=SC2086
  env "$(unit_db reassess.service)" $pre
  # shellcheck disable=SC2086
  (umask 0007 && exec env "$(unit_db reassess.service)" $cmd) \
    2> "$BATS_TEST_TMPDIR/unit.log" 3>&- &
  UNIT_PID=$!
  wait_socket "$sock"
  serves "$sock"
  # UMask=0007: only the owner and the web server's group reach the socket.
  assert_equal "$(stat -c %a "$sock")" 770
  stops_cleanly
  [ ! -e "$sock" ] || fail "the socket is still there"
}
