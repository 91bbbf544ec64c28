#!/usr/bin/env bats
# Reassessments (API.md section 2, with the conventions of section 1).
#
# Every test makes its own vendors, events, plans and reassessments; list
# tests filter on a radar event or vendor of their own, so that the other
# tests' rows in the shared database do not matter.

load helper

setup_file() { setup_db; }
teardown_file() { teardown_db; }

# A well-formed reassessment id that no org has.
UNKNOWN_RSM=cbrsm_0123456789abcdef0123456789abcdef

# alert_of EVENT VENDOR: the id of the alert the event made for the vendor.
alert_of() {
  sql "SELECT id FROM radar_alerts WHERE event_id = '$1' AND vendor_id = '$2'"
}

# age_alert ALERT SECONDS: make an alert that many seconds older, so that
# "oldest first" does not depend on insertion order.
age_alert() {
  sql "UPDATE radar_alerts SET created_at = created_at - $2 WHERE id = '$1'"
}

# vendor_rows: the vendors[] entries of the last body, one compact line.
vendor_rows() {
  json '[.vendors[] | [.vendor_id, .source, .included, .assessment_id]] | tojson'
}

# assert_unchanged DIGEST: the database is exactly as it was.
assert_unchanged() {
  [ "$(db_digest)" = "$1" ] || fail "the refused request changed the database"
}

# assert_names ID: the coded error's message names ID.
assert_names() {
  local msg
  msg="$(json .detail.message)"
  [[ "$msg" == *"$1"* ]] || fail "expected the message to name $1, got: $msg"
}

# refute_names ID: the coded error's message does not name ID.
refute_names() {
  local msg
  msg="$(json .detail.message)"
  [[ "$msg" != *"$1"* ]] || fail "expected the message not to name $1, got: $msg"
}

# json_sorted FILTER: jq -S FILTER over the last body, for comparing objects.
json_sorted() {
  printf '%s' "$body" | jq -S "$1"
}

# get_rsm ID: GET the reassessment (sets code/body), asserting 200.
get_rsm() {
  api GET "/v1/reassessments/$1"
  assert_status 200
}

# same_as_unknown METHOD ID SUFFIX [BODY]: org B's key on org A's
# reassessment ID gets exactly what it gets for an id nobody has, and the
# database does not change.
same_as_unknown() {
  local method="$1" id="$2" suffix="$3"
  local -a data=()
  (($# > 3)) && data=("$4")
  local before s1 c1 m1
  before="$(db_digest)"
  api --key "$KEY_B" "$method" "/v1/reassessments/$id$suffix" "${data[@]}"
  assert_error 404 reassessment_not_found
  s1="$code" c1="$(json .detail.code)" m1="$(json .detail.message)"
  m1="${m1//$id/ID}"
  api --key "$KEY_B" "$method" "/v1/reassessments/$UNKNOWN_RSM$suffix" "${data[@]}"
  assert_equal "$code" "$s1"
  assert_equal "$(json .detail.code)" "$c1"
  local m2
  m2="$(json .detail.message)"
  assert_equal "${m2//$UNKNOWN_RSM/ID}" "$m1"
  assert_unchanged "$before"
}

# ---------------------------------------------------------------------------
# Create

@test "creating a reassessment returns a draft whose vendors are matched, included and not yet assessed" {
  v1=$(mk_vendor); v2=$(mk_vendor)
  ev=$(mk_event "$(jl "$v1" "$v2")")
  plan=$(mk_plan)
  api POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v1" "$v2"),\"assessment_plan_id\":\"$plan\",\"title\":\"Reassess Acme after breach\"}"
  assert_status 201
  assert_json '.id | test("^cbrsm_[0-9a-f]{32}$")' true
  assert_json .status draft
  assert_json .title "Reassess Acme after breach"
  assert_json .assessment_plan_id "$plan"
  assert_json .radar_event_id "$ev"
  assert_json .trigger_id null
  assert_json 'keys | join(",")' \
    "alert_ids,assessment_plan_id,created_at,id,radar_event_id,status,title,trigger_id,updated_at,vendors"
  assert_json '[.vendors[] | keys | join(",")] | unique | join(";")' \
    "assessment_id,included,source,vendor_id"
  assert_equal "$(vendor_rows)" "[[\"$v1\",\"matched\",true,null],[\"$v2\",\"matched\",true,null]]"
  assert_json '.created_at | type' number
  assert_json '.updated_at | type' number
  assert_json '.created_at == (.created_at | floor) and .created_at > 1600000000' true
  id="$(json .id)"
  assert_equal "$(sql "SELECT org_id, status FROM reassessments WHERE id = '$id'")" "$ORG|draft"
  assert_equal "$(sql "SELECT count(*) FROM reassessment_vendors WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$id')")" 2
}

@test "a created reassessment reads back from GET exactly as create returned it" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v"),\"title\":\"T\"}"
  assert_status 201
  created="$(json_sorted .)"
  get_rsm "$(json .id)"
  assert_equal "$(json_sorted .)" "$created"
}

@test "title and assessment plan are optional and default to null, absent or explicitly null" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v")}"
  assert_status 201
  assert_json .title null
  assert_json .assessment_plan_id null
  api POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v"),\"title\":null,\"assessment_plan_id\":null}"
  assert_status 201
  assert_json .title null
  assert_json .assessment_plan_id null
}

@test "repeated vendor ids collapse to one entry each, in request order" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1" "$v2")")
  api POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v2" "$v1" "$v2" "$v1")}"
  assert_status 201
  assert_equal "$(vendor_rows)" "[[\"$v2\",\"matched\",true,null],[\"$v1\",\"matched\",true,null]]"
  assert_json '.alert_ids | length' 2
  id="$(json .id)"
  assert_equal "$(sql "SELECT count(*) FROM reassessment_vendors WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$id')")" 2
}

