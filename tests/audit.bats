#!/usr/bin/env bats
# The audit log (API.md 6.4): the change records every create, update,
# state change and deletion writes in its own transaction; GET
# /v1/system_audit_log (scope audit:read), its metadata and export_ack;
# GET /v1/activity; retention by `reassess deliver`; `reassess audit export`.
#
# Each test makes its own orgs, so that counts are its own. A key with the
# audit:read scope is made with SQL: `key create --scope` belongs to another
# part of section 6. API-call records (event_type external_api_call, written
# by another part) are left out of every count here.

load helper

setup_file() {
  # Webhooks to a loopback address, with no resolver needed (4).
  export REASSESS_WEBHOOK_ALLOW_PRIVATE=1
  setup_db
}

teardown_file() {
  teardown_db
}

# Two orgs of this test: KEY and KEY_B, ordinary keys named "writer A" and
# "writer B"; AKEY and AKEY_B, keys with audit:read. KEY_ID: KEY's id.
setup() {
  ORG=$(cli org create "Audit A $BATS_TEST_NUMBER")
  KEY=$(cli key create "$ORG" --name "writer A" 2>/dev/null)
  AKEY=$(cli key create "$ORG" --name "auditor A" --scope audit:read 2>/dev/null)
  ORG_B=$(cli org create "Audit B $BATS_TEST_NUMBER")
  KEY_B=$(cli key create "$ORG_B" --name "writer B" 2>/dev/null)
  AKEY_B=$(cli key create "$ORG_B" --name "auditor B" --scope audit:read 2>/dev/null)
  KEY_ID=$(sql "SELECT id FROM api_keys WHERE org_id = '$ORG' AND name = 'writer A'")
}

# log_get [--key K] [QUERY]: the org's log through the API into $log, call
# records left out.
log_get() {
  local k="$AKEY"
  [ "${1:-}" = --key ] && { k="$2"; shift 2; }
  api --key "$k" GET "/v1/system_audit_log?limit=500${1:+&$1}"
  assert_status 200
  log="$(jq -c '[.[] | select(.event_type != "external_api_call")]' <<< "$body")"
}

# recs ID: "type group actor target_type" of each record about ID, newest
# first, joined by ";".
recs() {
  jq -r --arg id "$1" '[.[] | select(.target_id == $id)
    | "\(.event_type) \(.event_group) \(.actor.id // "system") \(.target_type)"]
    | join(";")' <<< "$log"
}

# rec ID N FILTER: jq FILTER over the Nth record (0: newest) about ID.
rec() {
  jq -c --arg id "$1" "[.[] | select(.target_id == \$id)][$2] | $3" <<< "$log"
}

# state_digest: db_digest without what a read or a refused call may write
# of its own (call records, a key's last use): the changes alone.
state_digest() {
  sqlite3 -batch "$REASSESS_DB" .dump |
    grep -v -e external_api_call -e '^INSERT INTO api_keys' | sha256sum
}

@test "a vendor's creation and update are recorded with the key, the created values and the diff" {
  V=$(mk_vendor "Acme Audit")
  api PATCH "/v1/vendors/$V" '{"website":"https://acme.example","name":"Acme Two"}'
  assert_status 200
  api PATCH "/v1/vendors/$V" '{"name":"Acme Two"}'
  assert_status 200
  log_get
  assert_equal "$(recs "$V")" \
    "field_update configuration $KEY_ID vendor;record_created configuration $KEY_ID vendor"
  assert_equal "$(rec "$V" 0 .data)" \
    '{"name":{"old_value":"Acme Audit","new_value":"Acme Two"},"website":{"old_value":null,"new_value":"https://acme.example"}}'
  assert_equal "$(rec "$V" 0 .actor)" "{\"type\":\"api_key\",\"id\":\"$KEY_ID\",\"name\":\"writer A\"}"
  assert_equal "$(rec "$V" 1 '.data | "\(.id) \(.name) \(.website)"')" "\"$V Acme Audit null\""
  assert_equal "$(rec "$V" 1 '.id | test("^cbaud_[0-9a-f]{32}$")')" true
  assert_equal "$(rec "$V" 0 .summary)" "\"Vendor \\\"Acme Two\\\" ($V) updated: name, website.\""
  assert_equal "$(jq '[.[0] | keys_unsorted[]] | join(",")' <<< "$log")" \
    '"id,created_at,actor,event_type,event_group,target_type,target_id,summary,data"'
}

