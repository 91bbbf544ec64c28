#!/usr/bin/env bats
# Assessment plans (API.md 3.3).

load helper

setup_file() { setup_db; }
teardown_file() { teardown_db; }

PLAN_KEYS="control_set_ids,created_at,description,id,name,updated_at"

@test "creating a plan with every field returns 201 and the plan" {
  local before after id
  before=$(date +%s)
  api POST /v1/assessment_plans '{"name":"Vendor security review","description":"After an incident","control_set_ids":["cs_soc2","cs_iso","cs_gdpr"]}'
  after=$(date +%s)
  assert_status 201
  assert_json 'keys | join(",")' "$PLAN_KEYS"
  assert_json '.id | test("^cbasmtpl_[0-9a-f]{32}$")' true
  assert_json .name "Vendor security review"
  assert_json .description "After an incident"
  assert_json '.control_set_ids | tojson' '["cs_soc2","cs_iso","cs_gdpr"]'
  assert_json ".created_at >= $before and .created_at <= $after" true
  assert_json '.updated_at == .created_at' true
  id="$(json .id)"
  assert_equal "$(sql "SELECT org_id, name FROM assessment_plans WHERE id = '$id'")" "$ORG|Vendor security review"
}

@test "a plan with only a name has no description and no control sets" {
  api POST /v1/assessment_plans '{"name":"Bare plan"}'
  assert_status 201
  assert_json 'keys | join(",")' "$PLAN_KEYS"
  assert_json .description null
  assert_json '.control_set_ids | tojson' '[]'
}

@test "a plan without a name is refused and nothing is created" {
  local d
  d="$(db_digest)"
  api POST /v1/assessment_plans '{"description":"No name","control_set_ids":["cs_1"]}'
  assert_422 '["body","name"]' missing
  assert_json '.request_id | type' string
  api POST /v1/assessment_plans ''
  assert_422 '["body"]' missing
  assert_equal "$(db_digest)" "$d"
}

@test "plan fields of the wrong type are all reported at once" {
  local d
  d="$(db_digest)"
  api POST /v1/assessment_plans '{"name":5,"description":true,"control_set_ids":"cs_1"}'
  assert_422 '["body","name"]' string_type
  assert_422 '["body","description"]' string_type
  assert_422 '["body","control_set_ids"]' list_type
  assert_json '.detail | length' 3
  api POST /v1/assessment_plans '{"name":"Items","control_set_ids":["cs_1",2,"cs_3",null]}'
  assert_422 '["body","control_set_ids",1]' string_type
  assert_422 '["body","control_set_ids",3]' string_type
  api POST /v1/assessment_plans '{"name":"Broken"'
  assert_422 '["body"]' json_invalid
  api POST /v1/assessment_plans '["name"]'
  assert_422 '["body"]' model_attributes_type
  assert_equal "$(db_digest)" "$d"
}

@test "a plan name may hold 500 characters but not 501" {
  local n
  n="$(printf 'p%.0s' {1..500})"
  api POST /v1/assessment_plans "{\"name\":\"$n\"}"
  assert_status 201
  assert_json '.name | length' 500
  api POST /v1/assessment_plans "{\"name\":\"${n}p\"}"
  assert_422 '["body","name"]' string_too_long
  api POST /v1/assessment_plans "{\"name\":\"ok\",\"description\":\"$(printf 'd%.0s' {1..10001})\"}"
  assert_422 '["body","description"]' string_too_long
}

@test "getting a plan returns the object that create returned" {
  local created id
  api POST /v1/assessment_plans '{"name":"Fetch plan","description":"d","control_set_ids":["a","b"]}'
  created="$(json '. | tojson')"
  id="$(json .id)"
  api GET "/v1/assessment_plans/$id"
  assert_status 200
  assert_equal "$(json '. | tojson')" "$created"
}

@test "an unknown, malformed or wrongly prefixed plan id is 404 assessment_plan_not_found" {
  local id
  id="$(mk_plan)"
  api GET "/v1/assessment_plans/$(unknown_id cbasmtpl)"
  assert_error 404 assessment_plan_not_found
  api GET "/v1/assessment_plans/cbasmtpl_short"
  assert_error 404 assessment_plan_not_found
  api GET "/v1/assessment_plans/cbvndr_${id#cbasmtpl_}"
  assert_error 404 assessment_plan_not_found
}

@test "org B's key gets the same 404 on org A's plan as on an unknown id" {
  local id
  id="$(mk_plan "Org A plan")"
  assert_hidden 404 assessment_plan_not_found GET /v1/assessment_plans/ID "$id"
}

@test "the plan list is newest first with the paging envelope" {
  local p1 p2 p3
  p1="$(mk_plan "List one")"
  p2="$(mk_plan "List two")"
  p3="$(mk_plan "List three")"
  api GET /v1/assessment_plans
  assert_status 200
  assert_json 'keys | join(",")' "items,limit,offset,total"
  assert_json .limit 50
  assert_json .offset 0
  assert_json .total "$(sql "SELECT count(*) FROM assessment_plans WHERE org_id = '$ORG'")"
  assert_json '[.items[0:3][].id] | join(",")' "$p3,$p2,$p1"
  assert_json '.items[0] | keys | join(",")' "$PLAN_KEYS"
  api GET "/v1/assessment_plans?limit=2&offset=1"
  assert_json .limit 2
  assert_json .offset 1
  assert_equal "$(ids)" "$p2,$p1"
}

@test "plans are ordered by created_at before insertion order" {
  local p1 p2
  p1="$(mk_plan "Old one")"
  p2="$(mk_plan "New one")"
  sql "UPDATE assessment_plans SET created_at = created_at + 1000 WHERE id = '$p1'"
  api GET "/v1/assessment_plans?limit=2"
  assert_equal "$(ids)" "$p1,$p2"
}

@test "plan list limit and offset are range-checked" {
  api GET "/v1/assessment_plans?limit=0"
  assert_422 '["query","limit"]' greater_than_equal
  api GET "/v1/assessment_plans?limit=999"
  assert_422 '["query","limit"]' less_than_equal
  api GET "/v1/assessment_plans?offset=-5"
  assert_422 '["query","offset"]' greater_than_equal
  api GET "/v1/assessment_plans?offset=abc"
  assert_422 '["query","offset"]' int_type
}

@test "org B's plan list never shows org A's plans" {
  local a b
  a="$(mk_plan "Private A")"
  b="$(mk_plan --key "$KEY_B" "Private B")"
  api --key "$KEY_B" GET "/v1/assessment_plans?limit=200"
  assert_status 200
  assert_json "[.items[].id] | index(\"$a\")" null
  assert_json "[.items[].id] | index(\"$b\") != null" true
  assert_json .total "$(sql "SELECT count(*) FROM assessment_plans WHERE org_id = '$ORG_B'")"
  api GET "/v1/assessment_plans?limit=200"
  assert_json "[.items[].id] | index(\"$b\")" null
}

@test "the Idempotency-Key header is ignored on plans" {
  local n
  n="$(sql "SELECT count(*) FROM assessment_plans")"
  api -H "Idempotency-Key: plan-$BATS_TEST_NUMBER" POST /v1/assessment_plans '{"name":"Keyed plan"}'
  assert_status 201
  api -H "Idempotency-Key: plan-$BATS_TEST_NUMBER" POST /v1/assessment_plans '{"name":"Keyed plan"}'
  assert_status 201
  assert_equal "$(sql "SELECT count(*) FROM assessment_plans")" "$((n + 2))"
}
