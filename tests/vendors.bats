#!/usr/bin/env bats
# Vendors (API.md 3.1) and the Idempotency-Key of POST /v1/vendors (1.6).

load helper

setup_file() { setup_db; }
teardown_file() { teardown_db; }

# uri VALUE: VALUE percent-encoded for a query string.
uri() { jq -rn --arg v "$1" '$v | @uri'; }

# tag: a word unique to this test, for names that filters can find alone.
tag() { printf 't%sx%s' "$BATS_TEST_NUMBER" "$RANDOM$RANDOM"; }

VENDOR_KEYS="created_at,description,external_id,hq_location,id,name,updated_at,use_case,website"

# --- create -------------------------------------------------------------

@test "creating a vendor with every field returns 201 and the whole object" {
  local before after
  before=$(date +%s)
  api POST /v1/vendors '{"name":"Acme Corp","website":"https://acme.example","description":"Anvils","hq_location":"Tucson, AZ","use_case":"Hardware supply","external_id":"crm-42"}'
  after=$(date +%s)
  assert_status 201
  assert_json 'keys | join(",")' "$VENDOR_KEYS"
  assert_json '.id | test("^cbvndr_[0-9a-f]{32}$")' true
  assert_json .name "Acme Corp"
  assert_json .website "https://acme.example"
  assert_json .description "Anvils"
  assert_json .hq_location "Tucson, AZ"
  assert_json .use_case "Hardware supply"
  assert_json .external_id "crm-42"
  assert_json '.created_at | type' number
  assert_json '.created_at >= '"$before"' and .created_at <= '"$after" true
  assert_json '.updated_at == .created_at' true
  local id
  id="$(json .id)"
  assert_equal "$(sql "SELECT org_id, name, external_id FROM vendors WHERE id = '$id'")" "$ORG|Acme Corp|crm-42"
}

@test "a vendor created with only a name has null for every other field" {
  api POST /v1/vendors '{"name":"Bare Vendor"}'
  assert_status 201
  assert_json 'keys | join(",")' "$VENDOR_KEYS"
  assert_json '[.website, .description, .hq_location, .use_case, .external_id] | map(. == null) | all' true
  assert_json .name "Bare Vendor"
}

@test "unknown body fields are ignored on create" {
  api POST /v1/vendors '{"name":"Extra Fields","colour":"blue","tier":3}'
  assert_status 201
  assert_json 'keys | join(",")' "$VENDOR_KEYS"
  assert_json .name "Extra Fields"
}

@test "a vendor without a name is refused with 422 and nothing is created" {
  local d
  d="$(db_digest)"
  api POST /v1/vendors '{"website":"https://noname.example"}'
  assert_422 '["body","name"]' missing
  assert_json '.request_id | type' string
  assert_equal "$(db_digest)" "$d"
}

@test "an empty body is refused as a missing body because the name is required" {
  local d
  d="$(db_digest)"
  api POST /v1/vendors ''
  assert_422 '["body"]' missing
  assert_equal "$(db_digest)" "$d"
}

@test "an empty name is refused as too short" {
  local d
  d="$(db_digest)"
  api POST /v1/vendors '{"name":""}'
  assert_422 '["body","name"]' too_short
  assert_equal "$(db_digest)" "$d"
}

@test "fields of the wrong type are all reported at once and nothing is created" {
  local d
  d="$(db_digest)"
  api POST /v1/vendors '{"name":5,"website":true,"description":["x"],"hq_location":{"city":"Paris"},"use_case":1.5,"external_id":7}'
  assert_422 '["body","name"]' string_type
  assert_422 '["body","website"]' string_type
  assert_422 '["body","description"]' string_type
  assert_422 '["body","hq_location"]' string_type
  assert_422 '["body","use_case"]' string_type
  assert_422 '["body","external_id"]' string_type
  assert_json '.detail | length' 6
  assert_equal "$(db_digest)" "$d"
}

