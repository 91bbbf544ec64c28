#!/usr/bin/env bats
# Reassessment triggers (API.md 7): the endpoints, and the drafts a new radar
# event makes through them. The rollback of an event with its drafts is in
# tests/trigger_rollback.bats (it needs the test binary).
#
# Triggers fire on every radar event of their org, so each test starts with
# none live (setup deletes what earlier tests left) and makes its own.

load helper

TRIGGER_KEYS='["id","name","assessment_plan_id","primary_impact_types","min_alert_severity","vendor_ids","enabled","created_at","updated_at"]'
RSM_KEYS='["id","status","title","assessment_plan_id","radar_event_id","trigger_id","alert_ids","vendors","created_at","updated_at"]'

setup_file() {
  # A webhook on a loopback URL, to see Reassessment.Created in the outbox.
  export REASSESS_WEBHOOK_ALLOW_PRIVATE=1
  setup_db
}
teardown_file() { teardown_db; }

# setup: no live trigger in either org, so that only the test's own fire.
setup() {
  local k id
  for k in "$KEY" "$KEY_B"; do
    api --key "$k" GET '/v1/reassessment_triggers?limit=200'
    for id in $(json '.items[].id'); do
      api --key "$k" DELETE "/v1/reassessment_triggers/$id"
      assert_status 204
    done
  done
}

# mk_trigger [--key K] BODY: make a trigger, print its id.
mk_trigger() {
  local k="$KEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  api --key "$k" POST /v1/reassessment_triggers "$1"
  [ "$code" = 201 ] || { echo "mk_trigger: $code $body" >&2; return 1; }
  json .id
}

# event TYPE SEVERITY VENDOR_IDS_JSON [NAME]: make a radar event, print its id.
event() {
  api POST /v1/radar/events "$(jq -nc --arg t "$1" --arg s "$2" \
    --argjson v "$3" --arg n "${4:-Breach}" \
    '{name: $n, summary: "S", primary_impact_type: $t, vendor_ids: $v,
      alert_severity: $s}')"
  [ "$code" = 201 ] || { echo "event: $code $body" >&2; return 1; }
  json .id
}

# drafts EVENT: the reassessments of EVENT, as the list gives them.
drafts() {
  api GET "/v1/reassessments?radar_event_id=$1&limit=200"
  assert_status 200
}

# alert_of EVENT VENDOR: the id of the alert EVENT raised for VENDOR.
alert_of() {
  sql "SELECT id FROM radar_alerts WHERE event_id = '$1' AND vendor_id = '$2'"
}

# --- create ---------------------------------------------------------------

@test "creating a trigger with every field returns 201 and the trigger" {
  local p v1 v2 before after
  p="$(mk_plan)"
  v1="$(mk_vendor "Trig full one")"
  v2="$(mk_vendor "Trig full two")"
  before=$(date +%s)
  api POST /v1/reassessment_triggers "{\"name\":\"Breaches\",\"assessment_plan_id\":\"$p\",\"primary_impact_types\":[\"Infosec\",\"Legal\"],\"min_alert_severity\":\"medium\",\"vendor_ids\":[\"$v1\",\"$v2\"],\"enabled\":false}"
  after=$(date +%s)
  assert_status 201
  assert_json "keys_unsorted == $TRIGGER_KEYS" true
  assert_json '.id | test("^cbrtrg_[0-9a-f]{32}$")' true
  assert_json .name Breaches
  assert_json .assessment_plan_id "$p"
  assert_json '.primary_impact_types | tojson' '["Infosec","Legal"]'
  assert_json .min_alert_severity medium
  assert_json '.vendor_ids | tojson' "[\"$v1\",\"$v2\"]"
  assert_json .enabled false
  assert_json ".created_at >= $before and .created_at <= $after" true
  assert_json '.updated_at == .created_at' true
  assert_equal "$(sql "SELECT org_id FROM reassessment_triggers WHERE id = '$(json .id)'")" "$ORG"
}