@test "alert_ids hold the event's alerts for the chosen vendors only, oldest first" {
  v1=$(mk_vendor); v2=$(mk_vendor); v3=$(mk_vendor); v4=$(mk_vendor)
  ev=$(mk_event "$(jl "$v1" "$v2" "$v3")")
  other=$(mk_event "$(jl "$v1")")
  a1=$(alert_of "$ev" "$v1"); a3=$(alert_of "$ev" "$v3")
  [ -n "$a1" ] || fail "no alert for v1"
  [ -n "$a3" ] || fail "no alert for v3"
  age_alert "$a1" 50
  age_alert "$a3" 100
  # v4 is not linked to the event: it joins without bringing an alert.
  rsm=$(mk_rsm "$ev" "$(jl "$v1" "$v3" "$v4")")
  get_rsm "$rsm"
  assert_json '.alert_ids | tojson' "$(jl "$a3" "$a1")"
  elsewhere="$(alert_of "$other" "$v1")"
  [ -n "$elsewhere" ] || fail "no alert for the other event"
  assert_json ".alert_ids | index(\"$elsewhere\")" null
  assert_json '.vendors | length' 3
}

@test "dismissed and archived alerts are left out of alert_ids" {
  v1=$(mk_vendor); v2=$(mk_vendor); v3=$(mk_vendor)
  ev=$(mk_event "$(jl "$v1" "$v2" "$v3")")
  a1=$(alert_of "$ev" "$v1"); a2=$(alert_of "$ev" "$v2"); a3=$(alert_of "$ev" "$v3")
  sql "UPDATE radar_alerts SET is_dismissed = 1, dismissed_at = created_at, dismiss_reason = 'noise' WHERE id = '$a1'"
  sql "UPDATE radar_alerts SET is_archived = 1 WHERE id = '$a2'"
  rsm=$(mk_rsm "$ev" "$(jl "$v1" "$v2" "$v3")")
  get_rsm "$rsm"
  assert_json '.alert_ids | tojson' "$(jl "$a3")"
  assert_json '.vendors | length' 3
}

@test "an unknown radar event is refused as invalid_reassessment naming it, and nothing is created" {
  v=$(mk_vendor)
  bad=cbrevent_0123456789abcdef0123456789abcdef
  before="$(db_digest)"
  api POST /v1/reassessments "{\"radar_event_id\":\"$bad\",\"vendor_ids\":$(jl "$v")}"
  assert_error 422 invalid_reassessment
  assert_names "$bad"
  assert_unchanged "$before"
}

@test "the radar event is checked before the vendors" {
  badv=cbvndr_0123456789abcdef0123456789abcdef
  bade=cbrevent_0123456789abcdef0123456789abcdef
  before="$(db_digest)"
  api POST /v1/reassessments "{\"radar_event_id\":\"$bade\",\"vendor_ids\":$(jl "$badv")}"
  assert_error 422 invalid_reassessment
  assert_names "$bade"
  refute_names "$badv"
  assert_unchanged "$before"
}

@test "the first unresolvable vendor in request order is named, ahead of a bad plan" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  bad1=cbvndr_11111111111111111111111111111111
  bad2=cbvndr_22222222222222222222222222222222
  badp=cbasmtpl_33333333333333333333333333333333
  before="$(db_digest)"
  api POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v" "$bad2" "$bad1"),\"assessment_plan_id\":\"$badp\"}"
  assert_error 422 invalid_reassessment
  assert_names "$bad2"
  refute_names "$bad1"
  refute_names "$badp"
  assert_unchanged "$before"
}

@test "an unknown plan is named once the event and vendors resolve, and nothing is created" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  badp=cbasmtpl_33333333333333333333333333333333
  before="$(db_digest)"
  api POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v"),\"assessment_plan_id\":\"$badp\"}"
  assert_error 422 invalid_reassessment
  assert_names "$badp"
  assert_unchanged "$before"
}

@test "a malformed vendor id is an unresolvable reference, not a validation error" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  before="$(db_digest)"
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v" "not-a-vendor")}"
  assert_error 422 invalid_reassessment
  assert_names "not-a-vendor"
  assert_unchanged "$before"
}

@test "org B cannot build a reassessment from org A's event, vendors or plan" {
  va=$(mk_vendor); eva=$(mk_event "$(jl "$va")"); pa=$(mk_plan)
  vb=$(mk_vendor --key "$KEY_B"); evb=$(mk_event --key "$KEY_B" "$(jl "$vb")")
  before="$(db_digest)"
  api --key "$KEY_B" POST /v1/reassessments "{\"radar_event_id\":\"$eva\",\"vendor_ids\":$(jl "$vb")}"
  assert_error 422 invalid_reassessment
  assert_names "$eva"
  api --key "$KEY_B" POST /v1/reassessments "{\"radar_event_id\":\"$evb\",\"vendor_ids\":$(jl "$vb" "$va")}"
  assert_error 422 invalid_reassessment
  assert_names "$va"
  api --key "$KEY_B" POST /v1/reassessments \
    "{\"radar_event_id\":\"$evb\",\"vendor_ids\":$(jl "$vb"),\"assessment_plan_id\":\"$pa\"}"
  assert_error 422 invalid_reassessment
  assert_names "$pa"
  assert_unchanged "$before"
}

@test "an empty create body is a missing body" {
  before="$(db_digest)"
  api POST /v1/reassessments ""
  assert_422 '["body"]' missing
  assert_unchanged "$before"
}

@test "an empty object lists both required fields as missing" {
  api POST /v1/reassessments '{}'
  assert_422 '["body","radar_event_id"]' missing
  assert_422 '["body","vendor_ids"]' missing
  assert_json '.detail | length' 2
  assert_json '[.detail[].msg | type] | unique | join(",")' string
  assert_json '.request_id | type' string
}

@test "an empty vendor list is too short, and shape is checked before references resolve" {
  before="$(db_digest)"
  api POST /v1/reassessments '{"radar_event_id":"cbrevent_0123456789abcdef0123456789abcdef","vendor_ids":[]}'
  assert_422 '["body","vendor_ids"]' too_short
  assert_json '.detail | length' 1
  assert_unchanged "$before"
}

@test "vendor_ids must be a list of strings, and each bad item is reported at its index" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":\"$v\"}"
  assert_422 '["body","vendor_ids"]' list_type
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":[1,\"$v\",true]}"
  assert_422 '["body","vendor_ids",0]' string_type
  assert_422 '["body","vendor_ids",2]' string_type
  assert_json '.detail | length' 2
}

