#!/usr/bin/env bats
# Webhooks (API.md 4 and 4.1): the endpoints and the events recorded with
# the changes they report; `reassess deliver` sending them to a receiver on
# a loopback port (tests/fixtures/webhook-receiver.py) that records what it
# gets is tests/webhook_delivery.bats's. Both load tests/webhooks.bash.
#
# Rationale for the environment: the receiver listens on 127.0.0.1 over
# plain http, which the URL policy refuses unless the operator sets
# REASSESS_WEBHOOK_ALLOW_PRIVATE=1. It is exported before setup_db, so the
# CGI runs and, under REASSESS_TRANSPORT=http, `reassess serve` have it; the
# tests of the policy without it unset it per request, which only the CGI
# transport can do (they skip over http). Retry delays of 0 s let one
# `deliver --once` run every attempt at once. The second generation of 4.2
# (timestamps, Standard Webhooks signatures, rotation, retries by kind) is
# tests/webhooks_v2.bats's.

load helper
load webhooks

# --- create -------------------------------------------------------------

@test "creating a webhook returns 201 and the object, never the secret" {
  local before after id
  before=$(date +%s)
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\",\"Reassessment.Updated\"],\"secret\":\"$SECRET\",\"description\":\"CRM sync\"}"
  after=$(date +%s)
  assert_status 201
  assert_json 'keys | join(",")' "$WEBHOOK_KEYS"
  assert_json '.id | test("^cbwh_[0-9a-f]{32}$")' true
  assert_json .url "$RECV_URL/ok/$T"
  assert_json '.events | join(",")' "Vendor.Created,Reassessment.Updated"
  assert_json .description "CRM sync"
  assert_json .enabled true
  assert_json ".created_at >= $before and .created_at <= $after" true
  assert_json .last_delivery_status null
  assert_json .delivery_success_rate null
  assert_json .delivery_count 0
  [[ "$body" != *"$SECRET"* ]] || fail "the secret was returned: $body"
  id="$(json .id)"
  api GET "/v1/webhooks/$id"
  assert_status 200
  assert_json 'keys | join(",")' "$WEBHOOK_KEYS"
  [[ "$body" != *"$SECRET"* ]] || fail "the secret was returned: $body"
  api GET /v1/webhooks
  [[ "$body" != *"$SECRET"* ]] || fail "the secret was returned: $body"
  assert_equal "$(sql "SELECT org_id, enabled FROM webhooks WHERE id = '$id'")" "$ORG|1"
}

@test "a secret shorter than 16 characters is 400 weak_secret, checked before the URL and the event types" {
  local d
  d="$(db_digest)"
  api POST /v1/webhooks '{"url":"ftp://nowhere","events":["No.Such"],"secret":"0123456789abcde"}'
  assert_error 400 weak_secret
  # Characters, not bytes: 15 two-byte characters are still too few.
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"ééééééééééééééé\"}"
  assert_error 400 weak_secret
  assert_equal "$(db_digest)" "$d"
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"éééééééééééééééé\"}"
  assert_status 201
}