@test "a trigger with only a name gets the defaults: any impact type, informational, every vendor, enabled" {
  api POST /v1/reassessment_triggers '{"name":"Everything"}'
  assert_status 201
  assert_json .assessment_plan_id null
  assert_json '.primary_impact_types | tojson' '[]'
  assert_json .min_alert_severity informational
  assert_json '.vendor_ids | tojson' null
  assert_json .enabled true
  api POST /v1/reassessment_triggers '{"name":"Nulls","assessment_plan_id":null,"primary_impact_types":null,"min_alert_severity":null,"vendor_ids":null,"enabled":null}'
  assert_status 201
  assert_json '[.assessment_plan_id, .primary_impact_types, .min_alert_severity, .vendor_ids, .enabled] | tojson' \
    '[null,[],"informational",null,true]'
}

@test "repeated ids and impact types in a trigger collapse to one, in the order first given" {
  local v1 v2
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  api POST /v1/reassessment_triggers "{\"name\":\"Twice\",\"primary_impact_types\":[\"Legal\",\"ESG\",\"Legal\"],\"vendor_ids\":[\"$v2\",\"$v1\",\"$v2\"]}"
  assert_status 201
  assert_json '.primary_impact_types | tojson' '["Legal","ESG"]'
  assert_json '.vendor_ids | tojson' "[\"$v2\",\"$v1\"]"
}

@test "a trigger without a name is a 422 missing, and an empty body too" {
  local d
  d="$(db_digest)"
  api POST /v1/reassessment_triggers '{"enabled":true}'
  assert_422 '["body","name"]' missing
  assert_json '.detail | length' 1
  api POST /v1/reassessment_triggers ''
  assert_422 '["body"]' missing
  assert_equal "$(db_digest)" "$d"
}

@test "every problem in a trigger body is listed at once, and nothing is made" {
  local d
  d="$(db_digest)"
  api POST /v1/reassessment_triggers "{\"name\":\"$(printf 'n%.0s' {1..501})\",\"assessment_plan_id\":5,\"primary_impact_types\":[\"Infosec\",\"Cyber\",\"infosec\"],\"min_alert_severity\":\"critical\",\"vendor_ids\":[],\"enabled\":\"yes\"}"
  assert_422 '["body","name"]' string_too_long
  assert_422 '["body","assessment_plan_id"]' string_type
  assert_422 '["body","primary_impact_types",1]' enum
  assert_422 '["body","primary_impact_types",2]' enum
  assert_422 '["body","min_alert_severity"]' enum
  assert_422 '["body","vendor_ids"]' too_short
  assert_422 '["body","enabled"]' bool_type
  assert_json '.detail | length' 7
  api POST /v1/reassessment_triggers '{"name":"","primary_impact_types":"Infosec","vendor_ids":"cbvndr_x","min_alert_severity":"High"}'
  assert_422 '["body","name"]' too_short
  assert_422 '["body","primary_impact_types"]' list_type
  assert_422 '["body","vendor_ids"]' list_type
  assert_422 '["body","min_alert_severity"]' enum
  api POST /v1/reassessment_triggers '{"name":"T","vendor_ids":["ok",7]}'
  assert_422 '["body","vendor_ids",1]' string_type
  api POST /v1/reassessment_triggers '[]'
  assert_422 '["body"]' model_attributes_type
  api POST /v1/reassessment_triggers '{"name":'
  assert_422 '["body"]' json_invalid
  assert_equal "$(db_digest)" "$d"
}

@test "an unresolvable plan is a 422 invalid_reassessment_trigger naming it, checked before the vendors" {
  local d bad_plan bad_vendor
  d="$(db_digest)"
  bad_plan="$(unknown_id cbasmtpl)"
  bad_vendor="$(unknown_id cbvndr)"
  api POST /v1/reassessment_triggers "{\"name\":\"T\",\"assessment_plan_id\":\"$bad_plan\",\"vendor_ids\":[\"$bad_vendor\"]}"
  assert_error 422 invalid_reassessment_trigger
  assert_json .detail.message "Assessment plan $bad_plan not found."
  api POST /v1/reassessment_triggers '{"name":"T","assessment_plan_id":"cbvndr_0123"}'
  assert_error 422 invalid_reassessment_trigger
  assert_json .detail.message "Assessment plan cbvndr_0123 not found."
  assert_equal "$(db_digest)" "$d"
}

