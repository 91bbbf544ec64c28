#!/usr/bin/env bats
# Radar events and alerts (API.md 3.2).

load helper

setup_file() { setup_db; }
teardown_file() { teardown_db; }

# uri VALUE: VALUE percent-encoded for a query string.
uri() { jq -rn --arg v "$1" '$v | @uri'; }

# alert_of EVENT VENDOR: the id of the alert EVENT raised for VENDOR.
alert_of() {
  sql "SELECT id FROM radar_alerts WHERE event_id = '$1' AND vendor_id = '$2'"
}

EVENT_KEYS='["id","name","summary","primary_impact_type","secondary_impact_types","vendor_ids","occurred_at","is_archived","created_at","updated_at"]'
ALERT_KEYS="confidence,created_at,data_id,detector_id,dismiss_reason,dismissed_at,event_id,id,is_archived,is_dismissed,severity,should_alert,source_id,summary,updated_at,vendor_id"

# --- events: create -----------------------------------------------------

@test "creating a radar event with every field returns 201 and the event" {
  local v1 v2 id before after
  v1="$(mk_vendor "Event full one")"
  v2="$(mk_vendor "Event full two")"
  before=$(date +%s)
  api POST /v1/radar/events "{\"name\":\"Ransomware at Acme\",\"summary\":\"Files encrypted\",\"primary_impact_type\":\"Infosec\",\"secondary_impact_types\":[\"Operational\",\"Reputational\"],\"vendor_ids\":[\"$v1\",\"$v2\"],\"source_url\":\"https://news.example/acme\",\"source_name\":\"News\",\"occurred_at\":1700000000,\"create_alert\":true,\"alert_severity\":\"low\"}"
  after=$(date +%s)
  assert_status 201
  assert_json "($EVENT_KEYS - keys) | join(\",\")" ""
  assert_json '.id | test("^cbrevent_[0-9a-f]{32}$")' true
  assert_json .name "Ransomware at Acme"
  assert_json .summary "Files encrypted"
  assert_json .primary_impact_type Infosec
  assert_json '.secondary_impact_types | tojson' '["Operational","Reputational"]'
  assert_json '.vendor_ids | tojson' "[\"$v1\",\"$v2\"]"
  assert_json .occurred_at 1700000000
  assert_json .is_archived false
  assert_json ".created_at >= $before and .created_at <= $after" true
  assert_json '.updated_at == .created_at' true
  id="$(json .id)"
  assert_equal "$(sql "SELECT org_id, source_url, source_name FROM radar_events WHERE id = '$id'")" \
    "$ORG|https://news.example/acme|News"
}

@test "a radar event with only the required fields gets the defaults" {
  local before after
  before=$(date +%s)
  api POST /v1/radar/events '{"name":"Minimal","summary":"Just the basics","primary_impact_type":"Financial"}'
  after=$(date +%s)
  assert_status 201
  assert_json '.secondary_impact_types | tojson' '[]'
  assert_json '.vendor_ids | tojson' '[]'
  assert_json .is_archived false
  assert_json '.occurred_at | type' number
  assert_json ".occurred_at >= $before and .occurred_at <= $after" true
}

@test "a radar event without its required fields lists every missing one and creates nothing" {
  local d
  d="$(db_digest)"
  api POST /v1/radar/events '{"secondary_impact_types":["Legal"]}'
  assert_422 '["body","name"]' missing
  assert_422 '["body","summary"]' missing
  assert_422 '["body","primary_impact_type"]' missing
  assert_json '.detail | length' 3
  assert_equal "$(db_digest)" "$d"
  api POST /v1/radar/events ''
  assert_422 '["body"]' missing
  assert_equal "$(db_digest)" "$d"
}

@test "a primary impact type outside the list, or in another case, is an enum error" {
  local d
  d="$(db_digest)"
  api POST /v1/radar/events '{"name":"E","summary":"S","primary_impact_type":"infosec"}'
  assert_422 '["body","primary_impact_type"]' enum
  api POST /v1/radar/events '{"name":"E","summary":"S","primary_impact_type":"Cyber"}'
  assert_422 '["body","primary_impact_type"]' enum
  api POST /v1/radar/events '{"name":"E","summary":"S","primary_impact_type":7}'
  assert_status 422
  assert_json '[.detail[] | select(.loc == ["body","primary_impact_type"])] | length' 1
  assert_equal "$(db_digest)" "$d"
}