@test "a body that is not JSON is json_invalid and a JSON array is not an object" {
  api POST /v1/vendors '{"name":'
  assert_422 '["body"]' json_invalid
  api POST /v1/vendors '[{"name":"Array"}]'
  assert_422 '["body"]' model_attributes_type
}

@test "a name may hold 500 characters, counted as characters not bytes, but not 501" {
  local n500 n501 body
  n500="$(printf 'é%.0s' {1..500})"
  api POST /v1/vendors "$(jq -nc --arg n "$n500" '{name: $n}')"
  assert_status 201
  assert_json '.name | length' 500
  n501="$(printf 'a%.0s' {1..501})"
  api POST /v1/vendors "$(jq -nc --arg n "$n501" '{name: $n}')"
  assert_422 '["body","name"]' string_too_long
}

@test "other text fields may hold 10000 characters but not 10001" {
  local t10k t10k1
  t10k="$(printf 'd%.0s' {1..10000})"
  t10k1="${t10k}d"
  api POST /v1/vendors "$(jq -nc --arg d "$t10k" '{name: "Long text", description: $d, use_case: $d}')"
  assert_status 201
  assert_json '.description | length' 10000
  local d
  d="$(db_digest)"
  api POST /v1/vendors "$(jq -nc --arg d "$t10k1" '{name: "Too long", description: $d, website: $d}')"
  assert_422 '["body","description"]' string_too_long
  assert_422 '["body","website"]' string_too_long
  assert_equal "$(db_digest)" "$d"
}

# --- get ----------------------------------------------------------------

@test "getting a vendor returns the object that create returned" {
  local created id
  api POST /v1/vendors '{"name":"Fetch Me","website":"https://fetch.example","external_id":"f-1"}'
  assert_status 201
  created="$(json '. | tojson')"
  id="$(json .id)"
  api GET "/v1/vendors/$id"
  assert_status 200
  assert_equal "$(json '. | tojson')" "$created"
}

@test "an unknown, malformed or wrongly prefixed vendor id is 404 vendor_not_found" {
  local id
  id="$(mk_vendor)"
  api GET "/v1/vendors/$(unknown_id cbvndr)"
  assert_error 404 vendor_not_found
  api GET "/v1/vendors/not-an-id"
  assert_error 404 vendor_not_found
  api GET "/v1/vendors/cbrsm_${id#cbvndr_}"
  assert_error 404 vendor_not_found
  api GET "/v1/vendors/${id^^}"
  assert_error 404 vendor_not_found
}

@test "org B's key gets the same 404 on org A's vendor as on an unknown id" {
  local id
  id="$(mk_vendor "Secret A vendor")"
  assert_hidden 404 vendor_not_found GET /v1/vendors/ID "$id"
}

# --- list ---------------------------------------------------------------

@test "the vendor list has the paging envelope with defaults limit 50 and offset 0" {
  mk_vendor >/dev/null
  api GET /v1/vendors
  assert_status 200
  assert_json 'keys | join(",")' "items,limit,offset,total"
  assert_json .limit 50
  assert_json .offset 0
  assert_json '.items | type' array
  assert_json ".total" "$(sql "SELECT count(*) FROM vendors WHERE org_id = '$ORG'")"
  assert_json '.items | length <= 50' true
  assert_json '.items[0] | keys | join(",")' "$VENDOR_KEYS"
}

@test "the name filter is a case-insensitive substring match, newest first" {
  local t v1 v2 v3
  t="$(tag)"
  v1="$(mk_vendor "Northwind $t Traders")"
  v2="$(mk_vendor "NORTHWIND ${t^^} INC")"
  v3="$(mk_vendor "Southwind $t")"
  api GET "/v1/vendors?name=$(uri "northwind $t")"
  assert_status 200
  assert_json .total 2
  assert_equal "$(ids)" "$v2,$v1"
  api GET "/v1/vendors?name=$(uri "WIND ${t}")"
  assert_json .total 3
  assert_equal "$(ids)" "$v3,$v2,$v1"
  api GET "/v1/vendors?name=$(uri "$t nomatch")"
  assert_json .total 0
  assert_json '.items | length' 0
}