@test "a create body with every field of the wrong type lists every problem" {
  before="$(db_digest)"
  api POST /v1/reassessments '{"radar_event_id":5,"vendor_ids":{"a":1},"assessment_plan_id":7,"title":false}'
  assert_422 '["body","radar_event_id"]' string_type
  assert_422 '["body","vendor_ids"]' list_type
  assert_422 '["body","assessment_plan_id"]' string_type
  assert_422 '["body","title"]' string_type
  assert_json '.detail | length' 4
  assert_unchanged "$before"
}

@test "a title of 501 characters is too long while 500 multibyte characters are accepted" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  long="$(printf 'a%.0s' {1..501})"
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v"),\"title\":\"$long\"}"
  assert_422 '["body","title"]' string_too_long
  wide="$(printf 'é%.0s' {1..500})"
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v"),\"title\":\"$wide\"}"
  assert_status 201
  assert_json .title "$wide"
}

@test "a create body that is not JSON, or not an object, is refused" {
  api POST /v1/reassessments 'this is not json'
  assert_422 '["body"]' json_invalid
  api POST /v1/reassessments '["cbvndr_x"]'
  assert_422 '["body"]' model_attributes_type
}

@test "create accepts any +json content type with parameters and refuses text/plain with 415" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  api --ct 'application/vnd.api+json; charset=utf-8' POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v")}"
  assert_status 201
  before="$(db_digest)"
  api --ct text/plain POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v")}"
  assert_error 415 unsupported_media_type
  assert_unchanged "$before"
}

@test "the media type is checked before the key, and the key before the body's shape" {
  api --no-auth --ct text/plain POST /v1/reassessments 'x'
  assert_error 415 unsupported_media_type
  api --no-auth POST /v1/reassessments '{}'
  assert_detail 401 "Not authenticated"
  assert_equal "$(header WWW-Authenticate)" Bearer
  api --key ak_live_notarealkeynotarealkeynotarealkeynotarea POST /v1/reassessments '{}'
  assert_detail 401 "Invalid or expired API key."
  assert_equal "$(header WWW-Authenticate)" Bearer
}

# ---------------------------------------------------------------------------
# Routing

@test "wrong methods on reassessment paths are 405 with an Allow header, trailing slashes 404" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  api DELETE "/v1/reassessments/$rsm"
  assert_detail 405 "Method Not Allowed"
  allow="$(header Allow)"
  [[ "$allow" == *GET* && "$allow" == *PATCH* && "$allow" != *POST* && "$allow" != *DELETE* ]] ||
    fail "Allow for /v1/reassessments/{id} is '$allow'"
  api PUT /v1/reassessments '{}'
  assert_detail 405 "Method Not Allowed"
  allow="$(header Allow)"
  [[ "$allow" == *GET* && "$allow" == *POST* && "$allow" != *PUT* ]] ||
    fail "Allow for /v1/reassessments is '$allow'"
  # Route and method come before the target's existence.
  api GET "/v1/reassessments/$UNKNOWN_RSM/run"
  assert_detail 405 "Method Not Allowed"
  allow="$(header Allow)"
  [[ "$allow" == *POST* && "$allow" != *GET* ]] || fail "Allow for .../run is '$allow'"
  api GET "/v1/reassessments/$rsm/"
  assert_detail 404 "Not Found"
  api GET /v1/reassessments/
  assert_detail 404 "Not Found"
}

# ---------------------------------------------------------------------------
# Retrieve

@test "an unknown, malformed or wrongly prefixed reassessment id is reassessment_not_found" {
  v=$(mk_vendor)
  for id in "$UNKNOWN_RSM" cbrsm_XYZ not-an-id "$v" cbrsm_0123456789ABCDEF0123456789ABCDEF; do
    api GET "/v1/reassessments/$id"
    assert_error 404 reassessment_not_found
  done
}

# ---------------------------------------------------------------------------
# List

@test "the list is newest first, counts every match in total, and pages with limit and offset" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  r1=$(mk_rsm "$ev" "$(jl "$v")"); r2=$(mk_rsm "$ev" "$(jl "$v")"); r3=$(mk_rsm "$ev" "$(jl "$v")")
  api GET "/v1/reassessments?radar_event_id=$ev"
  assert_status 200
  assert_json '[.items[].id] | join(",")' "$r3,$r2,$r1"
  assert_json .total 3
  assert_json .limit 50
  assert_json .offset 0
  item="$(json_sorted '.items[2]')"
  get_rsm "$r1"
  assert_equal "$(json_sorted .)" "$item"
  api GET "/v1/reassessments?radar_event_id=$ev&limit=2"
  assert_status 200
  assert_json '[.items[].id] | join(",")' "$r3,$r2"
  assert_json .total 3
  assert_json .limit 2
  api GET "/v1/reassessments?radar_event_id=$ev&limit=2&offset=2"
  assert_status 200
  assert_json '[.items[].id] | join(",")' "$r1"
  assert_json .total 3
  assert_json .offset 2
  api GET "/v1/reassessments?radar_event_id=$ev&offset=5"
  assert_status 200
  assert_json '.items | length' 0
  assert_json .total 3
}

@test "newest first orders by created_at before insertion order" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  r1=$(mk_rsm "$ev" "$(jl "$v")"); r2=$(mk_rsm "$ev" "$(jl "$v")"); r3=$(mk_rsm "$ev" "$(jl "$v")")
  sql "UPDATE reassessments SET created_at = created_at + 1000 WHERE id = '$r1'"
  sql "UPDATE reassessments SET created_at = created_at - 1000 WHERE id = '$r3'"
  api GET "/v1/reassessments?radar_event_id=$ev"
  assert_status 200
  assert_json '[.items[].id] | join(",")' "$r1,$r2,$r3"
}

