# Shared helper for the bats suites: load it with `load helper`.
#
# The suites talk to reassess through `api`, which hides the transport:
#   REASSESS_TRANSPORT=cgi   (default) runs ./reassess once per request as a
#                            CGI program, with the request in its environment
#                            and its body on standard input;
#   REASSESS_TRANSPORT=http  sends the request with curl to $REASSESS_URL:
#                            setup_db starts `reassess serve` and nginx in
#                            front of it for each file (start_service),
#                            unless REASSESS_URL_FIXED is set (a file that
#                            starts its own servers and sets REASSESS_URL).
#                            In CGI mode a request has a REMOTE_ADDR only
#                            when CGI_REMOTE_ADDR is set (tests/org.bats).
# Tests never look at the transport; they read $code, $body and `header`.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

TOP="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
REASSESS="${REASSESS:-$TOP/reassess}"
REASSESS_TRANSPORT="${REASSESS_TRANSPORT:-cgi}"

# cli ARGS...: the admin command line against the suite's database.
# REASSESS_WRAP (make valgrind) runs it, each CGI request and the service
# of start_service under a wrapper command.
cli() {
  ${REASSESS_WRAP:-} "$REASSESS" --db "$REASSESS_DB" "$@"
}

# sql QUERY: read the suite's database directly (for state assertions).
sql() {
  sqlite3 -batch -noheader -cmd ".timeout 5000" "$REASSESS_DB" "$1"
}

# db_digest: a fingerprint of every row, to show that a refused request
# changed nothing: every row but the API-call records (6.4) and the keys'
# last_used_at, which every authenticated call writes, refused or not, and
# a worker writes up to a second later (on a copy, made with .backup).
db_digest() {
  local t="$BATS_TEST_TMPDIR/digest.db"
  rm -f "$t"
  sqlite3 -batch -cmd ".timeout 5000" "$REASSESS_DB" ".backup '$t'" &&
    sqlite3 -batch "$t" "DELETE FROM audit_log WHERE event_type = 'external_api_call';
      UPDATE api_keys SET last_used_at = NULL;" .dump | sha256sum | cut -d' ' -f1
}

# setup_db: a fresh database for this file with two orgs, each with a key.
# Exports REASSESS_DB, ORG, KEY (org A) and ORG_B, KEY_B (org B).
# Call it from setup_file.
setup_db() {
  export REASSESS_DB="$BATS_FILE_TMPDIR/reassess.db"
  rm -f "$REASSESS_DB" "$REASSESS_DB-wal" "$REASSESS_DB-shm"
  cli init >/dev/null
  ORG=$(cli org create "Org A")
  KEY=$(cli key create "$ORG" --name "test key A" 2>/dev/null)
  ORG_B=$(cli org create "Org B")
  KEY_B=$(cli key create "$ORG_B" --name "test key B" 2>/dev/null)
  export ORG KEY ORG_B KEY_B
  if [ "$REASSESS_TRANSPORT" = http ] && [ -z "${REASSESS_URL_FIXED:-}" ]; then
    start_service
  fi
}

# teardown_db: stop what setup_db started. Call it from teardown_file.
teardown_db() {
  stop_service
}

