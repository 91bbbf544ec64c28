#!/usr/bin/env bats
# Section 1 of API.md across endpoints: headers, routing, body size and
# media type, authentication, the order of the checks, JSON bodies, lists,
# query decoding and the database-not-initialised answer.

load helper

setup_file() { setup_db; }
teardown_file() { teardown_db; }

# Well-formed ids that exist nowhere.
NO_RSM=cbrsm_00000000000000000000000000000000
NO_VNDR=cbvndr_00000000000000000000000000000000

# assert_std_headers: the four headers every response carries (1.1).
assert_std_headers() {
  local ct_re='^application/json( *;.*)?$' rid_re='^[0-9a-fA-F]{32}$' v
  v="$(header Content-Type)"
  [[ "$v" =~ $ct_re ]] || fail "Content-Type is '$v' (status $code)"
  v="$(header Cache-Control)"
  [ "$v" = no-store ] || fail "Cache-Control is '$v' (status $code)"
  v="$(header X-Content-Type-Options)"
  [ "$v" = nosniff ] || fail "X-Content-Type-Options is '$v' (status $code)"
  v="$(header X-Request-Id)"
  [[ "$v" =~ $rid_re ]] || fail "X-Request-Id is '$v' (status $code)"
}

# allowed: the Allow header of the last response as a sorted,
# space-separated list of methods.
allowed() {
  header Allow | tr ',' '\n' | tr -d ' ' | grep -v '^$' | sort | paste -sd' '
}

# cgi [NAME=VALUE...]: one CGI request with exactly this environment on top
# of the base a web server gives (PATH, the database, org A's key), so that
# a test can set what `api` cannot: REQUEST_ID, an empty PATH_INFO, a
# CONTENT_LENGTH that lies. The body is $cgi_body. Later assignments
# override earlier ones. Sets code, body and headers as `api` does.
cgi() {
  [ "$REASSESS_TRANSPORT" = http ] && skip "needs the CGI transport"
  printf '%s' "${cgi_body:-}" > "$BATS_TEST_TMPDIR/req.body"
  cgi_exec SCRIPT_NAME="" HTTP_AUTHORIZATION="Bearer $KEY" "$@"
}

# refute_sqlite_text: the last body holds nothing of SQLite's own words.
refute_sqlite_text() {
  local re='sqlite|no such table|no such column|malformed|not a database|SQL logic|constraint failed|disk I/O'
  if printf '%s' "$body" | grep -Eqi "$re"; then
    fail "body leaks database text: $body"
  fi
}

# -------------------------------------------------------------------------
# Response headers

@test "a successful read and a creation carry the standard headers" {
  api GET /v1/vendors
  assert_status 200
  assert_std_headers
  api POST /v1/vendors '{"name":"Header Co"}'
  assert_status 201
  assert_std_headers
}

@test "plain 401, 404 and 405 errors carry the standard headers" {
  api --no-auth GET /v1/vendors
  assert_status 401
  assert_std_headers
  api GET /v1/no-such-thing
  assert_status 404
  assert_std_headers
  api DELETE /v1/reassessments
  assert_status 405
  assert_std_headers
}

@test "coded and validation errors carry the standard headers and their request id" {
  api GET "/v1/vendors/$NO_VNDR"
  assert_error 404 vendor_not_found
  assert_std_headers
  api --ct text/plain POST /v1/vendors '{"name":"x"}'
  assert_error 415 unsupported_media_type
  assert_std_headers
  api POST /v1/vendors '{}'
  assert_status 422
  assert_std_headers
  assert_json '.request_id' "$(header X-Request-Id)"
}

@test "every response gets a fresh request id" {
  api GET /v1/vendors
  local first
  first="$(header X-Request-Id)"
  api GET /v1/vendors
  [ -n "$first" ] || fail "no X-Request-Id"
  [ "$first" != "$(header X-Request-Id)" ] || fail "request id repeated: $first"
}

@test "the request id is the REQUEST_ID the web server passes" {
  cgi REQUEST_METHOD=GET PATH_INFO="/v1/vendors/$NO_VNDR" \
      REQUEST_URI="/v1/vendors/$NO_VNDR" QUERY_STRING= REQUEST_ID=req-7f3a9c
  assert_status 404
  [ "$(header X-Request-Id)" = req-7f3a9c ] ||
    fail "X-Request-Id is '$(header X-Request-Id)'"
  assert_json '.request_id' req-7f3a9c
}