@test "the name filter is case-insensitive for Unicode letters too, not only ASCII" {
  local t v1 v2 v3 v4
  t="$(tag)"
  v1="$(mk_vendor "Über Logistik $t")"
  v2="$(mk_vendor "ÉCOLE $t Ærø")"
  v3="$(mk_vendor "ΣΟΦΙΑ $t")"
  v4="$(mk_vendor "Москва $t")"
  api GET "/v1/vendors?name=$(uri "über logistik $t")"
  assert_status 200
  assert_json .total 1
  assert_equal "$(ids)" "$v1"
  api GET "/v1/vendors?name=$(uri "ÜBER LOGISTIK $t")"
  assert_json .total 1
  api GET "/v1/vendors?name=$(uri "école $t ærø")"
  assert_json .total 1
  assert_equal "$(ids)" "$v2"
  # Greek and Cyrillic capitals find their small letters.
  api GET "/v1/vendors?name=$(uri "σοφια $t")"
  assert_json .total 1
  assert_equal "$(ids)" "$v3"
  api GET "/v1/vendors?name=$(uri "МОСКВА $t")"
  assert_json .total 1
  assert_equal "$(ids)" "$v4"
  # Folding never makes different letters equal.
  api GET "/v1/vendors?name=$(uri "uber logistik $t")"
  assert_json .total 0
}

@test "the name filter takes the last value when repeated" {
  local t v
  t="$(tag)"
  v="$(mk_vendor "Repeat $t")"
  api GET "/v1/vendors?name=nothing-matches-this&name=$t"
  assert_status 200
  assert_json .total 1
  assert_equal "$(ids)" "$v"
}

@test "the external_id filter is an exact match" {
  local t v1 v2
  t="$(tag)"
  api POST /v1/vendors "{\"name\":\"Ext one\",\"external_id\":\"ext-$t\"}"
  v1="$(json .id)"
  api POST /v1/vendors "{\"name\":\"Ext two\",\"external_id\":\"ext-$t\"}"
  v2="$(json .id)"
  api POST /v1/vendors "{\"name\":\"Ext longer\",\"external_id\":\"ext-$t-2\"}"
  assert_status 201
  api POST /v1/vendors "{\"name\":\"Ext upper\",\"external_id\":\"EXT-$t\"}"
  assert_status 201
  api GET "/v1/vendors?external_id=ext-$t"
  assert_status 200
  assert_json .total 2
  assert_equal "$(ids)" "$v2,$v1"
  api GET "/v1/vendors?external_id=ext-"
  assert_json .total 0
}

@test "name and external_id filters combine" {
  local t v
  t="$(tag)"
  api POST /v1/vendors "{\"name\":\"Combo $t\",\"external_id\":\"c-$t\"}"
  v="$(json .id)"
  api POST /v1/vendors "{\"name\":\"Combo $t other\",\"external_id\":\"d-$t\"}"
  assert_status 201
  api GET "/v1/vendors?name=combo%20$t&external_id=c-$t"
  assert_json .total 1
  assert_equal "$(ids)" "$v"
}

@test "limit and offset page through the matches and total counts them all" {
  local t i all=()
  t="$(tag)"
  for i in 1 2 3 4 5; do all=("$(mk_vendor "Page $t $i")" "${all[@]}"); done
  api GET "/v1/vendors?name=$t&limit=2"
  assert_status 200
  assert_json .total 5
  assert_json .limit 2
  assert_json .offset 0
  assert_equal "$(ids)" "${all[0]},${all[1]}"
  api GET "/v1/vendors?name=$t&limit=2&offset=2"
  assert_json .total 5
  assert_json .offset 2
  assert_equal "$(ids)" "${all[2]},${all[3]}"
  api GET "/v1/vendors?name=$t&limit=2&offset=4"
  assert_equal "$(ids)" "${all[4]}"
  api GET "/v1/vendors?name=$t&offset=10"
  assert_json .total 5
  assert_json '.items | length' 0
}