@test "the first unresolvable vendor, in the order given, is named; nothing is made" {
  local d v bad1 bad2
  v="$(mk_vendor)"
  d="$(db_digest)"
  bad1="$(unknown_id cbvndr)"
  bad2="$(unknown_id cbvndr)"
  api POST /v1/reassessment_triggers "{\"name\":\"T\",\"vendor_ids\":[\"$v\",\"$bad1\",\"$bad2\"]}"
  assert_error 422 invalid_reassessment_trigger
  assert_json .detail.message "Vendor $bad1 not found."
  assert_equal "$(db_digest)" "$d"
}

@test "another org's plan or vendor does not resolve in a trigger" {
  local pb vb d
  pb="$(mk_plan --key "$KEY_B")"
  vb="$(mk_vendor --key "$KEY_B")"
  d="$(db_digest)"
  api POST /v1/reassessment_triggers "{\"name\":\"T\",\"assessment_plan_id\":\"$pb\"}"
  assert_error 422 invalid_reassessment_trigger
  assert_json .detail.message "Assessment plan $pb not found."
  api POST /v1/reassessment_triggers "{\"name\":\"T\",\"vendor_ids\":[\"$vb\"]}"
  assert_error 422 invalid_reassessment_trigger
  assert_json .detail.message "Vendor $vb not found."
  assert_equal "$(db_digest)" "$d"
}

# --- list and get ---------------------------------------------------------

@test "the trigger list is newest first, filters on enabled and pages" {
  local t1 t2 t3
  t1="$(mk_trigger '{"name":"L1"}')"
  t2="$(mk_trigger '{"name":"L2","enabled":false}')"
  t3="$(mk_trigger '{"name":"L3"}')"
  api GET /v1/reassessment_triggers
  assert_status 200
  assert_equal "$(ids)" "$t3,$t2,$t1"
  assert_json '[.total, .limit, .offset] | tojson' '[3,50,0]'
  assert_json ".items[0] | keys_unsorted == $TRIGGER_KEYS" true
  api GET '/v1/reassessment_triggers?enabled=true'
  assert_equal "$(ids)" "$t3,$t1"
  assert_json .total 2
  api GET '/v1/reassessment_triggers?enabled=false'
  assert_equal "$(ids)" "$t2"
  assert_json .total 1
  api GET '/v1/reassessment_triggers?limit=1&offset=1'
  assert_equal "$(ids)" "$t2"
  assert_json .total 3
}

@test "a bad enabled, limit or offset on the trigger list is a 422 of the query" {
  api GET '/v1/reassessment_triggers?enabled=maybe'
  assert_422 '["query","enabled"]' bool_type
  api GET '/v1/reassessment_triggers?limit=0&offset=-1'
  assert_422 '["query","limit"]' greater_than_equal
  assert_422 '["query","offset"]' greater_than_equal
}

@test "one org's triggers are not in another's list" {
  local t
  t="$(mk_trigger '{"name":"Mine"}')"
  api --key "$KEY_B" GET /v1/reassessment_triggers
  assert_status 200
  assert_json .total 0
  api GET /v1/reassessment_triggers
  assert_equal "$(ids)" "$t"
}

@test "getting a trigger returns it; an unknown, malformed or misprefixed id is a 404" {
  local t
  t="$(mk_trigger '{"name":"Get me","min_alert_severity":"high"}')"
  api GET "/v1/reassessment_triggers/$t"
  assert_status 200
  assert_json .id "$t"
  assert_json .min_alert_severity high
  for bad in "$(unknown_id cbrtrg)" cbrtrg_123 "cbrsm_${t#cbrtrg_}" x; do
    api GET "/v1/reassessment_triggers/$bad"
    assert_error 404 reassessment_trigger_not_found
  done
  api GET "/v1/reassessment_triggers/$(unknown_id cbrtrg)"
  assert_json '.detail.message | startswith("Reassessment trigger cbrtrg_")' true
}