@test "the status filter returns only reassessments in that status" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  d=$(mk_rsm "$ev" "$(jl "$v")")
  c=$(mk_rsm "$ev" "$(jl "$v")"); api POST "/v1/reassessments/$c/confirm"; assert_status 200
  x=$(mk_rsm "$ev" "$(jl "$v")"); api POST "/v1/reassessments/$x/dismiss"; assert_status 200
  r=$(mk_rsm "$ev" "$(jl "$v")" "$plan"); api POST "/v1/reassessments/$r/run"; assert_status 200
  for pair in "draft $d" "confirmed $c" "dismissed $x" "run $r"; do
    set -- $pair
    api GET "/v1/reassessments?radar_event_id=$ev&status=$1"
    assert_status 200
    assert_json '[.items[].id] | join(",")' "$2"
    assert_json '[.items[].status] | join(",")' "$1"
    assert_json .total 1
  done
  api GET "/v1/reassessments?vendor_id=$v&status=draft"
  assert_json '[.items[].id] | join(",")' "$d"
}

@test "an unknown status filter is a 422 enum on the query" {
  api GET "/v1/reassessments?status=bogus"
  assert_422 '["query","status"]' enum
}

@test "the vendor_id filter finds reassessments that hold the vendor, manual additions included" {
  v=$(mk_vendor); o=$(mk_vendor); ev=$(mk_event "$(jl "$v" "$o")")
  r1=$(mk_rsm "$ev" "$(jl "$v")")
  r2=$(mk_rsm "$ev" "$(jl "$o")")
  r3=$(mk_rsm "$ev" "$(jl "$o")")
  api POST "/v1/reassessments/$r2/vendors" "{\"vendor_ids\":$(jl "$v")}"
  assert_status 200
  api GET "/v1/reassessments?vendor_id=$v"
  assert_status 200
  assert_json '[.items[].id] | join(",")' "$r2,$r1"
  assert_json .total 2
  api GET "/v1/reassessments?vendor_id=$o"
  assert_json '[.items[].id] | join(",")' "$r3,$r2"
}

@test "out-of-range or non-integer limit and offset are 422 on the query" {
  api GET "/v1/reassessments?limit=0"
  assert_422 '["query","limit"]' greater_than_equal
  api GET "/v1/reassessments?limit=201"
  assert_422 '["query","limit"]' less_than_equal
  api GET "/v1/reassessments?limit=ten"
  assert_422 '["query","limit"]' int_type
  api GET "/v1/reassessments?offset=-1"
  assert_422 '["query","offset"]' greater_than_equal
  api GET "/v1/reassessments?offset=1.5"
  assert_422 '["query","offset"]' int_type
  api GET "/v1/reassessments?limit=0&offset=-1"
  assert_422 '["query","limit"]' greater_than_equal
  assert_422 '["query","offset"]' greater_than_equal
  api GET "/v1/reassessments?limit=200"
  assert_status 200
  assert_json .limit 200
}

@test "org B's list never shows org A's reassessments" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  vb=$(mk_vendor --key "$KEY_B"); evb=$(mk_event --key "$KEY_B" "$(jl "$vb")")
  rb=$(mk_rsm --key "$KEY_B" "$evb" "$(jl "$vb")")
  api --key "$KEY_B" GET "/v1/reassessments?radar_event_id=$ev"
  assert_status 200
  assert_json .total 0
  api --key "$KEY_B" GET "/v1/reassessments?vendor_id=$v"
  assert_json .total 0
  api --key "$KEY_B" GET "/v1/reassessments?limit=200"
  assert_status 200
  assert_json .total "$(sql "SELECT count(*) FROM reassessments WHERE org_id = '$ORG_B'")"
  assert_json "[.items[].id] | index(\"$rsm\")" null
  assert_json "[.items[].id] | index(\"$rb\") != null" true
}

# ---------------------------------------------------------------------------
# Update

@test "patching the title changes only the title and moves updated_at" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  sql "UPDATE reassessments SET created_at = 1000, updated_at = 1000 WHERE id = '$rsm'"
  get_rsm "$rsm"
  rest="$(json_sorted 'del(.title, .updated_at)')"
  api PATCH "/v1/reassessments/$rsm" '{"title":"Second look"}'
  assert_status 200
  assert_json .title "Second look"
  assert_json '.updated_at > 1000' true
  assert_equal "$(json_sorted 'del(.title, .updated_at)')" "$rest"
  assert_equal "$(sql "SELECT title FROM reassessments WHERE id = '$rsm'")" "Second look"
}

@test "an empty, absent-field or all-null patch returns the object unchanged" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  api POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v"),\"assessment_plan_id\":\"$plan\",\"title\":\"Keep\"}"
  rsm="$(json .id)"
  sql "UPDATE reassessments SET updated_at = 1000 WHERE id = '$rsm'"
  get_rsm "$rsm"
  was="$(json_sorted .)"
  before="$(db_digest)"
  for patch in '{}' '' '{"title":null,"assessment_plan_id":null,"radar_event_id":null}' '{"unknown":1}'; do
    api PATCH "/v1/reassessments/$rsm" "$patch"
    assert_status 200
    assert_equal "$(json_sorted .)" "$was"
  done
  assert_unchanged "$before"
}

@test "patching a field to the value it already has does not move updated_at" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  api POST /v1/reassessments \
    "{\"radar_event_id\":\"$ev\",\"vendor_ids\":$(jl "$v"),\"assessment_plan_id\":\"$plan\",\"title\":\"Same\"}"
  rsm="$(json .id)"
  sql "UPDATE reassessments SET updated_at = 1000 WHERE id = '$rsm'"
  api PATCH "/v1/reassessments/$rsm" "{\"title\":\"Same\",\"assessment_plan_id\":\"$plan\",\"radar_event_id\":\"$ev\"}"
  assert_status 200
  assert_json .updated_at 1000
  assert_equal "$(sql "SELECT updated_at FROM reassessments WHERE id = '$rsm'")" 1000
}

@test "patching the plan links it, on a draft and on a confirmed reassessment" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); p1=$(mk_plan); p2=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v")")
  api PATCH "/v1/reassessments/$rsm" "{\"assessment_plan_id\":\"$p1\"}"
  assert_status 200
  assert_json .assessment_plan_id "$p1"
  assert_json .status draft
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  api PATCH "/v1/reassessments/$rsm" "{\"assessment_plan_id\":\"$p2\",\"title\":\"Confirmed, retitled\"}"
  assert_status 200
  assert_json .assessment_plan_id "$p2"
  assert_json .title "Confirmed, retitled"
  assert_json .status confirmed
  assert_equal "$(sql "SELECT assessment_plan_id FROM reassessments WHERE id = '$rsm'")" "$p2"
}

