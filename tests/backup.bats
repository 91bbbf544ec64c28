#!/usr/bin/env bats
# `reassess backup FILE` (API.md 5): a consistent copy of a live database,
# made with SQLite's online backup while clients write through nginx and
# `reassess serve`. The copy passes `check`, holds every write acknowledged
# before the backup began, has no half-run reassessment, and serves.

# serial: backups taken while writers run, with bounded waits for writes
#   to land between them: it runs with the machine to itself
#   (scripts/test.sh).
# one pass: over HTTP to its own service, whatever the pass's transport.

load helper

setup_file() {
  setup_db
  stop_service        # setup_db's own service, if any: this file wants its own
  start_service 3 || return 1
  REASSESS_TRANSPORT=http
  export REASSESS_TRANSPORT
}
teardown_file() { teardown_db; }

teardown() {
  local p
  for p in ${COPY_PIDS:-}; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  COPY_PIDS=""
}

# writer DIR N: at most 200 rounds, until DIR/stop appears, of: create a
# reassessment of two vendors with a plan and run it. Acknowledged writes
# go to DIR/log.N as "created ID" and "run ID".
writer() {
  local d=$1 log="$1/log.$2" pb="$1/body.$2" pc round id
  for round in $(seq 200); do
    [ -e "$d/stop" ] && break
    post /v1/reassessments \
      "{\"radar_event_id\":\"$EV\",\"vendor_ids\":$(jl "$V1" "$V2"),\"assessment_plan_id\":\"$PLAN\"}"
    [[ $pc == 2* ]] || continue
    id=$(jq -r .id "$pb")
    echo "created $id" >> "$log"
    post "/v1/reassessments/$id/run" ""
    [[ $pc == 2* ]] && echo "run $id" >> "$log"
  done
  return 0
}

# acked DIR: every write acknowledged so far.
acked() {
  cat "$1"/log.* 2>/dev/null || true
}

# csql FILE QUERY: read a copy.
csql() {
  sqlite3 -batch -noheader "$1" "$2"
}

# assert_sound_copy FILE ACKED: FILE passes `check`, holds every write in
# the file ACKED, and has no half-run reassessment.
assert_sound_copy() {
  local f=$1 what id
  run "$REASSESS" --db "$f" check
  assert_success
  assert_equal "$(csql "$f" 'PRAGMA foreign_key_check')" ""
  while read -r what id; do
    case $what in
      created) assert_equal "$(csql "$f" "SELECT count(*) FROM reassessments WHERE id = '$id'")" 1 ;;
      run) assert_equal "$(csql "$f" "SELECT status FROM reassessments WHERE id = '$id'")" run ;;
    esac
  done < "$2"
  assert_equal "$(csql "$f" "SELECT count(*) FROM reassessments r
    JOIN reassessment_vendors rv ON rv.rsm_rid = r.rid
    WHERE r.status = 'run' AND rv.included = 1 AND NOT EXISTS
      (SELECT 1 FROM assessments a WHERE a.id = rv.assessment_id)")" 0
  assert_equal "$(csql "$f" "SELECT count(*) FROM assessments a
    JOIN reassessments r ON r.id = a.reassessment_id WHERE r.status <> 'run'")" 0
}

# fcgi SOCKET METHOD PATH [BODY]: one FastCGI request with cgi-fcgi;
# sets code/body/headers.
fcgi() {
  local sock=$1 method=$2 path=$3 data="${4:-}" out="$BATS_TEST_TMPDIR/fcgi.out"
  printf '%s' "$data" |
    env -i REQUEST_METHOD="$method" PATH_INFO="$path" QUERY_STRING= \
      CONTENT_TYPE=application/json CONTENT_LENGTH="${#data}" \
      HTTP_AUTHORIZATION="Bearer $KEY" cgi-fcgi -bind -connect "$sock" > "$out"
  headers="$(sed '/^\r\?$/q' "$out" | tr -d '\r')"$'\n'
  body="$(sed '1,/^\r\?$/d' "$out")"
  code="$(header Status | cut -d' ' -f1)"
}

