#!/usr/bin/env bats
# Webhooks (API.md 4.1): `reassess deliver` sending the recorded events to a
# receiver on a loopback port (tests/fixtures/webhook-receiver.py) that
# records what it gets: envelopes, signatures, retries, timeouts, the URL
# policy at delivery, disabled and deleted webhooks, concurrent deliver
# processes. The environment (tests/webhooks.bash) and its rationale are
# tests/webhooks.bats's; the two files were one until it was the longest
# file of every pass.

load helper
load webhooks

# --- delivery -----------------------------------------------------------

@test "every emitted event type arrives once, with the exact envelope, headers and a signature openssl verifies" {
  local w v v2 ev plan rsm alert req eid n got want
  w="$(mk_hook "$RECV_URL/ok/$T" "$EMITTED")"
  v="$(mk_vendor)"
  api PATCH "/v1/vendors/$v" '{"website":"https://acme.example"}'
  v2="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  api GET "/v1/radar/alerts?vendor_id=$v"
  alert="$(json '.items[0].id')"
  api POST "/v1/radar/alerts/$alert/dismiss" '{"reason":"noise"}'
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\",\"$v2\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  deliveries "$w"
  want="$(json '[.data[].event_type] | sort | join(",")')"
  assert_equal "$want" "Assessment.Created,Assessment.Created,RadarDetectorResult.Created,RadarDetectorResult.Updated,RadarEvent.Created,Reassessment.Created,Reassessment.Updated,Vendor.Created,Vendor.Created,Vendor.Updated"
  deliver
  got="$(received "/ok/$T" | jq -rs '[.[] | .headers["x-coverbase-event-type"]] | sort | join(",")')"
  assert_equal "$got" "$want"
  # The exact envelope, in the contract's key order, and the headers that
  # go with it; what was sent is the payload the deliveries list shows.
  got="$(received "/ok/$T" | jq -rs --argjson sent "$(json '[.data[] | {key: .event_id, value: .payload}] | from_entries')" '
    [.[] | (.body | fromjson) as $b | {
      method: (.method == "POST"),
      content_type: (.headers["content-type"] == "application/json"),
      envelope_keys: (($b | keys_unsorted) == ["event_id", "event_type", "occurred_at", "data"]),
      event_id: ($b.event_id | test("^cbevt_[0-9a-f]{32}$")),
      occurred_at: (($b.occurred_at | type) == "number"),
      data_event_type: ($b.data | keys_unsorted[0] == "event_type" and .event_type == $b.event_type),
      id_header: (.headers["x-coverbase-event-id"] == $b.event_id),
      type_header: (.headers["x-coverbase-event-type"] == $b.event_type),
      as_listed: ($sent[$b.event_id] == $b)
    } | to_entries[] | select(.value | not) | .key] | unique | join(",")')"
  assert_equal "$got" ""
  n=0
  while IFS= read -r req; do
    n=$((n + 1))
    assert_signed "$req" "$SECRET"
  done < <(received "/ok/$T")
  assert_equal "$n" 10
  deliveries "$w"
  assert_json '[.data[] | .status == "delivered" and .response_status == 200 and .error == null and (.response_time_ms | type) == "number" and (.attempted_at | type) == "number"] | all' true
}

@test "a delivered attempt updates the webhook's last status, count and success rate" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status delivered
  assert_json .delivery_count 1
  assert_json .delivery_success_rate 1
}

@test "a receiver answering 500 gets six attempts in all, each recorded as an error with its status" {
  local w eid
  w="$(mk_hook "$RECV_URL/fail/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/fail/$T")" 6
  # The same event each time: same id, same body, same signature of the
  # body (4.1's; 4.2's signs the attempt's timestamp too).
  assert_equal "$(received "/fail/$T" | jq -r '.headers["x-coverbase-event-id"]' | sort -u | wc -l)" 1
  assert_equal "$(received "/fail/$T" | jq -r .body_b64 | sort -u | wc -l)" 1
  assert_equal "$(received "/fail/$T" | jq -r '.headers["coverbase-signature"]' | sort -u | wc -l)" 1
  deliveries "$w"
  assert_json .total 6
  assert_json '[.data[] | .status] | unique | join(",")' error
  assert_json '[.data[] | .response_status] | unique | join(",")' 500
  assert_json '[.data[] | .error | type] | unique | join(",")' string
  assert_json '[.data[] | .event_id] | unique | length' 1
  assert_equal "$(sql "SELECT group_concat(attempt, ',') FROM (SELECT attempt FROM webhook_deliveries WHERE webhook_id = '$w' ORDER BY attempt)")" "1,2,3,4,5,6"
  # Six attempts are all: another pass sends nothing more.
  deliver
  assert_equal "$(received_count "/fail/$T")" 6
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status error
  assert_json .delivery_count 6
  assert_json .delivery_success_rate 0
}

