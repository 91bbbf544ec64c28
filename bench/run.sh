#!/bin/bash
# bench/run.sh: what `make bench` runs. bench/README.md says what each row
# measures and how to read it.
#
#  1. packages: scripts/deps.sh (the base), then wrk and hyperfine;
#  2. build: ./reassess (make), bench/var/floor (bench/floor.c), and with
#     make bench/var/count (bench/count.c) and bench/var/commit-floor
#     (bench/commit-floor.c); then the deterministic figures: bench/count.c
#     on its own small database, bench/var/count.db (statements, steps and
#     pages written per request: the same on any machine);
#  3. a fresh database bench/var/bench.db with four orgs, each with a key:
#       A  10 vendors, a radar event with an alert per vendor, a plan, and
#          exactly 10,000 reassessments made through the API: 100 with all
#          10 vendors (the pool of GET one), 9,900 with 1-3 vendors;
#       B  10 vendors and an event likewise (through the API), then
#          1,000,000 reassessments of 1-3 vendors each written directly
#          with sqlite3 in one transaction (the API would take an hour);
#       C  10 vendors and an event: the target of POST create;
#       D  5,000 vendors, a plan and 20 reassessments of all 5,000: the
#          pool of POST .../run, one fresh reassessment per run;
#       E  10 vendors, a plan and 50 enabled reassessment triggers: the
#          target of POST /v1/radar/events with triggers;
#     seeding goes through a `reassess serve` started with
#     REASSESS_SYNC=normal (seeding is not measured), which is then stopped:
#     everything measured runs on a fresh `reassess serve` as shipped
#     (synchronous=FULL, no ANALYZE, the schema's own indexes);
#  4. nginx (scripts/nginx-conf.sh, twice: one per application, same
#     configuration) in front of reassess serve and of the floor, both with
#     the same number of pre-forked workers on a unix socket;
#  5. wrk rows, each after a 2 s warm-up that is not counted, with a floor
#     measurement before the first and after every row; each row's ratio
#     is to the mean of the two floor measurements around it; POST create
#     also against the durable-commit floor (bench/commit-floor.c, as many
#     processes as workers, beside bench.db), measured just before and
#     just after it; then GET one with the API-call records off and on
#     (REASSESS_AUDIT_CALLS), each on a fresh reassess serve, each followed
#     by a floor;
#  6. POST /v1/radar/events against 50 triggers and POST .../run, timed
#     with curl, one CGI request with hyperfine, and a worker's VmRSS
#     around 100,000 requests (serve --workers 1);
#  7. the table, on stdout and in bench/var/results.md.
#
# Settings (environment): BENCH_SECONDS (10), BENCH_FLOOR_SECONDS (5),
# BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_WORKERS (nproc),
# BENCH_BIG (1000000), BENCH_SMALL (10000), BENCH_RUNS (20),
# BENCH_RUN_VENDORS (5000), BENCH_MEM_REQUESTS (100000), BENCH_TRIGGERS
# (50), BENCH_TRIGGER_EVENTS (100), BENCH_TRIGGER_VENDORS (3),
# BENCH_COMMIT_SECONDS (BENCH_FLOOR_SECONDS), REASSESS (the binary; default
# ./reassess, built by make; the deterministic figures are always those of
# reassess.c in this tree).
#
# Exit status: 0 when every measurement is valid (targets met or not: the
# table says), 1 when something failed or a row saw errors.

set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
var="$top/bench/var"
T0=$(date +%s.%N)

seconds=${BENCH_SECONDS:-10}
floor_seconds=${BENCH_FLOOR_SECONDS:-5}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNECTIONS:-32}
workers=${BENCH_WORKERS:-$(nproc)}
big=${BENCH_BIG:-1000000}
small=${BENCH_SMALL:-10000}
runs=${BENCH_RUNS:-20}
run_vendors=${BENCH_RUN_VENDORS:-5000}
mem_requests=${BENCH_MEM_REQUESTS:-100000}
triggers=${BENCH_TRIGGERS:-50}
trigger_events=${BENCH_TRIGGER_EVENTS:-100}
trigger_vendors=${BENCH_TRIGGER_VENDORS:-3}	# per event, as POST create's 3
commit_seconds=${BENCH_COMMIT_SECONDS:-$floor_seconds}
REASSESS=${REASSESS:-$top/reassess}
pool=100	# reassessments of 10 vendors: the pool of GET one

die() {
	echo "bench: $*" >&2
	exit 1
}
say() {
	printf '[%6.1fs] %s\n' "$(elapsed)" "$*" >&2
}
elapsed() {
	awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }'
}
# since T: seconds since the elapsed() value T.
since() {
	awk -v a="$(elapsed)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'
}

# ---- 1, 2: packages and build ---------------------------------------------

sh scripts/deps.sh
missing=
for p in wrk hyperfine; do
	command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "bench: installing:$missing" >&2
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends $missing >/dev/null ||
			{ apt-get update >/dev/null &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y \
				--no-install-recommends $missing >/dev/null; } ||
			die "apt-get install$missing failed"
	else
		echo "Missing Debian packages:$missing; install them with:" >&2
		echo "  sudo apt-get install -y --no-install-recommends$missing" >&2
		exit 1
	fi
fi

if [ "$REASSESS" = "$top/reassess" ]; then
	make -s --no-print-directory reassess
fi
[ -x "$REASSESS" ] || die "$REASSESS is not an executable"

# Everything from an earlier run goes: a fresh database every time.
rm -rf "$var"
mkdir -p "$var"
cc -O2 -g -Wall -Wextra -o "$var/floor" bench/floor.c -lfcgi
make -s --no-print-directory bench/var/count bench/var/commit-floor
nginx=$(command -v nginx || echo /usr/sbin/nginx)

