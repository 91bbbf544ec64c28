#!/bin/sh
# scripts/test-npm.sh: install the npm packages of the suite's Standard
# Webhooks receiver (tests/receiver/: standardwebhooks and what it needs,
# exactly as its package-lock.json pins them) into tests/receiver/
# node_modules, with `npm ci`. make test runs it after scripts/deps.sh
# test, which installs nodejs and npm.
#
# Nothing to do (node_modules is as the lock file says): prints nothing.
# Rationale: npm ci removes node_modules first, so it runs only when the
# lock file is newer than the copy npm made of it (node_modules/
# .package-lock.json), not before every make test.
set -eu
# Also tests/openapi/ (Redocly CLI and Prism, for tests/openapi.bats and
# REASSESS_OPENAPI_CHECK=1), the same way.
top=$(cd "$(dirname "$0")/.." && pwd)
for dir in "$top/tests/receiver" "$top/tests/openapi"; do
	stamp="$dir/node_modules/.package-lock.json"
	if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ]; then
		continue
	fi
	if ! command -v npm >/dev/null 2>&1; then
		echo "$0: npm is missing (scripts/deps.sh test installs it)" >&2
		exit 1
	fi
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