@test "another org's trigger is reported exactly as one that does not exist" {
  local t
  t="$(mk_trigger '{"name":"Hidden"}')"
  assert_hidden 404 reassessment_trigger_not_found GET /v1/reassessment_triggers/ID "$t"
  assert_hidden 404 reassessment_trigger_not_found PATCH /v1/reassessment_triggers/ID "$t" '{"name":"x"}'
  assert_hidden 404 reassessment_trigger_not_found DELETE /v1/reassessment_triggers/ID "$t"
  api GET "/v1/reassessment_triggers/$t"
  assert_json .name Hidden
}

@test "the trigger routes answer 405 with Allow for a method they lack" {
  api PUT /v1/reassessment_triggers '{}'
  assert_detail 405 "Method Not Allowed"
  assert_equal "$(header Allow)" "GET, POST"
  api POST "/v1/reassessment_triggers/$(unknown_id cbrtrg)" '{}'
  assert_detail 405 "Method Not Allowed"
  assert_equal "$(header Allow)" "GET, PATCH, DELETE"
}

# --- patch and delete -----------------------------------------------------

@test "patching a trigger changes what is given; null or absent stays" {
  local t p v created
  p="$(mk_plan)"
  v="$(mk_vendor)"
  t="$(mk_trigger '{"name":"Before","primary_impact_types":["Legal"]}')"
  api GET "/v1/reassessment_triggers/$t"
  created="$(json .created_at)"
  sleep 1
  api PATCH "/v1/reassessment_triggers/$t" "{\"name\":\"After\",\"assessment_plan_id\":\"$p\",\"primary_impact_types\":[\"ESG\",\"Infosec\"],\"min_alert_severity\":\"low\",\"vendor_ids\":[\"$v\"],\"enabled\":false}"
  assert_status 200
  assert_json '[.name, .assessment_plan_id, .primary_impact_types, .min_alert_severity, .vendor_ids, .enabled] | tojson' \
    "[\"After\",\"$p\",[\"ESG\",\"Infosec\"],\"low\",[\"$v\"],false]"
  assert_json ".updated_at > $created" true
  assert_json ".created_at == $created" true
  api PATCH "/v1/reassessment_triggers/$t" '{"name":null,"assessment_plan_id":null,"primary_impact_types":null,"min_alert_severity":null,"vendor_ids":null,"enabled":null}'
  assert_status 200
  assert_json '[.name, .assessment_plan_id, .primary_impact_types, .min_alert_severity, .vendor_ids, .enabled] | tojson' \
    "[\"After\",\"$p\",[\"ESG\",\"Infosec\"],\"low\",[\"$v\"],false]"
  api PATCH "/v1/reassessment_triggers/$t" '{"enabled":true,"primary_impact_types":[]}'
  assert_json '[.enabled, .primary_impact_types] | tojson' '[true,[]]'
}

@test "a patch that changes nothing leaves the trigger and its updated_at as they were" {
  local t d
  t="$(mk_trigger '{"name":"Same","min_alert_severity":"low"}')"
  d="$(db_digest)"
  sleep 1
  api PATCH "/v1/reassessment_triggers/$t" '{}'
  assert_status 200
  assert_json .name Same
  api PATCH "/v1/reassessment_triggers/$t" '{"name":"Same","min_alert_severity":"low","enabled":true}'
  assert_status 200
  assert_json '.updated_at == .created_at' true
  assert_equal "$(db_digest)" "$d"
}