@test "a refused request writes no record" {
  V=$(mk_vendor)
  before=$(state_digest)
  api PATCH "/v1/vendors/$V" '{"name":""}'
  assert_422 '["body","name"]' too_short
  api POST /v1/reassessments "{\"radar_event_id\":\"$(unknown_id cbrevent)\",\"vendor_ids\":[\"$V\"]}"
  assert_error 422 invalid_reassessment
  api --key "$KEY_B" PATCH "/v1/vendors/$V" '{"name":"Stolen"}'
  assert_error 404 vendor_not_found
  api POST /v1/webhooks '{"url":"http://127.0.0.1:9/h","events":["Vendor.Created"],"secret":"short"}'
  assert_error 400 weak_secret
  assert_equal "$(state_digest)" "$before"
  # A change that changes nothing is no change: no record.
  api PATCH "/v1/vendors/$V" '{}'
  assert_status 200
  assert_equal "$(state_digest)" "$before"
}

@test "a radar event, its alerts, and dismissing and undismissing an alert are recorded under radar" {
  V1=$(mk_vendor); V2=$(mk_vendor)
  E=$(mk_event "$(jl "$V1" "$V2")" high)
  log_get
  assert_equal "$(recs "$E")" "record_created radar $KEY_ID radar_event"
  assert_equal "$(rec "$E" 0 '.data.vendor_ids | length')" 2
  A=$(sql "SELECT id FROM radar_alerts WHERE event_id = '$E' AND vendor_id = '$V1'")
  assert_equal "$(recs "$A")" "record_created radar $KEY_ID alert"
  assert_equal "$(rec "$A" 0 '.data | "\(.id) \(.vendor_id) \(.event_id) \(.severity) \(.is_dismissed)"')" \
    "\"$A $V1 $E high false\""
  assert_equal "$(jq '[.[] | select(.target_type == "alert")] | length' <<< "$log")" 2

  api POST "/v1/radar/alerts/$A/dismiss" '{"reason":"not us"}'
  assert_status 200
  api POST "/v1/radar/alerts/$A/dismiss" '{"reason":"not us"}'
  assert_status 200
  api POST "/v1/radar/alerts/$A/undismiss"
  assert_status 200
  log_get
  assert_equal "$(recs "$A")" \
    "field_update radar $KEY_ID alert;field_update radar $KEY_ID alert;record_created radar $KEY_ID alert"
  assert_equal "$(rec "$A" 1 '.data | "\(.is_dismissed.old_value) \(.is_dismissed.new_value) \(.dismiss_reason.new_value)"')" \
    '"false true not us"'
  assert_equal "$(rec "$A" 0 '.data | "\(.is_dismissed.old_value) \(.is_dismissed.new_value) \(.dismiss_reason.new_value)"')" \
    '"true false null"'
}