# The deterministic figures (bench/count.c): reassess.c's handle() on a
# small database of its own; -v keeps the breakdown by statement and by
# B-tree in count.txt.
t=$(elapsed)
"$var/count" -v "$var/count.db" >"$var/count.txt" 2>"$var/count.err" ||
	die "bench/count.c failed: $(tail -n 5 "$var/count.err")"
[ "$(grep -c '^COUNT ' "$var/count.txt")" -eq 5 ] || die "bench/count.c printed $(grep -c '^COUNT ' "$var/count.txt") COUNT lines, not 5"
say "deterministic figures ($(since "$t") s): $(awk '$1 == "COUNT" {
	delete f
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	printf "%s %g statements %g pages; ", f["kind"], f["statements"], f["pages"] }' "$var/count.txt")"

# ---- process bookkeeping: only PIDs started here are ever signalled ------

pids=()
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	case $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) in
	Z | X | '') return 1 ;;
	esac
}
# children PID: the PIDs of PID's direct children. (cat, not awk, opens the
# files: a process may exit between the glob and the read, and mawk stops
# with status 2 at a file it cannot open, which set -e would make fatal.)
children() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || :; } | awk -v p="$1" '$4 == p { print $1 }'
}
# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL (it and its children).
stop_pid() {
	local pid=$1 i c
	alive "$pid" || { wait "$pid" 2>/dev/null || :; return 0; }
	kill -TERM "$pid" 2>/dev/null || :
	for i in $(seq 100); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		for c in $(children "$pid"); do
			kill -KILL "$c" 2>/dev/null || :
		done
		kill -KILL "$pid" 2>/dev/null || :
	fi
	wait "$pid" 2>/dev/null || :
}
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do stop_pid "$p"; done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_http URL STATUS [HEADER]: poll (10 s at most) until URL answers STATUS.
wait_http() {
	local i code
	for i in $(seq 200); do
		code=$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "$3"} "$1") || :
		[ "$code" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# start_nginx NAME SOCKET STATUS: nginx, configured by scripts/nginx-conf.sh
# from nginx.conf.example, on a free loopback port in front of SOCKET; sets
# PORT once /v1/vendors answers STATUS.
start_nginx() {
	local name=$1 sock=$2 want=$3 dir="$var/nginx-$1" port pid
	mkdir -p "$dir"
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		port_free "$port" || continue
		sh scripts/nginx-conf.sh "$dir" "127.0.0.1:$port" "$sock" >"$dir/nginx.conf"
		"$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
		pid=$!
		pids+=("$pid")
		if wait_http "http://127.0.0.1:$port/v1/vendors" "$want"; then
			PORT=$port
			return 0
		fi
		stop_pid "$pid"
	done
	cat "$dir/error.log" >&2 2>/dev/null || :
	die "nginx ($name) did not come up"
}

# start_serve WORKERS [ENV...]: reassess serve on $sock; sets SERVE_PID.
sock="$var/reassess.sock"
start_serve() {
	local n=$1 i
	shift
	rm -f "$sock"
	env "$@" "$REASSESS" --db "$db" serve --listen "$sock" --workers "$n" \
		2>>"$var/serve.log" &
	SERVE_PID=$!
	pids+=("$SERVE_PID")
	for i in $(seq 200); do
		[ -S "$sock" ] && [ "$(children "$SERVE_PID" | wc -l)" -ge "$n" ] && return 0
		alive "$SERVE_PID" || break
		sleep 0.05
	done
	tail -n 5 "$var/serve.log" >&2
	die "reassess serve did not start"
}

# ---- 3: the database --------------------------------------------------------

db="$var/bench.db"
"$REASSESS" --db "$db" init >/dev/null 2>&1 || die "reassess init failed"
for o in A B C D E; do
	org=$("$REASSESS" --db "$db" org create "bench org $o")
	key=$("$REASSESS" --db "$db" key create "$org" --name bench 2>/dev/null)
	printf -v "ORG_$o" '%s' "$org"
	printf -v "KEY_$o" '%s' "$key"
done

start_serve "$workers" REASSESS_SYNC=normal
start_nginx reassess "$sock" 401
URL="http://127.0.0.1:$PORT"
say "seeding through the API on $URL (reassess serve, REASSESS_SYNC=normal)"

# api KEY METHOD PATH [BODY]: one request; prints the body; fails unless 2xx.
api() {
	local out code
	local -a body=()
	[ $# -ge 4 ] && body=(-H 'Content-Type: application/json' --data-binary "$4")
	out=$(curl -s -X "$2" -H "Authorization: Bearer $1" "${body[@]}" \
		-w '\n%{http_code}' "$URL$3") || die "curl $2 $3 failed"
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	case $code in 2??) ;; *) die "$2 $3 answered $code: $out" ;; esac
	printf '%s\n' "$out"
}

# bulk KEY CONFIG [OK]: the requests of a curl config (url, data per
# transfer, each ended by `next`), 8 at a time over keep-alive connections;
# fails unless every status matches the regex OK (default: 2xx). (`next`
# resets options: the headers go into each transfer. No -S: with -Z it
# brings the progress meter back.)
bulk() {
	local codes bad ok=${3:-^2}
	sed '$ { /^next$/d }' "$2" | awk -v key="$1" 'NR == 1 || prev == "next" {
		printf "silent\nheader = \"Authorization: Bearer %s\"\nheader = \"Content-Type: application/json\"\n", key }
		{ print; prev = $0 }' >"$2.k"
	codes=$(curl -s -Z --parallel-max "${BULK_PARALLEL:-8}" -K "$2.k" 2>"$var/curl.err") || :
	rm -f "$2.k"
	bad=$(printf '%s\n' "$codes" | grep -Evc "$ok" || :)
	[ "$bad" -eq 0 ] || die "$bad requests of $2 failed: $(printf '%s\n' "$codes" | grep -Ev "$ok" | sort | uniq -c | head -3 | tr '\n' ' ') $(tail -c 300 "$var/curl.err")"
}