@test "a bad patch is a 422 and changes nothing: shape first, then the references" {
  local t d bad
  t="$(mk_trigger '{"name":"Keep"}')"
  d="$(db_digest)"
  api PATCH "/v1/reassessment_triggers/$t" '{"name":"","vendor_ids":[],"primary_impact_types":["Nope"],"min_alert_severity":"severe","enabled":1}'
  assert_422 '["body","name"]' too_short
  assert_422 '["body","vendor_ids"]' too_short
  assert_422 '["body","primary_impact_types",0]' enum
  assert_422 '["body","min_alert_severity"]' enum
  assert_422 '["body","enabled"]' bool_type
  bad="$(unknown_id cbvndr)"
  api PATCH "/v1/reassessment_triggers/$t" "{\"vendor_ids\":[\"$bad\"]}"
  assert_error 422 invalid_reassessment_trigger
  assert_json .detail.message "Vendor $bad not found."
  bad="$(unknown_id cbasmtpl)"
  api PATCH "/v1/reassessment_triggers/$t" "{\"assessment_plan_id\":\"$bad\"}"
  assert_error 422 invalid_reassessment_trigger
  assert_json .detail.message "Assessment plan $bad not found."
  api PATCH "/v1/reassessment_triggers/$(unknown_id cbrtrg)" "{\"assessment_plan_id\":\"$bad\"}"
  assert_error 404 reassessment_trigger_not_found
  assert_equal "$(db_digest)" "$d"
}

@test "deleting a trigger answers 204; then it is gone, and a second delete is a 404" {
  local t
  t="$(mk_trigger '{"name":"Gone"}')"
  api DELETE "/v1/reassessment_triggers/$t"
  assert_status 204
  assert_equal "$body" ""
  api GET "/v1/reassessment_triggers/$t"
  assert_error 404 reassessment_trigger_not_found
  api PATCH "/v1/reassessment_triggers/$t" '{"name":"x"}'
  assert_error 404 reassessment_trigger_not_found
  api DELETE "/v1/reassessment_triggers/$t"
  assert_error 404 reassessment_trigger_not_found
  api GET /v1/reassessment_triggers
  assert_json .total 0
}

# --- the drafts a radar event makes ---------------------------------------

@test "a radar event makes the draft its trigger describes, ready to run" {
  local p v1 v2 t e rid a1 a2 before
  p="$(mk_plan "Incident review")"
  v1="$(mk_vendor "Draft one")"
  v2="$(mk_vendor "Draft two")"
  t="$(mk_trigger "{\"name\":\"Security incidents\",\"assessment_plan_id\":\"$p\",\"primary_impact_types\":[\"Infosec\"],\"min_alert_severity\":\"medium\"}")"
  before=$(date +%s)
  e="$(event Infosec high "[\"$v2\",\"$v1\"]" "Ransomware at Acme")"
  a1="$(alert_of "$e" "$v1")"
  a2="$(alert_of "$e" "$v2")"
  drafts "$e"
  assert_json .total 1
  assert_json ".items[0] | keys_unsorted == $RSM_KEYS" true
  assert_json .items[0].status draft
  assert_json .items[0].title "Security incidents: Ransomware at Acme"
  assert_json .items[0].assessment_plan_id "$p"
  assert_json .items[0].radar_event_id "$e"
  assert_json .items[0].trigger_id "$t"
  assert_json '.items[0].vendors | tojson' \
    "[{\"vendor_id\":\"$v2\",\"source\":\"matched\",\"included\":true,\"assessment_id\":null},{\"vendor_id\":\"$v1\",\"source\":\"matched\",\"included\":true,\"assessment_id\":null}]"
  assert_json '.items[0].alert_ids | sort | tojson' "$(jq -nc --arg a "$a1" --arg b "$a2" '[$a,$b] | sort')"
  assert_json ".items[0].created_at >= $before" true
  rid="$(json .items[0].id)"
  api POST "/v1/reassessments/$rid/run"
  assert_status 200
  assert_json .status run
  assert_json '[.vendors[].assessment_id | select(. != null)] | length' 2
}