@test "a receiver that hangs past the timeout gets six attempts, each recorded as a timeout" {
  local w
  w="$(mk_hook "$RECV_URL/hang/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver REASSESS_WEBHOOK_TIMEOUT_MS=1000
  # The receiver logs a request once it has read it: poll, bounded at 5 s.
  for _ in $(seq 100); do
    [ "$(received_count "/hang/$T")" -ge 6 ] && break
    sleep 0.05
  done
  assert_equal "$(received_count "/hang/$T")" 6
  deliveries "$w"
  assert_json .total 6
  assert_json '[.data[] | .status] | unique | join(",")' timeout
  assert_json '[.data[] | .response_status] | unique | join(",")' ""
  assert_json '[.data[] | .error | type] | unique | join(",")' string
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status timeout
}

@test "a redirect is not followed: the attempt is an error with status 302, not retried" {
  local w
  w="$(mk_hook "$RECV_URL/redirect/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/redirect/$T")" 1
  assert_equal "$(received_count /ok/redirected)" 0
  deliveries "$w"
  assert_json '[.data[] | "\(.status) \(.response_status)"] | unique | join(",")' "error 302"
}

@test "a failed attempt queues the next after 4, 16, 64, 240 and 240 seconds by default, with up to 10% jitter" {
  local w i
  w="$(mk_hook "$RECV_URL/fail/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  # The default schedule. Each pass sends what is due and queues the next
  # attempt, not due yet; moving its times back by the same amount makes it
  # due without waiting and keeps the delay readable as
  # next_attempt_at - created_at.
  for i in $(seq 10); do
    deliver -u REASSESS_WEBHOOK_DELAYS
    [ "$(sql "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = '$w' AND status = 'pending'")" = 0 ] && break
    sql "UPDATE webhook_deliveries SET next_attempt_at = next_attempt_at - 1000, created_at = created_at - 1000 WHERE webhook_id = '$w' AND status = 'pending'" >/dev/null
  done
  # Each delay d is within [d, d + d/10] (whole seconds: 4 s has no room).
  assert_equal "$(sql "SELECT group_concat(ok, ',') FROM (SELECT (next_attempt_at - created_at) BETWEEN d AND d + d / 10 AS ok FROM webhook_deliveries JOIN (SELECT 2 AS a, 4 AS d UNION ALL SELECT 3, 16 UNION ALL SELECT 4, 64 UNION ALL SELECT 5, 240 UNION ALL SELECT 6, 240) ON attempt = a WHERE webhook_id = '$w' ORDER BY attempt)")" \
    "1,1,1,1,1"
  assert_equal "$(received_count "/fail/$T")" 6
  deliveries "$w"
  assert_json .total 6
  assert_json '[.data[] | .status] | unique | join(",")' error
}

@test "the success rate has 4 decimals and counts attempts made, not pending ones" {
  local w
  w="$(mk_hook "$RECV_URL/fail/$T" '["Vendor.Created"]')"
  api POST "/v1/webhooks/$w/test"
  api POST "/v1/webhooks/$w/test"
  deliver REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  api PATCH "/v1/webhooks/$w" "{\"url\":\"$RECV_URL/ok/$T\"}"
  assert_status 200
  api POST "/v1/webhooks/$w/test"
  deliver REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  assert_equal "$(received_count "/ok/$T")" 1
  api GET "/v1/webhooks/$w"
  assert_json .delivery_count 3
  assert_json .last_delivery_status delivered
  [[ "$body" == *'"delivery_success_rate":0.3333,'* ]] ||
    fail "delivery_success_rate is not 0.3333 with 4 decimals: $body"
  deliveries "$w"
  assert_json .total 5
  assert_json '[.data[] | .status] | sort | join(",")' "delivered,error,error,pending,pending"
}

@test "a host that does not resolve at delivery is an error, retried" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  local w
  w="$(mk_hook "https://hooks.example.test/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  deliver REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  deliveries "$w"
  assert_json .total 2
  assert_json '[.data[] | .status] | join(",")' "pending,error"
  api DELETE "/v1/webhooks/$w"
}