# -------------------------------------------------------------------------
# Routing

@test "an unknown path is 404 Not Found" {
  api GET /v1/no-such-thing
  assert_detail 404 "Not Found"
  api GET /vendors
  assert_detail 404 "Not Found"
}

@test "a trailing slash is a different path and 404" {
  api GET /v1/vendors/
  assert_detail 404 "Not Found"
}

@test "routing falls back to REQUEST_URI without its query when PATH_INFO is empty" {
  cgi REQUEST_METHOD=GET PATH_INFO= REQUEST_URI="/v1/vendors?limit=3" \
      QUERY_STRING=limit=3
  assert_status 200
  assert_json '.limit' 3
}

@test "DELETE on the reassessments collection is 405 allowing GET and POST" {
  api DELETE /v1/reassessments
  assert_detail 405 "Method Not Allowed"
  [ "$(allowed)" = "GET POST" ] || fail "Allow is '$(header Allow)'"
}

@test "PUT on a reassessment is 405 allowing GET and PATCH" {
  api PUT "/v1/reassessments/$NO_RSM" '{"title":"x"}'
  assert_detail 405 "Method Not Allowed"
  [ "$(allowed)" = "GET PATCH" ] || fail "Allow is '$(header Allow)'"
}

@test "GET on a reassessment action is 405 allowing POST" {
  api GET "/v1/reassessments/$NO_RSM/run"
  assert_detail 405 "Method Not Allowed"
  [ "$(allowed)" = "POST" ] || fail "Allow is '$(header Allow)'"
}

# -------------------------------------------------------------------------
# Body size and media type

@test "a body over 1 MiB is 413 payload_too_large" {
  local big
  big="$(head -c 1048577 /dev/zero | tr '\0' ' ')"
  api POST /v1/vendors "$big"
  assert_error 413 payload_too_large
}