@test "a plan and a reassessment's create, patch, curation, inclusion, confirm and dismiss are recorded" {
  V1=$(mk_vendor); V2=$(mk_vendor); V3=$(mk_vendor)
  E=$(mk_event "$(jl "$V1" "$V2" "$V3")")
  P=$(mk_plan "Audit plan")
  R=$(mk_rsm "$E" "$(jl "$V1")")
  api PATCH "/v1/reassessments/$R" "{\"title\":\"Q3\",\"assessment_plan_id\":\"$P\"}"
  assert_status 200
  api POST "/v1/reassessments/$R/vendors" "{\"vendor_ids\":[\"$V2\"]}"
  assert_status 200
  api POST "/v1/reassessments/$R/vendor_inclusion" "{\"vendor_id\":\"$V2\",\"included\":false}"
  assert_status 200
  api POST "/v1/reassessments/$R/confirm"
  assert_status 200
  api POST "/v1/reassessments/$R/confirm"
  assert_status 200
  api POST "/v1/reassessments/$R/dismiss"
  assert_status 200
  log_get
  assert_equal "$(recs "$P")" "record_created configuration $KEY_ID assessment_plan"
  assert_equal "$(rec "$P" 0 .data.control_set_ids)" '["cs_1","cs_2"]'
  c="configuration $KEY_ID reassessment"
  assert_equal "$(recs "$R")" \
    "field_update $c;field_update $c;field_update $c;field_update $c;field_update $c;record_created $c"
  assert_equal "$(rec "$R" 0 .data.status)" '{"old_value":"confirmed","new_value":"dismissed"}'
  assert_equal "$(rec "$R" 1 .data.status)" '{"old_value":"draft","new_value":"confirmed"}'
  assert_equal "$(rec "$R" 2 '.data | keys | join(",")')" '"vendors"'
  assert_equal "$(rec "$R" 2 '.data.vendors.new_value[1].included')" false
  assert_equal "$(rec "$R" 3 '.data | keys | join(",")')" '"alert_ids,vendors"'
  assert_equal "$(rec "$R" 4 '.data | "\(.title.old_value) \(.title.new_value) \(.assessment_plan_id.new_value)"')" \
    "\"null Q3 $P\""
  assert_equal "$(rec "$R" 5 '.data | "\(.status) \(.radar_event_id) \(.vendors | length)"')" "\"draft $E 1\""
}

@test "a run records the reassessment's change and, set-based, each assessment it made" {
  V1=$(mk_vendor); V2=$(mk_vendor); V3=$(mk_vendor)
  E=$(mk_event "$(jl "$V1" "$V2" "$V3")")
  P=$(mk_plan "Run plan")
  R=$(mk_rsm "$E" "$(jl "$V1" "$V2" "$V3")" "$P")
  api POST "/v1/reassessments/$R/vendor_inclusion" "{\"vendor_id\":\"$V3\",\"included\":false}"
  assert_status 200
  api POST "/v1/reassessments/$R/run"
  assert_status 200
  log_get
  assert_equal "$(rec "$R" 0 '"\(.event_type) \(.data.status.old_value) \(.data.status.new_value)"')" \
    '"field_update draft run"'
  A1=$(sql "SELECT id FROM assessments WHERE reassessment_id = '$R' AND vendor_id = '$V1'")
  assert_equal "$(recs "$A1")" "record_created configuration $KEY_ID assessment"
  assert_equal "$(rec "$A1" 0 '.data | "\(.id) \(.vendor_id) \(.reassessment_id) \(.assessment_plan_id) \(.status) \(.control_set_ids | join("+")) \(.findings_count)"')" \
    "\"$A1 $V1 $R $P created cs_1+cs_2 0\""
  assert_equal "$(rec "$A1" 0 '.data.name == (.summary | capture("\"(?<n>[^\"]*)\"").n)')" true
  assert_equal "$(jq '[.[] | select(.target_type == "assessment")] | length' <<< "$log")" 2
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE target_type = 'assessment' AND org_id = '$ORG' AND id LIKE 'cbaud_%' AND length(id) = 38")" 2
}