@test "a webhook whose host starts resolving to a private address is skipped at delivery, not retried" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  need_private_hosts
  local w port="${RECV_URL##*:}" hosts="$BATS_TEST_TMPDIR/hosts"
  # https://, as a public receiver would be: accepted, as the host does not
  # resolve (it cannot be shown to be private).
  w="$(mk_hook "https://hooks.example.test:$port/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  printf '127.0.0.1 localhost\n127.0.0.1 hooks.example.test\n' > "$hosts"
  deliver_hosts "$hosts"
  assert_equal "$(received_count "/ok/$T")" 0
  deliveries "$w"
  assert_json .total 1
  assert_json '.data[0].status' skipped
  assert_json '.data[0].response_status' null
  assert_json '.data[0].error | contains("127.0.0.1") or contains("loopback")' true
  api GET "/v1/webhooks/$w"
  assert_json .last_delivery_status skipped
}

@test "a name that /etc/hosts maps to a loopback address is never connected to, whatever its spelling" {
  getent hosts hooks.example.test >/dev/null && skip "hooks.example.test resolves on this machine"
  need_private_hosts
  local hosts="$BATS_TEST_TMPDIR/hosts" u w i n=0 ws=()
  start_canary
  # The hosts file maps hooks.example.test to 127.0.0.1, and gives the
  # %-escaped spelling and dot.example.test a public address (TEST-NET-3),
  # so that a check that resolves the name as written, or a pin that
  # libcurl does not find, would pass while the connection goes to the
  # loopback canary.
  printf '%s\n' '127.0.0.1 localhost' '127.0.0.1 hooks.example.test' \
    '203.0.113.7 hooks%2eexample%2etest' '203.0.113.7 dot.example.test' \
    '127.0.0.1 dot.example.test.' > "$hosts"
  # Each spelling is stored as it would be by a registration made before
  # the registration checks (or a later change of /etc/hosts).
  for u in hooks.example.test HOOKS.Example.TEST hooks.example.test. \
           hooks%2eexample%2etest ho%6fks.example.test localhost. 127.1 0x7f.1 \
           2130706433 '[::ffff:127.0.0.1]' '[::1]' dot.example.test.; do
    w="$(mk_hook "https://hooks.example.test:$CANARY_PORT/ok/$T/$n" '["Vendor.Created"]')"
    sql "UPDATE webhooks SET url = 'https://$u:$CANARY_PORT/ok/$T/$n' WHERE id = '$w'"
    api POST "/v1/webhooks/$w/test"
    assert_status 200
    ws+=("$w")
    n=$((n + 1))
  done
  deliver_hosts "$hosts" REASSESS_WEBHOOK_TIMEOUT_MS=1000 \
    REASSESS_WEBHOOK_DELAYS=3600,3600,3600,3600
  assert_equal "$(wc -l < "$CANARY_LOG")" 0
  for i in "${!ws[@]}"; do
    deliveries "${ws[$i]}"
    assert_json '.data | map(select(.status != "pending")) | length' 1
    assert_json '[.data[] | select(.status != "pending")][0] | .response_status' null
    if [ "$i" = $((n - 1)) ]; then
      # dot.example.test.: checked and pinned at the public address, so
      # libcurl connects there (and fails) rather than to its own answer.
      assert_json '[.data[] | select(.status != "pending")][0] | .status == "error" or .status == "timeout"' true
    else
      assert_json '[.data[] | select(.status != "pending")][0] | .status' skipped
      assert_json '[.data[] | select(.status != "pending")][0] | .error | test("loopback|%-escape|IPv4|name")' true
    fi
  done
  stop_canary
}

@test "a disabled webhook receives nothing: its pending attempts are skipped and no new event is queued" {
  local w before
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  api PATCH "/v1/webhooks/$w" '{"enabled":false}'
  assert_status 200
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/ok/$T")" 0
  deliveries "$w"
  assert_json .total 1
  assert_json '.data[0].status' skipped
  # Enabled again, it receives what happens from then on, and only that.
  api PATCH "/v1/webhooks/$w" '{"enabled":true}'
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/ok/$T")" 1
}

@test "a webhook created disabled has nothing queued" {
  local w
  api POST /v1/webhooks "{\"url\":\"$RECV_URL/ok/$T\",\"events\":[\"Vendor.Created\"],\"secret\":\"$SECRET\",\"enabled\":false}"
  assert_status 201
  assert_json '[.enabled, .description] | tojson' '[false,null]'
  w="$(json .id)"
  mk_vendor >/dev/null
  deliveries "$w"
  assert_json .total 0
  deliver
  assert_equal "$(received_count "/ok/$T")" 0
}