@test "a body of exactly 1 MiB is read and accepted" {
  local tag="Big$RANDOM$RANDOM" head pad
  head="{\"name\":\"$tag\""
  pad=$((1048576 - ${#head} - 1))
  api POST /v1/vendors "$head$(printf '%*s' "$pad" '')}"
  assert_status 201
  assert_json '.name' "$tag"
}

@test "a declared Content-Length over 1 MiB is refused without reading the body" {
  if [ "$REASSESS_TRANSPORT" = http ]; then
    # nginx refuses it from the header alone (client_max_body_size), with
    # the API's 413 (nginx.conf.example's @payload_too_large).
    api -H 'Content-Length: 2000000' POST /v1/vendors '{"name":"x"}'
    assert_error 413 payload_too_large
    return
  fi
  cgi REQUEST_METHOD=POST PATH_INFO=/v1/vendors REQUEST_URI=/v1/vendors \
      QUERY_STRING= CONTENT_TYPE=application/json CONTENT_LENGTH=2000000
  assert_error 413 payload_too_large
}

@test "a request nginx refuses itself is the API's 400 bad_request, not nginx's page" {
  [ "$REASSESS_TRANSPORT" = http ] || skip "nginx's own refusals"
  # A NUL in the path, a path that climbs out of /, a header past
  # large_client_header_buffers: nginx answers before reassess is asked.
  api GET "/v1/vendors/$(unknown_id cbvndr)%00"
  assert_error 400 bad_request
  assert_equal "$(header Content-Type)" application/json
  api GET /v1/vendors/%2e%2e/%2e%2e/%2e%2e/etc/passwd
  assert_error 400 bad_request
  api -H "X-Big: $(printf '%*s' 20000 '' | tr ' ' a)" GET /v1/vendors
  assert_error 400 bad_request
  assert_equal "$(header Cache-Control)" no-store
}

@test "a Content-Length that is not a number is 400 invalid_content_length" {
  cgi_body='{"name":"x"}'
  cgi REQUEST_METHOD=POST PATH_INFO=/v1/vendors REQUEST_URI=/v1/vendors \
      QUERY_STRING= CONTENT_TYPE=application/json CONTENT_LENGTH=12abc
  assert_error 400 invalid_content_length
}

@test "a Content-Length with a sign or a space is 400 invalid_content_length, nothing stored" {
  local d cl
  d="$(db_digest)"
  # The body is 12 bytes: +12 and " 12" would read it whole if a sign or a
  # space were let through.
  cgi_body='{"name":"x"}'
  for cl in +12 -0 +0 -12 ' 12' '12 ' 0x0c 1e1 12.0; do
    cgi REQUEST_METHOD=POST PATH_INFO=/v1/vendors REQUEST_URI=/v1/vendors \
        QUERY_STRING= CONTENT_TYPE=application/json "CONTENT_LENGTH=$cl"
    assert_error 400 invalid_content_length
  done
  assert_equal "$(db_digest)" "$d"
}

@test "a body shorter than its Content-Length is 400 incomplete_body" {
  cgi_body='{"name":"x"}'
  cgi REQUEST_METHOD=POST PATH_INFO=/v1/vendors REQUEST_URI=/v1/vendors \
      QUERY_STRING= CONTENT_TYPE=application/json CONTENT_LENGTH=100
  assert_error 400 incomplete_body
}

@test "a text/plain body is 415 unsupported_media_type" {
  local before
  before="$(db_digest)"
  api --ct text/plain POST /v1/vendors '{"name":"Plain Co"}'
  assert_error 415 unsupported_media_type
  [ "$(db_digest)" = "$before" ] || fail "a refused request changed the database"
}

@test "a form body on PATCH is 415 unsupported_media_type" {
  local v
  v="$(mk_vendor)"
  api --ct application/x-www-form-urlencoded PATCH "/v1/vendors/$v" 'name=Renamed'
  assert_error 415 unsupported_media_type
  api --ct 'multipart/form-data; boundary=xyz' PATCH "/v1/vendors/$v" '{"name":"Renamed"}'
  assert_error 415 unsupported_media_type
}

@test "application/json with parameters and any +json type are accepted" {
  api --ct 'application/json; charset=utf-8' POST /v1/vendors '{"name":"Charset Co"}'
  assert_status 201
  assert_json '.name' "Charset Co"
  api --ct application/vnd.foo+json POST /v1/vendors '{"name":"Vnd Co"}'
  assert_status 201
  assert_json '.name' "Vnd Co"
}

@test "a body without Content-Type is parsed as JSON" {
  api --no-ct POST /v1/vendors '{"name":"Bare Co"}'
  assert_status 201
  assert_json '.name' "Bare Co"
}

@test "a content type is not checked on a request whose endpoint takes no body" {
  api --ct text/plain GET /v1/vendors
  assert_status 200
  local e v r
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  r="$(mk_rsm "$e" "[\"$v\"]")"
  api --ct text/plain POST "/v1/reassessments/$r/confirm" 'not json at all'
  assert_status 200
  assert_json '.status' confirmed
}

# -------------------------------------------------------------------------
# Authentication

@test "no Authorization header is 401 Not authenticated with a Bearer challenge" {
  api --no-auth GET /v1/vendors
  assert_detail 401 "Not authenticated"
  [ "$(header WWW-Authenticate)" = Bearer ] ||
    fail "WWW-Authenticate is '$(header WWW-Authenticate)'"
}

@test "a Basic credential is 401 Not authenticated" {
  api --auth "Basic $(printf 'user:%s' "$KEY" | base64 -w0)" GET /v1/vendors
  assert_detail 401 "Not authenticated"
  [ "$(header WWW-Authenticate)" = Bearer ] ||
    fail "WWW-Authenticate is '$(header WWW-Authenticate)'"
}

@test "an unknown key is 401 Invalid or expired API key" {
  api --key ak_live_0000000000000000000000000000000000000000000 GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."
  [ "$(header WWW-Authenticate)" = Bearer ] ||
    fail "WWW-Authenticate is '$(header WWW-Authenticate)'"
  api --key "${KEY}x" GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."
}

@test "a revoked key is 401 Invalid or expired API key" {
  local name="revoked-$RANDOM$RANDOM" secret kid
  secret="$(cli key create "$ORG" --name "$name" 2>/dev/null)"
  api --key "$secret" GET /v1/vendors
  assert_status 200
  kid="$(sql "select id from api_keys where name = '$name'")"
  run cli key revoke "$kid"
  assert_success
  api --key "$secret" GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."
  [ "$(header WWW-Authenticate)" = Bearer ] ||
    fail "WWW-Authenticate is '$(header WWW-Authenticate)'"
}

# -------------------------------------------------------------------------
# The order of the checks

@test "route and method are checked before authentication" {
  api --no-auth GET /v1/no-such-thing
  assert_detail 404 "Not Found"
  api --no-auth DELETE /v1/reassessments
  assert_detail 405 "Method Not Allowed"
}

@test "a wrong method is 405 before the media type is looked at" {
  api --ct text/plain PUT /v1/vendors 'x'
  assert_detail 405 "Method Not Allowed"
}

@test "body size and media type are checked before authentication" {
  local big
  big="$(head -c 1048577 /dev/zero | tr '\0' ' ')"
  api --no-auth POST /v1/vendors "$big"
  assert_error 413 payload_too_large
  api --no-auth --ct text/plain POST /v1/vendors '{"name":"x"}'
  assert_error 415 unsupported_media_type
}

@test "authentication is checked before the body's shape" {
  api --no-auth POST /v1/vendors '[]'
  assert_detail 401 "Not authenticated"
  api --key ak_live_0000000000000000000000000000000000000000000 POST /v1/vendors '{'
  assert_detail 401 "Invalid or expired API key."
}

@test "authentication is checked before the target's existence" {
  api --no-auth GET "/v1/vendors/$NO_VNDR"
  assert_detail 401 "Not authenticated"
}

@test "the body's shape is checked before the target's existence" {
  api PATCH "/v1/vendors/$NO_VNDR" '{"name":5}'
  assert_422 '["body","name"]' string_type
  api PATCH "/v1/vendors/$NO_VNDR" '{"name":'
  assert_422 '["body"]' json_invalid
}

# -------------------------------------------------------------------------
# JSON bodies

@test "a body that is not JSON or not UTF-8 is 422 json_invalid at body" {
  local before
  before="$(db_digest)"
  api POST /v1/vendors '{"name":"Half'
  assert_422 '["body"]' json_invalid
  [ "$(db_digest)" = "$before" ] || fail "a refused request changed the database"
  api POST /v1/vendors "$(printf '{"name":"Bad \xff\xfe"}')"
  assert_422 '["body"]' json_invalid
}

@test "a JSON body that is not an object is 422 model_attributes_type at body" {
  local b
  for b in '[]' '"x"' 'null' '5'; do
    api POST /v1/vendors "$b"
    [ "$code" = 422 ] || fail "body $b: expected 422, got $code: $body"
    assert_422 '["body"]' model_attributes_type
  done
}

@test "duplicate keys in a JSON object are json_invalid" {
  api POST /v1/vendors '{"name":"One","name":"Two"}'
  assert_422 '["body"]' json_invalid
}

@test "an empty body where a field is required is 422 missing at body" {
  api POST /v1/vendors ''
  assert_422 '["body"]' missing
  api --no-ct POST /v1/vendors
  assert_422 '["body"]' missing
}

@test "an empty body where every field is optional reads as an empty object" {
  local v
  v="$(mk_vendor "Empty Patch Co")"
  api PATCH "/v1/vendors/$v" ''
  assert_status 200
  assert_json '.id' "$v"
  assert_json '.name' "Empty Patch Co"
}

@test "unknown body fields are ignored" {
  api POST /v1/vendors '{"name":"Extra Co","colour":"blue","nested":{"a":[1]}}'
  assert_status 201
  assert_json '.name' "Extra Co"
  assert_json 'has("colour")' false
}

@test "valid JSON refused on purpose is 422 json_invalid, as docs/deviations.md says" {
  local d b
  d="$(db_digest)"
  # A \u0000 escape, an integer beyond 64 bits, a duplicate key, a lone
  # surrogate, a byte-order mark: all valid JSON (RFC 8259), all refused.
  for b in '{"name":"a\u0000b"}' '{"name":"Big","n":18446744073709551616}' \
           '{"name":"a","name":"b"}' '{"name":"\ud800"}' $'\xef\xbb\xbf{"name":"Bom"}'; do
    api POST /v1/vendors "$b"
    assert_status 422
    assert_json '[.detail[] | (.loc | join(".")) + ":" + .type] | join(",")' "body:json_invalid"
  done
  assert_equal "$(db_digest)" "$d"
}

@test "every problem in a body is listed, not only the first" {
  api POST /v1/radar/events '{}'
  assert_422 '["body","name"]' missing
  assert_422 '["body","summary"]' missing
  assert_422 '["body","primary_impact_type"]' missing
}

@test "names count characters: 500 are accepted and 501 are string_too_long" {
  local five01 five00
  five00="$(printf 'é%.0s' $(seq 500))"
  five01="${five00}x"
  api POST /v1/vendors "{\"name\":\"$five00\"}"
  assert_status 201
  api POST /v1/vendors "{\"name\":\"$five01\"}"
  assert_422 '["body","name"]' string_too_long
}

# -------------------------------------------------------------------------
# Lists and query strings

@test "a list defaults to limit 50 and offset 0" {
  mk_vendor >/dev/null
  api GET /v1/vendors
  assert_status 200
  assert_json '.limit' 50
  assert_json '.offset' 0
  assert_json '.items | type' array
  assert_json '.total >= (.items | length)' true
}

@test "limit and offset page through the matches, newest first" {
  local tag="Page$RANDOM$RANDOM" v1 v2 v3
  v1="$(mk_vendor "$tag one")"
  v2="$(mk_vendor "$tag two")"
  v3="$(mk_vendor "$tag three")"
  api GET "/v1/vendors?name=$tag&limit=2&offset=1"
  assert_status 200
  assert_json '.total' 3
  assert_json '.limit' 2
  assert_json '.offset' 1
  assert_json '[.items[].id] | join(" ")' "$v2 $v1"
  api GET "/v1/vendors?name=$tag&limit=1"
  assert_json '[.items[].id] | join(" ")' "$v3"
}

@test "limit runs from 1 to 200" {
  api GET '/v1/vendors?limit=1'
  assert_status 200
  assert_json '.limit' 1
  api GET '/v1/vendors?limit=200'
  assert_status 200
  assert_json '.limit' 200
  api GET '/v1/vendors?limit=0'
  assert_422 '["query","limit"]' greater_than_equal
  api GET '/v1/vendors?limit=201'
  assert_422 '["query","limit"]' less_than_equal
}

@test "a limit that is not an integer is int_type" {
  local l
  for l in abc 1.5 10abc; do
    api GET "/v1/vendors?limit=$l"
    [ "$code" = 422 ] || fail "limit=$l: expected 422, got $code: $body"
    assert_422 '["query","limit"]' int_type
  done
}

@test "a bad offset is refused, and listed beside a bad limit" {
  api GET '/v1/vendors?offset=-1'
  assert_422 '["query","offset"]' greater_than_equal
  api GET '/v1/vendors?offset=x'
  assert_422 '["query","offset"]' int_type
  api GET '/v1/vendors?limit=0&offset=-1'
  assert_422 '["query","limit"]' greater_than_equal
  assert_422 '["query","offset"]' greater_than_equal
}

@test "a repeated limit takes the last value" {
  api GET '/v1/vendors?limit=1&limit=2'
  assert_status 200
  assert_json '.limit' 2
}

@test "query values are percent-decoded" {
  local tag="Pct$RANDOM$RANDOM" v w
  v="$(mk_vendor "$tag Acme")"
  w="$(mk_vendor "$tag A&B")"
  api GET "/v1/vendors?name=$tag%20Ac%6De"
  assert_status 200
  assert_json '.total' 1
  assert_json '.items[0].id' "$v"
  api GET "/v1/vendors?name=$tag%20A%26B"
  assert_status 200
  assert_json '.total' 1
  assert_json '.items[0].id' "$w"
}

@test "64 query parameters are all read: a filter placed last is honoured" {
  local tag="Many$RANDOM$RANDOM" v q i
  v="$(mk_vendor "$tag One")"
  mk_vendor "Other $RANDOM$RANDOM" >/dev/null
  q=""
  for i in $(seq 63); do q+="pad$i=x&"; done
  api GET "/v1/vendors?${q}name=$tag%20One"
  assert_status 200
  assert_json '.total' 1
  assert_json '.items[0].id' "$v"
}

@test "more than 64 query parameters is 422 with loc query, never a silent drop" {
  local q i
  q=""
  for i in $(seq 64); do q+="pad$i=x&"; done
  # The 65th, a filter or a bad limit, would have been dropped unseen.
  api GET "/v1/vendors?${q}limit=0"
  assert_status 422
  assert_json '.detail | length' 1
  assert_json '.detail[0].loc | tojson' '["query"]'
  assert_json '.detail[0].type' too_long
  assert_json '.detail[0].msg | contains("64")' true
  api GET "/v1/vendors?${q}name=anything"
  assert_status 422
  assert_json '.detail[0].loc | tojson' '["query"]'
  # Beside another problem of the query, both are listed.
  api GET "/v1/vendors?limit=zero&${q}x=1"
  assert_status 422
  assert_json '[.detail[] | .loc | join(".")] | sort | join(",")' "query,query.limit"
}

# -------------------------------------------------------------------------
# The database behind the server

@test "a missing database file is 503 database_not_initialized and is not created" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "needs the CGI transport"
  local db="$BATS_TEST_TMPDIR/missing.db"
  REASSESS_DB="$db" api GET /v1/vendors
  assert_error 503 database_not_initialized
  assert_std_headers
  refute_sqlite_text
  [ ! -e "$db" ] || fail "the server created $db"
  [ ! -e "$db-wal" ] && [ ! -e "$db-shm" ] || fail "the server created WAL files"
}

@test "a database whose user_version is 0 is 503 and is left as it was" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "needs the CGI transport"
  local db="$BATS_TEST_TMPDIR/old.db"
  sqlite3 "$db" 'create table t(x)'
  REASSESS_DB="$db" api GET /v1/vendors
  assert_error 503 database_not_initialized
  refute_sqlite_text
  [ "$(sqlite3 "$db" 'pragma user_version')" = 0 ] || fail "the server migrated"
  [ "$(sqlite3 "$db" '.tables')" = t ] || fail "the server created tables"
}

@test "a database that is not initialised is logged with the request id" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "needs the CGI transport"
  REASSESS_DB="$BATS_TEST_TMPDIR/missing.db" api GET /v1/vendors
  assert_status 503
  local rid
  rid="$(header X-Request-Id)"
  grep -qF "$rid" "$BATS_TEST_TMPDIR/stderr" ||
    fail "stderr has no line with $rid: $(cat "$BATS_TEST_TMPDIR/stderr")"
}