# make_vendors KEY ORG N: N vendors for ORG through the API; their ids, in
# the order made, in $var/vendors-ORG.ids (read back with sqlite3: cheaper
# than N responses).
make_vendors() {
	local key=$1 org=$2 n=$3 cfg="$var/vendors-$2.cfg"
	awk -v n="$n" -v url="$URL/v1/vendors" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "url = \"%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\ndata = \"{\\\"name\\\":\\\"Bench vendor %d\\\",\\\"external_id\\\":\\\"bench-%d\\\",\\\"website\\\":\\\"https://v%d.example\\\"}\"\nnext\n", url, i, i, i
	}' >"$cfg"
	bulk "$key" "$cfg"
	sqlite3 "$db" "SELECT id FROM vendors WHERE org_id = '$org' ORDER BY rowid" >"$var/vendors-$org.ids"
}

# event KEY VENDOR_IDS...: a radar event linking them, one high alert each.
make_event() {
	local key=$1
	shift
	api "$key" POST /v1/radar/events "$(jq -nc --args '{name: "Bench breach",
		summary: "A breach at a shared provider.", primary_impact_type: "Infosec",
		vendor_ids: $ARGS.positional, alert_severity: "high"}' "$@")" | jq -r .id
}
make_plan() {
	api "$1" POST /v1/assessment_plans '{"name":"Security review","control_set_ids":["cs_access_control","cs_incident_response"]}' | jq -r .id
}

t=$(elapsed)
# Org A: 10 vendors, event, plan; 100 reassessments of all 10, then 1-3 each.
make_vendors "$KEY_A" "$ORG_A" 10
mapfile -t VA <"$var/vendors-$ORG_A.ids"
EVENT_A=$(make_event "$KEY_A" "${VA[@]}")
# shellcheck disable=SC2034 # saved to bench.env below, through ${!v}
PLAN_A=$(make_plan "$KEY_A")
rsm_config() {	# N EVENT MIN MAX VENDORS...: N creates of MIN..MAX vendors
	local n=$1 ev=$2 lo=$3 hi=$4
	shift 4
	awk -v n="$n" -v ev="$ev" -v lo="$lo" -v hi="$hi" -v vs="$*" \
	    -v url="$URL/v1/reassessments" 'BEGIN {
		srand(42); nv = split(vs, v, " ")
		for (i = 1; i <= n; i++) {
			k = lo + int(rand() * (hi - lo + 1)); s = int(rand() * nv)
			ids = ""
			for (j = 0; j < k; j++)
				ids = ids (j ? "," : "") "\\\"" v[(s + j) % nv + 1] "\\\""
			printf "url = \"%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", url
			printf "data = \"{\\\"radar_event_id\\\":\\\"%s\\\",\\\"vendor_ids\\\":[%s],\\\"title\\\":\\\"Bench %d\\\"}\"\nnext\n", ev, ids, i
		}
	}'
}
rsm_config "$pool" "$EVENT_A" 10 10 "${VA[@]}" >"$var/rsm-pool.cfg"
bulk "$KEY_A" "$var/rsm-pool.cfg"
sqlite3 "$db" "SELECT id FROM reassessments WHERE org_id = '$ORG_A' ORDER BY rowid" >"$var/pool.ids"
[ "$(wc -l <"$var/pool.ids")" -eq "$pool" ] || die "pool: $(wc -l <"$var/pool.ids") reassessments, not $pool"
rsm_config $((small - pool)) "$EVENT_A" 1 3 "${VA[@]}" >"$var/rsm-small.cfg"
bulk "$KEY_A" "$var/rsm-small.cfg"
say "org A: 10 vendors, $small reassessments through the API ($(since "$t") s)"

# Orgs B and C: 10 vendors and an event each.
make_vendors "$KEY_B" "$ORG_B" 10
mapfile -t VB <"$var/vendors-$ORG_B.ids"
EVENT_B=$(make_event "$KEY_B" "${VB[@]}")
make_vendors "$KEY_C" "$ORG_C" 10
mapfile -t VC <"$var/vendors-$ORG_C.ids"
EVENT_C=$(make_event "$KEY_C" "${VC[@]}")

# Org D: 5,000 vendors, a plan, an event, 20 reassessments of all of them.
t=$(elapsed)
make_vendors "$KEY_D" "$ORG_D" "$run_vendors"
mapfile -t VD <"$var/vendors-$ORG_D.ids"
[ "${#VD[@]}" -eq "$run_vendors" ] || die "org D has ${#VD[@]} vendors"
PLAN_D=$(make_plan "$KEY_D")
EVENT_D=$(make_event "$KEY_D" "${VD[0]}")
printf '%s\n' "${VD[@]}" | jq -R . | jq -sc --arg ev "$EVENT_D" --arg plan "$PLAN_D" \
	'{radar_event_id: $ev, assessment_plan_id: $plan, title: "Run pool", vendor_ids: .}' \
	>"$var/run-body.json"
for i in $(seq "$runs"); do
	printf 'url = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\ndata-binary = "@%s"\nnext\n' \
		"$URL/v1/reassessments" "$var/run-body.json"
done >"$var/rsm-run.cfg"
bulk "$KEY_D" "$var/rsm-run.cfg"
sqlite3 "$db" "SELECT id FROM reassessments WHERE org_id = '$ORG_D' ORDER BY rowid" >"$var/run.ids"
say "org D: $run_vendors vendors, $runs reassessments of $run_vendors vendors ($(since "$t") s)"