@test "every impact type of the list is accepted, as primary and as secondary" {
  local all t
  all='["Infosec","Financial","Operational","Legal","Compliance","Reputational","Contractual","ESG","Corporate","Geopolitical & External","Inapplicable","Other"]'
  api POST /v1/radar/events "{\"name\":\"All types\",\"summary\":\"S\",\"primary_impact_type\":\"Other\",\"secondary_impact_types\":$all}"
  assert_status 201
  assert_json '.secondary_impact_types | tojson' "$(jq -c . <<<"$all")"
  for t in Operational Legal Compliance Reputational ESG Inapplicable; do
    api POST /v1/radar/events "{\"name\":\"Type $t\",\"summary\":\"S\",\"primary_impact_type\":\"$t\"}"
    assert_status 201
    assert_json .primary_impact_type "$t"
  done
}

@test "a bad secondary impact type is reported at its index" {
  local d
  d="$(db_digest)"
  api POST /v1/radar/events '{"name":"E","summary":"S","primary_impact_type":"Legal","secondary_impact_types":["Legal","Bogus","ESG","esg"]}'
  assert_422 '["body","secondary_impact_types",1]' enum
  assert_422 '["body","secondary_impact_types",3]' enum
  assert_json '.detail | length' 2
  api POST /v1/radar/events '{"name":"E","summary":"S","primary_impact_type":"Legal","secondary_impact_types":"Legal"}'
  assert_422 '["body","secondary_impact_types"]' list_type
  assert_equal "$(db_digest)" "$d"
}

@test "every problem in a radar event body is listed at once" {
  local d
  d="$(db_digest)"
  api POST /v1/radar/events "{\"name\":\"$(printf 'n%.0s' {1..501})\",\"summary\":5,\"primary_impact_type\":\"Infosec\",\"vendor_ids\":\"cbvndr_x\",\"occurred_at\":\"1700000000\",\"create_alert\":\"true\",\"alert_severity\":\"critical\",\"source_url\":false}"
  assert_422 '["body","name"]' string_too_long
  assert_422 '["body","summary"]' string_type
  assert_422 '["body","vendor_ids"]' list_type
  assert_422 '["body","occurred_at"]' int_type
  assert_422 '["body","create_alert"]' bool_type
  assert_422 '["body","alert_severity"]' enum
  assert_422 '["body","source_url"]' string_type
  assert_json '.detail | length' 7
  assert_equal "$(db_digest)" "$d"
}

@test "occurred_at must be an integer, not a float" {
  api POST /v1/radar/events '{"name":"E","summary":"S","primary_impact_type":"Legal","occurred_at":1700000000.5}'
  assert_422 '["body","occurred_at"]' int_type
  api POST /v1/radar/events '{"name":"E","summary":"S","primary_impact_type":"Legal","occurred_at":1.0}'
  assert_422 '["body","occurred_at"]' int_type
}

@test "a vendor id that is not a string is reported at its index" {
  local v
  v="$(mk_vendor)"
  api POST /v1/radar/events "{\"name\":\"E\",\"summary\":\"S\",\"primary_impact_type\":\"Legal\",\"vendor_ids\":[\"$v\",5]}"
  assert_422 '["body","vendor_ids",1]' string_type
}

@test "vendor ids that do not resolve in the org are skipped and repeats collapse" {
  local v1 v2 vb e
  v1="$(mk_vendor "Linked one")"
  v2="$(mk_vendor "Linked two")"
  vb="$(mk_vendor --key "$KEY_B" "Other org vendor")"
  api POST /v1/radar/events "{\"name\":\"Skip\",\"summary\":\"S\",\"primary_impact_type\":\"Legal\",\"vendor_ids\":[\"$v2\",\"$(unknown_id cbvndr)\",\"$vb\",\"$v1\",\"$v2\",\"garbage\"]}"
  assert_status 201
  assert_json '.vendor_ids | tojson' "[\"$v2\",\"$v1\"]"
  e="$(json .id)"
  assert_equal "$(sql "SELECT count(*) FROM radar_alerts WHERE event_id = '$e'")" 2
  assert_equal "$(sql "SELECT count(*) FROM radar_alerts WHERE vendor_id = '$vb'")" 0
  assert_equal "$(sql "SELECT count(*) FROM radar_event_vendors WHERE event_id = '$e'")" 2
  api GET "/v1/radar/events/$e"
  assert_json '.vendor_ids | tojson' "[\"$v2\",\"$v1\"]"
}