@test "a URL that is not an https URL is 400 invalid_url, checked before the event types" {
  strict
  local d u
  d="$(db_digest)"
  for u in "not a url" "ftp://files.example.com/hook" "http://hooks.example.com/hook" ""; do
    REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"No.Such\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "a URL to 127.0.0.1 or another private address is refused at registration without the operator setting" {
  strict
  local d u
  d="$(db_digest)"
  for u in "https://127.0.0.1:${RECV_URL##*:}/ok/$T" "$RECV_URL/ok/$T" \
           "https://localhost/hook" "https://[::1]/hook" "https://10.1.2.3/hook" \
           "https://192.168.1.1/hook" "https://169.254.1.1/hook" \
           "https://[fd12::1]/hook" "https://[::ffff:127.0.0.1]/hook" \
           "https://hooks.example.com@127.0.0.1/" "https://2130706433/hook"; do
    REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "cloud metadata addresses are refused even with REASSESS_WEBHOOK_ALLOW_PRIVATE=1" {
  local u
  for u in "http://169.254.169.254/latest/meta-data/" "https://169.254.169.254/" \
           "http://[fd00:ec2::254]/" "http://[::ffff:169.254.169.254]/"; do
    api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
}

@test "with REASSESS_WEBHOOK_ALLOW_PRIVATE=1 an http URL to a loopback receiver is accepted" {
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
  assert_status 201
}

@test "a host spelt in a way no public host needs is refused at registration, with or without the operator setting" {
  local d u
  d="$(db_digest)"
  # %-escapes, non-ASCII bytes, an IPv6 zone id, short and numeric IPv4
  # forms, a trailing dot on the metadata address: each is 400 invalid_url
  # before anything is stored (the file's server allows private targets).
  for u in "https://hooks%2eexample%2ecom/hook" "https://loc%61lhost/hook" \
           "https://ex\u00e4mple.com/hook" "https://b\u00fccher.example/hook" \
           "https://[fe80::1%25eth0]/hook" "https://[fe80::1%eth0]/hook" \
           "https://127.1/hook" "https://0x7f.1/hook" "https://0177.0.0.1/hook" \
           "https://2852039166/hook" "https://0xa9fea9fe/hook" "https://1.2.3.4.5/hook" \
           "https://169.254.169.254./latest/meta-data/" "https://hooks..example.com/hook" \
           "https://hooks.example.com../hook" "https://hooks!.example.com/hook" \
           "https://[127.0.0.1]/hook"; do
    api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "a trailing-dot or .localhost form of a loopback name or address is refused at registration without the operator setting" {
  strict
  local d u
  d="$(db_digest)"
  for u in "https://localhost./hook" "https://LOCALHOST/hook" "https://127.0.0.1./hook" \
           "https://hooks.localhost/hook" "https://hooks.localhost./hook" \
           "https://10.1.2.3./hook" "https://[::1]./hook"; do
    REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api POST /v1/webhooks "{\"url\":\"$u\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
    assert_code 400 invalid_url
  done
  assert_equal "$(db_digest)" "$d"
}

@test "a fully qualified name with its trailing dot is accepted at registration like the name without it" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  api POST /v1/webhooks "{\"url\":\"https://hooks.example.test./$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
  assert_status 201
  assert_json .url "https://hooks.example.test./$T"
}

@test "an https URL whose host does not resolve yet is accepted at registration" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  api POST /v1/webhooks "{\"url\":\"https://hooks.example.test/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\"}"
  assert_status 201
}

@test "unknown event types are 422 invalid_event_types naming each unknown one" {
  local d msg
  d="$(db_digest)"
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\",\"Vendor.Exploded\",\"vendor.created\",\"Reassessment.Run\"],\"secret\":\"$SECRET\"}"
  assert_error 422 invalid_event_types
  msg="$(json .detail.message)"
  [[ "$msg" == *Vendor.Exploded* && "$msg" == *vendor.created* && "$msg" == *Reassessment.Run* ]] ||
    fail "the message does not list every unknown type: $msg"
  [[ "$msg" != *Vendor.Created* ]] || fail "the message lists a known type: $msg"
  assert_equal "$(db_digest)" "$d"
}

@test "webhook.test is not subscribable" {
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"webhook.test\"],\"secret\":\"$SECRET\"}"
  assert_error 422 invalid_event_types
  assert_json '.detail.message | contains("webhook.test")' true
}

@test "every event type of Coverbase's catalog can be subscribed to" {
  local all='["Assessment.Created","Assessment.AssigneeChanged","Assessment.StatusChanged","QuestionnaireResponse.Created","QuestionnaireResponse.StatusChanged","Review.StatusChanged","WorkQueueItem.Created","WorkQueueItem.Completed","Vendor.Created","Vendor.Updated","Procurement.Created","Procurement.StatusChanged","Service.Created","Service.Updated","OrgIntake.QuestionnaireRemoved","OrgIntake.Disabled","IntakeSession.Created","IntakeSession.Submitted","RadarEvent.Created","RadarEvent.Updated","RadarEvent.Deleted","RadarDetectorResult.Created","RadarDetectorResult.Updated","RadarDetectorResult.Deleted","Reassessment.Created","Reassessment.Updated","Reassessment.Deleted"]'
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":$all,\"secret\":\"$SECRET\"}"
  assert_status 201
  assert_json '.events | length' 27
}

