#!/usr/bin/env bash
# scripts/test.sh TRANSPORT...: what `make test`, `make test-cgi` and
# `make valgrind` run: the bats files of $TESTS once per TRANSPORT (cgi,
# http: REASSESS_TRANSPORT of tests/helper.bash), several files at a time.
#
#   TESTS="tests/vendors.bats tests/radar.bats"   files or directories
#                                                 (default: tests/)
#   TEST_JOBS=N   how many files run at once, all passes together (default:
#                 twice the cores; 1: one after another, without GNU
#                 parallel)
#
# Two markers, lines of a file's header comment, change how it runs:
#
#   # serial: REASON      the file runs alone, after all the others: it
#                         needs the machine to itself (CPU-hungry clients,
#                         counts of what gets done in a window of time).
#   # one pass: REASON    the file picks its transport itself (it sets
#                         REASSESS_TRANSPORT, or talks to servers of its
#                         own), so another pass would run the same again: it
#                         runs in the first pass only.
#
# Every other file, a new one too, runs beside the others, in every pass. A
# file may run beside any other: what it makes is under its own
# $BATS_FILE_TMPDIR, its servers listen on unix sockets there or on
# loopback ports picked free and checked to be theirs (tests/helper.bash,
# random_port and wait_http). The tests of one file run in order, one at a
# time: they share the file's database.
#
# The (pass, file) pairs run TEST_JOBS at a time (GNU parallel), larger
# files first so that the longest do not start last; each file's TAP output
# comes whole when it ends, under a line `== TRANSPORT FILE: N tests, N
# failures, N skipped, S s`. Then the serial files, one at a time. Last,
# the failed tests again (`== failed: ...`) and a line `== TRANSPORT: N
# tests, N failures, N skipped` per pass; any failure makes the exit
# status 1.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

# tap_summary REPORT...: "N tests, N failures, N skipped" of TAP reports.
tap_summary() {
	cat "$@" 2>/dev/null | awk '
		/^ok / { n++; if (/ # skip/) s++ }
		/^not ok / { n++; f++ }
		END {
			printf "%d test%s, %d failure%s, %d skipped", n, n == 1 ? "" : "s",
			    f, f == 1 ? "" : "s", s
		}'
}

# --file TRANSPORT FILE DIR: one file of one pass, its TAP report and
# output under DIR, printed with its summary line once it ends.
if [ "${1:-}" = --file ]; then
	t=$2 f=$3 dir=$4 rc=0
	mkdir -p "$dir"
	echo "$t $f" > "$dir/name"
	s=$(date +%s)
	REASSESS_TRANSPORT=$t bats --report-formatter tap --output "$dir" "$f" \
		> "$dir/output" 2>&1 < /dev/null || rc=1
	# A file that failed before reporting a test (a setup_file that failed,
	# a syntax error) still counts as a failure.
	if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$dir/report.tap" 2>/dev/null; then
		echo "not ok - $f: bats exited with a failure" >> "$dir/report.tap"
	fi
	echo "== $t $f: $(tap_summary "$dir/report.tap"), $(($(date +%s) - s)) s"
	cat "$dir/output"
	exit $rc
fi

if [ $# -eq 0 ]; then
	echo "usage: $0 TRANSPORT... (cgi, http)" >&2
	exit 2
fi
passes=("$@")
jobs=${TEST_JOBS:-$(($(nproc) * 2))}

files=()
for t in ${TESTS:-tests/}; do
	if [ -d "$t" ]; then
		files+=("${t%/}"/*.bats)
	elif [ -f "$t" ]; then
		files+=("$t")
	else
		echo "$0: no test file $t" >&2
		exit 2
	fi
done

# The jobs, a transport and a file each: the parallel ones largest file
# first, each file's passes together; then the serial ones.
pt=() pf=() st=() sf=()
while read -r _ f; do
	first=1
	for t in "${passes[@]}"; do
		if [ $first = 0 ] && grep -q '^# one pass:' "$f"; then
			break
		fi
		first=0
		if grep -q '^# serial:' "$f"; then
			st+=("$t") sf+=("$f")
		else
			pt+=("$t") pf+=("$f")
		fi
	done
done < <(stat -c '%s %n' "${files[@]}" | sort -k1,1nr -k2)

out=$(mktemp -d "${TMPDIR:-/tmp}/reassess-test.XXXXXX")
trap 'rm -rf "$out"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$(date +%s)
rc=0
if [ ${#pf[@]} -gt 0 ]; then
	echo "== ${passes[*]}: ${#pf[@]} files, $jobs at a time"
	if [ "$jobs" -gt 1 ]; then
		# (--will-cite: parallel asks a terminal for a citation once)
		for i in "${!pf[@]}"; do
			printf '%s\t%s\t%s\n' "${pt[i]}" "${pf[i]}" "$out/${pt[i]}.p$i"
		done | parallel --will-cite --group --jobs "$jobs" --colsep '\t' \
			bash scripts/test.sh --file '{1}' '{2}' '{3}' || rc=1
	else
		for i in "${!pf[@]}"; do
			bash scripts/test.sh --file "${pt[i]}" "${pf[i]}" "$out/${pt[i]}.p$i" || rc=1
		done
	fi
fi
if [ ${#sf[@]} -gt 0 ]; then
	echo "== ${passes[*]}: ${#sf[@]} files one at a time"
	for i in "${!sf[@]}"; do
		bash scripts/test.sh --file "${st[i]}" "${sf[i]}" "$out/${st[i]}.s$i" || rc=1
	done
fi

# The failures again, at the end of a long log.
for d in "$out"/*/; do
	grep -h '^not ok ' "$d/report.tap" 2>/dev/null | sed "s|^|== failed: $(cat "$d/name"): |"
done
for t in "${passes[@]}"; do
	echo "== $t: $(tap_summary "$out/$t".*/report.tap)"
done
echo "== ${passes[*]}: $(($(date +%s) - start)) s"
# And the plain closing line a reader (or a CI log scanner) looks for.
cat "$out"/*/report.tap 2>/dev/null | awk '
	/^ok / { p++; if (/ # skip/) s++ }
	/^not ok / { f++ }
	END { printf "tests: %d passed, %d failed, %d skipped\n", p - s, f, s }'
exit $rc