# Org E: 10 vendors, a plan, $triggers enabled triggers of any impact type
# and every vendor, with the plan; each event of $trigger_vendors of them
# (a high alert each; 3, as the vendors of POST create) makes $triggers
# drafts of $trigger_vendors vendors.
t=$(elapsed)
make_vendors "$KEY_E" "$ORG_E" 10
mapfile -t VE <"$var/vendors-$ORG_E.ids"
PLAN_E=$(make_plan "$KEY_E")
for i in $(seq "$triggers"); do
	printf 'url = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\ndata = "{\\"name\\":\\"Bench trigger %d\\",\\"assessment_plan_id\\":\\"%s\\"}"\nnext\n' \
		"$URL/v1/reassessment_triggers" "$i" "$PLAN_E"
done >"$var/triggers.cfg"
bulk "$KEY_E" "$var/triggers.cfg"
printf '%s\n' "${VE[@]:0:$trigger_vendors}" | jq -R . | jq -sc '{name: "Bench event",
	summary: "A breach at a shared provider.", primary_impact_type: "Infosec",
	vendor_ids: ., alert_severity: "high"}' >"$var/event-body.json"
say "org E: 10 vendors, $triggers triggers ($(since "$t") s)"

# For bench/profile.sh: the keys and ids of this database.
for v in ORG_A KEY_A ORG_B KEY_B ORG_C KEY_C ORG_D KEY_D ORG_E KEY_E EVENT_A \
	EVENT_B EVENT_C EVENT_D PLAN_A PLAN_D PLAN_E; do
	printf '%s=%s\n' "$v" "${!v}"
done >"$var/bench.env"
printf 'VC="%s"\n' "${VC[*]}" >>"$var/bench.env"

# Org B's million: stop the server (the journal mode can only change with
# nobody connected), write them in one transaction without a WAL (a
# rollback journal stays small when the pages are new), back to WAL.
stop_pid "$SERVE_PID"
t=$(elapsed)
now=$(date +%s)
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = DELETE;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -2000000;
PRAGMA temp_store = MEMORY;
BEGIN;
CREATE TEMP TABLE bv (k INTEGER PRIMARY KEY, id TEXT NOT NULL);
INSERT INTO bv (k, id)
  SELECT row_number() OVER (ORDER BY rowid) - 1, id FROM vendors
  WHERE org_id = '$ORG_B';
-- Created over the past year, in insertion order, as the API would have.
INSERT INTO reassessments (id, org_id, status, title, assessment_plan_id,
    radar_event_id, created_at, updated_at)
  SELECT 'cbrsm_' || lower(hex(randomblob(16))), '$ORG_B', 'draft',
    'Bulk ' || value, NULL, '$EVENT_B',
    $now - 31536000 + value * 31536000 / $big,
    $now - 31536000 + value * 31536000 / $big
  FROM generate_series(1, $big);
-- 1-3 vendor entries each, in the order they joined.
INSERT INTO reassessment_vendors (rsm_rid, vendor_id, position,
    source, included)
  SELECT r.rid, bv.id, j.value + 1, 'matched', 1
  FROM reassessments r
  JOIN generate_series(0, 2) j ON j.value <= ((r.rid * 2654435761) >> 7) % 3
  JOIN bv ON bv.k = (r.rid + j.value) % 10
  WHERE r.org_id = '$ORG_B'
  ORDER BY r.rid, j.value;
-- alert_ids as create computes them: the event's alerts on the vendor set.
INSERT INTO reassessment_alerts (rsm_rid, alert_id)
  SELECT v.rsm_rid, a.id
  FROM reassessment_vendors v
  JOIN reassessments r ON r.rid = v.rsm_rid
  JOIN radar_alerts a ON a.event_id = r.radar_event_id AND a.vendor_id = v.vendor_id
  WHERE r.org_id = '$ORG_B' AND a.is_dismissed = 0 AND a.is_archived = 0;