@test "an event raises one alert per linked vendor, of medium severity by default" {
  local v1 v2 e a
  v1="$(mk_vendor "Alerted one")"
  v2="$(mk_vendor "Alerted two")"
  api POST /v1/radar/events "{\"name\":\"Outage\",\"summary\":\"Service down\",\"primary_impact_type\":\"Operational\",\"vendor_ids\":[\"$v1\",\"$v2\"]}"
  assert_status 201
  e="$(json .id)"
  api GET "/v1/radar/alerts?vendor_id=$v1"
  assert_status 200
  assert_json .total 1
  assert_json '.items[0] | keys | join(",")' "$ALERT_KEYS"
  assert_json '.items[0].id | test("^cbrdrres_[0-9a-f]{32}$")' true
  assert_json .items[0].vendor_id "$v1"
  assert_json .items[0].event_id "$e"
  assert_json .items[0].summary "Service down"
  assert_json .items[0].severity medium
  assert_json .items[0].confidence medium
  assert_json .items[0].should_alert true
  assert_json .items[0].is_dismissed false
  assert_json .items[0].dismiss_reason null
  assert_json .items[0].dismissed_at null
  assert_json .items[0].is_archived false
  assert_json '[.items[0].detector_id, .items[0].source_id, .items[0].data_id] | map(. == null) | all' true
  assert_json '.items[0].created_at | type' number
  api GET "/v1/radar/alerts?vendor_id=$v2"
  assert_json .total 1
  assert_json .items[0].event_id "$e"
}

@test "alert_severity sets the severity of the event's alerts" {
  local v e
  v="$(mk_vendor)"
  api POST /v1/radar/events "{\"name\":\"Info\",\"summary\":\"S\",\"primary_impact_type\":\"Legal\",\"vendor_ids\":[\"$v\"],\"alert_severity\":\"informational\"}"
  assert_status 201
  e="$(json .id)"
  assert_equal "$(sql "SELECT severity, confidence, should_alert FROM radar_alerts WHERE event_id = '$e'")" "informational|medium|1"
}

@test "create_alert false links the vendors but raises no alert" {
  local v e
  v="$(mk_vendor)"
  api POST /v1/radar/events "{\"name\":\"Quiet\",\"summary\":\"S\",\"primary_impact_type\":\"Legal\",\"vendor_ids\":[\"$v\"],\"create_alert\":false}"
  assert_status 201
  assert_json '.vendor_ids | tojson' "[\"$v\"]"
  e="$(json .id)"
  assert_equal "$(sql "SELECT count(*) FROM radar_alerts WHERE event_id = '$e' OR vendor_id = '$v'")" 0
  api GET "/v1/radar/alerts?vendor_id=$v&is_dismissed=true"
  assert_json .total 0
}

@test "the Idempotency-Key header is ignored on radar events" {
  local a b
  api -H "Idempotency-Key: ev-$RANDOM$RANDOM" POST /v1/radar/events '{"name":"Same key","summary":"S","primary_impact_type":"Legal"}'
  assert_status 201
  a="$(json .id)"
  api -H "Idempotency-Key: ev-same-$BATS_TEST_NUMBER" POST /v1/radar/events '{"name":"Same key","summary":"S","primary_impact_type":"Legal"}'
  assert_status 201
  api -H "Idempotency-Key: ev-same-$BATS_TEST_NUMBER" POST /v1/radar/events '{"name":"Same key","summary":"S","primary_impact_type":"Legal"}'
  assert_status 201
  b="$(json .id)"
  assert_not_equal "$a" "$b"
  assert_equal "$(sql "SELECT count(*) FROM radar_events WHERE name = 'Same key'")" 3
}

# --- events: read -------------------------------------------------------