@test "the list is ordered by created_at descending before insertion order" {
  local t v1 v2 v3
  t="$(tag)"
  v1="$(mk_vendor "Order $t a")"
  v2="$(mk_vendor "Order $t b")"
  v3="$(mk_vendor "Order $t c")"
  sql "UPDATE vendors SET created_at = 100 WHERE id IN ('$v1', '$v2', '$v3')"
  api GET "/v1/vendors?name=$t"
  assert_equal "$(ids)" "$v3,$v2,$v1"
  sql "UPDATE vendors SET created_at = 200 WHERE id = '$v1'"
  api GET "/v1/vendors?name=$t"
  assert_equal "$(ids)" "$v1,$v3,$v2"
}

@test "limit and offset outside their ranges are 422 on the query" {
  api GET "/v1/vendors?limit=0"
  assert_422 '["query","limit"]' greater_than_equal
  api GET "/v1/vendors?limit=201"
  assert_422 '["query","limit"]' less_than_equal
  api GET "/v1/vendors?limit=ten"
  assert_422 '["query","limit"]' int_type
  api GET "/v1/vendors?limit=1.5"
  assert_422 '["query","limit"]' int_type
  api GET "/v1/vendors?offset=-1"
  assert_422 '["query","offset"]' greater_than_equal
  api GET "/v1/vendors?offset=x"
  assert_422 '["query","offset"]' int_type
  api GET "/v1/vendors?limit=200&offset=0"
  assert_status 200
  assert_json .limit 200
}

@test "org B's vendor list never shows org A's vendors" {
  local t a b
  t="$(tag)"
  a="$(mk_vendor "Shared $t")"
  b="$(mk_vendor --key "$KEY_B" "Shared $t")"
  api --key "$KEY_B" GET "/v1/vendors?name=$t"
  assert_status 200
  assert_json .total 1
  assert_equal "$(ids)" "$b"
  api --key "$KEY_B" GET "/v1/vendors?limit=200"
  assert_json "[.items[].id] | index(\"$a\")" null
  assert_json .total "$(sql "SELECT count(*) FROM vendors WHERE org_id = '$ORG_B'")"
  api GET "/v1/vendors?name=$t"
  assert_equal "$(ids)" "$a"
}

# --- patch --------------------------------------------------------------

@test "patching a vendor changes the given fields and keeps the others" {
  local id
  api POST /v1/vendors '{"name":"Before","website":"https://before.example","description":"old","hq_location":"Oslo","use_case":"old use","external_id":"p-1"}'
  id="$(json .id)"
  api PATCH "/v1/vendors/$id" '{"name":"After","hq_location":"Bergen","use_case":"new use"}'
  assert_status 200
  assert_json 'keys | join(",")' "$VENDOR_KEYS"
  assert_json .id "$id"
  assert_json .name After
  assert_json .hq_location Bergen
  assert_json .use_case "new use"
  assert_json .website "https://before.example"
  assert_json .description old
  assert_json .external_id p-1
  api GET "/v1/vendors/$id"
  assert_json .name After
  assert_json .hq_location Bergen
  assert_json .description old
}

@test "a null or absent field in a vendor patch leaves the value as it was" {
  local id
  api POST /v1/vendors '{"name":"Nulls","website":"https://nulls.example","description":"keep me"}'
  id="$(json .id)"
  api PATCH "/v1/vendors/$id" '{"website":null,"name":null,"description":"changed"}'
  assert_status 200
  assert_json .website "https://nulls.example"
  assert_json .name Nulls
  assert_json .description changed
  assert_json .hq_location null
  assert_equal "$(sql "SELECT name, website FROM vendors WHERE id = '$id'")" "Nulls|https://nulls.example"
}

@test "a vendor patch can fill in a field that was null" {
  local id
  id="$(mk_vendor "Fill in")"
  api PATCH "/v1/vendors/$id" '{"website":"https://filled.example"}'
  assert_status 200
  assert_json .website "https://filled.example"
}