@test "re-linking the radar event recomputes alert_ids for the whole current vendor set" {
  v1=$(mk_vendor); v2=$(mk_vendor); v3=$(mk_vendor)
  ev1=$(mk_event "$(jl "$v1")")
  ev2=$(mk_event "$(jl "$v1" "$v2" "$v3")")
  a11=$(alert_of "$ev1" "$v1")
  a21=$(alert_of "$ev2" "$v1"); a22=$(alert_of "$ev2" "$v2")
  age_alert "$a22" 100
  rsm=$(mk_rsm "$ev1" "$(jl "$v1" "$v2")")
  get_rsm "$rsm"
  assert_json '.alert_ids | tojson' "$(jl "$a11")"
  # An opted-out vendor is still in the set: its alerts count.
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  api PATCH "/v1/reassessments/$rsm" "{\"radar_event_id\":\"$ev2\"}"
  assert_status 200
  assert_json .radar_event_id "$ev2"
  assert_json '.alert_ids | tojson' "$(jl "$a22" "$a21")"
  api GET "/v1/reassessments?radar_event_id=$ev2"
  assert_json "[.items[].id] | index(\"$rsm\") != null" true
  api GET "/v1/reassessments?radar_event_id=$ev1"
  assert_json "[.items[].id] | index(\"$rsm\")" null
}

@test "an unresolvable plan or event in a patch is invalid_reassessment naming it, and nothing changes" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  pb=$(mk_plan --key "$KEY_B"); evb=$(mk_event --key "$KEY_B" "[]")
  badp=cbasmtpl_33333333333333333333333333333333
  before="$(db_digest)"
  api PATCH "/v1/reassessments/$rsm" "{\"title\":\"Changed\",\"assessment_plan_id\":\"$badp\"}"
  assert_error 422 invalid_reassessment
  assert_names "$badp"
  api PATCH "/v1/reassessments/$rsm" "{\"assessment_plan_id\":\"$pb\"}"
  assert_error 422 invalid_reassessment
  assert_names "$pb"
  api PATCH "/v1/reassessments/$rsm" "{\"title\":\"Changed\",\"radar_event_id\":\"$evb\"}"
  assert_error 422 invalid_reassessment
  assert_names "$evb"
  assert_unchanged "$before"
}

@test "a patch on a dismissed or run reassessment is refused as immutable, before its references" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  x=$(mk_rsm "$ev" "$(jl "$v")"); api POST "/v1/reassessments/$x/dismiss"; assert_status 200
  r=$(mk_rsm "$ev" "$(jl "$v")" "$plan"); api POST "/v1/reassessments/$r/run"; assert_status 200
  before="$(db_digest)"
  for id in "$x" "$r"; do
    api PATCH "/v1/reassessments/$id" '{"title":"Too late"}'
    assert_error 422 reassessment_immutable
    api PATCH "/v1/reassessments/$id" '{"assessment_plan_id":"cbasmtpl_33333333333333333333333333333333"}'
    assert_error 422 reassessment_immutable
  done
  assert_unchanged "$before"
}

@test "patch shape errors are all listed, and come before the target is looked up" {
  api PATCH "/v1/reassessments/$UNKNOWN_RSM" '{"title":5,"assessment_plan_id":[],"radar_event_id":{"id":1}}'
  assert_422 '["body","title"]' string_type
  assert_422 '["body","assessment_plan_id"]' string_type
  assert_422 '["body","radar_event_id"]' string_type
  assert_json '.detail | length' 3
  long="$(printf 'x%.0s' {1..501})"
  api PATCH "/v1/reassessments/$UNKNOWN_RSM" "{\"title\":\"$long\"}"
  assert_422 '["body","title"]' string_too_long
  api PATCH "/v1/reassessments/$UNKNOWN_RSM" '{"title":"fine"}'
  assert_error 404 reassessment_not_found
}

@test "a patch with a non-JSON content type is 415" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  before="$(db_digest)"
  api --ct text/plain PATCH "/v1/reassessments/$rsm" '{"title":"x"}'
  assert_error 415 unsupported_media_type
  assert_unchanged "$before"
}

# ---------------------------------------------------------------------------
# Curation

@test "added vendors join at the end as manual and included" {
  v1=$(mk_vendor); v2=$(mk_vendor); v3=$(mk_vendor); ev=$(mk_event "$(jl "$v1")")
  rsm=$(mk_rsm "$ev" "$(jl "$v1")")
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":$(jl "$v3" "$v2" "$v3")}"
  assert_status 200
  assert_json .id "$rsm"
  assert_json .status draft
  assert_equal "$(vendor_rows)" \
    "[[\"$v1\",\"matched\",true,null],[\"$v3\",\"manual\",true,null],[\"$v2\",\"manual\",true,null]]"
  assert_equal "$(sql "SELECT count(*) FROM reassessment_vendors WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$rsm') AND source = 'manual'")" 2
}

@test "re-adding an opted-out vendor includes it again, keeping its source and place" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1" "$v2")")
  rsm=$(mk_rsm "$ev" "$(jl "$v1" "$v2")")
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v1\",\"included\":false}"
  assert_status 200
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":$(jl "$v1")}"
  assert_status 200
  assert_equal "$(vendor_rows)" "[[\"$v1\",\"matched\",true,null],[\"$v2\",\"matched\",true,null]]"
}

@test "adding vendors brings in their alerts from the linked event, oldest first" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1" "$v2")")
  a1=$(alert_of "$ev" "$v1"); a2=$(alert_of "$ev" "$v2")
  age_alert "$a2" 100
  rsm=$(mk_rsm "$ev" "$(jl "$v1")")
  get_rsm "$rsm"
  assert_json '.alert_ids | tojson' "$(jl "$a1")"
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":$(jl "$v2")}"
  assert_status 200
  assert_json '.alert_ids | tojson' "$(jl "$a2" "$a1")"
}

