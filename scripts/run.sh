#!/bin/sh
# scripts/run.sh: what `make run` does.
#
#  1. scripts/deps.sh: install the Debian packages that are missing;
#  2. make: build ./reassess;
#  3. var/reassess.db: made once, with a demo org, an API key (its secret
#     saved in var/demo.key, mode 600, as it is shown only once), and,
#     through the API itself, two vendors, a radar event linking both, an
#     assessment plan, and a reassessment trigger (made after the event, so
#     that the next Infosec event posted makes its draft: the walkthrough
#     shows it); a later run reuses the database and the saved key;
#  4. `reassess serve` on the unix socket var/reassess.sock, and nginx
#     (prefix and configuration under var/nginx, built from
#     nginx.conf.example) on http://127.0.0.1:8080 in front of it;
#  5. prints the key and a curl line, then waits; Ctrl-C (or SIGTERM)
#     stops both servers.
#
# REASSESS_RUN_PORT picks another port than 8080.

# shellcheck disable=SC2317 # stop() is reached through the traps
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
port=${REASSESS_RUN_PORT:-8080}
url="http://127.0.0.1:$port"
db="$top/var/reassess.db"
sock="$top/var/reassess.sock"
prefix="$top/var/nginx"
keyfile="$top/var/demo.key"
envfile="$top/var/demo.env"
serve_log="$top/var/reassess.log"

die() {
	echo "make run: $*" >&2
	exit 1
}

# alive PID: true while PID runs (a zombie, dead but not yet reaped, is not).
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	case $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) in
	Z | X | '') return 1 ;;
	esac
}

# children PID: the PIDs of PID's direct children.
children() {
	# fields: pid (comm) state ppid ...; our comms have no spaces.
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '$4 == p { print $1 }'
}

# ---- 1, 2: packages and build -------------------------------------------

sh scripts/deps.sh
make -s --no-print-directory
nginx=$(command -v nginx || echo /usr/sbin/nginx)

# Is the port free? curl's exit 7 is "connection refused": nobody listens.
rc=0
curl -s -o /dev/null --max-time 2 "$url/" || rc=$?
if [ "$rc" -ne 7 ]; then
	die "something already listens on 127.0.0.1:$port; stop it first (or pick another port: REASSESS_RUN_PORT=8081 make run)."
fi

mkdir -p "$top/var" "$prefix"

# ---- 3: the demo database -----------------------------------------------

# cgi METHOD PATH BODY: one request to ./reassess run as a CGI program
# against $seed_db with $KEY; sets ID to the new object's id. Fails unless
# the answer is 2xx.
cgi() {
	len=$(printf '%s' "$3" | wc -c)
	printf '%s' "$3" |
		env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
			REQUEST_METHOD="$1" PATH_INFO="$2" QUERY_STRING= \
			CONTENT_TYPE=application/json CONTENT_LENGTH="$len" \
			HTTP_AUTHORIZATION="Bearer $KEY" REASSESS_DB="$seed_db" \
			./reassess > "$top/var/seed.out"
	status=$(awk 'tolower($1) == "status:" { print $2; exit } /^\r?$/ { exit }' "$top/var/seed.out")
	awk 'body { print } /^\r?$/ { body = 1 }' "$top/var/seed.out" > "$top/var/seed.json"
	case ${status:-200} in
	2??) ;;
	*) die "seeding: $1 $2 answered ${status}: $(cat "$top/var/seed.json")" ;;
	esac
	ID=$(jq -r .id "$top/var/seed.json")
}