COMMIT;
PRAGMA journal_mode = WAL;
SQL
counts=$(sqlite3 "$db" "SELECT (SELECT count(*) FROM reassessments WHERE org_id = '$ORG_A'),
	(SELECT count(*) FROM reassessments WHERE org_id = '$ORG_B'),
	(SELECT count(*) FROM reassessment_vendors), (SELECT count(*) FROM reassessment_alerts)")
IFS='|' read -r nA nB nRV nRA <<<"$counts"
[ "$nA" -eq "$small" ] || die "org A has $nA reassessments, not $small"
[ "$nB" -eq "$big" ] || die "org B has $nB reassessments, not $big"
dbsize=$(du -m "$db" | cut -f1)
say "org B: $big reassessments with sqlite3 ($(since "$t") s); database ${dbsize} MB, $nRV vendor entries, $nRA alert links"

# ---- 4: the servers as measured ---------------------------------------------

start_serve "$workers"		# as shipped: synchronous=FULL
MAIN_SERVE=$SERVE_PID
"$var/floor" --listen "$var/floor.sock" --workers "$workers" 2>>"$var/floor.log" &
pids+=($!)
start_nginx floor "$var/floor.sock" 200
FLOOR_URL="http://127.0.0.1:$PORT"

# Every row must answer 2xx, with real content, before it is measured.
pool1=$(head -n 1 "$var/pool.ids")
n=$(api "$KEY_A" GET "/v1/reassessments/$pool1" | jq '.vendors | length')
[ "$n" -eq 10 ] || die "a pool reassessment has $n vendors, not 10"
n=$(api "$KEY_A" GET "/v1/reassessments?limit=50" | jq '"\(.items | length) \(.total)"' -r)
[ "$n" = "50 $small" ] || die "the 10k list page says '$n'"
n=$(api "$KEY_B" GET "/v1/reassessments?limit=50" | jq '"\(.items | length) \(.total)"' -r)
[ "$n" = "50 $big" ] || die "the 1M list page says '$n'"
curl -sf -o /dev/null "$FLOOR_URL/v1/reassessments" || die "the floor does not answer"

# ---- 5: wrk -------------------------------------------------------------------

export BENCH_IDS_FILE="$var/pool.ids" BENCH_EVENT="$EVENT_C" BENCH_VENDORS="${VC[*]}"
err=0
# measure NAME SECONDS MODE KEY URL: a 2 s warm-up, then SECONDS of wrk;
# sets RPS P50 P99 and records the row's numbers in $var/rows.
measure() {
	local name=$1 secs=$2 mode=$3 key=$4 url=$5 line
	BENCH_MODE=$mode wrk -t"$threads" -c"$conns" -d2s -s bench/wrk.lua \
		-H "Authorization: Bearer $key" "$url" >/dev/null 2>&1 || :
	line=$(BENCH_MODE=$mode wrk -t"$threads" -c"$conns" -d"${secs}s" --latency \
		-s bench/wrk.lua -H "Authorization: Bearer $key" "$url" 2>&1 |
		tee "$var/wrk-$name.txt" | grep '^BENCH ') || die "wrk $name failed: $(cat "$var/wrk-$name.txt")"
	RPS=$(sed 's/.* rps=\([^ ]*\).*/\1/' <<<"$line")
	P50=$(sed 's/.* p50_ms=\([^ ]*\).*/\1/' <<<"$line")
	P99=$(sed 's/.* p99_ms=\([^ ]*\).*/\1/' <<<"$line")
	NON2XX=$(sed 's/.* non2xx=\([^ ]*\).*/\1/' <<<"$line")
	ERRS=$(sed 's/.* errors=\([^ ]*\).*/\1/' <<<"$line")
	if [ "$NON2XX" -ne 0 ] || [ "$ERRS" -ne 0 ]; then
		echo "bench: $name: $NON2XX non-2xx answers, $ERRS socket errors" >&2
		err=1
	fi
	printf '%s %s %s %s %s %s\n' "$name" "$RPS" "$P50" "$P99" "$NON2XX" "$ERRS" >>"$var/rows"
	say "$name: $RPS req/s, p50 $P50 ms, p99 $P99 ms"
}
floor() {
	measure "floor$1" "$floor_seconds" url none "$FLOOR_URL/v1/reassessments/$pool1"
}
# commit_floor N: the durable-commit floor (bench/commit-floor.c) for
# $commit_seconds, beside bench.db; recorded as row commitfloorN.
commit_floor() {
	local line rate p50 p99 errs
	line=$("$var/commit-floor" -w "$workers" -s "$commit_seconds" \
		"$var/commit-floor.db" 2>"$var/commit-floor$1.err" |
		tee "$var/commit-floor$1.txt" | grep '^COMMIT_FLOOR ') ||
		die "commit-floor failed: $(tail -n 3 "$var/commit-floor$1.err")"
	rate=$(sed 's/.* rate=\([^ ]*\).*/\1/' <<<"$line")
	p50=$(sed 's/.* p50_ms=\([^ ]*\).*/\1/' <<<"$line")
	p99=$(sed 's/.* p99_ms=\([^ ]*\).*/\1/' <<<"$line")
	errs=$(sed 's/.* errors=\([^ ]*\).*/\1/' <<<"$line")
	printf 'commitfloor%s %s %s %s 0 %s\n' "$1" "$rate" "$p50" "$p99" "$errs" >>"$var/rows"
	if [ "$errs" -ne 0 ]; then
		echo "bench: commit floor $1: $errs transactions failed: $(head -n 3 "$var/commit-floor$1.err")" >&2
		err=1
	fi
	say "commit floor $1: $rate commits/s, p50 $p50 ms, p99 $p99 ms ($workers processes, ${commit_seconds} s)"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "measuring: wrk -t$threads -c$conns, ${seconds} s per row, ${floor_seconds} s per floor, $workers workers; load average $LOAD_START"
: >"$var/rows"
floor 1
measure get "$seconds" ids "$KEY_A" "$URL/v1/reassessments/"
floor 2
measure list10k "$seconds" url "$KEY_A" "$URL/v1/reassessments?limit=50"
floor 3
measure list1m "$seconds" url "$KEY_B" "$URL/v1/reassessments?limit=50"
floor 4
commit_floor 1
measure create "$seconds" create "$KEY_C" "$URL/v1/reassessments"
commit_floor 2
floor 5
# API-call records (6.4): GET one with them off, then on again, each on a
# fresh reassess serve, each between two floors.
stop_pid "$MAIN_SERVE"
start_serve "$workers" REASSESS_AUDIT_CALLS=off
measure getoff "$seconds" ids "$KEY_A" "$URL/v1/reassessments/"
floor 6
stop_pid "$SERVE_PID"
start_serve "$workers"
MAIN_SERVE=$SERVE_PID
measure geton "$seconds" ids "$KEY_A" "$URL/v1/reassessments/"
floor 7
n=$(sqlite3 "$db" "SELECT count(*) FROM audit_log WHERE event_type = 'external_api_call'")
say "call records in the database: $n"

# ---- 6: triggers, run, CGI, memory ---------------------------------------------

# POST /v1/radar/events in org E, one after another, timed by curl through
# nginx as the runs are: each makes $triggers drafts in its transaction.
: >"$var/trigger.times"
for i in $(seq "$trigger_events"); do
	out=$(curl -s -o "$var/event.json" -w '%{http_code} %{time_total}' -X POST \
		-H "Authorization: Bearer $KEY_E" -H 'Content-Type: application/json' \
		--data-binary "@$var/event-body.json" "$URL/v1/radar/events")
	[ "${out% *}" = 201 ] || die "event $i answered ${out% *}: $(head -c 300 "$var/event.json")"
	echo "${out#* }" >>"$var/trigger.times"
done
n=$(api "$KEY_E" GET "/v1/reassessments?radar_event_id=$(jq -r .id "$var/event.json")&limit=1" | jq .total)
[ "$n" -eq "$triggers" ] || die "an event of org E made $n drafts, not $triggers"
read -r TRG_MEAN TRG_P50 TRG_P99 TRG_MAX < <(sort -n "$var/trigger.times" |
	awk '{ t[NR] = $1 * 1000; s += $1 * 1000 } END { printf "%.2f %.2f %.2f %.2f\n",
	s / NR, t[int((NR + 1) / 2)], t[int(NR * 0.99 + 0.999)], t[NR] }')
say "events: $trigger_events events against $triggers triggers, mean $TRG_MEAN ms, p50 $TRG_P50 ms, p99 $TRG_P99 ms, max $TRG_MAX ms"

# POST .../run: each on a fresh draft of $run_vendors included vendors.
: >"$var/run.times"
while read -r id; do
	out=$(curl -s -o "$var/run.json" -w '%{http_code} %{time_total}' -X POST \
		-H "Authorization: Bearer $KEY_D" "$URL/v1/reassessments/$id/run")
	[ "${out% *}" = 200 ] || die "run $id answered ${out% *}: $(head -c 300 "$var/run.json")"
	n=$(jq '[.vendors[] | select(.assessment_id != null)] | length' "$var/run.json")
	[ "$n" -eq "$run_vendors" ] || die "run $id made $n assessments"
	echo "${out#* }" >>"$var/run.times"
done <"$var/run.ids"
read -r RUN_MEAN RUN_MIN RUN_MAX < <(awk '{ s += $1; if (NR == 1 || $1 < mn) mn = $1;
	if ($1 > mx) mx = $1 } END { printf "%.3f %.3f %.3f\n", s / NR, mn, mx }' "$var/run.times")
say "run: $runs runs of $run_vendors vendors, mean $RUN_MEAN s, min $RUN_MIN s, max $RUN_MAX s"

# One CGI request: GET one reassessment of 10 vendors, the whole process.
cgi_env=(PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1
	REQUEST_METHOD=GET PATH_INFO="/v1/reassessments/$pool1" QUERY_STRING=
	REQUEST_URI="/v1/reassessments/$pool1" SCRIPT_NAME=
	HTTP_AUTHORIZATION="Bearer $KEY_A" REASSESS_DB="$db")
env -i "${cgi_env[@]}" "$REASSESS" >"$var/cgi.out"
grep -q '^Status: 200' "$var/cgi.out" || die "the CGI request answered: $(head -c 300 "$var/cgi.out")"
env -i "${cgi_env[@]}" "$(command -v hyperfine)" -N --warmup 20 --runs 200 \
	--export-json "$var/cgi.json" "$REASSESS" >"$var/cgi.txt" 2>&1 ||
	die "hyperfine failed: $(cat "$var/cgi.txt")"
read -r CGI_MEAN CGI_SD CGI_MEDIAN < <(jq -r '.results[0] | "\(.mean * 1000) \(.stddev * 1000) \(.median * 1000)"' "$var/cgi.json")
say "CGI: mean $(printf '%.2f' "$CGI_MEAN") ms ± $(printf '%.2f' "$CGI_SD")"

# A worker's memory: reassess serve --workers 1 behind the same nginx (the
# socket path is the same); VmRSS fresh, after a 2 s warm-up, then after
# each 10 s of wrk (-c4) until $mem_requests requests were answered (wrk
# counts them), cycling over 125 paths: GET one of the 100 of the pool, and
# 5 each of list pages of org A (first and deeper), vendors, alerts and a
# 404.
stop_pid "$MAIN_SERVE"
start_serve 1
worker=$(children "$SERVE_PID" | head -n 1)
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$worker/status"; }
{
	sed 's|^|/v1/reassessments/|' "$var/pool.ids"
	for i in 1 2 3 4 5; do
		echo "/v1/reassessments?limit=50"
		echo "/v1/reassessments?limit=50&offset=$((i * 50))"
		echo "/v1/vendors?limit=10"
		echo "/v1/radar/alerts?limit=10"
		echo "/v1/reassessments/cbrsm_00000000000000000000000000000000"
	done
} >"$var/mix.paths"
export BENCH_PATHS_FILE="$var/mix.paths"
# mem_wrk SECONDS NAME: GETs of the mix; adds the answered count to mem_done.
mem_done=0
mem_non2xx=0
mem_wrk() {
	local line
	line=$(BENCH_MODE=mix wrk -t2 -c4 -d"$1s" -s bench/wrk.lua \
		-H "Authorization: Bearer $KEY_A" "$URL/" 2>&1 | tee "$var/wrk-mem-$2.txt" |
		grep '^BENCH ') || die "wrk (memory) failed: $(cat "$var/wrk-mem-$2.txt")"
	MEM_N=$(sed 's/.* requests=\([0-9]*\).*/\1/' <<<"$line")
	mem_non2xx=$((mem_non2xx + $(sed 's/.* non2xx=\([0-9]*\).*/\1/' <<<"$line")))
}
RSS_START=$(rss)
mem_wrk 2 warm
RSS_WARM=$(rss)
mem_non2xx=0
t=$(elapsed)
: >"$var/rss.txt"
chunk=0
while [ "$mem_done" -lt "$mem_requests" ]; do
	chunk=$((chunk + 1))
	mem_wrk 10 "$chunk"
	mem_done=$((mem_done + MEM_N))
	echo "$mem_done $(rss)" >>"$var/rss.txt"
	[ "$chunk" -lt 60 ] || die "the memory run did not reach $mem_requests requests in 600 s"
done
RSS_END=$(rss)
RSS_HALF=$(awk -v h=$((mem_done / 2)) '$1 >= h { print $2; exit }' "$var/rss.txt")
RSS_HALF_N=$(awk -v h=$((mem_done / 2)) '$1 >= h { print $1; exit }' "$var/rss.txt")
[ "$(children "$SERVE_PID" | head -n 1)" = "$worker" ] || die "the worker was replaced during the memory run"
# One path in 25 is a 404 by design; anything else that is not 2xx is not.
[ "$mem_non2xx" -le $((mem_done / 25 + 100)) ] || { echo "bench: memory run: $mem_non2xx non-2xx answers" >&2; err=1; }
say "memory: VmRSS ${RSS_START} kB fresh, ${RSS_WARM} kB after the warm-up, ${RSS_HALF} kB after $RSS_HALF_N, ${RSS_END} kB after $mem_done requests ($(since "$t") s, $mem_non2xx of them 404; VmRSS per 10 s: $(cut -d' ' -f2 "$var/rss.txt" | tr '\n' ' '))"

# ---- 7: the table ---------------------------------------------------------------

cleanup
TOTAL=$(elapsed)
awk -v seconds="$seconds" -v floor_seconds="$floor_seconds" -v threads="$threads" -v conns="$conns" -v workers="$workers" \
    -v run_mean="$RUN_MEAN" -v run_min="$RUN_MIN" -v run_max="$RUN_MAX" -v runs="$runs" \
    -v run_vendors="$run_vendors" -v cgi_mean="$CGI_MEAN" -v cgi_sd="$CGI_SD" \
    -v cgi_median="$CGI_MEDIAN" -v rss0="$RSS_START" -v rss1="$RSS_WARM" \
    -v rss2="$RSS_HALF" -v rss3="$RSS_END" -v mem_done="$mem_done" -v mem_half="$RSS_HALF_N" \
    -v total="$TOTAL" -v small="$small" -v big="$big" -v dbsize="$dbsize" \
    -v commit_seconds="$commit_seconds" -v triggers="$triggers" \
    -v trigger_events="$trigger_events" -v trigger_vendors="$trigger_vendors" -v trg_mean="$TRG_MEAN" -v trg_p50="$TRG_P50" \
    -v trg_p99="$TRG_P99" -v trg_max="$TRG_MAX" \
    -v other_binary="$([ "$REASSESS" = "$top/reassess" ] || echo 1)" '
function yn(ok) { return ok ? "yes" : "**no**" }
function row(label, r, ratio, target, met) {
	printf "| %-38s | %8.0f | %7.2f ms | %7.2f ms | %6s | %-22s | %-6s |\n",
	    label, rps[r], p50[r], p99[r], ratio, target, met
}
# A cell of the deterministic table: the mean, without trailing zeros.
function num(v) { v = sprintf("%.2f", v); sub(/\.?0+$/, "", v); return v }
function det(k, label, writes) {
	printf "| %-41s | %10s | %8s | %8s | %8s | %7s | %-14s |\n", label,
	    num(cnt[k, "statements"]),
	    num(cnt[k, "triggers"]) " (" num(cnt[k, "trigger_statements"]) ")",
	    num(cnt[k, "steps"]), num(cnt[k, "vm_steps"]), num(cnt[k, "commits"]),
	    writes ? sprintf("%s (%d-%d)", num(cnt[k, "pages"]),
	    cnt[k, "pages_min"], cnt[k, "pages_max"]) : "-"
}
# bench/count.c: COUNT kind=K name=value ...
$1 == "COUNT" {
	split($2, kv, "=")
	k = kv[2]
	for (i = 2; i <= NF; i++) {
		split($i, kv, "=")
		cnt[k, kv[1]] = kv[2]
	}
	nreq[k] = cnt[k, "requests"]
	next
}
$1 == "DETAIL" { next }
{ rps[$1] = $2; p50[$1] = $3; p99[$1] = $4 }
END {
	nf = 0; fs = 0; fmin = 1e12; fmax = 0
	for (i = 1; ("floor" i) in rps; i++) {
		f = rps["floor" i]; fs += f; nf++
		if (f < fmin) fmin = f; if (f > fmax) fmax = f
		p50s += p50["floor" i]; p99s += p99["floor" i]
	}
	rps["floor"] = fs / nf; p50["floor"] = p50s / nf; p99["floor"] = p99s / nf
	# Each row against the floor measured just before and just after it.
	split("get list10k list1m create", rows, " ")
	for (i = 1; i <= 4; i++)
		ratio[rows[i]] = rps[rows[i]] / ((rps["floor" i] + rps["floor" (i + 1)]) / 2)
	print "| endpoint | req/s | p50 | p99 | ratio to floor | target | met? |"
	print "| --- | ---: | ---: | ---: | ---: | --- | --- |"
	row("floor: empty FastCGI responder", "floor", "1.00",
	    sprintf("(%.0f-%.0f req/s)", fmin, fmax), "")
	row("GET /v1/reassessments/{id}, 10 vendors", "get",
	    sprintf("%.2f", ratio["get"]), ">= 0.70 x floor", yn(ratio["get"] >= 0.7))
	row(sprintf("GET /v1/reassessments?limit=50, %dk", small / 1000), "list10k",
	    sprintf("%.2f", ratio["list10k"]), ">= 0.40 x floor", yn(ratio["list10k"] >= 0.4))
	l = rps["list1m"] / rps["list10k"]
	row(sprintf("GET /v1/reassessments?limit=50, %s", big >= 1000000 ? big / 1000000 "M" : big / 1000 "k"),
	    "list1m", sprintf("%.2f", ratio["list1m"]),
	    sprintf(">= 0.40, 0.5 x 10k (%.2f)", l), yn(l >= 0.5 && ratio["list1m"] >= 0.4))
	row("POST /v1/reassessments, 3 vendors", "create",
	    sprintf("%.2f", ratio["create"]), "", "")
	# The durable-commit floor, measured just before and just after create.
	c1 = rps["commitfloor1"]; c2 = rps["commitfloor2"]
	rps["commitfloor"] = (c1 + c2) / 2
	p50["commitfloor"] = (p50["commitfloor1"] + p50["commitfloor2"]) / 2
	p99["commitfloor"] = (p99["commitfloor1"] + p99["commitfloor2"]) / 2
	cratio = rps["create"] / rps["commitfloor"]
	row(sprintf("durable-commit floor, %d processes", workers), "commitfloor",
	    "", sprintf("(%.0f-%.0f commits/s)", c1 < c2 ? c1 : c2, c1 > c2 ? c1 : c2), "")
	printf "| %-38s | %8s | %10s | %10s | %6.2f | %-22s | %-6s |\n",
	    "POST create / durable-commit floor", "", "", "", cratio,
	    ">= 0.60 x commit floor", yn(cratio >= 0.6)
	# API-call records (6.4): GET one off, then on, after create.
	ratio["getoff"] = rps["getoff"] / ((rps["floor5"] + rps["floor6"]) / 2)
	ratio["geton"] = rps["geton"] / ((rps["floor6"] + rps["floor7"]) / 2)
	row("GET one, call records off", "getoff", sprintf("%.2f", ratio["getoff"]), "", "")
	row("GET one, call records on", "geton", sprintf("%.2f", ratio["geton"]),
	    ">= 0.90 x records off", yn(ratio["geton"] >= 0.9 * ratio["getoff"]))
	print ""
	print "| deterministic, per request (bench/count.c) | statements | triggers (their statements) | sqlite3_step calls | VM steps | commits | pages written (min-max) |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
	det("get", "GET /v1/reassessments/{id}, 10 vendors", 0)
	det("list", "GET /v1/reassessments?limit=50, 50 items", 0)
	det("create", "POST /v1/reassessments, 3 vendors", 1)
	det("run", "POST .../run, 10 included vendors", 1)
	det("patch", "PATCH /v1/reassessments/{id}, title", 1)
	print ""
	printf "Deterministic figures: means over %d, %d, %d, %d and %d requests through reassess.c'"'"'s handle() on a database of its own (bench/count.c; %s); pages are WAL frames appended by the request'"'"'s commit, at synchronous=FULL; the breakdown by statement and by B-tree is in bench/var/count.txt.\n",
	    nreq["get"], nreq["list"], nreq["create"], nreq["run"], nreq["patch"],
	    other_binary ? "of reassess.c in this tree, not of the binary measured above" : "the same reassess.c as the binary measured above"
	print ""
	printf "| other measurement | value | target | met? |\n| --- | --- | --- | --- |\n"
	printf "| POST /v1/radar/events, %d vendors, %d enabled triggers (%d events, curl through nginx) | mean %.1f ms, p50 %.1f ms, p99 %.1f ms, max %.1f ms | p99 <= POST create p99 (%.1f ms) | %s |\n",
	    trigger_vendors, triggers, trigger_events, trg_mean, trg_p50, trg_p99, trg_max,
	    p99["create"], yn(trg_p99 <= p99["create"])
	printf "| POST .../run, %d included vendors (%d runs, curl through nginx) | mean %.3f s, min %.3f s, max %.3f s | < 0.3 s (max) | %s |\n",
	    run_vendors, runs, run_mean, run_min, run_max, yn(run_max < 0.3)
	printf "| one CGI request, GET one (hyperfine, 200 runs) | mean %.2f ms ± %.2f, median %.2f ms | < 2 ms (mean) | %s |\n",
	    cgi_mean, cgi_sd, cgi_median, yn(cgi_mean < 2)
	printf "| pages written per POST create, 3 vendors (bench/count.c) | %.2f | <= 7 | %s |\n",
	    cnt["create", "pages"], yn(cnt["create", "pages"] <= 7)
	printf "| worker VmRSS (serve --workers 1), GET mix | %d kB fresh, %d kB after a 2 s warm-up, %d kB after %d requests, %d kB after %d | no growth after warm-up (<= 64 kB) | %s |\n",
	    rss0, rss1, rss2, mem_half, rss3, mem_done, yn(rss3 - rss1 <= 64)
	print ""
	printf "wrk -t%d -c%d, %d s per row (%d s per floor), 2 s warm-up each; reassess serve and the floor with %d workers; the durable-commit floor %d s before and %d s after POST create; database %d MB. Total time of this run: %.0f s.\n",
	    threads, conns, seconds, floor_seconds, workers, commit_seconds, commit_seconds, dbsize, total
}' "$var/rows" "$var/count.txt" | tee "$var/results.md"
{
	echo
	echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r); $("$nginx" -v 2>&1 | sed 's/.*: //'); SQLite $(sqlite3 --version | cut -d' ' -f1); load average $LOAD_START at the start of the measurements, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
} | tee -a "$var/results.md"
exit "$err"