@test "a database file of random bytes gives a coded error without SQLite text" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "needs the CGI transport"
  local db="$BATS_TEST_TMPDIR/noise.db"
  head -c 65536 /dev/urandom > "$db"
  REASSESS_DB="$db" api GET /v1/vendors
  case "$code" in
    500) assert_error 500 internal_error ;;
    503) assert_error 503 database_not_initialized ;;
    *) fail "expected 500 or 503, got $code: $body" ;;
  esac
  refute_sqlite_text
}

@test "a write that waits for the lock past the busy timeout is 503 database_busy with Retry-After" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "sets the server's busy timeout"
  local fifo="$BATS_TEST_TMPDIR/lock.fifo" out="$BATS_TEST_TMPDIR/lock.out" holder
  mkfifo "$fifo"
  sqlite3 "$REASSESS_DB" < "$fifo" > "$out" 2>&1 3>&- &
  holder=$!
  exec 4> "$fifo"
  printf ".timeout 10000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n" >&4
  # Wait (bounded at 10 s) until the other process holds the write lock.
  local i
  for i in $(seq 200); do
    grep -q locked "$out" && break
    sleep 0.05
  done
  assert_equal "$(cat "$out")" locked
  local before
  before="$(sql 'SELECT count(*) FROM vendors')"
  REASSESS_BUSY_TIMEOUT=50 api POST /v1/vendors '{"name":"Waits"}'
  echo 'ROLLBACK;' >&4
  exec 4>&-
  wait "$holder"
  assert_error 503 database_busy
  assert_equal "$(header Retry-After)" 1
  refute_sqlite_text
  assert_equal "$(sql 'SELECT count(*) FROM vendors')" "$before"
  grep -qF "$(header X-Request-Id)" "$BATS_TEST_TMPDIR/stderr" ||
    fail "no log line with the request id"
}

@test "a failing database write is 500 internal_error, logged, without the database's words, and rolled back" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "reads the server's stderr"
  local v before after
  v=$(mk_vendor)
  sql "CREATE TRIGGER boom AFTER INSERT ON radar_alerts
       BEGIN SELECT RAISE(ABORT, 'trigger-secret-words'); END;"
  before="$(db_digest)"
  api POST /v1/radar/events \
    "{\"name\":\"E\",\"summary\":\"S\",\"primary_impact_type\":\"Legal\",\"vendor_ids\":[\"$v\"]}"
  after="$(db_digest)"
  sql "DROP TRIGGER boom"
  assert_error 500 internal_error
  [[ "$body" != *trigger-secret-words* ]] || fail "body leaks the cause: $body"
  grep -F "$(header X-Request-Id)" "$BATS_TEST_TMPDIR/stderr" |
    grep -qF trigger-secret-words || fail "the cause is not logged with the request id"
  # The event row, written before the failing alert, was rolled back too.
  assert_equal "$after" "$before"
}