@test "a disabled trigger makes nothing, and makes drafts again once enabled" {
  local v t e
  v="$(mk_vendor)"
  t="$(mk_trigger '{"name":"Off","enabled":false}')"
  e="$(event Infosec high "[\"$v\"]")"
  drafts "$e"
  assert_json .total 0
  api PATCH "/v1/reassessment_triggers/$t" '{"enabled":true}'
  e="$(event Infosec high "[\"$v\"]")"
  drafts "$e"
  assert_json .total 1
  assert_json .items[0].trigger_id "$t"
}

@test "two matching triggers make two drafts, one each" {
  local v t1 t2 e
  v="$(mk_vendor)"
  t1="$(mk_trigger '{"name":"First"}')"
  t2="$(mk_trigger '{"name":"Second","primary_impact_types":["Infosec"]}')"
  e="$(event Infosec low "[\"$v\"]" Leak)"
  drafts "$e"
  assert_json .total 2
  assert_json '[.items[].trigger_id] | sort | tojson' "$(jq -nc --arg a "$t1" --arg b "$t2" '[$a,$b] | sort')"
  assert_json '[.items[].title] | sort | tojson' '["First: Leak","Second: Leak"]'
  assert_equal "$(sql "SELECT count(*) FROM reassessments WHERE radar_event_id = '$e'")" 2
}

@test "a trigger makes a draft only for an event of one of its impact types; none listed means any" {
  local v tl ta e
  v="$(mk_vendor)"
  tl="$(mk_trigger '{"name":"Legal or ESG","primary_impact_types":["Legal","ESG"]}')"
  ta="$(mk_trigger '{"name":"Any"}')"
  e="$(event Financial high "[\"$v\"]")"
  drafts "$e"
  assert_json '[.items[].trigger_id] | tojson' "[\"$ta\"]"
  e="$(event ESG high "[\"$v\"]")"
  drafts "$e"
  assert_json .total 2
  e="$(event "Geopolitical & External" high "[\"$v\"]")"
  drafts "$e"
  assert_json '[.items[].trigger_id] | tojson' "[\"$ta\"]"
}

@test "an event whose alerts are all below the trigger's severity makes none" {
  local v1 v2 t e
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  t="$(mk_trigger '{"name":"Serious","min_alert_severity":"medium"}')"
  for sev in informational low; do
    e="$(event Infosec "$sev" "[\"$v1\",\"$v2\"]")"
    drafts "$e"
    assert_json .total 0
  done
  for sev in medium high; do
    e="$(event Infosec "$sev" "[\"$v1\",\"$v2\"]")"
    drafts "$e"
    assert_json .total 1
    assert_json '.items[0].alert_ids | length' 2
  done
  api PATCH "/v1/reassessment_triggers/$t" '{"min_alert_severity":"high"}'
  e="$(event Infosec medium "[\"$v1\"]")"
  drafts "$e"
  assert_json .total 0
}

@test "an event without alerts, or without vendors, makes no draft" {
  local v e
  v="$(mk_vendor)"
  mk_trigger '{"name":"Anything"}' >/dev/null
  api POST /v1/radar/events "{\"name\":\"Quiet\",\"summary\":\"S\",\"primary_impact_type\":\"Infosec\",\"vendor_ids\":[\"$v\"],\"create_alert\":false}"
  assert_status 201
  drafts "$(json .id)"
  assert_json .total 0
  e="$(event Infosec high '[]')"
  drafts "$e"
  assert_json .total 0
}

@test "a vendor outside the trigger's scope is not added, and an event with none inside makes nothing" {
  local v1 v2 v3 t e
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  v3="$(mk_vendor)"
  t="$(mk_trigger "{\"name\":\"Scoped\",\"vendor_ids\":[\"$v3\",\"$v1\"]}")"
  e="$(event Infosec high "[\"$v1\",\"$v2\",\"$v3\"]")"
  drafts "$e"
  assert_json .total 1
  assert_json '[.items[0].vendors[].vendor_id] | tojson' "[\"$v1\",\"$v3\"]"
  assert_json '.items[0].alert_ids | sort | tojson' \
    "$(jq -nc --arg a "$(alert_of "$e" "$v1")" --arg b "$(alert_of "$e" "$v3")" '[$a,$b] | sort')"
  e="$(event Infosec high "[\"$v2\"]")"
  drafts "$e"
  assert_json .total 0
}

