#!/usr/bin/env bats
# Crashes (API.md 2.5 and 5): workers of `reassess serve` killed with SIGKILL
# at random moments while clients create, curate and run reassessments
# through nginx. Afterwards every write a client saw acknowledged is in the
# database, no reassessment is half run, and `reassess check` finds the file
# sound.

# serial: CPU-hungry (three clients, a killer and four workers), and what it
#   counts (kills, acknowledged runs) depends on how much gets done between
#   kills: it runs with the machine to itself (scripts/test.sh).
# one pass: over HTTP to its own service, whatever the pass's transport.

load helper

setup_file() {
  setup_db
  stop_service        # setup_db's own service, if any: this file wants 4 workers
  start_service 4 || return 1
  REASSESS_TRANSPORT=http
  export REASSESS_TRANSPORT
}
teardown_file() { teardown_db; }

# client DIR N: at most N rounds, until DIR/stop appears, of: create a
# reassessment of three vendors with a plan, opt the third out, add a
# fourth, run it. Each acknowledged (2xx) write goes to DIR/log.N as one
# line: "created ID", "excluded ID VENDOR", "added ID VENDOR",
# "run ID ASSESSMENT...".
client() {
  local d=$1 n=$2 log="$1/log.$2" pb="$1/body.$2" pc round id
  for round in $(seq 150); do
    [ -e "$d/stop" ] && break
    post /v1/reassessments \
      "{\"radar_event_id\":\"$EV\",\"vendor_ids\":$(jl "$V1" "$V2" "$V3"),\"assessment_plan_id\":\"$PLAN\"}"
    [[ $pc == 2* ]] || continue
    id=$(jq -r .id "$pb")
    echo "created $id" >> "$log"
    post "/v1/reassessments/$id/vendor_inclusion" "{\"vendor_id\":\"$V3\",\"included\":false}"
    [[ $pc == 2* ]] && echo "excluded $id $V3" >> "$log"
    post "/v1/reassessments/$id/vendors" "{\"vendor_ids\":[\"$V4\"]}"
    [[ $pc == 2* ]] && echo "added $id $V4" >> "$log"
    post "/v1/reassessments/$id/run" ""
    [[ $pc == 2* ]] &&
      echo "run $id $(jq -r '[.vendors[] | .assessment_id // empty] | join(" ")' "$pb")" >> "$log"
  done
  return 0
}

