#!/usr/bin/env bats
# The review page's files (docs/api.md 8) as the program serves them, over
# both transports: GET / and /ui/review.{js,css}, no key needed, their
# types, the security headers, the ETag made from each file at build time
# and If-None-Match -> 304, and the API's headers unchanged beside them.
# tests/ui.bats drives the page itself in a browser.

load helper

setup_file() {
  setup_db
}

teardown_file() {
  teardown_db
}

# etag FILE: the ETag the build gives FILE of ui/.
etag() {
  printf '"%s"' "$(sha256sum "$TOP/$1" | cut -c1-32)"
}

# assert_page_headers TYPE: the headers every file of the page has.
assert_page_headers() {
  assert_equal "$(header Content-Type)" "$1"
  assert_equal "$(header Cache-Control)" no-cache
  assert_equal "$(header X-Content-Type-Options)" nosniff
  assert_equal "$(header X-Frame-Options)" DENY
  assert_equal "$(header Referrer-Policy)" no-referrer
  [ -n "$(header X-Request-Id)" ] || fail "no X-Request-Id"
  local csp
  csp="$(header Content-Security-Policy)"
  [[ $csp == *"default-src 'self'"* ]] || fail "CSP: $csp"
  [[ $csp == *"frame-ancestors 'none'"* ]] || fail "CSP: $csp"
  [[ $csp == *"script-src 'self'"* ]] || fail "CSP: $csp"
  [[ $csp != *unsafe-inline* && $csp != *unsafe-eval* && $csp != *"*"* ]] ||
    fail "CSP: $csp"
}

@test "GET / is the review page, without a key, with the page's headers" {
  api --no-auth GET /
  assert_status 200
  assert_page_headers 'text/html; charset=utf-8'
  assert_equal "$(header ETag)" "$(etag ui/review.html)"
  assert_equal "${body%$'\n'}" "$(< "$TOP/ui/review.html")"
  [ -z "$(header WWW-Authenticate)" ]
}

@test "the page's script and style are served at /ui/ with their types" {
  api --no-auth GET /ui/review.js
  assert_status 200
  assert_page_headers 'text/javascript; charset=utf-8'
  assert_equal "$(header ETag)" "$(etag ui/review.js)"
  assert_equal "${body%$'\n'}" "$(< "$TOP/ui/review.js")"
  api --no-auth GET /ui/review.css
  assert_status 200
  assert_page_headers 'text/css; charset=utf-8'
  assert_equal "$(header ETag)" "$(etag ui/review.css)"
  assert_equal "${body%$'\n'}" "$(< "$TOP/ui/review.css")"
}

@test "the page loads nothing but its two files, and nothing inline" {
  api --no-auth GET /
  [[ $body == *'<script type="module" src="/ui/review.js"></script>'* ]]
  [[ $body == *'<link rel="stylesheet" href="/ui/review.css">'* ]]
  [ "$(grep -c '<script' <<< "$body")" = 1 ]
  ! grep -qi -e '<style' -e ' style=' -e ' on[a-z]*=' -e 'https\?://' <<< "$body"
  ! grep -q -e 'innerHTML' -e 'outerHTML' -e 'insertAdjacentHTML' -e 'document.write' \
    -e 'localStorage.setItem' -e 'eval(' "$TOP/ui/review.js"
}

@test "If-None-Match with the file's ETag answers 304 without a body" {
  local tag
  tag="$(etag ui/review.js)"
  api --no-auth -H "If-None-Match: $tag" GET /ui/review.js
  assert_status 304
  assert_equal "$body" ""
  assert_equal "$(header ETag)" "$tag"
  assert_equal "$(header Cache-Control)" no-cache
  api --no-auth -H "If-None-Match: \"0123\", W/$tag" GET /ui/review.js
  assert_status 304
  api --no-auth -H 'If-None-Match: *' GET /
  assert_status 304
}

@test "another ETag, or a malformed one, gets the whole file" {
  api --no-auth -H "If-None-Match: $(etag ui/review.css)" GET /ui/review.js
  assert_status 200
  [ -n "$body" ]
  api --no-auth -H 'If-None-Match: "unterminated' GET /
  assert_status 200
  [ -n "$body" ]
}

@test "the page ignores a key, a bad key and a query string" {
  api GET '/?status=draft&limit=x'
  assert_status 200
  assert_equal "$(header ETag)" "$(etag ui/review.html)"
  api --key ak_live_0000000000000000000000000000000000000000000 GET /
  assert_status 200
}

@test "other methods on the page's paths are 405 with Allow: GET" {
  api --no-auth POST / '{}'
  assert_detail 405 "Method Not Allowed"
  assert_equal "$(header Allow)" GET
  api --no-auth DELETE /ui/review.js
  assert_detail 405 "Method Not Allowed"
}

@test "paths beside the page's are the API's 404" {
  for p in /ui/ /ui/review.js/ /ui/nothing.js /ui; do
    api --no-auth GET "$p"
    assert_detail 404 "Not Found"
    assert_equal "$(header Content-Type)" application/json
  done
  api --no-auth GET /index.html
  assert_detail 404 "Not Found"
}

@test "the API's answers stay no-store, without the page's headers" {
  api GET /v1/vendors
  assert_status 200
  assert_equal "$(header Cache-Control)" no-store
  assert_equal "$(header Content-Type)" application/json
  [ -z "$(header ETag)" ]
  [ -z "$(header Content-Security-Policy)" ]
}

@test "the page is served without a database and leaves no call record" {
  [ "$REASSESS_TRANSPORT" = cgi ] ||
    skip "CGI only: one request with its own database path"
  : > "$BATS_TEST_TMPDIR/req.body"
  cgi_exec REQUEST_METHOD=GET PATH_INFO=/ REASSESS_DB="$BATS_TEST_TMPDIR/none.db"
  assert_status 200
  [ ! -e "$BATS_TEST_TMPDIR/none.db" ]
  local before
  before="$(sql "SELECT count(*) FROM audit_log")"
  api GET /
  assert_status 200
  [ "$(sql "SELECT count(*) FROM audit_log")" = "$before" ]
}
