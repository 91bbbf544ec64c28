#!/usr/bin/env bats
# Assessments (API.md 3.4): made only by running a reassessment.

load helper

setup_file() { setup_db; }
teardown_file() { teardown_db; }

# run_rsm [--key K] VENDOR_IDS_JSON PLAN_ID: a radar event on the vendors, a
# reassessment of them with the plan, run; prints the reassessment id.
run_rsm() {
  local k="$KEY" ev rsm
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  ev="$(mk_event --key "$k" "$1")" || return 1
  rsm="$(mk_rsm --key "$k" "$ev" "$1" "$2")" || return 1
  api --key "$k" POST "/v1/reassessments/$rsm/run"
  [ "$code" = 200 ] || { echo "run: $code $body" >&2; return 1; }
  echo "$rsm"
}

# assessment_of RSM VENDOR: the assessment_id of VENDOR's entry in RSM.
assessment_of() {
  api GET "/v1/reassessments/$1"
  json ".vendors[] | select(.vendor_id == \"$2\") | .assessment_id"
}

ASSESSMENT_KEYS="assessment_plan_id,assignee_id,control_set_ids,created_at,findings_count,id,initiated_at,name,reassessment_id,score_percent,service_ids,status,updated_at,vendor_id"

@test "a run makes one assessment per vendor, in the contract's shape" {
  local t v1 v2 plan rsm a1 a2 before after
  t="$RANDOM$RANDOM"
  v1="$(mk_vendor "Acme $t")"
  v2="$(mk_vendor "Globex $t")"
  api POST /v1/assessment_plans "{\"name\":\"Breach plan $t\",\"control_set_ids\":[\"cs_x\",\"cs_y\",\"cs_z\"]}"
  plan="$(json .id)"
  before=$(date +%s)
  rsm="$(run_rsm "[\"$v1\",\"$v2\"]" "$plan")"
  after=$(date +%s)
  a1="$(assessment_of "$rsm" "$v1")"
  a2="$(assessment_of "$rsm" "$v2")"
  [[ "$a1" =~ ^cbqsrw_[0-9a-f]{32}$ ]] || fail "bad assessment id '$a1'"
  [[ "$a2" =~ ^cbqsrw_[0-9a-f]{32}$ ]] || fail "bad assessment id '$a2'"
  assert_not_equal "$a1" "$a2"
  api GET "/v1/assessments/$a1"
  assert_status 200
  assert_json 'keys | join(",")' "$ASSESSMENT_KEYS"
  assert_json .id "$a1"
  assert_json .vendor_id "$v1"
  assert_json .name "Breach plan $t: Acme $t"
  assert_json .status created
  assert_json '.control_set_ids | tojson' '["cs_x","cs_y","cs_z"]'
  assert_json '.service_ids | tojson' '[]'
  assert_json .assignee_id null
  assert_json .score_percent null
  assert_json .findings_count 0
  assert_json .initiated_at null
  assert_json .assessment_plan_id "$plan"
  assert_json .reassessment_id "$rsm"
  assert_json ".created_at >= $before and .created_at <= $after" true
  assert_json '.updated_at == .created_at' true
  api GET "/v1/assessments/$a2"
  assert_status 200
  assert_json .vendor_id "$v2"
  assert_json .name "Breach plan $t: Globex $t"
  assert_equal "$(sql "SELECT org_id, count(*) FROM assessments WHERE reassessment_id = '$rsm'")" "$ORG|2"
}

@test "a plan without control sets gives assessments an empty control_set_ids" {
  local v plan rsm a
  v="$(mk_vendor "Empty cs vendor")"
  api POST /v1/assessment_plans '{"name":"No controls"}'
  plan="$(json .id)"
  rsm="$(run_rsm "[\"$v\"]" "$plan")"
  a="$(assessment_of "$rsm" "$v")"
  api GET "/v1/assessments/$a"
  assert_status 200
  assert_json '.control_set_ids | tojson' '[]'
  assert_json .name "No controls: Empty cs vendor"
}

