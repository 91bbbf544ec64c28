#!/bin/bash
# bench/profile.sh: where the time of the slow rows of `make bench` goes.
# Run it after `make bench`, on the database that run left in bench/var/.
#
# perf is the first choice where it works, but this machine's perf has no
# hardware counters (`perf stat -e instructions true` says <not supported>),
# so this uses valgrind's callgrind: instruction counts per function,
# exact and repeatable, though not wall time (fsync waits do not show: the
# POST create section counts them with strace instead).
#
# For each endpoint, a `reassess serve --workers 1` under callgrind behind
# nginx configured as in make bench (scripts/nginx-conf.sh), N requests sent
# one at a time with curl, then SIGTERM; callgrind_annotate's inclusive and
# exclusive top functions of the worker go to bench/var/prof/NAME.txt.
# Plus one CGI request under callgrind (the whole process), and strace -c of
# a worker serving POST creates.
#
# SQLite's internals have no symbols in Debian's library (they show as
# ??? in libsqlite3.so); the API entry points (sqlite3_step,
# sqlite3_prepare_v3, ...) and everything in reassess are named.

set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
var="$top/bench/var"
prof="$var/prof"
db="$var/bench.db"
REASSESS=${REASSESS:-$top/reassess}
[ -r "$var/bench.env" ] && [ -r "$db" ] || { echo "profile: run make bench first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$var/bench.env"
for t in valgrind callgrind_annotate strace; do
	command -v "$t" >/dev/null || { echo "profile: needs $t (apt-get install valgrind strace)" >&2; exit 1; }
done
rm -rf "$prof"
mkdir -p "$prof"
sock="$prof/reassess.sock"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || :; wait "$p" 2>/dev/null || :; done
	pids=()
}
trap cleanup EXIT
children() { awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null; }

# nginx in front of $sock, once.
port=$((20000 + RANDOM % 40000))
mkdir -p "$prof/nginx"
sh scripts/nginx-conf.sh "$prof/nginx" "127.0.0.1:$port" "$sock" >"$prof/nginx/nginx.conf"
nginx -p "$prof/nginx" -e "$prof/nginx/error.log" -c "$prof/nginx/nginx.conf" &
pids+=($!)
URL="http://127.0.0.1:$port"

# profile NAME KEY CURLCONFIG: serve under callgrind, send the config's
# requests one at a time, stop, annotate the worker's file.
profile() {
	local name=$1 key=$2 cfg=$3 spid i w f
	rm -f "$sock"
	valgrind --tool=callgrind --callgrind-out-file="$prof/$name.%p.out" \
		"$REASSESS" --db "$db" serve --listen "$sock" --workers 1 2>"$prof/$name.valgrind.log" &
	spid=$!
	for i in $(seq 300); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/vendors")" = 401 ] && break
		sleep 0.1
	done
	w=$(children "$spid" | head -n 1)
	sed '$ { /^next$/d }' "$cfg" | awk -v key="$key" 'NR == 1 || prev == "next" {
		printf "silent\nheader = \"Authorization: Bearer %s\"\nheader = \"Content-Type: application/json\"\n", key }
		{ print; prev = $0 }' >"$cfg.k"
	curl -s -K "$cfg.k" | sort | uniq -c >"$prof/$name.codes"
	kill -TERM "$spid"
	wait "$spid" 2>/dev/null || :
	f="$prof/$name.$w.out"
	{
		echo "== $name: statuses: $(tr -s ' \n' ' ' <"$prof/$name.codes")"
		echo "== inclusive"
		callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null | sed -n '/^Ir/,$p' | head -45
		echo "== exclusive"
		callgrind_annotate --threshold=100 "$f" 2>/dev/null | sed -n '/^Ir/,$p' | head -30
	} >"$prof/$name.txt"
	echo "profile: $name -> bench/var/prof/$name.txt ($(tr -s ' \n' ' ' <"$prof/$name.codes"))" >&2
}
get_cfg() {	# N URL...: N GETs cycling over the URLs
	local n=$1
	shift
	printf '%s\n' "$@" | awk -v n="$n" '{ u[NR] = $0 } END { for (i = 0; i < n; i++)
		printf "url = \"%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\nnext\n", u[i % NR + 1] }'
}

mapfile -t pool <"$var/pool.ids"
get_cfg 300 "${pool[@]/#/$URL/v1/reassessments/}" >"$prof/get.cfg"
profile get "$KEY_A" "$prof/get.cfg"
get_cfg 50 "$URL/v1/reassessments?limit=50" >"$prof/list10k.cfg"
profile list10k "$KEY_A" "$prof/list10k.cfg"
get_cfg 50 "$URL/v1/reassessments?limit=50" >"$prof/list1m.cfg"
profile list1m "$KEY_B" "$prof/list1m.cfg"
read -r -a vc <<<"$VC"
for i in $(seq 100); do
	printf 'url = "%s/v1/reassessments"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\ndata = "{\\"radar_event_id\\":\\"%s\\",\\"vendor_ids\\":[\\"%s\\",\\"%s\\",\\"%s\\"],\\"title\\":\\"profile %d\\"}"\nnext\n' \
		"$URL" "$EVENT_C" "${vc[i % 10]}" "${vc[(i + 3) % 10]}" "${vc[(i + 6) % 10]}" "$i"
done >"$prof/create.cfg"
profile create "$KEY_C" "$prof/create.cfg"

