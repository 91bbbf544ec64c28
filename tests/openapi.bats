#!/usr/bin/env bats
# GET /openapi.json (API.md 8): the OpenAPI 3.1 document, no key, as
# `reassess openapi` prints it; a real linter (Redocly CLI, tests/openapi)
# finds no error in it; every route of the route table is in it with its
# methods, and nothing else is.

load helper

setup_file() {
  setup_db
}

teardown_file() {
  teardown_db
}

@test "GET /openapi.json needs no key and serves what reassess openapi prints" {
  api --no-auth GET /openapi.json
  assert_status 200
  [ -n "$(header X-Request-Id)" ]
  got="$(jq -S . <<< "$body")"
  want="$("$REASSESS" openapi | jq -S .)"
  [ "$got" = "$want" ]
  assert_json .openapi 3.1.0
}

@test "the document passes Redocly's linter with no error" {
  local redocly="$TOP/tests/openapi/node_modules/.bin/redocly"
  [ -x "$redocly" ] || fail "$redocly is missing (scripts/test-npm.sh installs it)"
  "$REASSESS" openapi > "$BATS_TEST_TMPDIR/openapi.json"
  run "$redocly" lint --config "$TOP/tests/openapi/redocly.yaml" \
    "$BATS_TEST_TMPDIR/openapi.json"
  assert_success
  assert_output --partial "Your API description is valid"
}

@test "every route of the route table is in the document with its method, and no other path" {
  # The route table as reassess.c spells it: { METHOD_X, "pattern", ...
  want="$(awk '/^static const struct route routes\[\] = \{/ { on = 1; next }
    on && /^\};/ { exit }
    on && match($0, /\{ METHOD_[A-Z]+, "[^"]*"/) {
      s = substr($0, RSTART, RLENGTH); split(s, a, /[ ,"]+/)
      m = tolower(substr(a[2], 8)); p = a[3]
      gsub(/\*/, "{}", p); print p " " m }' "$TOP/reassess.c" | sort)"
  [ "$(wc -l <<< "$want")" -ge 40 ]
  got="$("$REASSESS" openapi | jq -r '.paths | to_entries[] | .key as $p |
    .value | keys[] | "\($p | gsub("\\{[a-z_]+\\}"; "{}")) \(.)"' | sort)"
  diff <(echo "$want") <(echo "$got")
}

@test "each object schema lists exactly the fields its object table writes" {
  "$REASSESS" openapi > "$BATS_TEST_TMPDIR/openapi.json"
  mk_vendor > /dev/null
  api GET /v1/vendors/"$(created_id)"
  keys="$(jq -c 'keys' <<< "$body")"
  [ "$(jq -c '.components.schemas.Vendor | .required | sort' "$BATS_TEST_TMPDIR/openapi.json")" = "$keys" ]
  [ "$(jq -c '.components.schemas.Vendor.additionalProperties' "$BATS_TEST_TMPDIR/openapi.json")" = false ]
}

@test "keyed operations name the bearer scheme and their scopes; /openapi.json none" {
  "$REASSESS" openapi > "$BATS_TEST_TMPDIR/openapi.json"
  f="$BATS_TEST_TMPDIR/openapi.json"
  [ "$(jq -c '.paths["/v1/api-keys"].get.security' "$f")" = '[{"bearer":["keys:manage"]}]' ]
  [ "$(jq -c '.paths["/v1/system_audit_log"].get.security' "$f")" = '[{"bearer":["audit:read"]}]' ]
  [ "$(jq -c '.paths["/v1/vendors"].get.security' "$f")" = '[{"bearer":[]}]' ]
  [ "$(jq -c '.paths["/openapi.json"].get.security' "$f")" = '[]' ]
  [ "$(jq -r '.paths["/v1/vendors"].post.parameters[] | select(.in == "header") | .name' "$f")" = Idempotency-Key ]
}

@test "over HTTP each response is checked against the document: one that breaks it fails its test, naming the path and the field" {
  [ "$REASSESS_TRANSPORT" = http ] || skip "responses are checked in the HTTP pass"
  [ -n "${OPENAPI_CHECK_PORT:-}" ] || skip "REASSESS_OPENAPI_CHECK=0"
  # The served document passes this response ...
  api POST /v1/vendors '{"name":"Checked Co"}'
  assert_status 201
  # ... and a document whose Vendor needs a field no vendor has does not:
  # a second checker on it, for this test only.
  local dir="$BATS_TEST_TMPDIR" pid port i
  jq '.components.schemas.Vendor.required += ["colour"]' \
    "$BATS_FILE_TMPDIR/service/openapi.json" > "$dir/doctored.json"
  node "$TOP/tests/openapi/check.js" "$dir/doctored.json" > "$dir/port" 3>&- &
  pid=$!
  for i in $(seq 300); do [ -s "$dir/port" ] && break; sleep 0.1; done
  read -r port < "$dir/port"
  OPENAPI_CHECK_PORT=$port run api POST /v1/vendors '{"name":"Doctored Co"}'
  kill "$pid"; wait "$pid" || true
  assert_failure
  assert_output --partial "OpenAPI: the response to POST /v1/vendors (201) breaks /openapi.json"
  assert_output --partial "response.body: Response body must have required property 'colour'"
  # A status the operation does not list is a violation too.
  api GET /v1/vendors
  local out="$BATS_TEST_TMPDIR/resp.raw" method=GET path=/v1/vendors
  sed -i '1s/ 200 OK/ 299 Odd/' "$out.hdr"
  run _openapi_check
  assert_failure
  assert_output --partial "Unable to match the returned status code"
}

@test "every JSON answer of the document has an example, a real answer that fits its schema" {
  "$REASSESS" openapi > "$BATS_TEST_TMPDIR/openapi.json"
  # Operations whose success answer is JSON, without an example: none
  # (but the document itself).
  missing="$(jq -r '[.paths[][] | select(.operationId != "getOpenApi") |
    . as $op | .responses | to_entries[] |
    select(.key | startswith("2")) | .value.content["application/json"]? |
    select(. != null and .example == null) | $op.operationId] | .[]' \
    "$BATS_TEST_TMPDIR/openapi.json")"
  [ -z "$missing" ] || fail "no example for: $missing"
  for s in Error PlainError ValidationError AllowlistError; do
    [ "$(jq --arg s "$s" '.components.schemas[$s].examples | length' \
      "$BATS_TEST_TMPDIR/openapi.json")" = 1 ] || fail "no example for $s"
  done
  # They are the file openapi/examples.sh wrote, unchanged ...
  assert_equal "$(jq -c '.paths["/v1/reassessments/{id}/run"].post.responses["200"].content["application/json"].example' \
    "$BATS_TEST_TMPDIR/openapi.json")" "$(jq -c .runReassessment "$TOP/openapi/examples.json")"
  # ... and the example of a run is one: assessments made, status run.
  assert_equal "$(jq -r '.runReassessment | .status, ([.vendors[] |
    select(.assessment_id != null)] | length > 0)' "$TOP/openapi/examples.json" | tr '\n' ' ')" "run true "
  # (Redocly's linter, above, checks each against its schema.)
}

@test "openapi/examples.sh makes the examples anew from this binary's answers" {
  run bash "$TOP/openapi/examples.sh" "$REASSESS"
  assert_success
  assert_equal "$(jq -c 'keys' <<< "$output")" "$(jq -c 'keys' "$TOP/openapi/examples.json")"
  assert_equal "$(jq -r '.createVendor.name' <<< "$output")" "Acme Cloud"
  assert_equal "$(jq -r '.PlainError.detail' <<< "$output")" "Not authenticated"
}