@test "the assessment list filters on reassessment_id" {
  local v1 v2 v3 plan rsm other
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  v3="$(mk_vendor)"
  plan="$(mk_plan)"
  rsm="$(run_rsm "[\"$v1\",\"$v2\"]" "$plan")"
  other="$(run_rsm "[\"$v3\"]" "$plan")"
  api GET "/v1/assessments?reassessment_id=$rsm"
  assert_status 200
  assert_json 'keys | join(",")' "items,limit,offset,total"
  assert_json .total 2
  assert_json .limit 50
  assert_json .offset 0
  assert_json '[.items[].id] | sort | join(",")' \
    "$(printf '%s\n' "$(assessment_of "$rsm" "$v1")" "$(assessment_of "$rsm" "$v2")" | sort | paste -sd,)"
  assert_json '[.items[].reassessment_id] | unique | tojson' "[\"$rsm\"]"
  assert_json '.items[0] | keys | join(",")' "$ASSESSMENT_KEYS"
  api GET "/v1/assessments?reassessment_id=$other"
  assert_json .total 1
  assert_json .items[0].vendor_id "$v3"
}

@test "the assessment list filters on vendor_id, newest first" {
  local v w plan r1 r2
  v="$(mk_vendor)"
  w="$(mk_vendor)"
  plan="$(mk_plan)"
  r1="$(run_rsm "[\"$v\",\"$w\"]" "$plan")"
  r2="$(run_rsm "[\"$v\"]" "$plan")"
  api GET "/v1/assessments?vendor_id=$v"
  assert_status 200
  assert_json .total 2
  assert_equal "$(ids)" "$(assessment_of "$r2" "$v"),$(assessment_of "$r1" "$v")"
  api GET "/v1/assessments?vendor_id=$w"
  assert_json .total 1
  assert_equal "$(ids)" "$(assessment_of "$r1" "$w")"
}

@test "the vendor_id and reassessment_id filters combine" {
  local v w plan r1 r2
  v="$(mk_vendor)"
  w="$(mk_vendor)"
  plan="$(mk_plan)"
  r1="$(run_rsm "[\"$v\",\"$w\"]" "$plan")"
  r2="$(run_rsm "[\"$v\"]" "$plan")"
  api GET "/v1/assessments?vendor_id=$v&reassessment_id=$r1"
  assert_json .total 1
  assert_equal "$(ids)" "$(assessment_of "$r1" "$v")"
  api GET "/v1/assessments?vendor_id=$w&reassessment_id=$r2"
  assert_status 200
  assert_json .total 0
  assert_json '.items | length' 0
}

@test "filters naming nothing give an empty list, not an error" {
  api GET "/v1/assessments?vendor_id=$(unknown_id cbvndr)"
  assert_status 200
  assert_json .total 0
  api GET "/v1/assessments?reassessment_id=not-an-id"
  assert_status 200
  assert_json .total 0
}

@test "the assessment list pages with limit and offset" {
  local v1 v2 v3 plan rsm all
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  v3="$(mk_vendor)"
  plan="$(mk_plan)"
  rsm="$(run_rsm "[\"$v1\",\"$v2\",\"$v3\"]" "$plan")"
  api GET "/v1/assessments?reassessment_id=$rsm"
  all="$(ids)"
  api GET "/v1/assessments?reassessment_id=$rsm&limit=2"
  assert_json .total 3
  assert_json .limit 2
  assert_json '.items | length' 2
  local page1 page2
  page1="$(ids)"
  api GET "/v1/assessments?reassessment_id=$rsm&limit=2&offset=2"
  assert_json .total 3
  assert_json .offset 2
  page2="$(ids)"
  assert_equal "$page1,$page2" "$all"
  api GET "/v1/assessments?limit=0"
  assert_422 '["query","limit"]' greater_than_equal
  api GET "/v1/assessments?offset=-1"
  assert_422 '["query","offset"]' greater_than_equal
}