@test "an unresolvable or other org's vendor in an add is named and nothing changes" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1")")
  vb=$(mk_vendor --key "$KEY_B")
  rsm=$(mk_rsm "$ev" "$(jl "$v1")")
  bad=cbvndr_0123456789abcdef0123456789abcdef
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":$(jl "$v2" "$bad")}"
  assert_error 422 invalid_reassessment
  assert_names "$bad"
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":$(jl "$vb" "$v2")}"
  assert_error 422 invalid_reassessment
  assert_names "$vb"
  assert_unchanged "$before"
}

@test "an add with a missing, empty or badly typed vendor list is a 422" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/vendors" '{}'
  assert_422 '["body","vendor_ids"]' missing
  api POST "/v1/reassessments/$rsm/vendors" ''
  assert_422 '["body"]' missing
  api POST "/v1/reassessments/$rsm/vendors" '{"vendor_ids":[]}'
  assert_422 '["body","vendor_ids"]' too_short
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":[\"$v\",3,null]}"
  assert_422 '["body","vendor_ids",1]' string_type
  assert_422 '["body","vendor_ids",2]' string_type
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":\"$v\"}"
  assert_422 '["body","vendor_ids"]' list_type
  assert_unchanged "$before"
}

@test "curation of a confirmed reassessment is refused as vendor_set_locked" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1")")
  rsm=$(mk_rsm "$ev" "$(jl "$v1")")
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":$(jl "$v2")}"
  assert_error 422 vendor_set_locked
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v1\",\"included\":false}"
  assert_error 422 vendor_set_locked
  # The state rule comes before resolving the ids (section 2.4's order).
  api POST "/v1/reassessments/$rsm/vendors" '{"vendor_ids":["cbvndr_0123456789abcdef0123456789abcdef"]}'
  assert_error 422 vendor_set_locked
  assert_unchanged "$before"
}

@test "curation of a dismissed or run reassessment is refused as immutable" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1")"); plan=$(mk_plan)
  x=$(mk_rsm "$ev" "$(jl "$v1")"); api POST "/v1/reassessments/$x/dismiss"; assert_status 200
  r=$(mk_rsm "$ev" "$(jl "$v1")" "$plan"); api POST "/v1/reassessments/$r/run"; assert_status 200
  before="$(db_digest)"
  for id in "$x" "$r"; do
    api POST "/v1/reassessments/$id/vendors" "{\"vendor_ids\":$(jl "$v2")}"
    assert_error 422 reassessment_immutable
    api POST "/v1/reassessments/$id/vendor_inclusion" "{\"vendor_id\":\"$v1\",\"included\":false}"
    assert_error 422 reassessment_immutable
  done
  assert_unchanged "$before"
}

@test "curation of an unknown reassessment is reassessment_not_found" {
  v=$(mk_vendor)
  api POST "/v1/reassessments/$UNKNOWN_RSM/vendors" "{\"vendor_ids\":$(jl "$v")}"
  assert_error 404 reassessment_not_found
  api POST "/v1/reassessments/$UNKNOWN_RSM/vendor_inclusion" "{\"vendor_id\":\"$v\",\"included\":true}"
  assert_error 404 reassessment_not_found
}

@test "opting a vendor out and back in flips only that vendor and leaves alert_ids alone" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1" "$v2")")
  rsm=$(mk_rsm "$ev" "$(jl "$v1" "$v2")")
  get_rsm "$rsm"
  alerts="$(json '.alert_ids | tojson')"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v1\",\"included\":false}"
  assert_status 200
  assert_equal "$(vendor_rows)" "[[\"$v1\",\"matched\",false,null],[\"$v2\",\"matched\",true,null]]"
  assert_json '.alert_ids | tojson' "$alerts"
  assert_equal "$(sql "SELECT included FROM reassessment_vendors WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$rsm') AND vendor_id = '$v1'")" 0
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v1\",\"included\":true}"
  assert_status 200
  assert_equal "$(vendor_rows)" "[[\"$v1\",\"matched\",true,null],[\"$v2\",\"matched\",true,null]]"
}

@test "vendor_inclusion for a vendor outside the set is vendor_not_found naming it" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1")")
  vb=$(mk_vendor --key "$KEY_B")
  rsm=$(mk_rsm "$ev" "$(jl "$v1")")
  before="$(db_digest)"
  for v in "$v2" "$vb" cbvndr_0123456789abcdef0123456789abcdef; do
    api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v\",\"included\":false}"
    assert_error 404 vendor_not_found
    assert_names "$v"
  done
  assert_unchanged "$before"
}

@test "vendor_inclusion needs both fields, with the right types" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" '{}'
  assert_422 '["body","vendor_id"]' missing
  assert_422 '["body","included"]' missing
  assert_json '.detail | length' 2
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v\"}"
  assert_422 '["body","included"]' missing
  assert_json '.detail | length' 1
  api POST "/v1/reassessments/$rsm/vendor_inclusion" '{"vendor_id":5,"included":"false"}'
  assert_422 '["body","vendor_id"]' string_type
  assert_422 '["body","included"]' bool_type
  assert_json '.detail | length' 2
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v\",\"included\":null}"
  assert_422 '["body","included"]' bool_type
  api POST "/v1/reassessments/$rsm/vendor_inclusion" ''
  assert_422 '["body"]' missing
  assert_unchanged "$before"
}

# ---------------------------------------------------------------------------
# Confirm and dismiss

@test "confirm moves a draft to confirmed" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  assert_json .id "$rsm"
  assert_json .status confirmed
  assert_equal "$(sql "SELECT status FROM reassessments WHERE id = '$rsm'")" confirmed
  get_rsm "$rsm"
  assert_json .status confirmed
}

@test "a repeated confirm is a no-op that returns the object unchanged" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  sql "UPDATE reassessments SET updated_at = 1000 WHERE id = '$rsm'"
  get_rsm "$rsm"
  was="$(json_sorted .)"
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  assert_equal "$(json_sorted .)" "$was"
  assert_unchanged "$before"
}