if [ ! -e "$db" ]; then
	echo "Making the demo database var/reassess.db..."
	# Built aside and moved into place only when complete, so that an
	# interrupted first run is simply redone.
	seed_db="$top/var/seed.db"
	rm -f "$seed_db" "$seed_db-wal" "$seed_db-shm"
	out=$(./reassess --db "$seed_db" init 2>&1) || die "reassess init: $out"
	ORG=$(./reassess --db "$seed_db" org create "Demo org")
	KEY=$(./reassess --db "$seed_db" key create "$ORG" --name demo 2>/dev/null)

	cgi POST /v1/vendors "$(jq -nc '{name: "Acme Cloud",
		website: "https://acme.example", hq_location: "Berlin, DE",
		use_case: "Infrastructure hosting", external_id: "acme-001"}')"
	V1=$ID
	cgi POST /v1/vendors "$(jq -nc '{name: "Northwind Payroll",
		website: "https://northwind.example", hq_location: "Leeds, UK",
		use_case: "Payroll processing", external_id: "northwind-002"}')"
	V2=$ID
	cgi POST /v1/radar/events "$(jq -nc --arg v1 "$V1" --arg v2 "$V2" '{
		name: "Breach at a shared identity provider",
		summary: "The single sign-on provider used by Acme Cloud and Northwind Payroll reported unauthorised access to customer tenants.",
		primary_impact_type: "Infosec", secondary_impact_types: ["Operational"],
		vendor_ids: [$v1, $v2], source_name: "Demo feed",
		alert_severity: "high"}')"
	EVENT=$ID
	cgi POST /v1/assessment_plans "$(jq -nc '{name: "Security review",
		description: "Questionnaire after a security incident",
		control_set_ids: ["cs_access_control", "cs_incident_response"]}')"
	PLAN=$ID
	# A draft of both vendors for the review page (http://.../), without
	# a plan: the person picks it there, then confirms and runs.
	cgi POST /v1/reassessments "$(jq -nc --arg ev "$EVENT" --arg v1 "$V1" \
		--arg v2 "$V2" '{radar_event_id: $ev, vendor_ids: [$v1, $v2],
		title: "Reassess Acme Cloud and Northwind Payroll after the SSO breach"}')"
	RSM=$ID
	cgi POST /v1/reassessment_triggers "$(jq -nc --arg plan "$PLAN" '{
		name: "Security incidents", assessment_plan_id: $plan,
		primary_impact_types: ["Infosec"], min_alert_severity: "medium"}')"
	TRIGGER=$ID
	rm -f "$top/var/seed.out" "$top/var/seed.json"

	(umask 077 && printf '%s\n' "$KEY" > "$keyfile")
	chmod 600 "$keyfile"
	printf 'ORG=%s\nV1=%s\nV2=%s\nEVENT=%s\nPLAN=%s\nTRIGGER=%s\nRSM=%s\n' \
		"$ORG" "$V1" "$V2" "$EVENT" "$PLAN" "$TRIGGER" "$RSM" > "$envfile"
	# Everything into the main file, then into place.
	sqlite3 "$seed_db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
	mv "$seed_db" "$db"
	rm -f "$seed_db-wal" "$seed_db-shm"
else
	echo "Reusing var/reassess.db (make clean, or remove var/, to start over)."
	out=$(./reassess --db "$db" init 2>&1) || die "reassess init: $out"
	if [ -s "$keyfile" ]; then
		KEY=$(cat "$keyfile")
	else
		ORG=$(./reassess --db "$db" org list | head -n 1 | cut -f 1)
		[ -n "$ORG" ] || die "var/reassess.db has no org; remove var/ and run again."
		KEY=$(./reassess --db "$db" key create "$ORG" --name demo 2>/dev/null)
		(umask 077 && printf '%s\n' "$KEY" > "$keyfile")
		chmod 600 "$keyfile"
		echo "var/demo.key was missing: made a new key for org $ORG."
	fi
fi
ORG='' V1='' V2='' EVENT='' PLAN='' TRIGGER='' RSM=''
if [ -r "$envfile" ]; then
	# shellcheck disable=SC1090
	. "$envfile"
fi

# ---- 4: serve -----------------------------------------------------------