@test "a trigger without a plan makes a draft without one, and its run is a 400 missing_assessment_plan" {
  local v e rid p
  v="$(mk_vendor)"
  mk_trigger '{"name":"No plan"}' >/dev/null
  e="$(event Infosec high "[\"$v\"]")"
  drafts "$e"
  assert_json .items[0].assessment_plan_id null
  rid="$(json .items[0].id)"
  api POST "/v1/reassessments/$rid/run"
  assert_error 400 missing_assessment_plan
  p="$(mk_plan)"
  api PATCH "/v1/reassessments/$rid" "{\"assessment_plan_id\":\"$p\"}"
  assert_status 200
  api POST "/v1/reassessments/$rid/run"
  assert_status 200
  assert_json .status run
}

@test "another org's triggers make nothing for this org's events" {
  local v e
  v="$(mk_vendor)"
  mk_trigger --key "$KEY_B" '{"name":"Org B"}' >/dev/null
  e="$(event Infosec high "[\"$v\"]")"
  drafts "$e"
  assert_json .total 0
  assert_equal "$(sql "SELECT count(*) FROM reassessments WHERE radar_event_id = '$e'")" 0
}

@test "a deleted trigger makes nothing; the drafts it made keep their trigger_id" {
  local v t e rid
  v="$(mk_vendor)"
  t="$(mk_trigger '{"name":"Short-lived"}')"
  e="$(event Infosec high "[\"$v\"]")"
  drafts "$e"
  rid="$(json .items[0].id)"
  api DELETE "/v1/reassessment_triggers/$t"
  assert_status 204
  e="$(event Infosec high "[\"$v\"]")"
  drafts "$e"
  assert_json .total 0
  api GET "/v1/reassessments/$rid"
  assert_json .trigger_id "$t"
  api GET "/v1/reassessments?trigger_id=$t"
  assert_equal "$(ids)" "$rid"
}

@test "a reassessment made by hand has trigger_id null, in its object and its list" {
  local v e rid
  v="$(mk_vendor)"
  e="$(event Infosec high "[\"$v\"]")"
  rid="$(mk_rsm "$e" "[\"$v\"]")"
  api GET "/v1/reassessments/$rid"
  assert_json ".trigger_id" null
  assert_json "keys_unsorted == $RSM_KEYS" true
}

@test "the reassessment list filters on trigger_id, with the other filters and paging" {
  local v t1 t2 e1 e2 hand
  v="$(mk_vendor)"
  t1="$(mk_trigger '{"name":"One"}')"
  e1="$(event Infosec high "[\"$v\"]")"
  t2="$(mk_trigger '{"name":"Two"}')"
  e2="$(event Infosec high "[\"$v\"]")"
  hand="$(mk_rsm "$e2" "[\"$v\"]")"
  api GET "/v1/reassessments?trigger_id=$t1"
  assert_status 200
  assert_json .total 2
  assert_json '[.items[].radar_event_id] | tojson' "[\"$e2\",\"$e1\"]"
  api GET "/v1/reassessments?trigger_id=$t2"
  assert_json .total 1
  assert_json .items[0].radar_event_id "$e2"
  api GET "/v1/reassessments?trigger_id=$t1&radar_event_id=$e1"
  assert_json '[.total, .items[0].radar_event_id] | tojson' "[1,\"$e1\"]"
  api GET "/v1/reassessments?trigger_id=$t1&status=confirmed"
  assert_json .total 0
  api GET "/v1/reassessments?trigger_id=$t1&vendor_id=$v&limit=1&offset=1"
  assert_json '[.total, (.items | length), .items[0].radar_event_id] | tojson' "[2,1,\"$e1\"]"
  api GET "/v1/reassessments?trigger_id=$(unknown_id cbrtrg)"
  assert_json .total 0
  api --key "$KEY_B" GET "/v1/reassessments?trigger_id=$t1"
  assert_json .total 0
  api GET "/v1/reassessments?radar_event_id=$e2"
  assert_json '[.items[].trigger_id] | map(. // "hand") | sort | tojson' \
    "$(jq -nc --arg a "$t1" --arg b "$t2" '[$a,$b,"hand"] | sort')"
}