@test "dismiss closes a draft or a confirmed reassessment" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  d=$(mk_rsm "$ev" "$(jl "$v")"); c=$(mk_rsm "$ev" "$(jl "$v")")
  api POST "/v1/reassessments/$c/confirm"; assert_status 200
  for id in "$d" "$c"; do
    api POST "/v1/reassessments/$id/dismiss"
    assert_status 200
    assert_json .id "$id"
    assert_json .status dismissed
    assert_equal "$(sql "SELECT status FROM reassessments WHERE id = '$id'")" dismissed
  done
}

@test "confirm, dismiss and run on a dismissed reassessment are refused as immutable" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  api POST "/v1/reassessments/$rsm/dismiss"; assert_status 200
  before="$(db_digest)"
  for action in confirm dismiss run; do
    api POST "/v1/reassessments/$rsm/$action"
    assert_error 422 reassessment_immutable
  done
  assert_unchanged "$before"
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 0
}

@test "confirm, dismiss and run on a run reassessment are refused as immutable" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  api POST "/v1/reassessments/$rsm/run"; assert_status 200
  before="$(db_digest)"
  for action in confirm dismiss run; do
    api POST "/v1/reassessments/$rsm/$action"
    assert_error 422 reassessment_immutable
  done
  assert_unchanged "$before"
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 1
}

@test "confirm, dismiss and run ignore any request body and its content type" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  ra=$(mk_rsm "$ev" "$(jl "$v")"); rb=$(mk_rsm "$ev" "$(jl "$v")"); rc=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  api --ct text/plain POST "/v1/reassessments/$ra/confirm" 'not json at all'
  assert_status 200
  assert_json .status confirmed
  api POST "/v1/reassessments/$rb/dismiss" '{"status":"run","title":"ignored"}'
  assert_status 200
  assert_json .status dismissed
  assert_json .title null
  api --ct application/xml POST "/v1/reassessments/$rc/run" '<run/>'
  assert_status 200
  assert_json .status run
}

@test "confirm, dismiss and run of an unknown reassessment are reassessment_not_found" {
  for action in confirm dismiss run; do
    api POST "/v1/reassessments/$UNKNOWN_RSM/$action"
    assert_error 404 reassessment_not_found
  done
}

# ---------------------------------------------------------------------------
# Run

@test "run makes one assessment per included vendor and leaves excluded vendors without one" {
  v1=$(mk_vendor); v2=$(mk_vendor); v3=$(mk_vendor)
  ev=$(mk_event "$(jl "$v1" "$v2" "$v3")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v1" "$v2" "$v3")" "$plan")
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  assert_json .status run
  assert_json '[.vendors[].vendor_id] | join(",")' "$v1,$v2,$v3"
  assert_json '[.vendors[].included] | join(",")' "true,false,true"
  assert_json '.vendors[1].assessment_id' null
  assert_json '[.vendors[0,2].assessment_id | test("^cbqsrw_[0-9a-f]{32}$")] | all' true
  assert_json '.vendors[0].assessment_id != .vendors[2].assessment_id' true
  x1="$(json '.vendors[0].assessment_id')"; x3="$(json '.vendors[2].assessment_id')"
  # The database agrees: exactly the two assessments, tied to the right vendors.
  assert_equal "$(sql "SELECT status FROM reassessments WHERE id = '$rsm'")" run
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 2
  assert_equal "$(sql "SELECT vendor_id FROM assessments WHERE id = '$x1'")" "$v1"
  assert_equal "$(sql "SELECT vendor_id FROM assessments WHERE id = '$x3'")" "$v3"
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE vendor_id = '$v2'")" 0
  assert_equal "$(sql "SELECT ifnull(assessment_id, 'NULL') FROM reassessment_vendors WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$rsm') ORDER BY position" | tr '\n' ,)" \
    "$x1,NULL,$x3,"
  run_body="$(json_sorted .)"
  get_rsm "$rsm"
  assert_equal "$(json_sorted .)" "$run_body"
}

@test "run assessments carry the plan, the vendor and the reassessment" {
  v=$(mk_vendor "Globex"); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan "Quarterly review")
  rsm=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  aid="$(json '.vendors[0].assessment_id')"
  api GET "/v1/assessments/$aid"
  assert_status 200
  assert_json .id "$aid"
  assert_json .vendor_id "$v"
  assert_json .reassessment_id "$rsm"
  assert_json .assessment_plan_id "$plan"
  assert_json .name "Quarterly review: Globex"
  assert_json .status created
  assert_json '.control_set_ids | tojson' '["cs_1","cs_2"]'
  api GET "/v1/assessments?reassessment_id=$rsm"
  assert_status 200
  assert_json '[.items[].id] | join(",")' "$aid"
}

@test "run from a confirmed reassessment works" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  api POST "/v1/reassessments/$rsm/confirm"; assert_status 200
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  assert_json .status run
  assert_json '.vendors[0].assessment_id | startswith("cbqsrw_")' true
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 1
}

@test "run without a plan is missing_assessment_plan and changes nothing" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  rsm=$(mk_rsm "$ev" "$(jl "$v")")
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/run"
  assert_error 400 missing_assessment_plan
  assert_unchanged "$before"
  # A missing plan is reported ahead of an empty run set.
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v\",\"included\":false}"
  assert_status 200
  api POST "/v1/reassessments/$rsm/run"
  assert_error 400 missing_assessment_plan
}

@test "run with every vendor opted out is no_included_vendors and changes nothing" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1" "$v2")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v1" "$v2")" "$plan")
  for v in "$v1" "$v2"; do
    api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v\",\"included\":false}"
    assert_status 200
  done
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/run"
  assert_error 400 no_included_vendors
  assert_unchanged "$before"
  get_rsm "$rsm"
  assert_json .status draft
}

@test "immutability is reported before a missing plan" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")")
  rsm=$(mk_rsm "$ev" "$(jl "$v")")
  api POST "/v1/reassessments/$rsm/dismiss"; assert_status 200
  api POST "/v1/reassessments/$rsm/run"
  assert_error 422 reassessment_immutable
}