@test "a deleted webhook receives nothing: its pending attempts are skipped and no new event is queued" {
  local w
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  mk_vendor >/dev/null
  api DELETE "/v1/webhooks/$w"
  assert_status 204
  mk_vendor >/dev/null
  deliver
  assert_equal "$(received_count "/ok/$T")" 0
  assert_equal "$(sql "SELECT group_concat(status) FROM webhook_deliveries WHERE webhook_id = '$w'")" skipped
}

@test "an org never receives another org's events" {
  local wa wb v ev plan rsm
  wa="$(mk_hook "$RECV_URL/ok/$T-a" "$EMITTED")"
  wb="$(mk_hook --key "$KEY_B" "$RECV_URL/ok/$T-b" "$EMITTED")"
  v="$(mk_vendor)"
  ev="$(mk_event "[\"$v\"]")"
  plan="$(mk_plan)"
  rsm="$(mk_rsm "$ev" "[\"$v\"]" "$plan")"
  api POST "/v1/reassessments/$rsm/run"
  api POST "/v1/webhooks/$wa/test"
  deliver
  [ "$(received_count "/ok/$T-a")" -gt 0 ]
  assert_equal "$(received_count "/ok/$T-b")" 0
  deliveries --key "$KEY_B" "$wb"
  assert_json .total 0
  assert_equal "$(sql "SELECT count(*) FROM webhook_events WHERE org_id = '$ORG_B'")" 0
}

@test "a new secret signs the deliveries queued after the change" {
  local w new="whsec_the_new_secret_0000"
  w="$(mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]')"
  api PATCH "/v1/webhooks/$w" "{\"secret\":\"$new\"}"
  assert_status 200
  [[ "$body" != *"$new"* ]] || fail "the secret was returned: $body"
  mk_vendor >/dev/null
  deliver
  assert_signed "$(received "/ok/$T")" "$new"
}

@test "two deliver --once processes started at once never send one attempt twice" {
  local i v vs="" p1 p2 rc1=0 rc2=0 types='["Vendor.Created","RadarDetectorResult.Created"]'
  # 3 webhooks x (8 vendors + their 8 alerts): 48 attempts from 12 requests.
  for i in 1 2 3; do
    mk_hook "$RECV_URL/slow/$T-$i" "$types" >/dev/null
  done
  for i in $(seq 8); do
    v="$(mk_vendor)"
    vs+="${vs:+,}\"$v\""
  done
  mk_event "[$vs]" >/dev/null
  assert_equal "$(sql "SELECT count(*) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.org_id = '$ORG' AND d.status = 'pending'")" 48
  "$REASSESS" --db "$REASSESS_DB" deliver --once 2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- &
  p1=$!
  "$REASSESS" --db "$REASSESS_DB" deliver --once 2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- &
  p2=$!
  wait "$p1" || rc1=$?
  wait "$p2" || rc2=$?
  assert_equal "$rc1,$rc2" "0,0"
  for i in 1 2 3; do
    assert_equal "$(received_count "/slow/$T-$i")" 16
    assert_equal "$(received "/slow/$T-$i" | jq -r '.headers["x-coverbase-event-id"]' | sort -u | wc -l)" 16
  done
  assert_equal "$(sql "SELECT group_concat(DISTINCT d.status) || ' ' || count(*) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.org_id = '$ORG'")" "delivered 48"
}

@test "deliver without --once keeps sending until SIGTERM, then exits 0" {
  local pid i rc=0
  mk_hook "$RECV_URL/ok/$T" '["Vendor.Created"]' >/dev/null
  "$REASSESS" --db "$REASSESS_DB" deliver 2>> "$BATS_TEST_TMPDIR/deliver.log" 3>&- &
  pid=$!
  for i in 1 2; do
    mk_vendor >/dev/null
    # Sent by the running process: poll, bounded at 10 s.
    for _ in $(seq 200); do
      [ "$(received_count "/ok/$T")" -ge "$i" ] && break
      sleep 0.05
    done
    assert_equal "$(received_count "/ok/$T")" "$i"
  done
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  assert_equal "$rc" 0
}

@test "deliver takes only --once" {
  run "$REASSESS" --db "$REASSESS_DB" deliver --forever
  assert_equal "$status" 2
}