@test "getting a radar event returns the object that create returned" {
  local v created e
  v="$(mk_vendor)"
  api POST /v1/radar/events "{\"name\":\"Fetch\",\"summary\":\"S\",\"primary_impact_type\":\"Compliance\",\"secondary_impact_types\":[\"ESG\"],\"vendor_ids\":[\"$v\"],\"occurred_at\":1600000000}"
  created="$(json '. | tojson')"
  e="$(json .id)"
  api GET "/v1/radar/events/$e"
  assert_status 200
  assert_equal "$(json '. | tojson')" "$created"
}

@test "an unknown, malformed or wrongly prefixed radar event id is 404 radar_event_not_found" {
  local e
  e="$(mk_event '[]')"
  api GET "/v1/radar/events/$(unknown_id cbrevent)"
  assert_error 404 radar_event_not_found
  api GET "/v1/radar/events/nope"
  assert_error 404 radar_event_not_found
  api GET "/v1/radar/events/cbvndr_${e#cbrevent_}"
  assert_error 404 radar_event_not_found
}

@test "org B's key gets the same 404 on org A's radar event as on an unknown id" {
  local e
  e="$(mk_event '[]')"
  assert_hidden 404 radar_event_not_found GET /v1/radar/events/ID "$e"
}

@test "the event list filters on primary_impact_type, newest first" {
  local v e1 e2 other
  api POST /v1/radar/events '{"name":"Geo one","summary":"S","primary_impact_type":"Geopolitical & External"}'
  e1="$(json .id)"
  other="$(mk_event '[]')"
  api POST /v1/radar/events '{"name":"Geo two","summary":"S","primary_impact_type":"Geopolitical & External","secondary_impact_types":["Infosec"]}'
  e2="$(json .id)"
  api GET "/v1/radar/events?primary_impact_type=$(uri 'Geopolitical & External')"
  assert_status 200
  assert_json .total 2
  assert_equal "$(ids)" "$e2,$e1"
  assert_json '[.items[].primary_impact_type] | unique | tojson' '["Geopolitical & External"]'
  api GET "/v1/radar/events?primary_impact_type=Infosec&limit=200"
  assert_json "[.items[].id] | index(\"$other\") != null" true
  assert_json "[.items[].id] | index(\"$e2\")" null
  assert_json '[.items[].primary_impact_type] | unique | tojson' '["Infosec"]'
  assert_json .total "$(sql "SELECT count(*) FROM radar_events WHERE org_id = '$ORG' AND primary_impact_type = 'Infosec' AND is_archived = 0")"
}

@test "the event list pages newest first with the envelope" {
  local e1 e2
  e1="$(mk_event '[]')"
  e2="$(mk_event '[]')"
  api GET "/v1/radar/events?limit=2"
  assert_status 200
  assert_json 'keys | join(",")' "items,limit,offset,total"
  assert_json .limit 2
  assert_json .offset 0
  assert_equal "$(ids)" "$e2,$e1"
  assert_json .total "$(sql "SELECT count(*) FROM radar_events WHERE org_id = '$ORG' AND is_archived = 0")"
  api GET "/v1/radar/events?limit=1&offset=1"
  assert_equal "$(ids)" "$e1"
  api GET "/v1/radar/events?limit=300"
  assert_422 '["query","limit"]' less_than_equal
}

@test "archived events are hidden unless include_archived is true" {
  local e1 e2 f
  f="primary_impact_type=Corporate"
  api POST /v1/radar/events '{"name":"Corp live","summary":"S","primary_impact_type":"Corporate"}'
  e1="$(json .id)"
  api POST /v1/radar/events '{"name":"Corp archived","summary":"S","primary_impact_type":"Corporate"}'
  e2="$(json .id)"
  sql "UPDATE radar_events SET is_archived = 1 WHERE id = '$e2'"
  api GET "/v1/radar/events?$f"
  assert_json .total 1
  assert_equal "$(ids)" "$e1"
  api GET "/v1/radar/events?$f&include_archived=false"
  assert_equal "$(ids)" "$e1"
  api GET "/v1/radar/events?$f&include_archived=true"
  assert_json .total 2
  assert_equal "$(ids)" "$e2,$e1"
  assert_json .items[0].is_archived true
  api GET "/v1/radar/events?$f&include_archived=YES"
  assert_json .total 2
  api GET "/v1/radar/events?$f&include_archived=0"
  assert_json .total 1
  api GET "/v1/radar/events?$f&include_archived=maybe"
  assert_422 '["query","include_archived"]' bool_type
}