# port_free PORT: true when nothing listens on 127.0.0.1:PORT.
port_free() {
  ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# random_port: a loopback port that is free now (a server may still lose
# the race for it: callers retry, bounded).
random_port() {
  local port try
  for try in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    port_free "$port" && { echo "$port"; return 0; }
  done
  return 1
}

# owns_port PID PORT: true when process PID holds the socket that listens
# on 127.0.0.1:PORT.
owns_port() {
  local addr inode
  printf -v addr '0100007F:%04X' "$2"
  inode=$(awk -v a="$addr" '$2 == a && $4 == "0A" { print $10; exit }' /proc/net/tcp)
  [ -n "$inode" ] &&
    [ -n "$(find "/proc/$1/fd" -lname "socket:\[$inode\]" 2>/dev/null)" ]
}

# wait_http URL STATUS PID: poll (bounded, 10 s) until URL answers STATUS
# and PID (the server) is the one listening on URL's port; fails at once if
# PID is gone, or if another server answers there. Other files run at the
# same time (scripts/test.sh): a server that lost the race for a free port
# may live a moment longer than it takes that port's owner to answer.
wait_http() {
  local i port=${1#http://*:}
  port=${port%%/*}
  for i in $(seq 200); do
    kill -0 "$3" 2>/dev/null || return 1
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = "$2" ]; then
      owns_port "$3" "$port"
      return
    fi
    sleep 0.05
  done
  return 1
}

# start_service [WORKERS]: `reassess serve` on a unix socket for this
# file's database, and nginx in front of it on a free loopback port, with
# the configuration scripts/nginx-conf.sh derives from nginx.conf.example
# and everything under $BATS_FILE_TMPDIR/service. Exports REASSESS_URL,
# SERVE_PID and NGINX_PID; stop_service stops both by PID.
start_service() {
  local dir="$BATS_FILE_TMPDIR/service" port try
  mkdir -p "$dir/nginx"
  ${REASSESS_WRAP:-} "$REASSESS" --db "$REASSESS_DB" serve \
    --listen "$dir/reassess.sock" --workers "${1:-2}" 2> "$dir/serve.log" 3>&- &
  SERVE_PID=$!
  for try in 1 2 3 4 5 6 7 8; do
    port=$(random_port) || continue
    "$TOP/scripts/nginx-conf.sh" "$dir/nginx" "127.0.0.1:$port" \
      "$dir/reassess.sock" > "$dir/nginx/nginx.conf"
    nginx -p "$dir/nginx" -e "$dir/nginx/error.log" \
      -c "$dir/nginx/nginx.conf" 3>&- &
    NGINX_PID=$!
    wait_http "http://127.0.0.1:$port/v1/vendors" 401 "$NGINX_PID" && break
    kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
  done
  if [ -z "${NGINX_PID:-}" ]; then
    echo "start_service: nginx or reassess serve did not come up" >&2
    cat "$dir/nginx/error.log" "$dir/serve.log" >&2 2>/dev/null
    return 1
  fi
  export REASSESS_URL="http://127.0.0.1:$port/" SERVE_PID NGINX_PID
  REASSESS_URL="${REASSESS_URL%/}"
  export REASSESS_URL
  start_openapi_check
}

# start_openapi_check: unless REASSESS_OPENAPI_CHECK=0, the response
# checker of tests/openapi/check.js (Stoplight Prism's router and response
# validator, installed by scripts/test-npm.sh) on a free loopback port,
# with the document this server serves at /openapi.json. `api` then hands
# it each response it receives over HTTP and fails the test whose
# response breaks the document, naming the path and the field (API.md 8).
# Exports OPENAPI_CHECK_PORT and OPENAPI_CHECK_PID; stop_service stops it
# by PID.
start_openapi_check() {
  local dir="$BATS_FILE_TMPDIR/service" i
  OPENAPI_CHECK_PORT="" OPENAPI_CHECK_PID=""
  [ "${REASSESS_OPENAPI_CHECK:-1}" = 1 ] || return 0
  if [ ! -d "$TOP/tests/openapi/node_modules/@stoplight/prism-http" ]; then
    echo "start_openapi_check: tests/openapi/node_modules is missing" \
      "(scripts/test-npm.sh installs it)" >&2
    return 1
  fi
  curl -sS -f -o "$dir/openapi.json" "$REASSESS_URL/openapi.json" || return 1
  node "$TOP/tests/openapi/check.js" "$dir/openapi.json" \
    > "$dir/check.port" 2> "$dir/check.log" 3>&- &
  OPENAPI_CHECK_PID=$!
  # Bounded: 30 s, as Node takes a second or two to load Prism.
  for i in $(seq 300); do
    kill -0 "$OPENAPI_CHECK_PID" 2>/dev/null || break
    if [ -s "$dir/check.port" ]; then
      read -r OPENAPI_CHECK_PORT < "$dir/check.port"
      if owns_port "$OPENAPI_CHECK_PID" "$OPENAPI_CHECK_PORT"; then
        export OPENAPI_CHECK_PORT OPENAPI_CHECK_PID
        return 0
      fi
    fi
    sleep 0.1
  done
  echo "start_openapi_check: tests/openapi/check.js did not come up" >&2
  cat "$dir/check.log" >&2 2>/dev/null
  kill "$OPENAPI_CHECK_PID" 2>/dev/null || true
  wait "$OPENAPI_CHECK_PID" 2>/dev/null || true
  OPENAPI_CHECK_PID="" OPENAPI_CHECK_PORT=""
  return 1
}

# _openapi_check: hand the last response (curl's files) to the checker;
# fail with its violations. Over bash's /dev/tcp: no process per request.
_openapi_check() {
  local fd answer
  [[ $path == *[$'\t\n\r']* ]] && return 0
  exec {fd}<>"/dev/tcp/127.0.0.1/$OPENAPI_CHECK_PORT" || {
    echo "OpenAPI: the checker (port $OPENAPI_CHECK_PORT) does not answer" >&2
    return 1
  }
  printf '%s\t%s\t%s\t%s\n' "$method" "$path" "$out.hdr" "$out.body" >&"$fd"
  IFS= read -r -t 30 answer <&"$fd" || answer="no answer from the checker"
  exec {fd}>&-
  [ "$answer" = ok ] && return 0
  echo "OpenAPI: the response to $method $path ($code) breaks /openapi.json:" >&2
  echo "$answer" >&2
  echo "body: ${body:0:2000}" >&2
  return 1
}

# stop_service: stop nginx and reassess serve, by their PIDs.
stop_service() {
  local p
  for p in ${OPENAPI_CHECK_PID:-} ${NGINX_PID:-} ${SERVE_PID:-}; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  OPENAPI_CHECK_PID="" NGINX_PID="" SERVE_PID="" OPENAPI_CHECK_PORT=""
}

# api [options] METHOD PATH [BODY]
#   --key SECRET      send this key (default: $KEY)
#   --no-auth         send no Authorization header
#   --auth VALUE      send this exact Authorization header value
#   --ct TYPE         Content-Type (default application/json when a body is given)
#   --no-ct           send no Content-Type even with a body
#   -H 'Name: value'  any other request header
# Sets: code (HTTP status), body (response body), headers (raw header
# lines). Fails the test if the program crashed or exited non-zero.
api() {
  local key="$KEY" auth=1 authval="" ct="" noct=0 has_body=0
  local -a extra=() pos=()
  while (($#)); do
    case "$1" in
      --key) key="$2"; shift 2 ;;
      --no-auth) auth=0; shift ;;
      --auth) authval="$2"; auth=2; shift 2 ;;
      --ct) ct="$2"; shift 2 ;;
      --no-ct) noct=1; shift ;;
      -H) extra+=("$2"); shift 2 ;;
      *) pos+=("$1"); shift ;;
    esac
  done
  local method="${pos[0]}" path="${pos[1]}" data=""
  if ((${#pos[@]} > 2)); then data="${pos[2]}"; has_body=1; fi
  if ((has_body)) && [ -z "$ct" ] && ((noct == 0)); then ct="application/json"; fi
  ((noct)) && ct=""
  local authhdr=""
  case $auth in
    1) authhdr="Bearer $key" ;;
    2) authhdr="$authval" ;;
  esac

  local in="$BATS_TEST_TMPDIR/req.body" out="$BATS_TEST_TMPDIR/resp.raw"
  printf '%s' "$data" > "$in"
  if [ "$REASSESS_TRANSPORT" = http ]; then
    _api_http
  else
    _api_cgi
  fi
}

# The CGI transport: the environment a web server would give the program.
_api_cgi() {
  local -a env=(REQUEST_METHOD="$method")
  local p="${path%%\?*}" q=""
  [[ "$path" == *\?* ]] && q="${path#*\?}"
  env+=(PATH_INFO="$p" QUERY_STRING="$q" REQUEST_URI="$path" SCRIPT_NAME="")
  ((has_body)) && env+=(CONTENT_LENGTH="$(wc -c < "$in")")
  [ -n "$ct" ] && env+=(CONTENT_TYPE="$ct")
  [ -n "$authhdr" ] && env+=(HTTP_AUTHORIZATION="$authhdr")
  # The client's address, as a web server passes it (6.3); none when unset.
  [ -n "${CGI_REMOTE_ADDR:-}" ] && env+=(REMOTE_ADDR="$CGI_REMOTE_ADDR")
  local h name value
  for h in "${extra[@]}"; do
    name="${h%%:*}" value="${h#*:}"
    value="${value# }"
    case "${name^^}" in
      CONTENT-TYPE) env+=(CONTENT_TYPE="$value") ;;
      CONTENT-LENGTH) env+=(CONTENT_LENGTH="$value") ;;
      *) name="${name^^}"; env+=("HTTP_${name//-/_}=$value") ;;
    esac
  done
  cgi_exec "${env[@]}"
}

# cgi_exec NAME=VALUE...: run the program once as a CGI program with the
# base environment a web server gives (PATH, the database, the REASSESS_*
# and sanitizer settings of the test's environment) plus these variables,
# later ones winning; the body is $BATS_TEST_TMPDIR/req.body. Sets code,
# body and headers; fails the test if the program exited non-zero.
cgi_exec() {
  local in="$BATS_TEST_TMPDIR/req.body" out="$BATS_TEST_TMPDIR/resp.raw"
  local -a env=(PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1
                REASSESS_DB="$REASSESS_DB")
  local v
  # (compgen by prefix: a loop over the whole environment costs a
  # bats-traced command per variable, and api calls this for each request.)
  for v in $(compgen -e REASSESS_; compgen -e ASAN_; compgen -e UBSAN_; compgen -e LSAN_); do
    case "$v" in
      REASSESS_DB) ;;
      REASSESS_*|ASAN_OPTIONS|UBSAN_OPTIONS|LSAN_OPTIONS) env+=("$v=${!v}") ;;
    esac
  done
  env+=("$@")
  [ -e "$in" ] || : > "$in"
  local rc=0
  env -i "${env[@]}" ${REASSESS_WRAP:-} "$REASSESS" < "$in" > "$out" \
    2> "$BATS_TEST_TMPDIR/stderr" || rc=$?
  if ((rc != 0)); then
    echo "reassess exited with status $rc" >&2
    cat "$BATS_TEST_TMPDIR/stderr" >&2
    return 1
  fi
  headers="" body=""
  local line
  {
    while IFS= read -r line; do
      line="${line%$'\r'}"
      [ -z "$line" ] && break
      headers+="$line"$'\n'
    done
    # (the rest; a response body holds no NUL and ends in no newline)
    IFS= read -r -d '' body || true
  } < "$out"
  _header Status
  code="${REPLY%% *}"
  [ -n "$code" ] || code=200
}

# The HTTP transport: curl against a running nginx (or Apache).
_api_http() {
  local -a args=(-sS -X "$method" -o "$out.body" -D "$out.hdr" -w '%{http_code}'
                 -H 'Expect:')
  ((has_body)) && args+=(--data-binary "@$in")
  if [ -n "$ct" ]; then args+=(-H "Content-Type: $ct"); else args+=(-H 'Content-Type:'); fi
  [ -n "$authhdr" ] && args+=(-H "Authorization: $authhdr")
  local h
  for h in "${extra[@]}"; do args+=(-H "$h"); done
  # (curl writes no file for an answer without a body, such as a 304)
  rm -f "$out.body"
  code="$(curl "${args[@]}" "$REASSESS_URL$path")" || {
    echo "curl failed for $method $path" >&2
    return 1
  }
  # The header lines without the status line, as in _api_cgi; $(<) and
  # expansions rather than processes (this runs for every request).
  local h
  h="$(< "$out.hdr")"
  h="${h//$'\r'/}"
  h="${h%$'\n'}"
  if [[ $h == *$'\n'* ]]; then h="${h#*$'\n'}"; else h=""; fi
  headers="$h"$'\n'
  body=""
  [ ! -e "$out.body" ] || body="$(< "$out.body")"
  [ -z "${OPENAPI_CHECK_PORT:-}" ] || _openapi_check
}

# header NAME: the value of a response header of the last `api` call.
# (In bash, without a process: the suite calls it for nearly every request.
# NAME is a header name: letters, digits and dashes, matched in any case.)
header() {
  _header "$1"
  printf '%s' "$REPLY"
}

# _header NAME: header's value in REPLY, without a subshell.
_header() {
  local re=$'(^|\n)'"$1"$':[ ]*([^\n]*)'
  REPLY=""
  shopt -s nocasematch
  [[ $headers =~ $re ]] && REPLY=${BASH_REMATCH[2]}
  shopt -u nocasematch
}

# json FILTER: jq -r over the last response body.
json() {
  jq -r "$1" <<< "$body"
}

# assert_status N: the last response had status N (shows the body if not).
assert_status() {
  if [ "$code" != "$1" ]; then
    fail "expected status $1, got $code: $body"
  fi
}

# assert_json FILTER EXPECTED: jq -r FILTER over the body prints EXPECTED.
assert_json() {
  local got
  got="$(json "$1")" || fail "body is not JSON: $body"
  if [ "$got" != "$2" ]; then
    fail "expected $1 to be '$2', got '$got' in: $body"
  fi
}

# assert_error STATUS CODE: a coded error of the contract's shape, whose
# request_id matches the X-Request-Id header.
# (One jq for the three fields: the suite checks hundreds of errors.)
assert_error() {
  assert_status "$1"
  local rid got
  _header X-Request-Id
  rid=$REPLY
  [ -n "$rid" ] || fail "no X-Request-Id header"
  got="$(jq -r '"\(.detail.code) \(.detail.message | type) \(.request_id)"' <<< "$body")" ||
    fail "body is not a coded error: $body"
  if [ "$got" != "$2 string $rid" ]; then
    fail "expected .detail.code '$2', a string .detail.message and .request_id '$rid' (got '$got') in: $body"
  fi
}

# assert_detail STATUS TEXT: FastAPI's plain {"detail": TEXT} errors.
assert_detail() {
  assert_status "$1"
  assert_json '.detail' "$2"
}

# assert_422 LOC TYPE: a 422 whose detail list holds an entry at LOC (a JSON
# array, e.g. '["body","vendor_ids"]') of TYPE.
assert_422() {
  assert_status 422
  local n
  n="$(printf '%s' "$body" | jq --argjson loc "$1" --arg type "$2" \
        '[.detail[] | select(.loc == $loc and .type == $type)] | length')" ||
    fail "422 body is not a validation list: $body"
  if [ "$n" != 1 ]; then
    fail "expected one error at $1 of type $2 in: $body"
  fi
}

# Fixture makers: each prints the new object's id, or fails the test.
# They take an optional --key to make the object in another org.

# created_id: the id of the object in the last response body. (Read with
# bash when the body starts with it, as the API writes it: the suite makes
# thousands of fixtures, and jq takes some 25 ms to start.)
created_id() {
  if [[ $body =~ ^\{\"id\":\"([A-Za-z0-9_]+)\"[,}] ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  else
    json .id
  fi
}

# mk_vendor [--key K] [NAME]
mk_vendor() {
  local k="$KEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  api --key "$k" POST /v1/vendors "{\"name\":\"${1:-Acme $RANDOM}\"}"
  [ "$code" = 201 ] || { echo "mk_vendor: $code $body" >&2; return 1; }
  created_id
}

# mk_event [--key K] VENDOR_IDS_JSON [SEVERITY]
mk_event() {
  local k="$KEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  api --key "$k" POST /v1/radar/events \
    "{\"name\":\"Breach\",\"summary\":\"Data breach\",\"primary_impact_type\":\"Infosec\",\"vendor_ids\":${1:-[]},\"alert_severity\":\"${2:-high}\"}"
  [ "$code" = 201 ] || { echo "mk_event: $code $body" >&2; return 1; }
  created_id
}

# mk_plan [--key K] [NAME]
mk_plan() {
  local k="$KEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  api --key "$k" POST /v1/assessment_plans \
    "{\"name\":\"${1:-Security review}\",\"control_set_ids\":[\"cs_1\",\"cs_2\"]}"
  [ "$code" = 201 ] || { echo "mk_plan: $code $body" >&2; return 1; }
  created_id
}

# mk_rsm [--key K] EVENT_ID VENDOR_IDS_JSON [PLAN_ID]
mk_rsm() {
  local k="$KEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  local plan=null
  [ -n "${3:-}" ] && plan="\"$3\""
  api --key "$k" POST /v1/reassessments \
    "{\"radar_event_id\":\"$1\",\"vendor_ids\":$2,\"assessment_plan_id\":$plan}"
  [ "$code" = 201 ] || { echo "mk_rsm: $code $body" >&2; return 1; }
  created_id
}

# Shared assertions for the resource suites.

# unknown_id PREFIX: a well-formed id that names nothing.
unknown_id() {
  printf '%s_%s' "$1" "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
}

# assert_hidden STATUS CODE METHOD PATH_WITH_ID ID [BODY]: org B's key on
# org A's object ID gets exactly what it gets on an unknown well-formed id
# (same status, same code, same message once the id is set aside).
assert_hidden() {
  local status=$1 ecode=$2 method=$3 tmpl=$4 id=$5 unk umsg msg
  shift 5
  unk="$(unknown_id "${id%_*}")"
  api --key "$KEY_B" "$method" "${tmpl/ID/$unk}" "$@"
  assert_error "$status" "$ecode"
  umsg="$(json .detail.message)"
  api --key "$KEY_B" "$method" "${tmpl/ID/$id}" "$@"
  assert_error "$status" "$ecode"
  msg="$(json .detail.message)"
  assert_equal "${msg//$id/ID}" "${umsg//$unk/ID}"
}

# ids: the ids of the last list response, comma-separated, in order.
ids() { json '[.items[].id] | join(",")'; }

# jl ID...: a JSON list of the given strings.
jl() {
  local IFS=, x
  local -a a=()
  for x in "$@"; do a+=("\"$x\""); done
  printf '[%s]' "${a[*]}"
}

# post PATH BODY: one POST with curl to $REASSESS_URL with org A's key; the
# status in $pc, the body in the file $pb. No answer (a killed worker) is
# status 000; curl gives up after 10 s.
post() {
  pc=$(curl -sS -m 10 -X POST -H "Authorization: Bearer $KEY" -H 'Expect:' \
    -H 'Content-Type: application/json' --data-binary "$2" -o "$pb" \
    -w '%{http_code}' "$REASSESS_URL$1" 2>/dev/null) || pc=000
}