@test "external_id cannot be patched" {
  local id
  api POST /v1/vendors '{"name":"Fixed ext","external_id":"fixed-1"}'
  id="$(json .id)"
  api PATCH "/v1/vendors/$id" '{"external_id":"moved-1"}'
  assert_status 200
  assert_json .external_id fixed-1
  assert_equal "$(sql "SELECT external_id FROM vendors WHERE id = '$id'")" fixed-1
}

@test "a vendor patch with an empty name is refused and changes nothing" {
  local id d
  id="$(mk_vendor "Keep name")"
  d="$(db_digest)"
  api PATCH "/v1/vendors/$id" '{"name":"","website":"https://x.example"}'
  assert_422 '["body","name"]' too_short
  assert_equal "$(db_digest)" "$d"
}

@test "a vendor patch with fields of the wrong type is refused and changes nothing" {
  local id d
  id="$(mk_vendor "Typed")"
  d="$(db_digest)"
  api PATCH "/v1/vendors/$id" "{\"name\":[],\"website\":1,\"hq_location\":\"$(printf 'h%.0s' {1..10001})\"}"
  assert_422 '["body","name"]' string_type
  assert_422 '["body","website"]' string_type
  assert_422 '["body","hq_location"]' string_too_long
  assert_equal "$(db_digest)" "$d"
  api PATCH "/v1/vendors/$id" '"just a string"'
  assert_422 '["body"]' model_attributes_type
}

@test "patching an unknown vendor is 404 vendor_not_found, after the body's shape is checked" {
  api PATCH "/v1/vendors/$(unknown_id cbvndr)" '{"name":"Ghost"}'
  assert_error 404 vendor_not_found
  api PATCH "/v1/vendors/$(unknown_id cbvndr)" '{"name":5}'
  assert_422 '["body","name"]' string_type
}

@test "org B's key cannot patch org A's vendor and gets the unknown-id 404" {
  local id d
  id="$(mk_vendor "Untouchable")"
  d="$(db_digest)"
  assert_hidden 404 vendor_not_found PATCH /v1/vendors/ID "$id" '{"name":"Hijacked"}'
  assert_equal "$(sql "SELECT name FROM vendors WHERE id = '$id'")" Untouchable
  assert_equal "$(db_digest)" "$d"
}

@test "an empty or unchanged vendor patch returns the vendor and leaves updated_at" {
  local id
  api POST /v1/vendors '{"name":"Steady","website":"https://steady.example"}'
  id="$(json .id)"
  sql "UPDATE vendors SET created_at = 1000, updated_at = 1000 WHERE id = '$id'"
  api PATCH "/v1/vendors/$id" '{}'
  assert_status 200
  assert_json .updated_at 1000
  assert_json .name Steady
  api PATCH "/v1/vendors/$id" ''
  assert_status 200
  assert_json .updated_at 1000
  api PATCH "/v1/vendors/$id" '{"name":"Steady","website":"https://steady.example"}'
  assert_status 200
  assert_json .updated_at 1000
  assert_equal "$(sql "SELECT updated_at FROM vendors WHERE id = '$id'")" 1000
}

@test "a vendor patch that changes a value moves updated_at and not created_at" {
  local id now
  id="$(mk_vendor "Moving")"
  sql "UPDATE vendors SET created_at = 1000, updated_at = 1000 WHERE id = '$id'"
  now=$(date +%s)
  api PATCH "/v1/vendors/$id" '{"description":"new"}'
  assert_status 200
  assert_json .created_at 1000
  assert_json ".updated_at >= $now" true
  assert_json ".updated_at <= $(date +%s)" true
}

# --- Idempotency-Key ----------------------------------------------------

@test "a replayed Idempotency-Key returns the first response verbatim and creates nothing" {
  local k first n
  k="idem-$(tag)"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Idem Once","external_id":"idem-1"}'
  assert_status 201
  first="$body"
  n="$(sql "SELECT count(*) FROM vendors")"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Idem Once","external_id":"idem-1"}'
  assert_status 201
  assert_equal "$body" "$first"
  assert_equal "$(header Idempotent-Replayed)" true
  assert_equal "$(sql "SELECT count(*) FROM vendors")" "$n"
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name = 'Idem Once'")" 1
}