@test "a body of the wrong shape is 422 listing every problem, before the business rules" {
  local d
  d="$(db_digest)"
  api POST /v1/webhooks '{}'
  assert_422 '["body","url"]' missing
  assert_422 '["body","events"]' missing
  assert_422 '["body","secret"]' missing
  assert_json '.detail | length' 3
  api POST /v1/webhooks '{"url":5,"events":"Vendor.Created","secret":"short","description":7,"enabled":"yes"}'
  assert_422 '["body","url"]' string_type
  assert_422 '["body","events"]' list_type
  assert_422 '["body","description"]' string_type
  assert_422 '["body","enabled"]' bool_type
  api POST /v1/webhooks '{"url":"ftp://x","events":[],"secret":"short"}'
  assert_422 '["body","events"]' too_short
  api POST /v1/webhooks '{"url":"ftp://x","events":["Vendor.Created",7],"secret":12}'
  assert_422 '["body","events",1]' string_type
  assert_422 '["body","secret"]' string_type
  api POST /v1/webhooks ''
  assert_422 '["body"]' missing
  api POST /v1/webhooks '[1]'
  assert_422 '["body"]' model_attributes_type
  api POST /v1/webhooks '{"url":'
  assert_422 '["body"]' json_invalid
  assert_equal "$(db_digest)" "$d"
}

# --- read, list, delete -------------------------------------------------

@test "the webhook list is {\"data\":[...]}, newest first, unpaged, without deleted webhooks" {
  local w1 w2 w3
  w1="$(mk_hook "$RECV_URL/ok/$T-1" '["Vendor.Created"]')"
  w2="$(mk_hook "$RECV_URL/ok/$T-2" '["Vendor.Created"]')"
  w3="$(mk_hook "$RECV_URL/ok/$T-3" '["Vendor.Created"]')"
  mk_hook --key "$KEY_B" "$RECV_URL/ok/$T-b" '["Vendor.Created"]' >/dev/null
  api GET /v1/webhooks
  assert_status 200
  assert_json 'keys | join(",")' data
  assert_json '[.data[].id] | join(",")' "$w3,$w2,$w1"
  assert_json '[.data[] | keys | join(",")] | unique | join(";")' "$WEBHOOK_KEYS"
  api DELETE "/v1/webhooks/$w2"
  assert_status 204
  api GET /v1/webhooks
  assert_json '[.data[].id] | join(",")' "$w3,$w1"
}

@test "an unknown, malformed or wrongly prefixed webhook id is 404 webhook_not_found" {
  local id unk
  unk="$(unknown_id cbwh)"
  api GET "/v1/webhooks/$unk"
  assert_error 404 webhook_not_found
  for id in cbwh_zz "$(unknown_id cbvndr)"; do
    api GET "/v1/webhooks/$id"
    assert_code 404 webhook_not_found
  done
  api PATCH "/v1/webhooks/$unk" '{"description":"x"}'
  assert_code 404 webhook_not_found
  api DELETE "/v1/webhooks/$unk"
  assert_code 404 webhook_not_found
  api POST "/v1/webhooks/$unk/test" '{}'
  assert_code 404 webhook_not_found
  api GET "/v1/webhooks/$unk/deliveries"
  assert_code 404 webhook_not_found
}

@test "org B's key gets the unknown-id 404 on org A's webhook, on every endpoint, and changes nothing" {
  local w d
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  d="$(db_digest)"
  assert_hidden 404 webhook_not_found GET /v1/webhooks/ID "$w"
  assert_hidden 404 webhook_not_found PATCH /v1/webhooks/ID "$w" '{"enabled":false}'
  assert_hidden 404 webhook_not_found DELETE /v1/webhooks/ID "$w"
  assert_hidden 404 webhook_not_found POST /v1/webhooks/ID/test "$w" '{}'
  assert_hidden 404 webhook_not_found GET /v1/webhooks/ID/deliveries "$w"
  assert_equal "$(db_digest)" "$d"
  api --key "$KEY_B" GET /v1/webhooks
  assert_json '.data | length' 0
}

