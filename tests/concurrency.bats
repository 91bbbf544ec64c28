#!/usr/bin/env bats
# Concurrency through nginx and `reassess serve` with several workers
# (API.md 2.5 and 5): simultaneous runs, simultaneous curation, and a mixed
# load. Every request here goes over HTTP to this file's own service, whatever
# REASSESS_TRANSPORT the suite runs with; the clients are curl processes in
# the background.

# serial: 32 simultaneous clients and a load of 2400 requests against four
#   workers, with curl time limits: it runs with the machine to itself
#   (scripts/test.sh).
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

# fire N DIR METHOD PATH: N curl clients at once, each sending METHOD PATH
# with the body in DIR/in.I when that file exists. They start together: each
# waits (bounded) for DIR/go before it sends. Leaves the status in DIR/code.I
# and the body in DIR/body.I.
fire() {
  local n=$1 d=$2 method=$3 path=$4 i t
  local -a pids=() data
  mkdir -p "$d"
  for i in $(seq "$n"); do
    data=()
    [ -e "$d/in.$i" ] && data=(--data-binary "@$d/in.$i" -H 'Content-Type: application/json')
    (
      for t in $(seq 500); do [ -e "$d/go" ] && break; sleep 0.01; done
      curl -sS -m 90 -X "$method" -H "Authorization: Bearer $KEY" -H 'Expect:' \
        "${data[@]}" -o "$d/body.$i" -w '%{http_code}\n' "$REASSESS_URL$path" \
        > "$d/code.$i" 2> "$d/err.$i"
    ) 3>&- &
    pids+=($!)
  done
  touch "$d/go"
  wait "${pids[@]}"
}

# count_codes DIR CODE: how many of DIR's clients got CODE.
count_codes() {
  cat "$1"/code.* | grep -cx "$2" || true
}

# workers: the supervisor's worker pids, sorted, on one line.
workers() {
  pgrep -P "$SERVE_PID" | sort -n | tr '\n' ' '
}

@test "32 simultaneous runs of one reassessment: one 200, 31 reassessment_immutable, one assessment per included vendor" {
  local v1 v2 v3 ev plan id d="$BATS_TEST_TMPDIR/run" i before
  v1=$(mk_vendor "Run V1") v2=$(mk_vendor "Run V2") v3=$(mk_vendor "Run V3")
  ev=$(mk_event "$(jl "$v1" "$v2" "$v3")")
  plan=$(mk_plan "Run plan")
  id=$(mk_rsm "$ev" "$(jl "$v1" "$v2" "$v3")" "$plan")
  api POST "/v1/reassessments/$id/vendor_inclusion" "{\"vendor_id\":\"$v3\",\"included\":false}"
  assert_status 200
  before="$(workers)"

  fire 32 "$d" POST "/v1/reassessments/$id/run"

  assert_equal "$(count_codes "$d" 200)" 1
  assert_equal "$(count_codes "$d" 422)" 31
  for i in $(seq 32); do
    if [ "$(cat "$d/code.$i")" = 422 ]; then
      assert_equal "$(jq -r .detail.code "$d/body.$i")" reassessment_immutable
    else
      assert_equal "$(jq -r .status "$d/body.$i")" run
    fi
  done
  assert_equal "$(sql "SELECT status FROM reassessments WHERE id = '$id'")" run
  assert_equal "$(sql "SELECT vendor_id FROM assessments WHERE reassessment_id = '$id' ORDER BY vendor_id")" \
    "$(printf '%s\n' "$v1" "$v2" | sort)"
  assert_equal "$(sql "SELECT count(*) FROM reassessment_vendors
    WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$id') AND included = 1 AND assessment_id IN
      (SELECT id FROM assessments WHERE reassessment_id = '$id')")" 2
  assert_equal "$(sql "SELECT assessment_id IS NULL FROM reassessment_vendors
    WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$id') AND vendor_id = '$v3'")" 1
  assert_equal "$(workers)" "$before"
}