@test "a trigger's create, patch and delete are recorded, and its drafts as made by the system" {
  V=$(mk_vendor)
  api POST /v1/reassessment_triggers '{"name":"Infosec watch","primary_impact_types":["Infosec"]}'
  assert_status 201
  T=$(created_id)
  api PATCH "/v1/reassessment_triggers/$T" '{"min_alert_severity":"medium"}'
  assert_status 200
  E=$(mk_event "$(jl "$V")" high)
  D=$(sql "SELECT id FROM reassessments WHERE trigger_id = '$T'")
  [ -n "$D" ]
  api DELETE "/v1/reassessment_triggers/$T"
  assert_status 204
  api DELETE "/v1/reassessment_triggers/$T"
  assert_error 404 reassessment_trigger_not_found
  log_get
  c="$KEY_ID reassessment_trigger"
  assert_equal "$(recs "$T")" \
    "record_archived archive $c;field_update configuration $c;record_created configuration $c"
  assert_equal "$(rec "$T" 1 .data)" '{"min_alert_severity":{"old_value":"informational","new_value":"medium"}}'
  assert_equal "$(rec "$T" 0 '.data | "\(.id) \(.name) \(.min_alert_severity)"')" "\"$T Infosec watch medium\""
  assert_equal "$(recs "$D")" "record_created configuration system reassessment"
  assert_equal "$(rec "$D" 0 .actor)" null
  assert_equal "$(rec "$D" 0 '.data | "\(.trigger_id) \(.radar_event_id)"')" "\"$T $E\""
  [[ "$(rec "$D" 0 .summary)" == *"by reassessment trigger $T for radar event $E"* ]]
}

@test "a webhook's create, patch and delete are recorded under integrations and archive, never its secret" {
  api POST /v1/webhooks '{"url":"http://127.0.0.1:9/hook","events":["Vendor.Created"],"secret":"whsec_0123456789abcdef"}'
  assert_status 201
  W=$(created_id)
  api PATCH "/v1/webhooks/$W" '{"description":"ops","secret":"whsec_0123456789abcdef"}'
  assert_status 200
  api PATCH "/v1/webhooks/$W" '{"secret":"whsec_fedcba9876543210"}'
  assert_status 200
  api DELETE "/v1/webhooks/$W"
  assert_status 204
  log_get
  c="$KEY_ID webhook"
  assert_equal "$(recs "$W")" \
    "record_archived archive $c;field_update integrations $c;field_update integrations $c;record_created integrations $c"
  assert_equal "$(rec "$W" 2 .data)" '{"description":{"old_value":null,"new_value":"ops"}}'
  # A new secret starts a rotation (4.2): the object's secret_rotating_until
  # changes with it, from null to the end of the overlap.
  assert_equal "$(rec "$W" 1 '.data.secret')" '{"old_value":"[redacted]","new_value":"[redacted]"}'
  assert_equal "$(rec "$W" 1 '.data | keys_unsorted | sort | join(",")')" '"secret,secret_rotating_until"'
  assert_equal "$(rec "$W" 1 '.data.secret_rotating_until.old_value')" null
  [ "$(rec "$W" 1 '.data.secret_rotating_until.new_value')" -gt "$(date +%s)" ]
  assert_equal "$(rec "$W" 3 '.data.url')" '"http://127.0.0.1:9/hook"'
  [ "$(sql "SELECT count(*) FROM audit_log WHERE data LIKE '%whsec_%'")" = 0 ]
}

@test "the system log needs audit:read and shows only the key's org" {
  V=$(mk_vendor)
  VB=$(mk_vendor --key "$KEY_B")
  for path in /v1/system_audit_log /v1/system_audit_log/metadata; do
    api GET "$path"
    assert_error 403 insufficient_scope
  done
  before=$(state_digest)
  api POST /v1/system_audit_log/export_ack '{"rows":1}'
  assert_error 403 insufficient_scope
  assert_equal "$(state_digest)" "$before"
  # Besides the vendor, each org's log holds the creation of its own keys
  # (reassess key create records integration_added), and nothing else.
  log_get
  assert_equal "$(jq -r '[.[] | select(.target_type != "api_key") | .target_id] | join(",")' <<< "$log")" "$V"
  assert_equal "$(jq -r '[.[] | select(.target_type == "api_key") | .target_id] | sort | join(",")' <<< "$log")" \
    "$(sql "SELECT group_concat(id, ',') FROM (SELECT id FROM api_keys WHERE org_id = '$ORG' ORDER BY id)")"
  log_get --key "$AKEY_B"
  assert_equal "$(jq -r '[.[] | select(.target_type != "api_key") | .target_id] | join(",")' <<< "$log")" "$VB"
  assert_equal "$(jq -r '[.[] | select(.target_type == "api_key") | .target_id] | sort | join(",")' <<< "$log")" \
    "$(sql "SELECT group_concat(id, ',') FROM (SELECT id FROM api_keys WHERE org_id = '$ORG_B' ORDER BY id)")"
}

