#!/usr/bin/env bats
# make install and make uninstall (docs/deployment.md): with DESTDIR and
# PREFIX, the binary, the manual page and the example configurations land
# where they belong with their modes; the installed binary runs; the
# installed page renders and is lint-clean; uninstall removes exactly what
# install put there. No server is involved: both transports run the same
# few make commands.

load helper

bats_require_minimum_version 1.5.0

# The files install puts under DESTDIR with PREFIX=/usr, and their modes.
expected_files() {
  local f
  printf '755 usr/bin/reassess\n'
  printf '644 usr/share/man/man8/reassess.8\n'
  for f in "$TOP/nginx.conf.example" "$TOP"/deploy/*; do
    printf '644 usr/share/doc/reassess/%s\n' "${f##*/}"
  done
}

# make_in ARGS...: make in the repository, without rebuilding ./reassess.
# Rationale for -o reassess: the suite runs against the binary `make test`
# built (perhaps with WERROR or SANITIZE); a rebuild here with other flags
# would swap it under the files that run after this one.
make_in() {
  make --no-print-directory -C "$TOP" -o reassess "$@"
}

# tree DIR: every file and symbolic link under DIR, as "MODE PATH"
# relative to DIR, sorted.
tree() {
  (cd "$1" && find . \( -type f -o -type l \) -printf '%m %P\n' | sort -k2)
}

# lint PAGE: mandoc's lint messages about PAGE, without those that describe
# the machine rather than the page (as make man-lint).
lint() {
  mandoc -Tlint "$1" 2>&1 |
    grep -v -e 'referenced manual not found' -e 'outdated mandoc.db' || true
}

@test "make install puts the binary, the manual page and the examples under DESTDIR and PREFIX, with their modes" {
  local dest="$BATS_TEST_TMPDIR/dest"
  run make_in install DESTDIR="$dest" PREFIX=/usr
  assert_success
  run tree "$dest"
  assert_output "$(expected_files | sort -k2)"
}

@test "make install without PREFIX installs under /usr/local" {
  local dest="$BATS_TEST_TMPDIR/dest"
  run make_in install DESTDIR="$dest"
  assert_success
  [ -x "$dest/usr/local/bin/reassess" ] || fail "no usr/local/bin/reassess"
  [ -f "$dest/usr/local/share/man/man8/reassess.8" ] || fail "no man8/reassess.8"
  [ -f "$dest/usr/local/share/doc/reassess/nginx.conf.example" ] ||
    fail "no share/doc/reassess/nginx.conf.example"
}

@test "the installed binary is the built one and reports its version" {
  local dest="$BATS_TEST_TMPDIR/dest"
  make_in install DESTDIR="$dest" PREFIX=/usr >/dev/null
  cmp "$TOP/reassess" "$dest/usr/bin/reassess"
  run "$dest/usr/bin/reassess" --version
  assert_success
  assert_output --regexp '^reassess [0-9]+\.[0-9]+\.[0-9]+ \(schema version [0-9]+\)$'
}

@test "the installed manual page renders with mandoc and is lint-clean" {
  local dest="$BATS_TEST_TMPDIR/dest" page
  make_in install DESTDIR="$dest" PREFIX=/usr >/dev/null
  page="$dest/usr/share/man/man8/reassess.8"
  run lint "$page"
  assert_output ''
  # Plain text: drop the backspace sequences of bold and underline.
  run bash -c 'mandoc -Tascii "$1" | sed "s/.\x08//g"' _ "$page"
  assert_success
  assert_line --regexp '^REASSESS\(8\) .* REASSESS\(8\)$'
  local section
  for section in NAME SYNOPSIS DESCRIPTION ENVIRONMENT FILES 'EXIT STATUS' \
      EXAMPLES 'SEE ALSO'; do
    assert_line "$section"
  done
  assert_output --partial 'REASSESS_DB'
}

@test "make uninstall with the same DESTDIR and PREFIX removes every file install put there" {
  local dest="$BATS_TEST_TMPDIR/dest"
  make_in install DESTDIR="$dest" PREFIX=/usr >/dev/null
  run make_in uninstall DESTDIR="$dest" PREFIX=/usr
  assert_success
  run tree "$dest"
  assert_output ''
  [ ! -e "$dest/usr/share/doc/reassess" ] || fail "share/doc/reassess is left"
}

@test "make uninstall leaves alone the files it did not install" {
  local dest="$BATS_TEST_TMPDIR/dest"
  make_in install DESTDIR="$dest" PREFIX=/usr >/dev/null
  echo other > "$dest/usr/bin/other"
  echo other > "$dest/usr/share/man/man8/other.8"
  echo notes > "$dest/usr/share/doc/reassess/local-notes"
  run make_in uninstall DESTDIR="$dest" PREFIX=/usr
  assert_success
  run bash -c 'cd "$1" && find . -type f -printf "%P\n" | sort' _ "$dest"
  assert_output "$(printf '%s\n' usr/bin/other usr/share/doc/reassess/local-notes \
    usr/share/man/man8/other.8)"
}
