#!/usr/bin/env bats
# Hostile inputs (issue 6): the rows of tests/fixtures/hostile.tsv, one
# category per test. Each request must get the row's status, never a 5xx,
# and leave the database exactly as it was (db_digest before and after).
# Every failing row of a category is reported, not only the first.

load helper

TABLE="$BATS_TEST_DIRNAME/fixtures/hostile.tsv"

setup_file() { setup_db; }
teardown_file() { teardown_db; }

# Each test makes the objects the table's rows refer to.
setup() {
  VENDOR="$(mk_vendor "Hostile target")"
  EVENT="$(mk_event "[\"$VENDOR\"]")"
  PLAN="$(mk_plan)"
  RSM="$(mk_rsm "$EVENT" "[\"$VENDOR\"]")"
}

# expand TEXT: {VENDOR}, {EVENT}, {PLAN}, {RSM} and {rep:N:TEXT} replaced.
expand() {
  local s="$1" re='\{rep:([0-9]+):([^}]*)\}' rep n chunk
  s="${s//\{VENDOR\}/$VENDOR}"
  s="${s//\{EVENT\}/$EVENT}"
  s="${s//\{PLAN\}/$PLAN}"
  s="${s//\{RSM\}/$RSM}"
  while [[ "$s" =~ $re ]]; do
    # N copies by doubling: a loop of N appends costs N traced commands
    # under bats (the 64 KiB header alone took over a minute).
    rep="" n=${BASH_REMATCH[1]} chunk=${BASH_REMATCH[2]}
    while ((n > 0)); do
      if ((n & 1)); then rep+=$chunk; fi
      chunk+=$chunk
      n=$((n >> 1))
    done
    s="${s/"${BASH_REMATCH[0]}"/"$rep"}"	# quoted: a "&" in it is literal
  done
  printf '%s' "$s"
}

# list N ITEM: N copies of ITEM joined by commas.
list() {
  yes "$2" | head -n "$1" | paste -sd, - | tr -d '\n'
}

# gen_body KIND N: the big bodies, made here rather than kept as files.
gen_body() {
  local n=$2
  case "$1" in
    open-arrays) head -c "$n" /dev/zero | tr '\0' '[' ;;
    open-objects) yes '{"a":' | head -n "$n" | tr -d '\n' ;;
    balanced) head -c "$n" /dev/zero | tr '\0' '['
              head -c "$n" /dev/zero | tr '\0' ']' ;;
    deep-field|deep-ignored)
      if [ "$1" = deep-field ]; then printf '{"name":'; else printf '{"x":'; fi
      head -c "$n" /dev/zero | tr '\0' '['
      head -c "$n" /dev/zero | tr '\0' ']'
      printf '}' ;;
    ints) printf '{"radar_event_id":"%s","vendor_ids":[%s]}' "$EVENT" "$(list "$n" 0)" ;;
    strings) printf '{"radar_event_id":"%s","vendor_ids":[%s]}' "$EVENT" "$(list "$n" '""')" ;;
    top-array) printf '[%s]' "$(list "$n" 1)" ;;
    nulls) printf '{"name":"E","summary":"S","primary_impact_type":"Infosec",'
           printf '"secondary_impact_types":[%s]}' "$(list "$n" null)" ;;
    keys) printf '{%s}' "$(seq "$n" | sed 's/.*/"k&":0/' | paste -sd, - | tr -d '\n')" ;;
    unknown-ids) printf '{"vendor_ids":[%s]}' \
                   "$(list "$n" "\"$(unknown_id cbvndr)\"")" ;;
    bytes) head -c "$n" /dev/zero | tr '\0' 'a' ;;
    *) echo "gen_body: unknown kind $1" >&2; return 1 ;;
  esac
}

# send METHOD TARGET HEADERS BODYFILE: the request, through `api` unless
# the body holds a NUL (which a shell variable cannot) or the target is
# "uri:"; then straight to the program (CGI) or to curl (http).
send() {
  local method=$1 target=$2 hdrs=$3 file=$4 h
  local -a opts=()
  if [ -n "$hdrs" ] && [ "$hdrs" != - ]; then
    if [[ "$hdrs" == gen-headers:* ]]; then
      for ((h = 0; h < ${hdrs#gen-headers:}; h++)); do
        opts+=(-H "X-Junk-$h: $h")
      done
    else
      local rest="$hdrs"
      while [ -n "$rest" ]; do
        h="${rest%% ;; *}"
        [ "$h" = "$rest" ] && rest="" || rest="${rest#* ;; }"
        h="$(printf '%b' "$h")"
        case "${h%%:*}" in
          Authorization) opts+=(--auth "${h#Authorization: }") ;;
          No-Auth) opts+=(--no-auth) ;;
          Content-Type) opts+=(--ct "${h#Content-Type: }") ;;
          *) opts+=(-H "$h") ;;
        esac
      done
    fi
  fi
  if [[ "$target" == uri:* ]]; then
    send_raw "$method" "$target" "$file"
  elif [ -z "$file" ]; then
    api "${opts[@]}" "$method" "$target"
  elif tr -d '\000' < "$file" | cmp -s - "$file"; then
    # (no body of the table ends in a newline, which $(<) would drop)
    api "${opts[@]}" "$method" "$target" "$(< "$file")"
  else
    send_raw "$method" "$target" "$file"
  fi
}