@test "the system log filters by time, group, type and search, newest first" {
  V1=$(mk_vendor "Old Corp"); V2=$(mk_vendor "New_Corp 100%")
  sql "UPDATE audit_log SET created_at = 1000 WHERE target_id = '$V1'"
  api PATCH "/v1/vendors/$V2" '{"use_case":"payroll"}'
  assert_status 200
  E=$(mk_event '[]')
  log_get "start_ts=1000&end_ts=1000"
  assert_equal "$(jq -r '[.[].target_id] | join(",")' <<< "$log")" "$V1"
  log_get "end_ts=999"
  assert_equal "$(jq length <<< "$log")" 0
  log_get "start_ts=1001&event_groups=configuration"
  assert_equal "$(jq -r '[.[] | "\(.event_type):\(.target_id)"] | join(",")' <<< "$log")" \
    "field_update:$V2,record_created:$V2"
  log_get "event_groups=radar&event_groups=archive"
  assert_equal "$(jq -r '[.[].target_id] | join(",")' <<< "$log")" "$E"
  log_get "event_types=field_update"
  assert_equal "$(jq -r '[.[].target_id] | join(",")' <<< "$log")" "$V2"
  log_get "event_types=record_created&event_groups=configuration"
  assert_equal "$(jq -r '[.[].target_id] | join(",")' <<< "$log")" "$V2,$V1"
  # search: a case-insensitive substring of the summary or the actor's name;
  # % and _ are plain characters.
  log_get "search=old%20CORP"
  assert_equal "$(jq -r '[.[].target_id] | join(",")' <<< "$log")" "$V1"
  log_get "search=100%25"
  assert_equal "$(jq -r '[.[].target_id] | unique | join(",")' <<< "$log")" "$V2"
  log_get "search=w_c"
  assert_equal "$(jq -r '[.[].target_id] | unique | join(",")' <<< "$log")" "$V2"
  log_get "search=%25"
  assert_equal "$(jq -r '[.[].target_id] | unique | join(",")' <<< "$log")" "$V2"
  log_get "search=d_c"
  assert_equal "$(jq length <<< "$log")" 0
  log_get "search=WRITER%20a&event_groups=radar"
  assert_equal "$(jq -r '[.[].target_id] | join(",")' <<< "$log")" "$E"
  log_get "search=nothing-like-this"
  assert_equal "$(jq length <<< "$log")" 0
}