@test "a replay with a different body still returns the first vendor" {
  local k first n id
  k="idem-$(tag)"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Original Body"}'
  assert_status 201
  first="$body"
  id="$(json .id)"
  n="$(sql "SELECT count(*) FROM vendors")"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Different Body","website":"https://diff.example"}'
  assert_status 201
  assert_equal "$body" "$first"
  assert_equal "$(sql "SELECT count(*) FROM vendors")" "$n"
  assert_equal "$(sql "SELECT name, ifnull(website, '-') FROM vendors WHERE id = '$id'")" "Original Body|-"
}

@test "a replay is never rejected, even with an invalid body" {
  local k first d
  k="idem-$(tag)"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Valid First"}'
  assert_status 201
  first="$body"
  d="$(db_digest)"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{}'
  assert_status 201
  assert_equal "$body" "$first"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":""}'
  assert_status 201
  assert_equal "$body" "$first"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name": 5, "website": [}'
  assert_status 201
  assert_equal "$body" "$first"
  api -H "Idempotency-Key: $k" POST /v1/vendors
  assert_status 201
  assert_equal "$body" "$first"
  assert_equal "$(db_digest)" "$d"
}

@test "a replay returns the first response even after the vendor was patched" {
  local k first id
  k="idem-$(tag)"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Snapshot"}'
  first="$body"
  id="$(json .id)"
  api PATCH "/v1/vendors/$id" '{"name":"Renamed"}'
  assert_status 200
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Snapshot"}'
  assert_status 201
  assert_equal "$body" "$first"
  assert_json .name Snapshot
}

@test "without an Idempotency-Key every POST makes a new vendor" {
  local t a b
  t="$(tag)"
  api POST /v1/vendors "{\"name\":\"Twice $t\"}"
  a="$(json .id)"
  api POST /v1/vendors "{\"name\":\"Twice $t\"}"
  assert_status 201
  b="$(json .id)"
  assert_not_equal "$a" "$b"
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name = 'Twice $t'")" 2
}

@test "different Idempotency-Keys make different vendors" {
  local t a b
  t="$(tag)"
  api -H "Idempotency-Key: one-$t" POST /v1/vendors "{\"name\":\"Keys $t\"}"
  a="$(json .id)"
  api -H "Idempotency-Key: two-$t" POST /v1/vendors "{\"name\":\"Keys $t\"}"
  assert_status 201
  b="$(json .id)"
  assert_not_equal "$a" "$b"
  assert_equal "$(sql "SELECT count(*) FROM vendors WHERE name = 'Keys $t'")" 2
}

@test "an Idempotency-Key is scoped to its org" {
  local k a b
  k="idem-$(tag)"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Org A idem"}'
  assert_status 201
  a="$(json .id)"
  api --key "$KEY_B" -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Org B idem"}'
  assert_status 201
  b="$(json .id)"
  assert_not_equal "$a" "$b"
  assert_json .name "Org B idem"
  assert_equal "$(sql "SELECT org_id FROM vendors WHERE id = '$b'")" "$ORG_B"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Org A again"}'
  assert_json .id "$a"
  assert_json .name "Org A idem"
  api --key "$KEY_B" -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Org B again"}'
  assert_json .id "$b"
}

@test "a refused first attempt does not use up its Idempotency-Key" {
  local k n first
  k="idem-$(tag)"
  n="$(sql "SELECT count(*) FROM vendors")"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":""}'
  assert_422 '["body","name"]' too_short
  assert_equal "$(sql "SELECT count(*) FROM vendors")" "$n"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Second try"}'
  assert_status 201
  assert_json .name "Second try"
  first="$body"
  assert_equal "$(sql "SELECT count(*) FROM vendors")" "$((n + 1))"
  api -H "Idempotency-Key: $k" POST /v1/vendors '{"name":"Third try"}'
  assert_status 201
  assert_equal "$body" "$first"
  assert_equal "$(sql "SELECT count(*) FROM vendors")" "$((n + 1))"
}
