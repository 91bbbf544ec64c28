#!/bin/sh
# scripts/deps.sh [test | hardening]: make sure the Debian packages reassess
# needs are installed: those to build and run it (`make run`); with `test`
# also those of the test suite (`make test`); with `hardening` also the
# tools of the sanitizer build, `make valgrind`, `make fuzz` and `make lint`
# (CI's set).
#
# Nothing missing: prints nothing, exits 0. Something missing: as root,
# installs it with apt-get; otherwise prints the one `sudo apt-get install`
# line needed and exits 1.
#
# Rationale for policy-rc.d: Debian's nginx and apache2 packages start a
# system server on port 80 as they install. We only want the binaries (make
# run and the tests start their own nginx and Apache, with private prefixes,
# on loopback ports), so while apt-get runs, a policy-rc.d that answers 101
# ("action forbidden") keeps every service down. An existing policy-rc.d is
# left alone; ours is removed afterwards. On a host booted with systemd, the
# units of the servers we installed are also disabled, so that they do not
# start at the next boot either.
set -eu

# Build and run: compiler, pkg-config and the libraries of the Makefile
# (nettle-dev: SHA-256, HMAC, base64 and constant-time compares),
# sqlite3 for backups by hand and the tests, nginx for make run, curl and jq
# for make run and the examples of README.md and docs/.
packages="gcc make libc6-dev pkg-config libfcgi-dev libjansson-dev
	libsqlite3-dev nettle-dev libcurl4-openssl-dev sqlite3 curl jq"
# Any of these gives /usr/sbin/nginx; nginx-light is the one we install.
nginx_packages="nginx-light nginx nginx-core nginx-full nginx-extras"
# The suite: bats, and GNU parallel for its --jobs (scripts/test.sh);
# cgi-fcgi (libfcgi-bin), spawn-fcgi and systemd-socket-activate (systemd)
# as FastCGI client and launchers; apache2 for tests/apache.bats (mod_cgid
# and mod_proxy_fcgi); mandoc for tests/install.bats (renders and lints the
# installed reassess.8); nodejs and npm for tests/webhooks_v2.bats's
# receiver, which verifies deliveries with the npm library standardwebhooks
# (scripts/test-npm.sh installs it from tests/receiver/package-lock.json);
# chromium, the headless browser tests/ui.bats drives with puppeteer-core
# (tests/browser/package-lock.json) through the review page.
test_packages="bats bats-assert bats-support parallel libfcgi-bin spawn-fcgi python3 openssl
	systemd apache2 mandoc nodejs npm chromium"
# Hardening (make lint, make fuzz, make valgrind, the sanitizer build): clang
# with its sanitizer and libFuzzer runtimes, valgrind, cppcheck, clang-tidy;
# libasan8 and libubsan1 for gcc's -fsanitize; libssl-dev for the fuzz
# harness, which checks reassess's SHA-256 and HMAC against libcrypto's.
hardening_packages="clang libclang-rt-14-dev valgrind cppcheck clang-tidy
	libasan8 libubsan1 libssl-dev"

case ${1:-} in
'') ;;
test) packages="$packages $test_packages" ;;
hardening) packages="$packages $test_packages $hardening_packages" ;;
*) echo "usage: $0 [test | hardening]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "$0: not a Debian system; install the equivalents of:" >&2
	echo "  $packages nginx-light" >&2
	exit 1
fi

# missing_packages: the packages of the set that dpkg does not have fully
# installed (one dpkg-query for all: this runs before every `make test`).
missing_packages() {
	# Word splitting of the package lists is meant.
	# shellcheck disable=SC2086
	have=" $(dpkg-query -W -f='${Package} ${Status}\n' $packages $nginx_packages \
	    2>/dev/null | awk '$NF == "installed" { printf "%s ", $1 }')"
	missing=
	for p in $packages; do
		case $have in *" $p "*) continue ;; esac
		# NodeSource's nodejs package carries its own npm (and conflicts
		# with Debian's): an npm on the PATH will do.
		[ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
		missing="$missing $p"
	done
	have_nginx=
	for p in $nginx_packages; do
		case $have in *" $p "*) have_nginx=1 ;; esac
	done
	[ -n "$have_nginx" ] || missing="$missing nginx-light"
	printf '%s' "${missing# }"
}

missing=$(missing_packages)
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "Missing Debian packages: $missing" >&2
	echo "Install them with:" >&2
	echo "  sudo apt-get install -y --no-install-recommends $missing"
	exit 1
fi

policy=/usr/sbin/policy-rc.d
made_policy=
remove_policy() {
	if [ -n "$made_policy" ]; then
		rm -f "$policy"
		made_policy=
	fi
}
trap remove_policy EXIT
trap 'remove_policy; exit 130' INT
trap 'remove_policy; exit 143' TERM
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# made by reassess scripts/deps.sh during apt-get install\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	made_policy=1
fi

echo "Installing: $missing" >&2
apt-get update
# $missing is a list of package names: split it on purpose.
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
remove_policy

# Not at boot either: the servers we just installed are only binaries here.
if [ -d /run/systemd/system ]; then
	for p in $missing; do
		case $p in
		apache2) units="apache2.service apache-htcacheclean.service" ;;
		nginx*) units="nginx.service" ;;
		*) continue ;;
		esac
		# shellcheck disable=SC2086
		systemctl disable --now $units >/dev/null 2>&1 || :
	done
fi

missing=$(missing_packages)
if [ -n "$missing" ]; then
	echo "$0: still missing after apt-get install: $missing" >&2
	exit 1
fi
