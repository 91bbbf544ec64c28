#!/bin/bash
# openapi/examples.sh [REASSESS]: print the examples of the OpenAPI
# document (docs/api.md 8) as one JSON object: for each operationId, the
# body of its success answer, and for the error schemas (Error,
# PlainError, ValidationError, AllowlistError) one body each; all of them
# real answers of REASSESS (default ./reassess) run as a CGI program over
# one walk through the API on a fresh database in a temporary directory.
#
#   make openapi-examples     writes openapi/examples.json with this
#
# The binary embeds openapi/examples.json (scripts/embed-ui.sh -> ui.h)
# and reassess openapi puts each example beside its schema; tests/
# openapi.bats checks that every operation with a JSON answer has one and
# Redocly's linter checks each against its schema, so an example that no
# longer fits the program fails the suite until this is run again.
set -euo pipefail

bin=$(realpath "${1:-./reassess}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/examples.db"
ex="$tmp/ex"
mkdir "$ex"

"$bin" --db "$db" init > /dev/null 2>&1
ORG=$("$bin" --db "$db" org create "Example org")
KEY=$("$bin" --db "$db" key create "$ORG" --name examples \
	--scope keys:manage --scope audit:read 2> /dev/null)

# call NAME WANT METHOD TARGET [BODY]: one request as CGI; the body of the
# answer is kept as NAME (an operationId or a schema's name) and in BODY,
# the new object's id (if any) in ID. Fails unless the status is WANT.
call() {
	local name=$1 want=$2 method=$3 target=$4 body=${5-} len out status
	len=$(printf '%s' "$body" | wc -c)
	out=$(printf '%s' "$body" |
		env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 \
			SERVER_PROTOCOL=HTTP/1.1 REQUEST_METHOD="$method" \
			PATH_INFO="${target%%\?*}" REQUEST_URI="$target" \
			QUERY_STRING="$([[ $target == *\?* ]] && printf '%s' "${target#*\?}")" \
			CONTENT_TYPE=application/json CONTENT_LENGTH="$len" \
			REMOTE_ADDR=203.0.113.7 HTTP_AUTHORIZATION="${AUTH-Bearer $KEY}" \
			REASSESS_DB="$db" REASSESS_WEBHOOK_ALLOW_PRIVATE=1 "$bin")
	status=$(awk 'tolower($1) == "status:" { print $2; exit } /^\r?$/ { exit }' <<< "$out")
	BODY=$(awk 'b { print } /^\r?$/ { b = 1 }' <<< "$out")
	if [ "${status:-200}" != "$want" ]; then
		echo "$0: $method $target answered ${status:-200}, not $want: $BODY" >&2
		exit 1
	fi
	[ -z "$BODY" ] || printf '%s\n' "$BODY" > "$ex/$name"
	ID=$(jq -r '.id? // empty' <<< "${BODY:-null}" 2> /dev/null || true)
}

call authTest 200 GET /v1/utils/authtest
call whoamiIp 200 GET /v1/whoami/ip
call getOrg 200 GET "/v1/org/$ORG"
call updateOrg 200 POST "/v1/org/$ORG" '{"name":"Example org","api_ip_allowlist":["203.0.113.0/24","2001:db8::/32"]}'

call createVendor 201 POST /v1/vendors '{"name":"Acme Cloud","website":"https://acme.example","hq_location":"Berlin, DE","use_case":"Infrastructure hosting","external_id":"acme-001"}'
V1=$ID
call createVendor2 201 POST /v1/vendors '{"name":"Northwind Payroll","website":"https://northwind.example","hq_location":"Leeds, UK","use_case":"Payroll processing","external_id":"northwind-002"}'
V2=$ID
call updateVendor 200 PATCH "/v1/vendors/$V1" '{"use_case":"Infrastructure hosting and backups"}'
call getVendor 200 GET "/v1/vendors/$V1"
call listVendors 200 GET '/v1/vendors?limit=1'

call createAssessmentPlan 201 POST /v1/assessment_plans '{"name":"Security review","description":"Questionnaire after a security incident","control_set_ids":["cs_access_control","cs_incident_response"]}'
PLAN=$ID
call getAssessmentPlan 200 GET "/v1/assessment_plans/$PLAN"
call listAssessmentPlans 200 GET '/v1/assessment_plans?limit=1'

call createReassessmentTrigger 201 POST /v1/reassessment_triggers "{\"name\":\"Security incidents\",\"assessment_plan_id\":\"$PLAN\",\"primary_impact_types\":[\"Infosec\"],\"min_alert_severity\":\"low\"}"
TRG=$ID
call updateReassessmentTrigger 200 PATCH "/v1/reassessment_triggers/$TRG" '{"min_alert_severity":"medium"}'
call getReassessmentTrigger 200 GET "/v1/reassessment_triggers/$TRG"
call listReassessmentTriggers 200 GET '/v1/reassessment_triggers?limit=1'

call createRadarEvent 201 POST /v1/radar/events "{\"name\":\"Breach at a shared identity provider\",\"summary\":\"The single sign-on provider used by Acme Cloud and Northwind Payroll reported unauthorised access to customer tenants.\",\"primary_impact_type\":\"Infosec\",\"secondary_impact_types\":[\"Operational\"],\"vendor_ids\":[\"$V1\",\"$V2\"],\"source_name\":\"Example feed\",\"alert_severity\":\"high\"}"
EVENT=$ID
call getRadarEvent 200 GET "/v1/radar/events/$EVENT"
call listRadarEvents 200 GET '/v1/radar/events?limit=1'
call listRadarAlerts 200 GET "/v1/radar/alerts?limit=1"
ALERT=$(jq -r '.items[0].id' <<< "$BODY")
call getRadarAlert 200 GET "/v1/radar/alerts/$ALERT"
call dismissRadarAlert 200 POST "/v1/radar/alerts/$ALERT/dismiss"
call undismissRadarAlert 200 POST "/v1/radar/alerts/$ALERT/undismiss"

call createReassessment 201 POST /v1/reassessments "{\"radar_event_id\":\"$EVENT\",\"vendor_ids\":[\"$V1\"],\"title\":\"Reassess Acme Cloud after the SSO breach\"}"
RSM=$ID
call addReassessmentVendors 200 POST "/v1/reassessments/$RSM/vendors" "{\"vendor_ids\":[\"$V2\"]}"
call setReassessmentVendorInclusion 200 POST "/v1/reassessments/$RSM/vendor_inclusion" "{\"vendor_id\":\"$V2\",\"included\":false}"
call updateReassessment 200 PATCH "/v1/reassessments/$RSM" "{\"assessment_plan_id\":\"$PLAN\"}"
call confirmReassessment 200 POST "/v1/reassessments/$RSM/confirm"
call runReassessment 200 POST "/v1/reassessments/$RSM/run"
call getReassessment 200 GET "/v1/reassessments/$RSM"
call listReassessments 200 GET "/v1/reassessments?radar_event_id=$EVENT&limit=1"
call createReassessment2 201 POST /v1/reassessments "{\"radar_event_id\":\"$EVENT\",\"vendor_ids\":[\"$V2\"],\"title\":\"Northwind Payroll only\"}"
call dismissReassessment 200 POST "/v1/reassessments/$ID/dismiss"
call listAssessments 200 GET '/v1/assessments?limit=1'
call getAssessment 200 GET "/v1/assessments/$(jq -r '.items[0].id' <<< "$BODY")"

call createWebhook 201 POST /v1/webhooks '{"url":"https://hooks.example.com/reassess","events":["Reassessment.Created","Reassessment.Updated"],"secret":"whsec_example_0123456789","description":"Ticketing"}'
WH=$ID
call updateWebhook 200 PATCH "/v1/webhooks/$WH" '{"description":"Ticketing system"}'
call getWebhook 200 GET "/v1/webhooks/$WH"
call listWebhooks 200 GET /v1/webhooks
call testWebhook 200 POST "/v1/webhooks/$WH/test" '{}'
call listWebhookDeliveries 200 GET "/v1/webhooks/$WH/deliveries?limit=1"

call createApiKey 201 POST /v1/api-keys '{"name":"CI pipeline"}'
AK=$ID
call rotateApiKey 200 POST "/v1/api-keys/$AK/rotate" '{}'
AK=$ID
call revokeApiKey 200 POST "/v1/api-keys/$AK/revoke" '{"reason":"Pipeline retired"}'
call listApiKeys 200 GET /v1/api-keys

call listAuditLog 200 GET '/v1/system_audit_log?limit=1'
call getAuditLogMetadata 200 GET /v1/system_audit_log/metadata
call listActivity 200 GET "/v1/activity?target_type=vendor&target_id=$V1&limit=1"
call ackAuditLogExport 204 POST /v1/system_audit_log/export_ack
call deleteReassessmentTrigger 204 DELETE "/v1/reassessment_triggers/$TRG"
call deleteWebhook 204 DELETE "/v1/webhooks/$WH"

# One of each error shape.
call Error 404 GET "/v1/vendors/cbvndr_00000000000000000000000000000000"
call ValidationError 422 POST /v1/vendors '{"name":42,"website":[]}'
call AllowlistError 400 POST "/v1/org/$ORG" '{"api_ip_allowlist":["10.0.0.0/33"]}'
AUTH='' call PlainError 401 GET /v1/vendors

# Every answer kept, by name; request ids, key secrets and the webhook
# signing material are what they were on this run.
rm -f "$ex/createVendor2" "$ex/createReassessment2"
for f in "$ex"/*; do
	jq -c --arg k "${f##*/}" '{($k): .}' "$f"
done | jq -s 'add'