# send_raw METHOD TARGET [FILE]: a JSON request with the body FILE as is.
send_raw() {
  local method=$1 target=$2 file=$3
  local -a env=(REQUEST_METHOD="$method" HTTP_AUTHORIZATION="Bearer $KEY")
  if [ -n "$file" ]; then
    cp "$file" "$BATS_TEST_TMPDIR/req.body"
    env+=(CONTENT_TYPE=application/json
          CONTENT_LENGTH="$(wc -c < "$file")")
  else
    : > "$BATS_TEST_TMPDIR/req.body"
  fi
  if [[ "$target" == uri:* ]]; then
    target="${target#uri:}"
    env+=(PATH_INFO= REQUEST_URI="$target" QUERY_STRING=)
  else
    env+=(PATH_INFO="${target%%\?*}" REQUEST_URI="$target")
    [[ "$target" == *\?* ]] && env+=(QUERY_STRING="${target#*\?}")
  fi
  if [ "$REASSESS_TRANSPORT" = http ]; then
    code="$(curl -sS -o "$BATS_TEST_TMPDIR/raw.out" -w '%{http_code}' \
      -X "$method" -H 'Expect:' -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $KEY" ${file:+--data-binary "@$file"} \
      "$REASSESS_URL$target")"
    body="$(cat "$BATS_TEST_TMPDIR/raw.out")"
  else
    cgi_exec "${env[@]}"
  fi
}

# run_category CAT: every row of CAT; fails with the list of bad rows.
run_category() {
  local cat name method target hdrs bodyspec want want_http
  local before after failed="" n=0 file
  while IFS=$'\t' read -r cat name method target hdrs bodyspec want want_http; do
    [ "$cat" = "$1" ] || continue
    if [ "$REASSESS_TRANSPORT" = http ]; then
      [ "$want_http" = - ] && continue
      [ "$want_http" = = ] || want="$want_http"
    fi
    target="$(expand "$target")"
    hdrs="$(expand "$hdrs")"
    file=""
    if [ "$bodyspec" != - ]; then
      file="$BATS_TEST_TMPDIR/hostile.body"
      if [[ "$bodyspec" == gen:* ]]; then
        bodyspec="${bodyspec#gen:}"
        gen_body "${bodyspec%%:*}" "${bodyspec#*:}" > "$file"
      else
        printf '%b' "$(expand "$bodyspec")" > "$file"
      fi
    fi
    before="$(db_digest)"
    if ! send "$method" "$target" "$hdrs" "$file"; then
      failed+=$'\n'"  $name: the request failed (crash or non-zero exit)"
      continue
    fi
    after="$(db_digest)"
    n=$((n + 1))
    if [ "$code" -ge 500 ] 2>/dev/null; then
      failed+=$'\n'"  $name: $code (a 5xx): ${body:0:300}"
    elif [ "$code" != "$want" ]; then
      failed+=$'\n'"  $name: expected $want, got $code: ${body:0:300}"
    fi
    [ "$before" = "$after" ] || failed+=$'\n'"  $name: the database changed"
  done < <(grep -v '^#' "$TABLE")
  ((n > 0)) || fail "no rows ran for category $1"
  [ -z "$failed" ] || fail "hostile rows of $1 that failed:$failed"
}

@test "invalid UTF-8 in bodies, queries and paths gets a 4xx and changes nothing" {
  run_category utf8
}

@test "NUL bytes in strings, queries and paths get a 4xx and change nothing" {
  run_category nul
}

@test "deeply nested JSON gets a 4xx and changes nothing" {
  run_category nest
}

@test "numbers past 64 bits and bodies past 1 MiB get a 4xx and change nothing" {
  run_category big
}

@test "floats and strings where integers or booleans go get a 4xx and change nothing" {
  run_category float
}

@test "100k-element arrays and 50k-key objects get a 4xx and change nothing" {
  run_category array
}

@test "ids with SQL or path syntax get a 4xx and change nothing" {
  run_category sqlid
}

@test "percent-encoding tricks in paths and queries get a 4xx and change nothing" {
  run_category pct
}

@test "headers at and past their size limits get a 4xx and change nothing" {
  run_category hdr
}

@test "duplicate JSON keys get a 4xx and change nothing" {
  run_category dup
}