@test "org B's event list never shows org A's events" {
  local a b
  a="$(mk_event '[]')"
  b="$(mk_event --key "$KEY_B" '[]')"
  api --key "$KEY_B" GET "/v1/radar/events?include_archived=true&limit=200"
  assert_status 200
  assert_json "[.items[].id] | index(\"$a\")" null
  assert_json "[.items[].id] | index(\"$b\") != null" true
  assert_json .total "$(sql "SELECT count(*) FROM radar_events WHERE org_id = '$ORG_B'")"
  api --key "$KEY_B" GET "/v1/radar/events?primary_impact_type=Infosec&include_archived=true&limit=200"
  assert_json "[.items[].id] | index(\"$a\")" null
}

# --- alerts: list -------------------------------------------------------

@test "the alert list filters on vendor_id, newest first" {
  local v w e1 e2 e3
  v="$(mk_vendor)"
  w="$(mk_vendor)"
  e1="$(mk_event "[\"$v\"]" low)"
  e2="$(mk_event "[\"$v\",\"$w\"]" high)"
  e3="$(mk_event "[\"$w\"]" high)"
  api GET "/v1/radar/alerts?vendor_id=$v"
  assert_status 200
  assert_json 'keys | join(",")' "items,limit,offset,total"
  assert_json .total 2
  assert_json .limit 50
  assert_json .offset 0
  assert_equal "$(ids)" "$(alert_of "$e2" "$v"),$(alert_of "$e1" "$v")"
  assert_json '[.items[].vendor_id] | unique | tojson' "[\"$v\"]"
  api GET "/v1/radar/alerts?vendor_id=$v&limit=1&offset=1"
  assert_json .total 2
  assert_equal "$(ids)" "$(alert_of "$e1" "$v")"
  api GET "/v1/radar/alerts?vendor_id=$(unknown_id cbvndr)"
  assert_status 200
  assert_json .total 0
}

@test "the severity filter takes a list when repeated" {
  local v ei el em eh
  v="$(mk_vendor)"
  ei="$(mk_event "[\"$v\"]" informational)"
  el="$(mk_event "[\"$v\"]" low)"
  em="$(mk_event "[\"$v\"]" medium)"
  eh="$(mk_event "[\"$v\"]" high)"
  api GET "/v1/radar/alerts?vendor_id=$v&severity=low&severity=high"
  assert_status 200
  assert_json .total 2
  assert_equal "$(ids)" "$(alert_of "$eh" "$v"),$(alert_of "$el" "$v")"
  api GET "/v1/radar/alerts?vendor_id=$v&severity=medium"
  assert_json .total 1
  assert_equal "$(ids)" "$(alert_of "$em" "$v")"
  api GET "/v1/radar/alerts?vendor_id=$v&severity=informational&severity=low&severity=medium"
  assert_json .total 3
  api GET "/v1/radar/alerts?vendor_id=$v"
  assert_json .total 4
}

@test "a severity outside the list is a 422 at its index" {
  api GET "/v1/radar/alerts?severity=urgent"
  assert_422 '["query","severity",0]' enum
  api GET "/v1/radar/alerts?severity=low&severity=HIGH"
  assert_422 '["query","severity",1]' enum
}

@test "is_dismissed absent hides dismissed alerts, true shows only them, false only active ones" {
  local v e1 e2 a1 a2
  v="$(mk_vendor)"
  e1="$(mk_event "[\"$v\"]")"
  e2="$(mk_event "[\"$v\"]")"
  a1="$(alert_of "$e1" "$v")"
  a2="$(alert_of "$e2" "$v")"
  api POST "/v1/radar/alerts/$a1/dismiss" '{"reason":"noise"}'
  assert_status 200
  api GET "/v1/radar/alerts?vendor_id=$v"
  assert_json .total 1
  assert_equal "$(ids)" "$a2"
  api GET "/v1/radar/alerts?vendor_id=$v&is_dismissed=true"
  assert_json .total 1
  assert_equal "$(ids)" "$a1"
  assert_json .items[0].is_dismissed true
  api GET "/v1/radar/alerts?vendor_id=$v&is_dismissed=false"
  assert_json .total 1
  assert_equal "$(ids)" "$a2"
  api GET "/v1/radar/alerts?vendor_id=$v&is_dismissed=1"
  assert_equal "$(ids)" "$a1"
  api GET "/v1/radar/alerts?vendor_id=$v&is_dismissed=Off"
  assert_equal "$(ids)" "$a2"
  api GET "/v1/radar/alerts?vendor_id=$v&is_dismissed=perhaps"
  assert_422 '["query","is_dismissed"]' bool_type
}

