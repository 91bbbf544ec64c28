#!/usr/bin/env bats
# Apache in front of reassess, configured by the README's two Apache
# deployments, each started here from its file in deploy/ (through
# scripts/apache-conf.sh, which substitutes only the placeholders):
#
#   cgi         deploy/apache-cgi.conf: mod_cgid runs the binary once per
#               request, with CGIPassAuth On;
#   proxy-fcgi  deploy/apache-proxy-fcgi.conf: mod_proxy_fcgi in front of
#               `reassess serve` on a unix socket.
#
# A smoke subset of the suite runs through each: the README's workflow, the
# error shapes, and the Authorization header, which Apache drops without
# CGIPassAuth (shown by a second Apache of each mode with `CGIPassAuth Off`).
# Requests go with curl, whatever REASSESS_TRANSPORT the run has.
#
# Apache refuses to serve as root: started as root, its children and the CGI
# program run as www-data, as on a Debian host. So this file's directory,
# the binary (copied into it), the database's directory and the socket are
# made reachable by www-data, and `reassess serve` runs with group www-data
# and umask 0007, as deploy/reassess.service runs it.

# one pass: through its own Apache servers, whatever the pass's transport
#   (scripts/test.sh).

load helper

setup_file() {
  command -v apache2 > /dev/null ||
    skip "apache2 is not installed (scripts/deps.sh test installs it)"
  export REASSESS_TRANSPORT=http REASSESS_URL_FIXED=1
  setup_db
  local dir="$BATS_FILE_TMPDIR" d
  export APACHE_PIDS="" APACHE_SERVE_PID=""

  # www-data must reach everything under this file's directory.
  if [ "$(id -u)" -eq 0 ]; then
    d="$dir"
    while [ "$d" != / ] && [ "$d" != "$(dirname "$BATS_RUN_TMPDIR")" ]; do
      chmod o+x "$d"
      d="$(dirname "$d")"
    done
  fi
  mkdir -p "$dir/cgi-bin" "$dir/data"
  cp "$REASSESS" "$dir/cgi-bin/reassess"
  local f
  for f in "$REASSESS_DB" "$REASSESS_DB-wal" "$REASSESS_DB-shm"; do
    [ -e "$f" ] && mv "$f" "$dir/data/"
  done
  export REASSESS_DB="$dir/data/reassess.db"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R www-data "$dir/data"
    as_www test -x "$dir/cgi-bin/reassess" -a -w "$dir/data" ||
      fail "www-data cannot reach $dir (is a directory above it closed?)"
  fi

  # reassess serve for proxy-fcgi, as the unit runs it: group www-data,
  # umask 0007, so the socket is srwxrwx--- root:www-data.
  local sock="$dir/reassess.sock" i
  (
    umask 0007
    if [ "$(id -u)" -eq 0 ]; then
      exec setpriv --regid www-data --clear-groups \
        "$REASSESS" --db "$REASSESS_DB" serve --listen "$sock" --workers 2
    fi
    exec "$REASSESS" --db "$REASSESS_DB" serve --listen "$sock" --workers 2
  ) 2> "$dir/serve.log" 3>&- &
  APACHE_SERVE_PID=$!
  for i in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
  [ -S "$sock" ] || fail "reassess serve did not make $sock: $(cat "$dir/serve.log")"

  start_apache cgi cgi "$dir/cgi-bin/reassess" "$REASSESS_DB"
  export CGI_URL="$APACHE_URL"
  start_apache cgi-nopass cgi "$dir/cgi-bin/reassess" "$REASSESS_DB"
  export CGI_NOPASS_URL="$APACHE_URL"
  start_apache fcgi proxy-fcgi "$sock"
  export FCGI_URL="$APACHE_URL"
  start_apache fcgi-nopass proxy-fcgi "$sock"
  export FCGI_NOPASS_URL="$APACHE_URL"
}

teardown_file() {
  local p
  for p in ${APACHE_PIDS:-} ${APACHE_SERVE_PID:-}; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  teardown_db
}

# as_www COMMAND...: COMMAND as www-data (to check what Apache can reach).
as_www() {
  setpriv --reuid www-data --regid www-data --clear-groups "$@"
}

# start_apache NAME MODE TARGET [DB]: an Apache of MODE (cgi, proxy-fcgi)
# with the configuration scripts/apache-conf.sh makes from deploy/, under
# $BATS_FILE_TMPDIR/apache-NAME, on a free loopback port, in the
# foreground. A NAME ending in -nopass has `CGIPassAuth Off` instead of On.
# Sets APACHE_URL; appends the PID to APACHE_PIDS.
start_apache() {
  local name=$1 mode=$2 prefix="$BATS_FILE_TMPDIR/apache-$1" port try pid
  shift 2
  mkdir -p "$prefix/htdocs"
  for try in 1 2 3 4 5 6 7 8; do
    port=$(random_port) || continue
    "$TOP/scripts/apache-conf.sh" "$mode" "$prefix" "127.0.0.1:$port" "$@" \
      > "$prefix/apache2.conf"
    if [[ $name == *-nopass ]]; then
      sed -i 's/^\( *\)CGIPassAuth On$/\1CGIPassAuth Off/' "$prefix/apache2.conf"
      grep -q 'CGIPassAuth Off' "$prefix/apache2.conf" || fail "no CGIPassAuth to turn off"
    fi
    apache2 -d "$prefix" -f "$prefix/apache2.conf" -DFOREGROUND \
      > "$prefix/stdout.log" 2>&1 3>&- &
    pid=$!
    if wait_http "http://127.0.0.1:$port/v1/vendors" 401 "$pid"; then
      APACHE_PIDS="$APACHE_PIDS $pid"
      APACHE_URL="http://127.0.0.1:$port"
      return 0
    fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done
  cat "$prefix/stdout.log" "$prefix/error.log" >&2 2>/dev/null
  fail "Apache ($name) did not come up"
}