@test "the system log pages with X-Total-Count and Content-Range, limit 1..500" {
  for i in 1 2 3 4 5; do mk_vendor "Page $i" >/dev/null; done
  api --key "$AKEY" GET "/v1/system_audit_log?event_groups=configuration&limit=2&offset=1"
  assert_status 200
  assert_equal "$(header X-Total-Count)" 5
  assert_equal "$(header Content-Range)" "items 1-2/5"
  assert_equal "$(json '[.[].summary | capture("\"(?<n>[^\"]*)\"").n] | join(",")')" "Page 4,Page 3"
  api --key "$AKEY" GET "/v1/system_audit_log?event_groups=configuration&offset=4"
  assert_equal "$(header Content-Range)" "items 4-4/5"
  assert_equal "$(json length)" 1
  api --key "$AKEY" GET "/v1/system_audit_log?event_groups=configuration&offset=5"
  assert_status 200
  assert_equal "$(json length)" 0
  assert_equal "$(header X-Total-Count)" 5
  assert_equal "$(header Content-Range)" "items */5"
  api --key "$AKEY" GET "/v1/system_audit_log?event_groups=configuration&limit=500"
  assert_status 200
  assert_equal "$(header Content-Range)" "items 0-4/5"
  api --key "$AKEY" GET "/v1/system_audit_log?limit=501"
  assert_422 '["query","limit"]' less_than_equal
  api --key "$AKEY" GET "/v1/system_audit_log?limit=0"
  assert_422 '["query","limit"]' greater_than_equal
  api --key "$AKEY" GET "/v1/system_audit_log?offset=-1&start_ts=soon&event_groups=radar&event_groups=nope&event_types=bogus"
  assert_422 '["query","offset"]' greater_than_equal
  assert_422 '["query","start_ts"]' int_type
  assert_422 '["query","event_groups",1]' enum
  assert_422 '["query","event_types",0]' enum
}

@test "the metadata lists the groups and types with labels" {
  api --key "$AKEY" GET /v1/system_audit_log/metadata
  assert_status 200
  assert_json '[.event_groups[].value] | join(",")' "configuration,radar,integrations,archive"
  assert_json '[.event_types[].value] | join(",")' \
    "record_created,field_update,record_archived,integration_added,integration_updated,integration_deactivated,external_api_call,audit_log_exported"
  assert_json '.event_types[0].label' "Record created"
  assert_json '[.event_groups[], .event_types[] | .label | length > 0] | all' true
}

@test "export_ack answers 204 and records audit_log_exported" {
  api --key "$AKEY" POST /v1/system_audit_log/export_ack '{"rows":42}'
  assert_status 204
  [ -z "$body" ]
  api --key "$AKEY" POST /v1/system_audit_log/export_ack
  assert_status 204
  log_get "event_types=audit_log_exported"
  AID=$(sql "SELECT id FROM api_keys WHERE org_id = '$ORG' AND name = 'auditor A'")
  assert_equal "$(jq -c '[.[] | [.event_group, .actor.id, .target_type, .target_id, .data.rows]]' <<< "$log")" \
    "[[\"integrations\",\"$AID\",null,null,null],[\"integrations\",\"$AID\",null,null,42]]"
  [[ "$(jq -r '.[1].summary' <<< "$log")" == *"exported 42 audit records."* ]]
  before=$(state_digest)
  api --key "$AKEY" POST /v1/system_audit_log/export_ack '{"rows":-1}'
  assert_422 '["body","rows"]' greater_than_equal
  api --key "$AKEY" POST /v1/system_audit_log/export_ack '{"rows":"many"}'
  assert_422 '["body","rows"]' int_type
  assert_equal "$(state_digest)" "$before"
}

@test "activity lists one object's change records, newest first, paged; another org's are empty" {
  V=$(mk_vendor "Active")
  for n in 1 2 3; do
    api PATCH "/v1/vendors/$V" "{\"description\":\"v$n\"}"
    assert_status 200
  done
  api GET "/v1/activity?target_type=vendor&target_id=$V&limit=2&offset=1"
  assert_status 200
  assert_json '"\(.total) \(.limit) \(.offset) \(.items | length)"' "4 2 1 2"
  assert_json '[.items[] | .data.description.new_value // .event_type] | join(",")' "v2,v1"
  api GET "/v1/activity?target_type=vendor&target_id=$V"
  assert_json '[.items[].event_type] | join(",")' "field_update,field_update,field_update,record_created"
  assert_json '.items[0].actor.name' "writer A"
  # Another org's key, the wrong type, an unknown id: an empty list.
  api --key "$KEY_B" GET "/v1/activity?target_type=vendor&target_id=$V"
  assert_status 200
  assert_json '"\(.total) \(.items | length)"' "0 0"
  api GET "/v1/activity?target_type=alert&target_id=$V"
  assert_json .total 0
  api GET "/v1/activity?target_type=vendor&target_id=$(unknown_id cbvndr)"
  assert_json .total 0
  api GET "/v1/activity?target_id=$V"
  assert_422 '["query","target_type"]' missing
  api GET "/v1/activity"
  assert_422 '["query","target_type"]' missing
  assert_422 '["query","target_id"]' missing
  api GET "/v1/activity?target_type=planet&target_id=$V"
  assert_422 '["query","target_type"]' enum
  api GET "/v1/activity?target_type=vendor&target_id=$V&limit=201"
  assert_422 '["query","limit"]' less_than_equal
}

