#!/bin/sh
# scripts/test-npm.sh: install the npm packages of the suite, each directory
# exactly as its package-lock.json pins them, into its node_modules, with
# `npm ci`: tests/receiver/ (the Standard Webhooks receiver of
# tests/webhooks_v2.bats: standardwebhooks) and tests/browser/ (the browser
# driver of tests/ui.bats: puppeteer-core, which drives Debian's chromium
# and downloads no browser). make test runs it after scripts/deps.sh test,
# which installs nodejs, npm and chromium.
#
# Nothing to do (node_modules is as the lock file says): prints nothing.
# Rationale: npm ci removes node_modules first, so it runs only when the
# lock file is newer than the copy npm made of it (node_modules/
# .package-lock.json), not before every make test. --ignore-scripts: no
# package of ours needs an install script, and none may fetch a binary.
set -eu
# Also tests/openapi/ (Redocly CLI and Prism, for tests/openapi.bats and
# the response check of the HTTP pass, tests/openapi/check.js), the same way.
top=$(cd "$(dirname "$0")/.." && pwd)
for sub in receiver browser openapi; do
	dir="$top/tests/$sub"
	stamp="$dir/node_modules/.package-lock.json"
	if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ]; then
		continue
	fi
	if ! command -v npm >/dev/null 2>&1; then
		echo "$0: npm is missing (scripts/deps.sh test installs it)" >&2
		exit 1
	fi
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
done