@test "DELETE answers 204 with no body, then the webhook is 404 everywhere" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api DELETE "/v1/webhooks/$w"
  assert_status 204
  assert_equal "$body" ""
  api GET "/v1/webhooks/$w"
  assert_error 404 webhook_not_found
  api DELETE "/v1/webhooks/$w"
  assert_error 404 webhook_not_found
  api PATCH "/v1/webhooks/$w" '{"enabled":true}'
  assert_error 404 webhook_not_found
  api POST "/v1/webhooks/$w/test" '{}'
  assert_error 404 webhook_not_found
  api GET "/v1/webhooks/$w/deliveries"
  assert_error 404 webhook_not_found
  # A soft delete: the row stays, marked.
  assert_equal "$(sql "SELECT deleted_at IS NOT NULL FROM webhooks WHERE id = '$w'")" 1
}

# --- update -------------------------------------------------------------

@test "PATCH changes the fields given and leaves null or absent ones unchanged" {
  local w
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\",\"description\":\"first\"}"
  w="$(json .id)"
  api PATCH "/v1/webhooks/$w" "{\"url\":\"$RECV_URL/ok/$T-2\",\"events\":[\"Vendor.Updated\",\"RadarEvent.Created\"],\"description\":null,\"enabled\":null}"
  assert_status 200
  assert_json 'keys | join(",")' "$WEBHOOK_KEYS"
  assert_json .url "$RECV_URL/ok/$T-2"
  assert_json '.events | join(",")' "Vendor.Updated,RadarEvent.Created"
  assert_json .description first
  assert_json .enabled true
  api PATCH "/v1/webhooks/$w" '{"enabled":false,"description":"second"}'
  assert_status 200
  assert_json .enabled false
  assert_json .description second
  assert_json .url "$RECV_URL/ok/$T-2"
  local was="$body"
  api PATCH "/v1/webhooks/$w" '{}'
  assert_status 200
  assert_equal "$body" "$was"
  api PATCH "/v1/webhooks/$w" ''
  assert_status 200
  assert_equal "$body" "$was"
  api GET "/v1/webhooks/$w"
  assert_equal "$body" "$was"
}

@test "PATCH makes the create checks on what it is given, in the same order" {
  local w d
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  d="$(db_digest)"
  api PATCH "/v1/webhooks/$w" '{"secret":"too short","url":"ftp://x","events":["No.Such"]}'
  assert_error 400 weak_secret
  api PATCH "/v1/webhooks/$w" '{"url":"ftp://x","events":["No.Such"]}'
  assert_error 400 invalid_url
  api PATCH "/v1/webhooks/$w" '{"url":"http://169.254.169.254/"}'
  assert_error 400 invalid_url
  api PATCH "/v1/webhooks/$w" '{"events":["Vendor.Created","No.Such","webhook.test"]}'
  assert_error 422 invalid_event_types
  assert_json '.detail.message | contains("No.Such") and contains("webhook.test")' true
  api PATCH "/v1/webhooks/$w" '{"events":[],"enabled":"no","url":7,"secret":false}'
  assert_422 '["body","events"]' too_short
  assert_422 '["body","enabled"]' bool_type
  assert_422 '["body","url"]' string_type
  assert_422 '["body","secret"]' string_type
  api PATCH "/v1/webhooks/$(unknown_id cbwh)" '{"enabled":"no"}'
  assert_422 '["body","enabled"]' bool_type
  assert_equal "$(db_digest)" "$d"
}

@test "a URL to a private address is refused by PATCH without the operator setting" {
  strict
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api PATCH "/v1/webhooks/$w" '{"url":"https://127.0.0.1/x"}'
  assert_error 400 invalid_url
  REASSESS_WEBHOOK_ALLOW_PRIVATE=0 api PATCH "/v1/webhooks/$w" '{"description":"no URL given, no URL check"}'
  assert_status 200
}

# --- test events and the deliveries list --------------------------------