@test "archived alerts are hidden unless include_archived is true" {
  local v e1 e2 a1 a2
  v="$(mk_vendor)"
  e1="$(mk_event "[\"$v\"]")"
  e2="$(mk_event "[\"$v\"]")"
  a1="$(alert_of "$e1" "$v")"
  a2="$(alert_of "$e2" "$v")"
  sql "UPDATE radar_alerts SET is_archived = 1 WHERE id = '$a2'"
  api GET "/v1/radar/alerts?vendor_id=$v"
  assert_json .total 1
  assert_equal "$(ids)" "$a1"
  api GET "/v1/radar/alerts?vendor_id=$v&include_archived=false"
  assert_equal "$(ids)" "$a1"
  api GET "/v1/radar/alerts?vendor_id=$v&include_archived=true"
  assert_json .total 2
  assert_equal "$(ids)" "$a2,$a1"
  assert_json .items[0].is_archived true
  api GET "/v1/radar/alerts?vendor_id=$v&include_archived=2"
  assert_422 '["query","include_archived"]' bool_type
}

@test "org B's alert list never shows org A's alerts" {
  local v e a
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  api --key "$KEY_B" GET "/v1/radar/alerts?vendor_id=$v&include_archived=true"
  assert_status 200
  assert_json .total 0
  api --key "$KEY_B" GET "/v1/radar/alerts?include_archived=true&limit=200"
  assert_json "[.items[].id] | index(\"$a\")" null
  assert_json .total "$(sql "SELECT count(*) FROM radar_alerts WHERE org_id = '$ORG_B' AND is_dismissed = 0")"
  api POST "/v1/radar/alerts/$a/dismiss"
  assert_status 200
  api --key "$KEY_B" GET "/v1/radar/alerts?is_dismissed=true&include_archived=true&limit=200"
  assert_json "[.items[].id] | index(\"$a\")" null
}

# --- alerts: get, dismiss, undismiss ------------------------------------

@test "getting an alert returns it" {
  local v e a
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]" low)"
  a="$(alert_of "$e" "$v")"
  api GET "/v1/radar/alerts/$a"
  assert_status 200
  assert_json 'keys | join(",")' "$ALERT_KEYS"
  assert_json .id "$a"
  assert_json .vendor_id "$v"
  assert_json .event_id "$e"
  assert_json .severity low
  assert_json .summary "Data breach"
}

@test "an unknown, malformed or wrongly prefixed alert id is 404 alert_not_found" {
  local v e a
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  api GET "/v1/radar/alerts/$(unknown_id cbrdrres)"
  assert_error 404 alert_not_found
  api GET "/v1/radar/alerts/12345"
  assert_error 404 alert_not_found
  api GET "/v1/radar/alerts/$e"
  assert_error 404 alert_not_found
  api POST "/v1/radar/alerts/$(unknown_id cbrdrres)/dismiss" '{}'
  assert_error 404 alert_not_found
  api POST "/v1/radar/alerts/$(unknown_id cbrdrres)/undismiss"
  assert_error 404 alert_not_found
}

@test "org B's key gets the unknown-id 404 on org A's alert and changes nothing" {
  local v e a d
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  d="$(db_digest)"
  assert_hidden 404 alert_not_found GET /v1/radar/alerts/ID "$a"
  assert_hidden 404 alert_not_found POST /v1/radar/alerts/ID/dismiss "$a" '{"reason":"hijack"}'
  assert_equal "$(db_digest)" "$d"
  api POST "/v1/radar/alerts/$a/dismiss"
  assert_status 200
  d="$(db_digest)"
  assert_hidden 404 alert_not_found POST /v1/radar/alerts/ID/undismiss "$a"
  assert_equal "$(db_digest)" "$d"
}