@test "simultaneous curation requests adding different vendors all land" {
  local v0 ev id d="$BATS_TEST_TMPDIR/curate" i n=16
  local -a vs=()
  v0=$(mk_vendor "Curated V0")
  for i in $(seq "$n"); do vs+=("$(mk_vendor "Curated V$i")"); done
  ev=$(mk_event "$(jl "$v0")")
  id=$(mk_rsm "$ev" "$(jl "$v0")")
  mkdir -p "$d"
  for i in $(seq "$n"); do
    printf '{"vendor_ids":["%s"]}' "${vs[i-1]}" > "$d/in.$i"
  done

  fire "$n" "$d" POST "/v1/reassessments/$id/vendors"

  assert_equal "$(count_codes "$d" 200)" "$n"
  api GET "/v1/reassessments/$id"
  assert_status 200
  assert_equal "$(json '.vendors | length')" $((n + 1))
  assert_equal "$(json '[.vendors[] | select(.source == "manual" and .included)] | length')" "$n"
  assert_equal "$(json '[.vendors[].vendor_id] | sort | join(" ")')" \
    "$(printf '%s\n' "$v0" "${vs[@]}" | sort | tr '\n' ' ' | sed 's/ $//')"
  assert_equal "$(sql "SELECT count(*) FROM reassessment_vendors WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$id')")" \
    $((n + 1))
}

# load_config FILE CLIENT N RSM EVENT VENDOR: a curl config of N requests
# for one client, mixed: list and get vendors and reassessments, make
# vendors, rename the reassessment, make reassessments. Each transfer writes
# its body and then a line "STATUS <code>" to curl's standard output.
load_config() {
  local f=$1 c=$2 n=$3 rsm=$4 ev=$5 v=$6 i
  {
    for i in $(seq "$n"); do
      printf 'header = "Authorization: Bearer %s"\nheader = "Expect:"\n' "$KEY"
      case $((i % 6)) in
        0) printf 'url = "%s/v1/vendors?limit=5"\n' "$REASSESS_URL" ;;
        1) printf 'url = "%s/v1/vendors"\nheader = "Content-Type: application/json"\ndata = "{\\"name\\":\\"Load %s-%s\\"}"\n' \
             "$REASSESS_URL" "$c" "$i" ;;
        2) printf 'url = "%s/v1/reassessments/%s"\n' "$REASSESS_URL" "$rsm" ;;
        3) printf 'url = "%s/v1/reassessments/%s"\nrequest = "PATCH"\nheader = "Content-Type: application/json"\ndata = "{\\"title\\":\\"Load %s-%s\\"}"\n' \
             "$REASSESS_URL" "$rsm" "$c" "$i" ;;
        4) printf 'url = "%s/v1/reassessments?radar_event_id=%s&limit=10"\n' "$REASSESS_URL" "$ev" ;;
        5) printf 'url = "%s/v1/reassessments"\nheader = "Content-Type: application/json"\ndata = "{\\"radar_event_id\\":\\"%s\\",\\"vendor_ids\\":[\\"%s\\"]}"\n' \
             "$REASSESS_URL" "$ev" "$v" ;;
      esac
      printf 'write-out = "\\nSTATUS %%{http_code}\\n"\n'
      if ((i < n)); then printf 'next\n'; fi
    done
  } > "$f"
}

@test "a mixed read/write load of 2400 requests gets no 5xx and no database_busy" {
  local v ev rsm d="$BATS_TEST_TMPDIR/load" c clients=6 per=400 before
  local -a pids=()
  v=$(mk_vendor "Load vendor")
  ev=$(mk_event "$(jl "$v")")
  rsm=$(mk_rsm "$ev" "$(jl "$v")")
  mkdir -p "$d"
  before="$(workers)"
  for c in $(seq "$clients"); do
    load_config "$d/cfg.$c" "$c" "$per" "$rsm" "$ev" "$v"
    curl -sS -m 100 -K "$d/cfg.$c" > "$d/out.$c" 2> "$d/err.$c" 3>&- &
    pids+=($!)
  done
  wait "${pids[@]}"

  local total bad
  total=$(cat "$d"/out.* | grep -c '^STATUS ')
  assert_equal "$total" $((clients * per))
  bad=$(cat "$d"/out.* | grep '^STATUS ' | grep -cv '^STATUS [24][0-9][0-9]$' || true)
  [ "$bad" -eq 0 ] || fail "$bad answers were not 2xx/4xx: $(cat "$d"/out.* | grep '^STATUS ' | sort | uniq -c)"
  ! grep -q database_busy "$d"/out.* || fail "database_busy under load"
  # Every request was a good one: nothing but 200 and 201.
  assert_equal "$(cat "$d"/out.* | grep '^STATUS ' | grep -cv '^STATUS 20[01]$' || true)" 0
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name LIKE 'Load %-%'")" \
    $((clients * ((per + 5) / 6)))
  assert_equal "$(sql "SELECT count(*) FROM reassessments WHERE radar_event_id = '$ev'")" \
    $((1 + clients * (per / 6)))
  assert_equal "$(workers)" "$before"
}