@test "assessments are ordered by created_at before insertion order" {
  local v w plan rsm av aw
  v="$(mk_vendor)"
  w="$(mk_vendor)"
  plan="$(mk_plan)"
  rsm="$(run_rsm "[\"$v\",\"$w\"]" "$plan")"
  av="$(assessment_of "$rsm" "$v")"
  aw="$(assessment_of "$rsm" "$w")"
  sql "UPDATE assessments SET created_at = created_at + 1000 WHERE id = '$av'"
  api GET "/v1/assessments?reassessment_id=$rsm"
  assert_equal "$(ids)" "$av,$aw"
  sql "UPDATE assessments SET created_at = created_at + 2000 WHERE id = '$aw'"
  api GET "/v1/assessments?reassessment_id=$rsm"
  assert_equal "$(ids)" "$aw,$av"
}

@test "an excluded vendor gets no assessment when the reassessment runs" {
  local v w plan ev rsm
  v="$(mk_vendor)"
  w="$(mk_vendor)"
  plan="$(mk_plan)"
  ev="$(mk_event "[\"$v\",\"$w\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v\",\"$w\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$w\",\"included\":false}"
  assert_status 200
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  api GET "/v1/assessments?reassessment_id=$rsm"
  assert_json .total 1
  assert_json .items[0].vendor_id "$v"
  api GET "/v1/assessments?vendor_id=$w"
  assert_json .total 0
  assert_equal "$(assessment_of "$rsm" "$w")" null
}

@test "an unknown, malformed or wrongly prefixed assessment id is 404 assessment_not_found" {
  local v plan rsm a
  v="$(mk_vendor)"
  plan="$(mk_plan)"
  rsm="$(run_rsm "[\"$v\"]" "$plan")"
  a="$(assessment_of "$rsm" "$v")"
  api GET "/v1/assessments/$(unknown_id cbqsrw)"
  assert_error 404 assessment_not_found
  api GET "/v1/assessments/cbqsrw_XYZ"
  assert_error 404 assessment_not_found
  api GET "/v1/assessments/cbrsm_${a#cbqsrw_}"
  assert_error 404 assessment_not_found
  api GET "/v1/assessments/$rsm"
  assert_error 404 assessment_not_found
}

@test "org B's key gets the same 404 on org A's assessment as on an unknown id" {
  local v plan rsm a
  v="$(mk_vendor)"
  plan="$(mk_plan)"
  rsm="$(run_rsm "[\"$v\"]" "$plan")"
  a="$(assessment_of "$rsm" "$v")"
  assert_hidden 404 assessment_not_found GET /v1/assessments/ID "$a"
}

@test "org B's assessment list never shows org A's assessments" {
  local v plan rsm a vb pb rb ab
  v="$(mk_vendor)"
  plan="$(mk_plan)"
  rsm="$(run_rsm "[\"$v\"]" "$plan")"
  a="$(assessment_of "$rsm" "$v")"
  vb="$(mk_vendor --key "$KEY_B")"
  pb="$(mk_plan --key "$KEY_B")"
  rb="$(run_rsm --key "$KEY_B" "[\"$vb\"]" "$pb")"
  api --key "$KEY_B" GET "/v1/assessments?reassessment_id=$rsm"
  assert_status 200
  assert_json .total 0
  api --key "$KEY_B" GET "/v1/assessments?vendor_id=$v"
  assert_json .total 0
  api --key "$KEY_B" GET "/v1/assessments?limit=200"
  assert_json "[.items[].id] | index(\"$a\")" null
  assert_json "[.items[].reassessment_id] | index(\"$rb\") != null" true
  assert_json .total "$(sql "SELECT count(*) FROM assessments WHERE org_id = '$ORG_B'")"
  api GET "/v1/assessments?reassessment_id=$rb"
  assert_json .total 0
}