serve_pid='' nginx_pid='' tick_pid=''
stop() {
	trap - INT TERM EXIT
	if [ -n "$tick_pid" ]; then kill "$tick_pid" 2>/dev/null || :; fi
	for pid in $nginx_pid $serve_pid; do
		kill -TERM "$pid" 2>/dev/null || :
	done
	# Bounded wait: 10 s for requests in flight, then SIGKILL.
	i=0
	while [ "$i" -lt 100 ]; do
		busy=
		for pid in $nginx_pid $serve_pid; do alive "$pid" && busy=1; done
		[ -z "$busy" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	for pid in $nginx_pid $serve_pid; do
		if alive "$pid"; then
			echo "make run: $pid did not stop; killing it and its children" >&2
			for c in $(children "$pid"); do kill -KILL "$c" 2>/dev/null || :; done
			kill -KILL "$pid" 2>/dev/null || :
		fi
	done
	rm -f "$sock"
	echo "Stopped reassess serve and nginx."
}
trap 'stop; exit 0' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

rm -f "$sock"
./reassess --db "$db" serve --listen "$sock" --workers 2 2>>"$serve_log" &
serve_pid=$!

sh scripts/nginx-conf.sh "$prefix" "127.0.0.1:$port" "$sock" > "$prefix/nginx.conf"
"$nginx" -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf" &
nginx_pid=$!

# Ready when an authenticated request is answered 200 (10 s at most).
i=0
while :; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$url/v1/vendors") || :
	[ "$code" = 200 ] && break
	if [ "$code" = 401 ]; then
		die "the key in var/demo.key is not accepted (revoked?); remove var/demo.key and run again for a new one."
	fi
	if ! alive "$serve_pid"; then
		tail -n 5 "$serve_log" >&2
		die "reassess serve stopped (its log: var/reassess.log)."
	fi
	if ! alive "$nginx_pid"; then
		tail -n 5 "$prefix/error.log" >&2
		if tail -n 5 "$prefix/error.log" | grep -q 'Address already in use'; then
			die "port $port is taken."
		fi
		die "nginx stopped (its log: var/nginx/error.log)."
	fi
	i=$((i + 1))
	if [ $i -ge 100 ]; then
		die "no answer from $url/v1/vendors after 10 s (last status: ${code:-none})."
	fi
	sleep 0.1
done

# ---- 5: tell, then wait -------------------------------------------------

cat <<EOF

reassess is serving on $url
  nginx (var/nginx/nginx.conf) -> FastCGI var/reassess.sock -> reassess serve, 2 workers
  database var/reassess.db; logs var/reassess.log, var/nginx/error.log, var/nginx/access.log

API key of the demo org (saved in var/demo.key):
  $KEY
EOF
if [ -n "$EVENT" ]; then
	cat <<EOF

Demo data:
  org               $ORG
  vendors           $V1  Acme Cloud
                    $V2  Northwind Payroll
  radar event       $EVENT  (one high alert per vendor)
  assessment plan   $PLAN  Security review
EOF
	if [ -n "$RSM" ]; then
		cat <<EOF
  reassessment      $RSM  a draft of both vendors, to review
                    on the page below
EOF
	fi
	if [ -n "$TRIGGER" ]; then
		cat <<EOF
  trigger           $TRIGGER  Security incidents: each new Infosec
                    event with a medium or high alert makes a draft
EOF
	fi
fi
cat <<EOF

Try:
  the review page: $url/  (paste the key above into "API key")
  curl -s -H "Authorization: Bearer $KEY" $url/v1/vendors

docs/walkthrough.md walks through a reassessment from there. Ctrl-C stops both servers.
EOF

# Wait for Ctrl-C or SIGTERM; if a server dies on its own, stop the other.
# (`wait` on a short sleep returns at once when a trapped signal arrives.)
while alive "$serve_pid" && alive "$nginx_pid"; do
	sleep 1 &
	tick_pid=$!
	wait "$tick_pid" || :
	tick_pid=
done
alive "$serve_pid" || echo "make run: reassess serve stopped; see var/reassess.log" >&2
alive "$nginx_pid" || echo "make run: nginx stopped; see var/nginx/error.log" >&2
exit 1