@test "each draft is announced with Reassessment.Created through the outbox" {
  local v t1 t2 e w
  v="$(mk_vendor)"
  api POST /v1/webhooks '{"url":"http://127.0.0.1:9/hook","events":["Reassessment.Created"],"secret":"whsec_0123456789abcdef"}'
  assert_status 201
  w="$(json .id)"
  t1="$(mk_trigger '{"name":"Announced one"}')"
  t2="$(mk_trigger '{"name":"Announced two"}')"
  e="$(event Infosec high "[\"$v\"]")"
  drafts "$e"
  assert_equal "$(sql "SELECT json_extract(e.payload, '\$.data.reassessment_id') FROM webhook_events e JOIN webhook_deliveries d ON d.event_id = e.id WHERE d.webhook_id = '$w' AND e.event_type = 'Reassessment.Created' ORDER BY 1")" \
    "$(json '[.items[].id] | sort | .[]')"
  api DELETE "/v1/webhooks/$w"
  assert_status 204
}

@test "a trigger makes at most one draft per event: re-linking a draft to an event it already has one for is a 422" {
  local v t e1 e2 r1 r2 d
  v="$(mk_vendor)"
  t="$(mk_trigger '{"name":"Once"}')"
  e1="$(event Infosec high "[\"$v\"]")"
  e2="$(event Infosec high "[\"$v\"]")"
  drafts "$e1"
  r1="$(json .items[0].id)"
  drafts "$e2"
  r2="$(json .items[0].id)"
  d="$(db_digest)"
  api PATCH "/v1/reassessments/$r2" "{\"radar_event_id\":\"$e1\"}"
  assert_error 422 invalid_reassessment
  assert_json .detail.message "Reassessment trigger $t already made reassessment $r1 for radar event $e1."
  assert_equal "$(db_digest)" "$d"
  api PATCH "/v1/reassessments/$r2" "{\"radar_event_id\":\"$e2\",\"title\":\"Same event\"}"
  assert_status 200
  assert_json .title "Same event"
  run sqlite3 -cmd ".timeout 5000" "$REASSESS_DB" "INSERT INTO reassessments (id, org_id, title, radar_event_id, trigger_id, created_at, updated_at) VALUES ('cbrsm_$(printf '0%.0s' {1..32})', '$ORG', 'x', '$e1', '$t', 1, 1)"
  assert_failure
  assert_output --partial UNIQUE
}

@test "a title longer than 500 characters is cut at 500 characters, not bytes" {
  local v name e
  v="$(mk_vendor)"
  name="$(printf 'é%.0s' {1..400})"
  mk_trigger "{\"name\":\"$name\"}" >/dev/null
  e="$(event Infosec high "[\"$v\"]" "$(printf 'ü%.0s' {1..300})")"
  drafts "$e"
  assert_json '.items[0].title | length' 500
  assert_json '.items[0].title' "$name: $(printf 'ü%.0s' {1..98})"
}

@test "the event's answer and webhooks are unchanged by the triggers it fires" {
  local v e
  v="$(mk_vendor)"
  mk_trigger '{"name":"Quietly"}' >/dev/null
  api POST /v1/radar/events "{\"name\":\"E\",\"summary\":\"S\",\"primary_impact_type\":\"Infosec\",\"vendor_ids\":[\"$v\"]}"
  assert_status 201
  assert_json '.id | startswith("cbrevent_")' true
  assert_json '.vendor_ids | tojson' "[\"$v\"]"
}