@test "activity's query uses audit_log_by_target" {
  plan=$(sql "EXPLAIN QUERY PLAN SELECT count(*) FROM audit_log WHERE target_id = 'x' AND event_type <> 'external_api_call' AND org_id = 'o' AND target_type = 'vendor'")
  [[ "$plan" == *"USING INDEX audit_log_by_target"* ]]
  grep -q "AUDIT_ACTIVITY_WHERE" "$TOP/reassess.c"
  grep -A3 '^#define AUDIT_ACTIVITY_WHERE' "$TOP/reassess.c" | grep -q "event_type <> 'external_api_call'"
}

@test "reassess deliver removes the records older than REASSESS_AUDIT_DAYS, in batches" {
  V=$(mk_vendor)
  now=$(date +%s)
  sql "INSERT INTO audit_log (id, org_id, created_at, event_type, event_group, summary, data)
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
       SELECT 'cbaud_' || lower(hex(randomblob(16))), '$ORG', $now - 40 * 86400 - i,
              'record_created', 'configuration', 'old ' || i, '{}' FROM n"
  sql "INSERT INTO audit_log (id, org_id, created_at, event_type, event_group, summary, data)
       VALUES ('cbaud_' || lower(hex(randomblob(16))), '$ORG_B', $now - 29 * 86400,
               'record_created', 'configuration', 'recent', '{}')"
  REASSESS_AUDIT_DAYS=30 run cli deliver --once
  assert_success
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE summary LIKE 'old %'")" 0
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE summary = 'recent'")" 1
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE target_id = '$V'")" 1
  # 0 keeps every record.
  sql "UPDATE audit_log SET created_at = 5 WHERE target_id = '$V'"
  REASSESS_AUDIT_DAYS=0 run cli deliver --once
  assert_success
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE target_id = '$V'")" 1
  run cli deliver --once
  assert_success
  assert_equal "$(sql "SELECT count(*) FROM audit_log WHERE target_id = '$V'")" 0
}

@test "reassess audit export prints every org's records as JSON lines, oldest first" {
  V=$(mk_vendor "Exported")
  VB=$(mk_vendor --key "$KEY_B" "Exported B")
  sql "UPDATE audit_log SET created_at = 7 WHERE target_id = '$VB'"
  run cli audit export
  assert_success
  first=$(head -n 1 <<< "$output")
  assert_equal "$(jq -r '"\(.org_id) \(.target_id) \(.created_at) \(.actor.name) \(.data.name)"' <<< "$first")" \
    "$ORG_B $VB 7 writer B Exported B"
  [ "$(grep -c "\"target_id\":\"$V\"" <<< "$output")" = 1 ]
  [ "$(jq -s '[.[].created_at] == ([.[].created_at] | sort)' <<< "$output")" = true ]
  [ "$(jq -s 'map(keys_unsorted | join(",")) | unique | .[0]' <<< "$output")" = \
    '"id,org_id,created_at,actor,event_type,event_group,target_type,target_id,summary,data"' ]
  run cli audit export --since 8
  assert_success
  [ "$(grep -c "$VB" <<< "$output")" = 0 ]
  [ "$(grep -c "$V" <<< "$output")" = 1 ]
  run cli audit export --since soon
  assert_failure 2
  run cli audit
  assert_failure 2
}