@test "backups of a live database taken while writes go on are whole, sound copies" {
  local d="$BATS_TEST_TMPDIR/live" b i c
  local -a pids=()
  mkdir -p "$d"
  V1=$(mk_vendor "Backup V1") V2=$(mk_vendor "Backup V2")
  EV=$(mk_event "$(jl "$V1" "$V2")")
  PLAN=$(mk_plan "Backup plan")

  for c in 1 2; do
    writer "$d" "$c" 3>&- &
    pids+=($!)
  done
  for b in 1 2 3; do
    # Let some writes through before each backup (bounded).
    for i in $(seq 200); do
      (($(acked "$d" | wc -l) >= 8 * b)) && break
      sleep 0.05
    done
    acked "$d" > "$d/before.$b"
    run cli backup "$d/copy.$b"
    assert_success
    [ ! -e "$d/copy.$b.tmp" ] || fail "the temporary copy was left behind"
  done
  touch "$d/stop"
  wait "${pids[@]}"

  # The writes went on during the backups: each copy is of a live file.
  (($(wc -l < "$d/before.1") > 0)) || fail "nothing was written before the first backup"
  (($(acked "$d" | wc -l) > $(wc -l < "$d/before.3"))) ||
    fail "nothing was written after the last backup began"
  for b in 1 2 3; do
    assert_sound_copy "$d/copy.$b" "$d/before.$b"
  done
  # The live database is sound too, and holds every acknowledged write.
  acked "$d" > "$d/all"
  assert_sound_copy "$REASSESS_DB" "$d/all"
}

@test "a backup serves: reads what was copied and takes writes" {
  local copy="$BATS_TEST_TMPDIR/served.db" sock="$BATS_TEST_TMPDIR/copy.sock" i id
  id=$(mk_vendor "Copied vendor")
  run cli backup "$copy"
  assert_success
  "$REASSESS" --db "$copy" serve --listen "$sock" --workers 1 \
    2> "$BATS_TEST_TMPDIR/copy.log" 3>&- &
  COPY_PIDS=$!
  for i in $(seq 100); do
    fcgi "$sock" GET "/v1/vendors/$id" 2>/dev/null && [ "$code" = 200 ] && break
    sleep 0.05
  done
  assert_status 200
  assert_json .name "Copied vendor"
  fcgi "$sock" POST /v1/vendors '{"name":"Only in the copy"}'
  assert_status 201
  assert_equal "$(csql "$copy" "SELECT name FROM vendors WHERE id = '$(json .id)'")" "Only in the copy"
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name = 'Only in the copy'")" 0
  assert_equal "$(csql "$copy" 'PRAGMA journal_mode')" wal
}

@test "a backup over an existing file replaces it with a whole copy" {
  local copy="$BATS_TEST_TMPDIR/old.db" id
  id=$(mk_vendor "Replacing vendor")
  echo "not a database" > "$copy"
  run cli backup "$copy"
  assert_success
  run "$REASSESS" --db "$copy" check
  assert_success
  assert_equal "$(csql "$copy" "SELECT name FROM vendors WHERE id = '$id'")" "Replacing vendor"
}

@test "a backup into a directory that does not exist fails with a message and leaves nothing" {
  local dir="$BATS_TEST_TMPDIR/nowhere"
  run cli backup "$dir/copy.db"
  assert_failure 1
  [ -n "$output" ] || fail "no message"
  [ ! -e "$dir" ] || fail "something was created"
}

@test "a backup of a database that does not exist fails without creating it" {
  local missing="$BATS_TEST_TMPDIR/missing.db"
  run "$REASSESS" --db "$missing" backup "$BATS_TEST_TMPDIR/copy-of-missing.db"
  assert_failure 1
  [ ! -e "$missing" ] || fail "backup created the source"
  [ ! -e "$BATS_TEST_TMPDIR/copy-of-missing.db" ] || fail "backup made a copy of nothing"
}
