#!/usr/bin/env bats
# The review page (docs/api.md 8) in a real browser: headless Debian
# chromium, driven by puppeteer-core (tests/browser/review.mjs, pinned by
# tests/browser/package-lock.json), through nginx in front of `reassess
# serve`, as the HTTP pass starts them. One browser run for the file, in
# setup_file: it goes through the whole workflow (sign in, list, filter,
# pages, open, exclude and include, add vendors, plan, confirm, run,
# dismiss), the errors (401, 400, 422 reassessment_immutable), a vendor
# named as HTML, and records each step as a named check; each test below
# asserts one check, and what the database holds after it. A failed check
# leaves a screenshot under var/ui/; every run writes the README's
# picture, docs/review-page.png.
#
# one pass: the browser needs the HTTP transport; the file sets it itself
#   (scripts/test.sh).

load helper

setup_file() {
  command -v chromium > /dev/null ||
    skip "chromium is not installed (scripts/deps.sh test installs it)"
  [ -d "$TOP/tests/browser/node_modules/puppeteer-core" ] ||
    skip "puppeteer-core is not installed (scripts/test-npm.sh installs it)"
  export REASSESS_TRANSPORT=http
  setup_db
  export UI_OUT="$BATS_FILE_TMPDIR/browser"
  mkdir -p "$UI_OUT"
  rm -rf "$TOP/var/ui"
  # Bounded: review.mjs gives up after 120 s by itself; timeout is the
  # backstop should chromium hang.
  BASE="$REASSESS_URL" KEY="$KEY" OUT="$UI_OUT" SHOTS="$TOP/var/ui" \
    PNG="$TOP/docs/review-page.png" BATS_TMP="$BATS_FILE_TMPDIR" \
    timeout -k 5 150 node "$TOP/tests/browser/review.mjs" \
    > "$UI_OUT/node.log" 2>&1 3>&- || echo "review.mjs exited $?" >> "$UI_OUT/node.log"
}

teardown_file() {
  teardown_db
}

# check NAME: the browser's check NAME passed (its failure, and the
# browser's log, shown if not).
check() {
  local f="$UI_OUT/results.json" why
  [ -s "$f" ] || fail "the browser run wrote no results: $(cat "$UI_OUT/node.log")"
  why="$(jq -r --arg n "$1" 'if .checks | has($n) then .checks[$n] // "ok" else "not run" end' "$f")"
  if [ "$why" != ok ]; then
    fail "$(printf '%s\n-- node log:\n%s' "$why" "$(tail -n 20 "$UI_OUT/node.log")")"
  fi
}

# id NAME: an id the browser run made.
id() {
  jq -r --arg n "$1" '.ids[$n]' "$UI_OUT/results.json"
}

@test "the page loads, with its own files, and asks for the API key" {
  check 'the page loads with its own files and asks for the API key'
}

@test "a wrong key shows 'Invalid or expired API key.' and asks again" {
  check 'a wrong key shows Invalid or expired API key. and asks again'
}

@test "the key signs in from the keyboard and is kept in sessionStorage only" {
  check 'the key signs in from the keyboard'
}

@test "the list shows title, status and vendor count, newest first" {
  check 'the list shows title, status and vendor count, newest first'
}

@test "the list filters by status and pages through" {
  check 'the list filters by status and pages through'
  api GET '/v1/reassessments?limit=1'
  assert_json .total 24
}

@test "a reassessment shows its radar event, its alerts and its vendors" {
  check 'the reassessment shows its radar event, alerts and vendors'
}

@test "Exclude and Include change whether a vendor is included" {
  check 'Exclude and Include change whether a vendor is included'
  api GET "/v1/reassessments/$(id main)"
  assert_json '[.vendors[] | select(.vendor_id == "'"$(id v2)"'") | .included] | .[0]' false
}

@test "Add vendors searches the org's vendors by name and adds one" {
  check 'Add vendors searches by name and adds one'
  api GET "/v1/reassessments/$(id main)"
  assert_json '[.vendors[] | select(.vendor_id == "'"$(id v3)"'") | .source] | .[0]' manual
}

@test "an API error is shown with its message beside its control" {
  check 'an API error shows its message beside its control'
}

@test "the Assessment plan select lists the plans and saves the choice" {
  check 'the Assessment plan select lists the plans by name and saves one'
  api GET "/v1/reassessments/$(id main)"
  assert_json .assessment_plan_id "$(id plan)"
}

@test "Confirm locks the vendor set; the buttons follow the state machine" {
  check 'Confirm locks the vendor set and the buttons follow the state machine'
}

@test "Run asks for confirmation first; Cancel and Escape run nothing" {
  check 'Run asks first and Cancel runs nothing'
}

@test "Run creates one assessment per included vendor and lists them by name" {
  check 'Run creates the assessments and lists them by name'
  local main
  main="$(id main)"
  api GET "/v1/reassessments/$main"
  assert_json .status run
  assert_json '[.vendors[] | select(.assessment_id != null) | .vendor_id] | sort | join(",")' \
    "$(printf '%s\n' "$(id v1)" "$(id v3)" | sort | paste -sd,)"
  [ "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$main'")" = 2 ]
}

@test "a vendor named <img src=x onerror=alert(1)> is shown as those characters" {
  check 'a vendor named as HTML is shown as text'
}

@test "an action on a reassessment run elsewhere shows reassessment_immutable" {
  check 'an action on a reassessment run elsewhere shows reassessment_immutable'
  api GET "/v1/reassessments/$(id stale)"
  assert_json .status run
}

@test "a key refused in the middle of a session asks for the key again" {
  check 'a key refused mid-session asks for the key again'
}

@test "the page is usable at phone width" {
  check 'the page is usable at phone width'
}

@test "Sign out forgets the key" {
  check 'Sign out forgets the key'
}

@test "the key never appears in a URL or in localStorage" {
  check 'the key is never in a URL or in localStorage'
}

@test "no request leaves the page's origin" {
  check 'no request leaves the origin'
}

@test "no script dialog, CSP violation or page error" {
  check 'no script dialog, CSP violation or page error'
}

@test "the browser run ended by itself, in time, and wrote the README's picture" {
  check 'the README picture is taken'
  [ -z "$(jq -r '.checks["the run ends in time"] // empty' "$UI_OUT/results.json")" ] ||
    fail "the browser run timed out"
  ! grep -q 'review.mjs exited' "$UI_OUT/node.log" ||
    fail "$(cat "$UI_OUT/node.log")"
  [ "$(head -c 8 "$TOP/docs/review-page.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
}