@test "POST .../test queues one webhook.test delivery to that webhook alone and answers as the contract gives" {
  local w other before after eid
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  other="$(mk_hook "$RECV_URL/ok/$T-other" "$EMITTED")"
  before=$(date +%s)
  api POST "/v1/webhooks/$w/test"
  after=$(date +%s)
  assert_status 200
  assert_json 'keys | join(",")' "attempted_at,delivered,event_id,response_status,response_time_ms"
  assert_json '.event_id | test("^cbevt_[0-9a-f]{32}$")' true
  assert_json .delivered true
  assert_json .response_status null
  assert_json .response_time_ms null
  assert_json ".attempted_at >= $before and .attempted_at <= $after" true
  eid="$(json .event_id)"
  deliveries "$w"
  assert_json .total 1
  assert_json '.data[0].event_id' "$eid"
  assert_json '.data[0].event_type' webhook.test
  assert_json '.data[0].status' pending
  assert_json '.data[0].payload | keys_unsorted | join(",")' "event_id,event_type,occurred_at,data"
  assert_json '.data[0].payload.data | tojson' '{"event_type":"webhook.test","test":true}'
  deliveries "$other"
  assert_json .total 0
  deliver
  assert_equal "$(received_count "/ok/$T")" 1
  assert_equal "$(received_count "/ok/$T-other")" 0
  assert_equal "$(received "/ok/$T" | jq -r '.headers["x-coverbase-event-type"]')" webhook.test
  assert_equal "$(received "/ok/$T" | jq -c '.body | fromjson | .data')" '{"event_type":"webhook.test","test":true}'
  assert_signed "$(received "/ok/$T")" "$SECRET"
}

@test "POST .../test sends the event type and payload it is given" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test" '{"event_type":"Vendor.Created","payload":{"vendor_id":"cbvndr_x","n":[1,2]}}'
  assert_status 200
  deliver
  assert_equal "$(received "/ok/$T" | jq -r '.headers["x-coverbase-event-type"]')" Vendor.Created
  assert_equal "$(received "/ok/$T" | jq -c '.body | fromjson | [.event_type, .data]')" \
    '["Vendor.Created",{"event_type":"Vendor.Created","vendor_id":"cbvndr_x","n":[1,2]}]'
}

@test "a test payload cannot change the event type inside data" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test" '{"payload":{"event_type":"Reassessment.Deleted","x":1}}'
  assert_status 200
  deliveries "$w"
  assert_json '.data[0].payload | [.event_type, .data.event_type, .data.x] | join(",")' \
    "webhook.test,webhook.test,1"
}

@test "POST .../test refuses a body of the wrong shape" {
  local w d
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  d="$(db_digest)"
  api POST "/v1/webhooks/$w/test" '{"event_type":5,"payload":[1]}'
  assert_status 422
  assert_422 '["body","event_type"]' string_type
  api POST "/v1/webhooks/$w/test" '{"event_type":"a b\r\nX-Injected: 1"}'
  assert_status 422
  assert_json '.detail[0].loc | join(".")' body.event_type
  assert_equal "$(db_digest)" "$d"
}

@test "deliveries page newest first with data, total, limit and offset" {
  local w e1 e2 e3
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test"; e1="$(json .event_id)"
  api POST "/v1/webhooks/$w/test"; e2="$(json .event_id)"
  api POST "/v1/webhooks/$w/test"; e3="$(json .event_id)"
  api GET "/v1/webhooks/$w/deliveries"
  assert_status 200
  assert_json 'keys | join(",")' "data,limit,offset,total"
  assert_json '[.total, .limit, .offset] | join(",")' "3,50,0"
  assert_json '[.data[].event_id] | join(",")' "$e3,$e2,$e1"
  assert_json '[.data[] | keys | join(",")] | unique | join(";")' "$DELIVERY_KEYS"
  assert_json '.data[0].id | test("^cbwhd_[0-9a-f]{32}$")' true
  assert_json '[.data[] | .webhook_id == "'"$w"'" and .status == "pending" and .attempted_at == null and .response_status == null and .response_time_ms == null and .error == null and (.created_at | type) == "number"] | all' true
  api GET "/v1/webhooks/$w/deliveries?limit=2"
  assert_json '[.total, .limit, .offset] | join(",")' "3,2,0"
  assert_json '[.data[].event_id] | join(",")' "$e3,$e2"
  api GET "/v1/webhooks/$w/deliveries?limit=2&offset=2"
  assert_json '[.data[].event_id] | join(",")' "$e1"
  api GET "/v1/webhooks/$w/deliveries?offset=5"
  assert_json '[.total, (.data | length)] | join(",")' "3,0"
  api GET "/v1/webhooks/$w/deliveries?limit=0"
  assert_422 '["query","limit"]' greater_than_equal
  api GET "/v1/webhooks/$w/deliveries?limit=201"
  assert_422 '["query","limit"]' less_than_equal
  api GET "/v1/webhooks/$w/deliveries?offset=-1"
  assert_422 '["query","offset"]' greater_than_equal
  api GET "/v1/webhooks/$w/deliveries?limit=ten"
  assert_422 '["query","limit"]' int_type
}

