#!/usr/bin/env bats
# A radar event and the drafts its triggers make commit or roll back
# together (API.md 7, 4.1). The failure is forced by the test binary
# tests/reassess-testhooks (the Makefile builds it with
# -DREASSESS_TEST_HOOKS; the shipped binary has no hook): with
# REASSESS_TEST_FAIL_AFTER_TRIGGERS=1 in its environment, POST
# /v1/radar/events answers 500 after the drafts are written. The variable
# is exported before setup_db, so the CGI runs and, over HTTP, `reassess
# serve` have it; every radar event of this file fails.

load helper

setup_file() {
  make -s -C "$TOP" tests/reassess-testhooks >&2
  export REASSESS="$TOP/tests/reassess-testhooks"
  export REASSESS_TEST_FAIL_AFTER_TRIGGERS=1 REASSESS_WEBHOOK_ALLOW_PRIVATE=1
  setup_db
}
teardown_file() { teardown_db; }

@test "a failure after the drafts are written leaves neither the event nor its drafts, alerts or webhook events" {
  local v1 v2 d
  v1="$(mk_vendor)"
  v2="$(mk_vendor)"
  api POST /v1/webhooks '{"url":"http://127.0.0.1:9/hook","events":["RadarEvent.Created","Reassessment.Created","RadarDetectorResult.Created"],"secret":"whsec_0123456789abcdef"}'
  assert_status 201
  api POST /v1/reassessment_triggers '{"name":"One"}'
  assert_status 201
  api POST /v1/reassessment_triggers "{\"name\":\"Two\",\"vendor_ids\":[\"$v2\"]}"
  assert_status 201
  d="$(db_digest)"
  api POST /v1/radar/events "{\"name\":\"Doomed\",\"summary\":\"S\",\"primary_impact_type\":\"Infosec\",\"vendor_ids\":[\"$v1\",\"$v2\"],\"alert_severity\":\"high\"}"
  assert_error 500 internal_error
  assert_equal "$(db_digest)" "$d"
  assert_equal "$(sql 'SELECT count(*) FROM radar_events') $(sql 'SELECT count(*) FROM radar_alerts') $(sql 'SELECT count(*) FROM reassessments') $(sql 'SELECT count(*) FROM reassessment_vendors') $(sql 'SELECT count(*) FROM webhook_events')" \
    "0 0 0 0 0"
  api GET /v1/reassessments
  assert_json .total 0
}

@test "the hook is in the test binary only, never in the shipped one" {
  run grep -c REASSESS_TEST_FAIL_AFTER_TRIGGERS "$TOP/reassess"
  assert_output 0
  run grep -c REASSESS_TEST_FAIL_AFTER_TRIGGERS "$REASSESS"
  assert_output 1
}