@test "run with a plan that no longer resolves is invalid_reassessment and leaves everything as it was" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  # The plan moves out of the org: it no longer resolves for org A's key.
  sql "UPDATE assessment_plans SET org_id = '$ORG_B' WHERE id = '$plan'"
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/run"
  assert_error 422 invalid_reassessment
  assert_names "$plan"
  assert_unchanged "$before"
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 0
  get_rsm "$rsm"
  assert_json .status draft
  assert_json '.vendors[0].assessment_id' null
}

@test "a second run is refused as immutable and makes no more assessments" {
  v1=$(mk_vendor); v2=$(mk_vendor); ev=$(mk_event "$(jl "$v1" "$v2")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v1" "$v2")" "$plan")
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  before="$(db_digest)"
  api POST "/v1/reassessments/$rsm/run"
  assert_error 422 reassessment_immutable
  assert_unchanged "$before"
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 2
}

@test "concurrent runs of one reassessment: exactly one succeeds and each vendor gets one assessment" {
  # Three reassessments, each run by six processes at once.
  local -a rsms=() pids=()
  for n in 1 2 3; do
    v1=$(mk_vendor); v2=$(mk_vendor); v3=$(mk_vendor)
    ev=$(mk_event "$(jl "$v1" "$v2" "$v3")"); plan=$(mk_plan)
    rsms+=("$(mk_rsm "$ev" "$(jl "$v1" "$v2" "$v3")" "$plan")")
  done
  for n in 0 1 2; do
    for i in 1 2 3 4 5 6; do
      (
        BATS_TEST_TMPDIR="$BATS_TEST_TMPDIR/run$n/$i"
        mkdir -p "$BATS_TEST_TMPDIR"
        # (Over CGI, 18 processes contend for the lock on 2 cores: the
        # busy timeout is raised so that a loaded machine is no 503.)
        REASSESS_BUSY_TIMEOUT=30000 api POST "/v1/reassessments/${rsms[$n]}/run" &&
          printf '%s %s\n' "$code" "$(json '.detail.code // "ok"')" > "$BATS_TEST_TMPDIR/result"
      ) 3>&- &
      pids+=($!)
    done
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  for n in 0 1 2; do
    results="$(cat "$BATS_TEST_TMPDIR/run$n"/*/result | sort | uniq -c | sed 's/^ *//')"
    assert_equal "$results" "$(printf '1 200 ok\n5 422 reassessment_immutable')"
    rsm="${rsms[$n]}"
    assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 3
    assert_equal "$(sql "SELECT count(DISTINCT vendor_id) FROM assessments WHERE reassessment_id = '$rsm'")" 3
    assert_equal "$(sql "SELECT count(*) FROM reassessment_vendors WHERE rsm_rid = (SELECT rid FROM reassessments WHERE id = '$rsm') AND assessment_id IS NOT NULL")" 3
  done
}

# ---------------------------------------------------------------------------
# Org isolation: another org's id answers exactly like an unknown id

@test "org B's GET of org A's reassessment looks exactly like an unknown id" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  same_as_unknown GET "$rsm" ""
}

@test "org B's PATCH of org A's reassessment looks exactly like an unknown id" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  same_as_unknown PATCH "$rsm" "" '{"title":"hijacked"}'
  assert_equal "$(sql "SELECT ifnull(title, 'NULL') FROM reassessments WHERE id = '$rsm'")" NULL
}

@test "org B adding vendors to org A's reassessment looks exactly like an unknown id" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  vb=$(mk_vendor --key "$KEY_B")
  same_as_unknown POST "$rsm" /vendors "{\"vendor_ids\":$(jl "$vb")}"
}

@test "org B's vendor_inclusion on org A's reassessment looks exactly like an unknown id" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  same_as_unknown POST "$rsm" /vendor_inclusion "{\"vendor_id\":\"$v\",\"included\":false}"
}

@test "org B's confirm of org A's reassessment looks exactly like an unknown id" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  same_as_unknown POST "$rsm" /confirm
}

@test "org B's dismiss of org A's reassessment looks exactly like an unknown id" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  same_as_unknown POST "$rsm" /dismiss
}

@test "org B's run of org A's reassessment looks exactly like an unknown id" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "$(jl "$v")" "$plan")
  same_as_unknown POST "$rsm" /run
  assert_equal "$(sql "SELECT count(*) FROM assessments WHERE reassessment_id = '$rsm'")" 0
}

@test "org B's key on org A's terminal reassessment still looks like an unknown id, not immutable" {
  v=$(mk_vendor); ev=$(mk_event "$(jl "$v")"); rsm=$(mk_rsm "$ev" "$(jl "$v")")
  api POST "/v1/reassessments/$rsm/dismiss"; assert_status 200
  same_as_unknown POST "$rsm" /run
  same_as_unknown PATCH "$rsm" "" '{"title":"x"}'
}

@test "total, with and without a status filter, matches the rows after every kind of change" {
  local v ev plan a b c s
  v=$(mk_vendor); ev=$(mk_event "[\"$v\"]"); plan=$(mk_plan)
  a=$(mk_rsm "$ev" "[\"$v\"]" "$plan"); b=$(mk_rsm "$ev" "[\"$v\"]" "$plan")
  c=$(mk_rsm "$ev" "[\"$v\"]" "$plan")
  api POST "/v1/reassessments/$a/confirm"; assert_status 200
  api POST "/v1/reassessments/$b/run"; assert_status 200
  api POST "/v1/reassessments/$c/dismiss"; assert_status 200
  api POST "/v1/reassessments/$c/dismiss"; assert_error 422 reassessment_immutable
  mk_rsm --key "$KEY_B" "$(mk_event --key "$KEY_B" "[]")" "[\"$(mk_vendor --key "$KEY_B")\"]" > /dev/null
  api GET "/v1/reassessments?limit=1"
  assert_json .total "$(sql "SELECT count(*) FROM reassessments WHERE org_id = '$ORG'")"
  for s in draft confirmed run dismissed; do
    api GET "/v1/reassessments?status=$s&limit=1"
    assert_json .total "$(sql "SELECT count(*) FROM reassessments WHERE org_id = '$ORG' AND status = '$s'")"
  done
  api --key "$KEY_B" GET "/v1/reassessments?limit=1"
  assert_json .total "$(sql "SELECT count(*) FROM reassessments WHERE org_id = '$ORG_B'")"
}