# --- the events each change records -------------------------------------

@test "creating a vendor records Vendor.Created with vendor_id" {
  local w v
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  assert_equal "$(last_payload "$w" Vendor.Created | jq -c .data)" \
    "{\"event_type\":\"Vendor.Created\",\"vendor_id\":\"$v\"}"
  assert_equal "$(count_of "$w" Vendor.Created)" 1
}

@test "an Idempotency-Key replay of a vendor create records no second event" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api -H "Idempotency-Key: $T" POST /v1/vendors '{"name":"Once"}'
  assert_status 201
  api -H "Idempotency-Key: $T" POST /v1/vendors '{"name":"Once"}'
  assert_status 201
  deliveries "$w"
  assert_json .total 1
}

@test "updating a vendor records Vendor.Updated with the exact field_diffs, and nothing when nothing changed" {
  local w v before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor "Old Name")"
  api GET "/v1/vendors/$v"; before="$body"
  api PATCH "/v1/vendors/$v" '{"name":"New Name","website":"https://new.example","description":null}'
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Vendor.Updated)" Vendor.Updated vendor_id "$v" \
    "$before" "$after" "name,website"
  assert_equal "$(last_payload "$w" Vendor.Updated | jq -c .data.field_diffs.website)" \
    '{"old_value":null,"new_value":"https://new.example"}'
  # The same values again, or nothing: no event.
  api PATCH "/v1/vendors/$v" '{"name":"New Name"}'
  assert_status 200
  api PATCH "/v1/vendors/$v" '{}'
  assert_status 200
  assert_equal "$(count_of "$w" Vendor.Updated)" 1
}

@test "creating a radar event records RadarEvent.Created and one RadarDetectorResult.Created per alert" {
  local w v1 v2 ev alerts got
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  ev="$(mk_event "[\"$v1\",\"$v2\"]")"
  assert_equal "$(last_payload "$w" RadarEvent.Created | jq -c .data)" \
    "{\"event_type\":\"RadarEvent.Created\",\"radar_event_id\":\"$ev\"}"
  api GET "/v1/radar/alerts?include_archived=true&limit=200"
  alerts="$(json "[.items[] | select(.event_id == \"$ev\") | .id] | sort | join(\",\")")"
  got="$(payloads "$w" RadarDetectorResult.Created | jq -r '[.[].data.radar_detector_result_id] | sort | join(",")')"
  assert_equal "$got" "$alerts"
  assert_equal "$(payloads "$w" RadarDetectorResult.Created | jq -r '[.[].data | keys | join(",")] | unique | join(";")')" \
    "event_type,radar_detector_result_id"
  assert_equal "$(echo "$got" | tr ',' '\n' | wc -l)" 2
}

@test "a radar event without alerts records no RadarDetectorResult.Created" {
  local w v
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  api POST /v1/radar/events "{\"name\":\"Quiet\",\"summary\":\"s\",\"primary_impact_type\":\"Legal\",\"vendor_ids\":[\"$v\"],\"create_alert\":false}"
  assert_status 201
  assert_equal "$(count_of "$w" RadarEvent.Created)" 1
  assert_equal "$(count_of "$w" RadarDetectorResult.Created)" 0
}

@test "dismissing and undismissing an alert record RadarDetectorResult.Updated with the exact field_diffs" {
  local w v ev a before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  api GET "/v1/radar/alerts?vendor_id=$v"
  a="$(json '.items[0].id')"
  api GET "/v1/radar/alerts/$a"; before="$body"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"not us"}'
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" RadarDetectorResult.Updated)" RadarDetectorResult.Updated \
    radar_detector_result_id "$a" "$before" "$after" "dismiss_reason,dismissed_at,is_dismissed"
  # A no-op dismiss records nothing; a new reason is a change of its own.
  api POST "/v1/radar/alerts/$a/dismiss"
  assert_status 200
  assert_equal "$(count_of "$w" RadarDetectorResult.Updated)" 1
  before="$after"
  api POST "/v1/radar/alerts/$a/dismiss" '{"reason":"still not us"}'
  after="$body"
  assert_updated "$(last_payload "$w" RadarDetectorResult.Updated)" RadarDetectorResult.Updated \
    radar_detector_result_id "$a" "$before" "$after" "dismiss_reason"
  before="$after"
  api POST "/v1/radar/alerts/$a/undismiss"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" RadarDetectorResult.Updated)" RadarDetectorResult.Updated \
    radar_detector_result_id "$a" "$before" "$after" "dismiss_reason,dismissed_at,is_dismissed"
  assert_equal "$(last_payload "$w" RadarDetectorResult.Updated | jq -c .data.field_diffs.is_dismissed)" \
    '{"old_value":true,"new_value":false}'
  api POST "/v1/radar/alerts/$a/undismiss"
  assert_equal "$(count_of "$w" RadarDetectorResult.Updated)" 3
}