# workflow: the README's reassessment workflow through $REASSESS_URL, from
# vendors to a run reassessment and its assessment.
workflow() {
  local v1 v2 ev plan rsm asmt
  v1="$(mk_vendor "Apache One $RANDOM")"
  v2="$(mk_vendor "Apache Two $RANDOM")"
  ev="$(mk_event "[\"$v1\",\"$v2\"]")"
  plan="$(mk_plan "Apache review")"
  rsm="$(mk_rsm "$ev" "[\"$v1\",\"$v2\"]")"
  api GET "/v1/reassessments/$rsm"
  assert_status 200
  assert_json .status draft
  assert_json '.alert_ids | length' 2

  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  assert_json ".vendors[] | select(.vendor_id == \"$v2\") | .included" false

  api PATCH "/v1/reassessments/$rsm" "{\"assessment_plan_id\":\"$plan\"}"
  assert_status 200
  assert_json .assessment_plan_id "$plan"

  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  assert_json .status confirmed

  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  assert_json .status run
  assert_json ".vendors[] | select(.vendor_id == \"$v2\") | .assessment_id" null
  asmt="$(json ".vendors[] | select(.vendor_id == \"$v1\") | .assessment_id")"

  api GET "/v1/assessments/$asmt"
  assert_status 200
  assert_json .vendor_id "$v1"
  assert_json .reassessment_id "$rsm"
  assert_json .name "Apache review: $(sql "SELECT name FROM vendors WHERE id = '$v1'")"

  api POST "/v1/reassessments/$rsm/run"
  assert_error 422 reassessment_immutable
}

# shapes: 401, 404, 405 and 413 keep the API's shapes, and the query
# string and the Idempotency-Key header arrive.
shapes() {
  api --no-auth GET /v1/vendors
  assert_detail 401 "Not authenticated"
  assert_equal "$(header WWW-Authenticate)" Bearer
  api --key ak_live_0000000000000000000000000000000000000000000 GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."

  api GET /v1/nothing
  assert_detail 404 "Not Found"
  api GET "/v1/vendors/$(unknown_id cbvndr)"
  assert_error 404 vendor_not_found
  # The review page and its files come from reassess, with their headers.
  api --no-auth GET /
  assert_status 200
  assert_equal "$(header Content-Type)" 'text/html; charset=utf-8'
  assert_equal "$(header X-Frame-Options)" DENY
  [[ $(header Content-Security-Policy) == *"frame-ancestors 'none'"* ]]
  api --no-auth GET /ui/review.js
  assert_status 200
  assert_equal "$(header Content-Type)" 'text/javascript; charset=utf-8'
  api --no-auth -H "If-None-Match: $(header ETag)" GET /ui/review.js
  assert_status 304
  # So does the OpenAPI document, without a key.
  api --no-auth GET /openapi.json
  assert_status 200
  assert_json .openapi 3.1.0
  assert_equal "$(json '.paths["/v1/vendors"] | keys | join(",")')" get,post
  # Outside /v1/ Apache answers, in the API's shape.
  api GET /index.html
  assert_detail 404 "Not Found"
  assert_equal "$(header Content-Type)" application/json

  api DELETE /v1/vendors
  assert_detail 405 "Method Not Allowed"
  assert_equal "$(header Allow)" "GET, POST"

  local big
  big="$(head -c 1048577 /dev/zero | tr '\0' ' ')"
  api POST /v1/vendors "$big"
  assert_error 413 payload_too_large

  api GET '/v1/vendors?limit=1&offset=0'
  assert_status 200
  assert_json .limit 1
  local k="apache-$RANDOM$RANDOM" id
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Once Co"}'
  assert_status 201
  id="$(json .id)"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Once Co"}'
  assert_status 201
  assert_json .id "$id"
  assert_equal "$(header Idempotent-Replayed)" true
}

@test "through Apache CGI the README's workflow runs from vendors to an assessment" {
  REASSESS_URL="$CGI_URL"
  workflow
}

@test "through Apache CGI errors keep the API's shapes and headers arrive" {
  REASSESS_URL="$CGI_URL"
  shapes
}

@test "through Apache CGI without CGIPassAuth the API key does not arrive" {
  REASSESS_URL="$CGI_NOPASS_URL"
  api GET /v1/vendors
  assert_detail 401 "Not authenticated"
}

@test "through Apache mod_proxy_fcgi the README's workflow runs from vendors to an assessment" {
  REASSESS_URL="$FCGI_URL"
  workflow
}

@test "through Apache mod_proxy_fcgi errors keep the API's shapes and headers arrive" {
  REASSESS_URL="$FCGI_URL"
  shapes
}

@test "through Apache mod_proxy_fcgi without CGIPassAuth the API key does not arrive" {
  REASSESS_URL="$FCGI_NOPASS_URL"
  api GET /v1/vendors
  assert_detail 401 "Not authenticated"
}

@test "Apache CGI and mod_proxy_fcgi see one database: a vendor made through one is read through the other" {
  local v
  REASSESS_URL="$CGI_URL"
  v="$(mk_vendor "Shared $RANDOM")"
  REASSESS_URL="$FCGI_URL"
  api GET "/v1/vendors/$v"
  assert_status 200
  assert_json .id "$v"
}