# killer DIR K: K times, after a random pause of 50 to 440 ms, SIGKILL one
# live worker (not a zombie awaiting its reaping) of the supervisor, picked
# at random; each pid killed goes to DIR/kills.
killer() {
  local d=$1 k=$2 i victim
  local -a ws
  for i in $(seq "$k"); do
    sleep "$(printf '0.%02d' $((5 + RANDOM % 40)))"
    mapfile -t ws < <(pgrep -P "$SERVE_PID" -r R,S,D)
    ((${#ws[@]} > 0)) || continue
    victim=${ws[RANDOM % ${#ws[@]}]}
    kill -KILL "$victim" 2>/dev/null && echo "$victim" >> "$d/kills"
  done
  return 0
}

# wait_workers N: poll (bounded) until the supervisor has N live workers
# again (a killed one is a zombie until the supervisor reaps it).
wait_workers() {
  local i
  for i in $(seq 100); do
    [ "$(pgrep -P "$SERVE_PID" -r R,S,D | wc -l)" -eq "$1" ] && return 0
    sleep 0.1
  done
  fail "the supervisor has $(pgrep -P "$SERVE_PID" -r R,S,D | wc -l) live workers, not $1"
}

# deaths: how many worker deaths by SIGKILL the supervisor has logged.
deaths() {
  grep -c 'killed by signal 9' "$BATS_FILE_TMPDIR/service/serve.log" || true
}

@test "workers killed with SIGKILL at random moments lose no acknowledged write and leave no half-run reassessment" {
  local d="$BATS_TEST_TMPDIR/crash" c line what id v a n kills
  local -a pids=()
  mkdir -p "$d"
  V1=$(mk_vendor "Crash V1") V2=$(mk_vendor "Crash V2")
  V3=$(mk_vendor "Crash V3") V4=$(mk_vendor "Crash V4")
  EV=$(mk_event "$(jl "$V1" "$V2" "$V3")")
  PLAN=$(mk_plan "Crash plan")
  local killed_before i
  killed_before=$(deaths)

  for c in 1 2 3; do
    client "$d" "$c" 3>&- &
    pids+=($!)
  done
  killer "$d" 20 3>&-
  touch "$d/stop"
  wait "${pids[@]}"
  wait_workers 4

  # The kills happened, and the supervisor saw each one. It logs a death
  # when it reaps the worker, which may be a moment after the last kill.
  kills=$(sort -u "$d/kills" | wc -l)
  ((kills >= 10)) || fail "only $kills workers were killed"
  for i in $(seq 50); do
    (($(deaths) >= killed_before + kills)) && break
    sleep 0.1
  done
  assert_equal "$(deaths)" $((killed_before + kills))

  # The clients got work done despite the kills.
  cat "$d"/log.* > "$d/acked"
  n=$(grep -c "^run " "$d/acked" || true)
  ((n > 0)) || fail "no run was acknowledged"

  # Every acknowledged write is in the database.
  while read -r what id v a; do
    case $what in
      created)
        assert_equal "$(sql "SELECT count(*) FROM reassessments WHERE id = '$id' AND org_id = '$ORG'")" 1 ;;
      excluded)
        assert_equal "$(sql "SELECT included FROM reassessment_vendors
          WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$id') AND vendor_id = '$v'")" 0 ;;
      added)
        assert_equal "$(sql "SELECT source || ' ' || included FROM reassessment_vendors
          WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$id') AND vendor_id = '$v'")" "manual 1" ;;
      run)
        assert_equal "$(sql "SELECT status FROM reassessments WHERE id = '$id'")" run
        for a in $v $a; do
          assert_equal "$(sql "SELECT reassessment_id FROM assessments WHERE id = '$a'")" "$id"
        done ;;
    esac
  done < "$d/acked"

  # No reassessment is half run: a run one has an assessment for each
  # included vendor and none for an excluded one; any other has none.
  assert_equal "$(sql "SELECT count(*) FROM reassessments r
    JOIN reassessment_vendors rv ON rv.rsm_rid = r.rid
    WHERE r.status = 'run' AND rv.included = 1 AND NOT EXISTS
      (SELECT 1 FROM assessments a WHERE a.id = rv.assessment_id
        AND a.reassessment_id = r.id AND a.vendor_id = rv.vendor_id)")" 0
  assert_equal "$(sql "SELECT count(*) FROM reassessment_vendors
    WHERE included = 0 AND assessment_id IS NOT NULL")" 0
  assert_equal "$(sql "SELECT count(*) FROM assessments a
    JOIN reassessments r ON r.id = a.reassessment_id
    WHERE r.status <> 'run' OR NOT EXISTS (SELECT 1 FROM reassessment_vendors rv
      WHERE rv.assessment_id = a.id AND rv.included = 1)")" 0

  run cli check
  assert_success
  assert_equal "$(sql 'PRAGMA foreign_key_check')" ""

  # And the service answers as before.
  api GET "/v1/reassessments?radar_event_id=$EV&limit=1"
  assert_status 200
}

# Stop, for the test that starts a service of its own, whatever it left.
teardown() {
  if [ -n "${OWN_SERVICE:-}" ]; then
    [ -n "${LOCK_PID:-}" ] && { kill "$LOCK_PID" 2>/dev/null || true; wait "$LOCK_PID" 2>/dev/null || true; }
    stop_service
  fi
}

# busy PID: true when process PID is not waiting for a request, in
# ppoll(2) (271) or accept(2) (43, 288), i.e. a worker that has taken one.
busy() {
  local nr
  read -r nr _ < "/proc/$1/syscall" || return 1
  [ "$nr" != 271 ] && [ "$nr" != 43 ] && [ "$nr" != 288 ]
}

# term_pending PID: true when SIGTERM is pending (blocked) for process PID.
term_pending() {
  local mask
  mask=$(sed -n 's/^ShdPnd:\t*//p' "/proc/$1/status")
  (( (16#$mask >> 14) & 1 ))
}

@test "SIGTERM while requests are in flight through nginx: each completes with 201, then the supervisor exits 0" {
  local d="$BATS_TEST_TMPDIR/term" i w rc=0 ok
  local -a pids=() ws=()
  mkdir -p "$d"
  # A service of this test's own, so that the supervisor is our child and
  # its exit status ours to read; writes wait up to 50 s for a lock (longer
  # than the polls below, shorter than nginx's 60 s read timeout).
  OWN_SERVICE=1
  BATS_FILE_TMPDIR="$BATS_TEST_TMPDIR" REASSESS_BUSY_TIMEOUT=50000 start_service 4 ||
    fail "the service did not start"
  for i in $(seq 100); do
    mapfile -t ws < <(pgrep -P "$SERVE_PID" -r R,S,D)
    ((${#ws[@]} == 4)) && break
    sleep 0.05
  done
  assert_equal "${#ws[@]}" 4

  # Hold the write lock, so that the requests stay in flight.
  mkfifo "$d/lock"
  sqlite3 "$REASSESS_DB" < "$d/lock" > "$d/lock.out" 2>&1 3>&- &
  LOCK_PID=$!
  exec 6> "$d/lock"
  printf ".timeout 10000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n" >&6
  for i in $(seq 200); do grep -q locked "$d/lock.out" && break; sleep 0.05; done
  assert_equal "$(cat "$d/lock.out")" locked

  # Every worker idle in accept; then one write per worker, and wait
  # (bounded) until every worker has taken one.
  for i in $(seq 100); do
    ok=1
    for w in "${ws[@]}"; do ! busy "$w" || ok=0; done
    ((ok)) && break
    sleep 0.05
  done
  ((ok)) || fail "the workers are not all waiting for requests"
  for i in 1 2 3 4; do
    curl -sS -m 120 -X POST -H "Authorization: Bearer $KEY" -H 'Expect:' \
      -H 'Content-Type: application/json' --data-binary "{\"name\":\"In flight $i\"}" \
      -o "$d/body.$i" -w '%{http_code}\n' "$REASSESS_URL/v1/vendors" > "$d/code.$i" 3>&- &
    pids+=($!)
  done
  # (Bounded at 20 s: under valgrind a worker's first request is slow.)
  for i in $(seq 400); do
    ok=1
    for w in "${ws[@]}"; do busy "$w" || ok=0; done
    ((ok)) && break
    sleep 0.05
  done
  ((ok)) || fail "not every worker took a request"

  # SIGTERM; wait (bounded) until each worker has it pending, then let the
  # requests through.
  kill -TERM "$SERVE_PID"
  for i in $(seq 100); do
    ok=1
    for w in "${ws[@]}"; do term_pending "$w" || ok=0; done
    ((ok)) && break
    sleep 0.05
  done
  ((ok)) || fail "the workers were not told to stop"
  printf 'COMMIT;\n' >&6
  exec 6>&-
  wait "$LOCK_PID"
  LOCK_PID=""

  wait "${pids[@]}"
  wait "$SERVE_PID" || rc=$?
  assert_equal "$rc" 0
  for i in 1 2 3 4; do
    assert_equal "$(cat "$d/code.$i")" 201
    assert_equal "$(jq -r .name "$d/body.$i")" "In flight $i"
    assert_equal "$(sql "SELECT name FROM vendors WHERE id = '$(jq -r .id "$d/body.$i")'")" "In flight $i"
  done
  for w in "${ws[@]}"; do
    ! kill -0 "$w" 2>/dev/null || fail "worker $w is still there"
  done
  SERVE_PID=""
  stop_service
  OWN_SERVICE=""
}