# A fresh draft of all of org D's vendors (made through the API, as CGI),
# then one run of it under callgrind.
len=$(wc -c <"$var/run-body.json")
env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST PATH_INFO=/v1/reassessments \
	CONTENT_TYPE=application/json CONTENT_LENGTH="$len" HTTP_AUTHORIZATION="Bearer $KEY_D" \
	REASSESS_DB="$db" "$REASSESS" <"$var/run-body.json" >"$prof/run-create.out"
rid=$(awk 'b { print } /^\r?$/ { b = 1 }' "$prof/run-create.out" | jq -r .id)
# (Not through nginx: under callgrind a 5,000-vendor run outlasts nginx's
# 60 s fastcgi_read_timeout. As CGI the process start is in it too, which
# is small next to the run.)
env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
	PATH_INFO="/v1/reassessments/$rid/run" HTTP_AUTHORIZATION="Bearer $KEY_D" \
	REASSESS_DB="$db" valgrind --tool=callgrind --callgrind-out-file="$prof/run.out" \
	"$REASSESS" </dev/null 2>"$prof/run.valgrind.log" | head -n 1 >"$prof/run.codes"
{
	echo "== run: one POST .../run of $(wc -l <"$var/vendors-$ORG_D.ids") vendors, as CGI: $(cat "$prof/run.codes")"
	echo "== inclusive"
	callgrind_annotate --inclusive=yes --threshold=100 "$prof/run.out" | sed -n '/^Ir/,$p' | head -45
	echo "== exclusive"
	callgrind_annotate --threshold=100 "$prof/run.out" | sed -n '/^Ir/,$p' | head -30
} >"$prof/run.txt"
echo "profile: run -> bench/var/prof/run.txt ($(cat "$prof/run.codes"))" >&2

# One CGI request (GET one), the whole process, while a `reassess serve`
# holds the database open as in make bench (otherwise each CGI process is
# the last connection and pays for WAL recovery and a checkpoint).
rm -f "$sock"
"$REASSESS" --db "$db" serve --listen "$sock" --workers 1 2>/dev/null &
spid=$!
for i in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/vendors")" = 401 ] && break
	sleep 0.05
done
env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
	PATH_INFO="/v1/reassessments/${pool[0]}" HTTP_AUTHORIZATION="Bearer $KEY_A" \
	REASSESS_DB="$db" valgrind --tool=callgrind --callgrind-out-file="$prof/cgi.out" \
	"$REASSESS" >/dev/null 2>"$prof/cgi.valgrind.log"
{
	echo "== cgi: one GET of a 10-vendor reassessment, the whole process"
	echo "== inclusive"
	callgrind_annotate --inclusive=yes --threshold=100 "$prof/cgi.out" | sed -n '/^Ir/,$p' | head -45
	echo "== exclusive"
	callgrind_annotate --threshold=100 "$prof/cgi.out" | sed -n '/^Ir/,$p' | head -30
} >"$prof/cgi.txt"
echo "profile: cgi -> bench/var/prof/cgi.txt" >&2
kill -TERM "$spid"
wait "$spid" 2>/dev/null || :

# The system calls of a worker serving 200 POST creates (wall time per
# call, -w): pages written and fsyncs per create.
rm -f "$sock"
"$REASSESS" --db "$db" serve --listen "$sock" --workers 1 2>/dev/null &
spid=$!
pids+=("$spid")
for i in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/vendors")" = 401 ] && break
	sleep 0.05
done
w=$(children "$spid" | head -n 1)
strace -c -w -f -p "$w" -o "$prof/create.strace" &
st=$!
sleep 0.5
sed 's/profile \([0-9]*\)/strace \1/' "$prof/create.cfg" >"$prof/create2.cfg"
for i in 1 2; do cat "$prof/create2.cfg"; done >"$prof/create3.cfg"
sed '$ { /^next$/d }' "$prof/create3.cfg" | awk -v key="$KEY_C" 'NR == 1 || prev == "next" {
	printf "silent\nheader = \"Authorization: Bearer %s\"\nheader = \"Content-Type: application/json\"\n", key }
	{ print; prev = $0 }' | curl -s -K - >/dev/null
kill -INT "$st"
wait "$st" 2>/dev/null || :
echo "profile: strace of 200 creates -> bench/var/prof/create.strace" >&2
kill -TERM "$spid"
wait "$spid" 2>/dev/null || :

# POST create at synchronous=FULL (as shipped) and at REASSESS_SYNC=normal
# (no fsync at commit), 2 workers, the bench's wrk settings: how much of
# the row is the disk's fsync.
export BENCH_EVENT="$EVENT_C" BENCH_VENDORS="$VC"
for sync in full normal; do
	rm -f "$sock"
	env REASSESS_SYNC="$sync" "$REASSESS" --db "$db" serve --listen "$sock" --workers 2 2>/dev/null &
	spid=$!
	for i in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/vendors")" = 401 ] && break
		sleep 0.05
	done
	BENCH_MODE=create wrk -t2 -c32 -d10s -s bench/wrk.lua -H "Authorization: Bearer $KEY_C" \
		"$URL/v1/reassessments" | grep '^BENCH' | sed "s/^BENCH/create sync=$sync:/" >>"$prof/create-sync.txt"
	kill -TERM "$spid"
	wait "$spid" 2>/dev/null || :
done
cat "$prof/create-sync.txt" >&2
cleanup