@test "dismissing an alert records the time, the reason and suppress_similar" {
  local v e a before after
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  before=$(date +%s)
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"Not relevant to us","suppress_similar":true}'
  after=$(date +%s)
  assert_status 200
  assert_json 'keys | join(",")' "$ALERT_KEYS"
  assert_json .id "$a"
  assert_json .is_dismissed true
  assert_json .dismiss_reason "Not relevant to us"
  assert_json ".dismissed_at >= $before and .dismissed_at <= $after" true
  assert_equal "$(sql "SELECT is_dismissed, dismiss_reason, suppress_similar FROM radar_alerts WHERE id = '$a'")" \
    "1|Not relevant to us|1"
  api GET "/v1/radar/alerts/$a"
  assert_json .is_dismissed true
  assert_json .dismiss_reason "Not relevant to us"
}

@test "dismissing an alert without a body marks it dismissed without a reason" {
  local v e a
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  api POST "/v1/radar/alerts/$a/dismiss"
  assert_status 200
  assert_json .is_dismissed true
  assert_json .dismiss_reason null
  assert_json '.dismissed_at | type' number
}

@test "a dismiss body of the wrong shape is refused and changes nothing" {
  local v e a d
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  d="$(db_digest)"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":5,"suppress_similar":"yes"}'
  assert_422 '["body","reason"]' string_type
  assert_422 '["body","suppress_similar"]' bool_type
  api POST "/v1/radar/alerts/$a/dismiss" "{\"reason\":\"$(printf 'r%.0s' {1..10001})\"}"
  assert_422 '["body","reason"]' string_too_long
  api POST "/v1/radar/alerts/$a/dismiss" '[]'
  assert_422 '["body"]' model_attributes_type
  assert_equal "$(db_digest)" "$d"
}

@test "dismissing a dismissed alert keeps its time and only a new reason replaces the old" {
  local v e a
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"first"}'
  assert_status 200
  sql "UPDATE radar_alerts SET dismissed_at = 1000 WHERE id = '$a'"
  api POST "/v1/radar/alerts/$a/dismiss" '{}'
  assert_status 200
  assert_json .is_dismissed true
  assert_json .dismissed_at 1000
  assert_json .dismiss_reason first
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"second"}'
  assert_status 200
  assert_json .dismissed_at 1000
  assert_json .dismiss_reason second
  assert_equal "$(sql "SELECT dismissed_at, dismiss_reason FROM radar_alerts WHERE id = '$a'")" "1000|second"
}

@test "undismissing an alert clears its dismissal" {
  local v e a
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"later"}'
  assert_status 200
  api POST "/v1/radar/alerts/$a/undismiss"
  assert_status 200
  assert_json .id "$a"
  assert_json .is_dismissed false
  assert_json .dismiss_reason null
  assert_json .dismissed_at null
  assert_equal "$(sql "SELECT is_dismissed, ifnull(dismiss_reason, '-'), ifnull(dismissed_at, '-') FROM radar_alerts WHERE id = '$a'")" "0|-|-"
  api GET "/v1/radar/alerts?vendor_id=$v"
  assert_equal "$(ids)" "$a"
}

@test "undismissing an active alert is a no-op" {
  local v e a before
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  sql "UPDATE radar_alerts SET updated_at = 1000 WHERE id = '$a'"
  api GET "/v1/radar/alerts/$a"
  before="$(json '. | tojson')"
  api POST "/v1/radar/alerts/$a/undismiss" '{}'
  assert_status 200
  assert_equal "$(json '. | tojson')" "$before"
  assert_json .updated_at 1000
  assert_json .is_dismissed false
}

@test "an alert can be dismissed again after it was undismissed" {
  local v e a
  v="$(mk_vendor)"
  e="$(mk_event "[\"$v\"]")"
  a="$(alert_of "$e" "$v")"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"one"}'
  api POST "/v1/radar/alerts/$a/undismiss"
  assert_status 200
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"two"}'
  assert_status 200
  assert_json .is_dismissed true
  assert_json .dismiss_reason two
}