@test "creating a reassessment records Reassessment.Created with reassessment_id" {
  local w v ev rsm
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  assert_equal "$(last_payload "$w" Reassessment.Created | jq -c .data)" \
    "{\"event_type\":\"Reassessment.Created\",\"reassessment_id\":\"$rsm\"}"
}

@test "confirming a reassessment records Reassessment.Updated with status, and a repeated confirm records nothing" {
  local w v ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" status
  assert_equal "$(last_payload "$w" Reassessment.Updated | jq -c .data.field_diffs)" \
    '{"status":{"old_value":"draft","new_value":"confirmed"}}'
  api POST "/v1/reassessments/$rsm/confirm"
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 1
}

@test "dismissing a reassessment records Reassessment.Updated with status" {
  local w v ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  api POST "/v1/reassessments/$rsm/confirm"
  before="$body"
  api POST "/v1/reassessments/$rsm/dismiss"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" status
  assert_equal "$(last_payload "$w" Reassessment.Updated | jq -c .data.field_diffs)" \
    '{"status":{"old_value":"confirmed","new_value":"dismissed"}}'
}

@test "running a reassessment records Reassessment.Updated and one Assessment.Created per assessment made" {
  local w v1 v2 v3 ev plan rsm before after asmts got
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"; v2="$(mk_vendor)"; v3="$(mk_vendor)"
  ev="$(mk_event "[\"$v1\",\"$v2\",\"$v3\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v1\",\"$v2\",\"$v3\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  before="$body"
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" status,vendors
  assert_equal "$(last_payload "$w" Reassessment.Updated | jq -c .data.field_diffs.status)" \
    '{"old_value":"draft","new_value":"run"}'
  asmts="$(json '[.vendors[] | .assessment_id | select(. != null)] | sort | join(",")')"
  got="$(payloads "$w" Assessment.Created | jq -r '[.[].data.assessment_id] | sort | join(",")')"
  assert_equal "$got" "$asmts"
  assert_equal "$(echo "$got" | tr ',' '\n' | wc -l)" 2
  assert_equal "$(payloads "$w" Assessment.Created | jq -r '[.[].data | keys | join(",")] | unique | join(";")')" \
    "assessment_id,event_type"
}

@test "adding vendors records Reassessment.Updated with vendors, and alert_ids where they move" {
  local w v1 v2 ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"; v2="$(mk_vendor)"
  ev="$(mk_event "[\"$v1\",\"$v2\"]")"
  rsm="$(mk_rsm "$ev" "[\"$v1\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":[\"$v2\"]}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" alert_ids,vendors
  # A vendor already in, and included: nothing changes, nothing is recorded.
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":[\"$v2\"]}"
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 1
}

@test "opting a vendor out records Reassessment.Updated with vendors" {
  local w v1 v2 ev rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v1="$(mk_vendor)"; v2="$(mk_vendor)"
  ev="$(mk_event "[]")"
  rsm="$(mk_rsm "$ev" "[\"$v1\",\"$v2\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" vendors
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v2\",\"included\":false}"
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 1
}

@test "patching a reassessment records Reassessment.Updated with the exact field_diffs" {
  local w v ev ev2 plan rsm before after
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[]")"
  ev2="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  api GET "/v1/reassessments/$rsm"; before="$body"
  api PATCH "/v1/reassessments/$rsm" "{\"title\":\"Q3 review\",\"assessment_plan_id\":\"$plan\"}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" assessment_plan_id,title
  before="$after"
  api PATCH "/v1/reassessments/$rsm" "{\"radar_event_id\":\"$ev2\"}"
  assert_status 200
  after="$body"
  assert_updated "$(last_payload "$w" Reassessment.Updated)" Reassessment.Updated \
    reassessment_id "$rsm" "$before" "$after" alert_ids,radar_event_id
  api PATCH "/v1/reassessments/$rsm" '{"title":"Q3 review"}'
  assert_status 200
  api PATCH "/v1/reassessments/$rsm" '{}'
  assert_status 200
  assert_equal "$(count_of "$w" Reassessment.Updated)" 2
}

@test "a refused request records no event" {
  local w v v2 ev plan rsm done_rsm n
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]")"
  done_rsm="$(mk_rsm "$ev" "[\"$v\"]" "$plan")"
  api POST "/v1/reassessments/$done_rsm/dismiss"
  assert_status 200
  n="$(events_recorded)"
  api PATCH "/v1/vendors/$v" '{"name":""}'
  assert_status 422
  api PATCH "/v1/vendors/$(unknown_id cbvndr)" '{"name":"Ghost"}'
  assert_code 404 vendor_not_found
  api POST /v1/vendors '{"website":"https://noname.example"}'
  assert_status 422
  api POST /v1/radar/events '{"name":"No summary"}'
  assert_status 422
  api POST "/v1/radar/alerts/$(unknown_id cbrdrres)/dismiss"
  assert_code 404 alert_not_found
  api POST /v1/reassessments "{\"radar_event_id\":\"$ev\",\"vendor_ids\":[\"$v\",\"$(unknown_id cbvndr)\"]}"
  assert_code 422 invalid_reassessment
  api POST "/v1/reassessments/$rsm/run"
  assert_code 400 missing_assessment_plan
  api POST "/v1/reassessments/$rsm/vendors" "{\"vendor_ids\":[\"$(unknown_id cbvndr)\"]}"
  assert_code 422 invalid_reassessment
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$(unknown_id cbvndr)\",\"included\":false}"
  assert_code 404 vendor_not_found
  api PATCH "/v1/reassessments/$rsm" "{\"assessment_plan_id\":\"$(unknown_id cbasmtpl)\"}"
  assert_code 422 invalid_reassessment
  api POST "/v1/reassessments/$done_rsm/confirm"
  assert_code 422 reassessment_immutable
  api POST "/v1/reassessments/$done_rsm/run"
  assert_code 422 reassessment_immutable
  api --key "$KEY_B" POST "/v1/reassessments/$rsm/confirm"
  assert_code 404 reassessment_not_found
  api POST "/v1/webhooks/$w/test" '{"event_type":"has space"}'
  assert_status 422
  assert_equal "$(events_recorded)" "$n"
}

@test "a run refused because every vendor is opted out records no event and no assessment" {
  local w v ev plan rsm n
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/vendor_inclusion" "{\"vendor_id\":\"$v\",\"included\":false}"
  n="$(events_recorded)"
  api POST "/v1/reassessments/$rsm/run"
  assert_error 400 no_included_vendors
  assert_equal "$(events_recorded)" "$n"
  assert_equal "$(count_of "$w" Assessment.Created)" 0
}
