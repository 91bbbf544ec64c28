# reassess: one binary, ./reassess, from reassess.c with schema.sql and the
# migrations built in.
#
#   make                      build ./reassess
#   make test                 install what the suite needs if missing, build,
#                             then run the bats suites in tests/ twice: as
#                             CGI and over HTTP through nginx, several files
#                             at a time (scripts/test.sh)
#   make test TESTS=tests/vendors.bats   the same for some files only
#   make run                  install what is missing, build, serve a demo on
#                             http://127.0.0.1:8080 behind nginx
#   make bench                the benchmark table of bench/README.md
#   make clean
#
# Switches: WERROR=1 turns warnings into errors (CI);
# SANITIZE=address,undefined builds with the sanitizers; TEST_JOBS=N runs N
# test files at a time (default: twice the cores; 1: one after another);
# STATIC=1 links SQLite, jansson and libfcgi statically (below).

VERSION  = 0.1.0
PKGS     = jansson sqlite3 nettle libcurl
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes -Wwrite-strings \
           -Wshadow -Wformat=2
ifdef WERROR
WARN    += -Werror
endif
ifdef SANITIZE
CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(filter-out nettle libcurl,$(PKGS)) 2>/dev/null)
# nettle is linked statically: the few functions used cost a CGI request
# nothing, while loading libnettle.so cost ~400,000 instructions of symbol
# lookups per process (measured with callgrind; bench/README.md).
NETTLE_LIBS ?= -Wl,-Bstatic $(shell pkg-config --libs nettle 2>/dev/null) -Wl,-Bdynamic
FCGI_LIBS  := -lfcgi
# STATIC=1 links SQLite, jansson and libfcgi statically too (Debian's
# libsqlite3-dev, libjansson-dev and libfcgi-dev ship the archives): a CGI
# request then skips the dynamic loader's work for them (bench/README.md
# has the figures). The price: a security update of Debian's libsqlite3
# reaches such a binary only when it is built again.
ifdef STATIC
PKG_LIBS   := -Wl,-Bstatic -lsqlite3 -ljansson -Wl,-Bdynamic
FCGI_LIBS  := -Wl,-Bstatic -lfcgi -Wl,-Bdynamic
endif
CPPFLAGS += -DREASSESS_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) $(NETTLE_LIBS) $(FCGI_LIBS) -lm

.PHONY: all test run clean openapi-examples

all: reassess

reassess: reassess.c schema.h ui.h .build-flags
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

# The schema as C strings, so that the binary carries its own: schema.sql,
# the current schema that a fresh database gets, and the numbered upgrade
# steps from older versions, in order; the version is 1 + their count.
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

schema.h: schema.sql $(MIGRATIONS) scripts/embed-sql.sh .build-flags
	sh scripts/embed-sql.sh schema.sql -- $(MIGRATIONS) > $@

# The review page (docs/api.md 8) as C strings, each with an ETag made from
# its contents: ui/ is served at / and /ui/ by the binary itself. With them
# the OpenAPI document's examples (real answers: make openapi-examples).
UI := ui/review.html ui/review.js ui/review.css

ui.h: $(UI) openapi/examples.json scripts/embed-ui.sh
	sh scripts/embed-ui.sh $(UI) -- openapi/examples.json > $@

# The examples of /openapi.json, made anew from the answers of this binary
# over one walk through the API (openapi/examples.sh). Run it when a body
# changes: tests/openapi.bats fails while an example no longer fits.
openapi-examples: reassess
	bash openapi/examples.sh ./reassess > openapi/examples.json.tmp
	mv openapi/examples.json.tmp openapi/examples.json

# Binaries for tests/migrations.bats: this schema plus a test migration
# (tests/fixtures/migrations/) or a failing one (.../migrations-bad/), as
# the next version. As with a real migration, a fresh database gets it too
# (schema.sql, then the test migration).
TEST_MIGRATIONS     := $(sort $(wildcard tests/fixtures/migrations/*.sql))
TEST_BAD_MIGRATIONS := $(sort $(wildcard tests/fixtures/migrations-bad/*.sql))

tests/reassess-migrated: reassess.c schema.sql $(MIGRATIONS) scripts/embed-sql.sh \
    $(TEST_MIGRATIONS) ui.h
	sh scripts/embed-sql.sh schema.sql $(TEST_MIGRATIONS) \
	    -- $(MIGRATIONS) $(TEST_MIGRATIONS) > tests/schema-migrated.h
	$(CC) $(CPPFLAGS) -DSCHEMA_H='"tests/schema-migrated.h"' $(CFLAGS) $(WARN) \
	    -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

tests/reassess-badmigration: reassess.c schema.sql $(MIGRATIONS) scripts/embed-sql.sh \
    $(TEST_BAD_MIGRATIONS) ui.h
	sh scripts/embed-sql.sh schema.sql $(TEST_BAD_MIGRATIONS) \
	    -- $(MIGRATIONS) $(TEST_BAD_MIGRATIONS) > tests/schema-badmigration.h
	$(CC) $(CPPFLAGS) -DSCHEMA_H='"tests/schema-badmigration.h"' $(CFLAGS) $(WARN) \
	    -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

# The binary of tests/trigger_rollback.bats: this one with its test hooks
# (-DREASSESS_TEST_HOOKS): with REASSESS_TEST_FAIL_AFTER_TRIGGERS=1, POST
# /v1/radar/events fails with 500 after its triggers' drafts are written.
# Never the shipped binary.
tests/reassess-testhooks: reassess.c schema.h ui.h .build-flags
	$(CC) $(CPPFLAGS) -DREASSESS_TEST_HOOKS $(CFLAGS) $(WARN) \
	    -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

# The whole suite twice: each request as a CGI program, and over HTTP with
# curl through nginx (nginx.conf.example) in front of `reassess serve`, both
# started per file by tests/helper.bash. First the Debian packages of the
# suite are installed if missing (as root; otherwise scripts/deps.sh prints
# the one sudo line and stops), and the npm packages of the Standard
# Webhooks receiver (scripts/test-npm.sh); then the binaries are built:
# the test binaries of tests/migrations.bats too, here and not by the file
# itself, as both passes run at once.
#
# scripts/test.sh runs TEST_JOBS files at a time (GNU parallel; default
# twice the cores), both passes' files in one pool; then, one at a time,
# the files marked `# serial:` (they need the machine to themselves). A file
# marked `# one pass:` picks its own transport (crash.bats, apache.bats, ...)
# and runs in the first pass only. Every other file, a new one too, runs in
# parallel in both passes. TESTS picks files: make test TESTS=tests/cli.bats.
DEPS_TEST  = $(if $(SANITIZE),hardening,test)
TESTS     ?= tests/
TEST_JOBS ?=
TEST_BINS  = reassess tests/reassess-migrated tests/reassess-badmigration \
             tests/reassess-testhooks
TEST_RUN   = TESTS='$(TESTS)' TEST_JOBS='$(TEST_JOBS)' bash scripts/test.sh
test:
	@sh scripts/deps.sh $(DEPS_TEST)
	@sh scripts/test-npm.sh
	$(MAKE) --no-print-directory $(TEST_BINS)
	@echo '== make test: transports cgi (each request runs ./reassess as CGI)' \
	    'and http (curl -> nginx -> reassess serve)'
	$(TEST_RUN) cgi http

run:
	sh scripts/run.sh

# Throughput and latency through nginx against an empty FastCGI floor, on a
# fresh database under bench/var/ (bench/README.md; about 7 minutes).
bench: reassess
	bash bench/run.sh

# Its two helpers, built by bench/run.sh into bench/var/ (made afresh by
# every run): bench/count.c includes reassess.c (the deterministic
# figures: statements and pages per request), bench/commit-floor.c is the
# durable-commit floor.
bench/var/count: bench/count.c reassess.c schema.h ui.h
	@mkdir -p bench/var
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -o $@ bench/count.c $(LDLIBS)

bench/var/commit-floor: bench/commit-floor.c
	@mkdir -p bench/var
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -o $@ bench/commit-floor.c $(LDLIBS)

.PHONY: bench

clean:
	rm -f reassess schema.h ui.h tests/reassess-migrated tests/reassess-badmigration \
	    tests/reassess-testhooks \
	    tests/schema-migrated.h tests/schema-badmigration.h
	rm -f .build-flags $(FUZZ_BIN)
	rm -rf var

# ---- Install: the binary, its manual page, the example configurations -----
#
#   make install     PREFIX=/usr/local (the default); DESTDIR=DIR installs
#                    the same tree under DIR (for packaging)
#   make uninstall   with the same PREFIX and DESTDIR: removes exactly the
#                    files install put there, and the doc directory if empty
#   make man-lint    mandoc -Tlint on reassess.8; any message fails
#
# Rationale: bin, not sbin, although the manual page is in section 8. The
# program is not only the administrator's: it runs as the web server's user
# (CGI), as an unprivileged service user (serve, deliver from cron or
# systemd), and deploy/'s units and docs/ name /usr/local/bin/reassess
# (tests/systemd.bats substitutes exactly that path).
PREFIX   = /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
DOCDIR   = $(PREFIX)/share/doc/reassess
INSTALL  = install
EXAMPLES = nginx.conf.example $(sort $(wildcard deploy/*))

install: reassess
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 755 reassess $(DESTDIR)$(BINDIR)/reassess
	$(INSTALL) -m 644 reassess.8 $(DESTDIR)$(MANDIR)/man8/reassess.8
	$(INSTALL) -m 644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/

# Directories that install may have made (bin, share/man/man8) are shared
# with other programs and stay; only reassess's own doc directory goes.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/reassess $(DESTDIR)$(MANDIR)/man8/reassess.8
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(EXAMPLES)))
	if [ -d $(DESTDIR)$(DOCDIR) ]; then rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || :; fi

# "referenced manual not found" (an .Xr to a page this machine lacks) and
# mandoc.db's staleness describe the machine, not reassess.8: left out.
man-lint:
	@out=$$(mandoc -Tlint reassess.8 2>&1 | grep -v \
	    -e 'referenced manual not found' -e 'outdated mandoc.db'); \
	if [ -n "$$out" ]; then printf '%s\n' "$$out"; exit 1; fi

.PHONY: install uninstall man-lint

# ---- Hardening: flags stamp, sanitizers, valgrind, fuzzing, lint ----------
#
#   make test SANITIZE=address,undefined   the suite under ASan+UBSan+LSan
#   make valgrind              the suite under valgrind memcheck (over HTTP;
#                              VALGRIND_TRANSPORT=cgi: each request)
#   make valgrind-ci           the same over CI's part of the suite
#   make fuzz FUZZ_SECONDS=60  libFuzzer on the request front end (clang)
#   make lint                  cppcheck and clang-tidy (.clang-tidy)

# .build-flags holds the compile command and the list of migrations; it is
# rewritten only when they change, so that switching SANITIZE (or CC,
# CFLAGS), or adding or removing a migration, rebuilds.
SQ          := '
BUILD_FLAGS  = $(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(LDFLAGS) $(LDLIBS) $(MIGRATIONS)
.build-flags: FORCE
	@printf '%s\n' '$(subst $(SQ),$(SQ)\$(SQ)$(SQ),$(BUILD_FLAGS))' | \
	    cmp -s - $@ || \
	    printf '%s\n' '$(subst $(SQ),$(SQ)\$(SQ)$(SQ),$(BUILD_FLAGS))' > $@
FORCE:

# With SANITIZE, any sanitizer report makes the program exit non-zero (the
# suite's helper fails a test on that); leaks are reported at exit.
ifdef SANITIZE
export ASAN_OPTIONS  ?= detect_leaks=1:exitcode=86:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS  ?= exitcode=86
endif

# The suite under memcheck. Over HTTP (the default) the service's workers
# run under it for a whole file's requests, so a leak that grows with the
# request count shows; VALGRIND_TRANSPORT=cgi runs every request as its own
# process under it (several times slower: each start costs ~1 s). Every
# admin command of the helper runs under it too. An error makes that process exit 99 (a CGI
# request or a command: its test fails); every process writes its report to
# var/valgrind/PID.log, and any report left there fails the target, which
# catches the workers, whose exit status no test sees. Files run several at
# a time, as in make test (scripts/test.sh, TEST_JOBS): memcheck is
# CPU-bound, and one file at a time left a core idle.
VALGRIND_TRANSPORT ?= http
VALGRIND_TESTS     ?= tests/
VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
           --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
           --track-origins=yes --log-file=$(CURDIR)/var/valgrind/%p.log
valgrind:
	@sh scripts/deps.sh hardening
	$(MAKE) reassess SANITIZE=
	rm -rf var/valgrind && mkdir -p var/valgrind
	TESTS='$(VALGRIND_TESTS)' TEST_JOBS='$(TEST_JOBS)' REASSESS_WRAP="$(VALGRIND)" \
	    bash scripts/test.sh $(VALGRIND_TRANSPORT); \
	rc=$$?; \
	for f in var/valgrind/*.log; do \
	    if [ -s "$$f" ]; then echo "== $$f"; cat "$$f"; rc=1; fi; \
	done; \
	echo "valgrind: $$(ls var/valgrind | wc -l) processes checked"; \
	exit $$rc

# CI's part of the suite under memcheck (make valgrind is the whole, about
# 20 minutes more): the front line's checks and refusals (conventions),
# every reassessment handler and the run (reassessments), the triggers'
# drafts inside an event's transaction (reassessment_triggers), the webhook
# handlers and `reassess deliver` against a real receiver (webhooks,
# webhook_delivery), and every admin command (cli); over HTTP, so the
# serve workers are under memcheck for a whole file's requests. Together
# they reach every section of reassess.c.
VALGRIND_CI_TESTS = tests/conventions.bats tests/reassessments.bats \
                    tests/reassessment_triggers.bats tests/webhooks.bats \
                    tests/webhook_delivery.bats tests/cli.bats
valgrind-ci:
	$(MAKE) --no-print-directory valgrind VALGRIND_TESTS='$(VALGRIND_CI_TESTS)'

# libFuzzer: tests/fuzz/fuzz_request.c includes reassess.c and feeds each
# input to handle(); seeds in tests/fuzz/corpus, new inputs and crash
# reproducers under var/fuzz/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?= -timeout=10 -rss_limit_mb=2048 -max_len=4096 -dict=tests/fuzz/request.dict
FUZZ_BIN      = tests/fuzz/fuzz_request
$(FUZZ_BIN): tests/fuzz/fuzz_request.c reassess.c schema.h ui.h
	@sh scripts/deps.sh hardening
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer -Dmain=reassess_main \
	    $(CPPFLAGS) -o $@ tests/fuzz/fuzz_request.c $(LDLIBS) -lcrypto
fuzz-build: $(FUZZ_BIN)
fuzz: $(FUZZ_BIN)
	mkdir -p var/fuzz/corpus
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) \
	    -artifact_prefix=var/fuzz/ var/fuzz/corpus tests/fuzz/corpus

# The suite over the CGI transport only: the sanitizer pass of CI
# (make test-cgi SANITIZE=address,undefined), where the HTTP pass would add
# little but time. Files at a time as in make test; the files that pick
# their own transport run here too, so the sanitizers see the workers of
# `reassess serve` (crash.bats, concurrency.bats, badinput.bats, ...).
test-cgi:
	@sh scripts/deps.sh $(DEPS_TEST)
	@sh scripts/test-npm.sh
	$(MAKE) --no-print-directory $(TEST_BINS)
	$(TEST_RUN) cgi

# Static analysis; both must be clean. cppcheck's configuration and its few
# suppressions (style opinions STYLE.md decides otherwise) are in .lint/;
# clang-tidy reads .clang-tidy, whose comments give each disabled check's
# reason. A false positive is silenced at its line, with a comment.
CPPCHECK   = cppcheck --enable=warning,style,performance,portability --std=c11 \
             --library=.lint/jansson.cfg \
             --suppress-xml=.lint/cppcheck-suppressions.xml \
             --inline-suppr --error-exitcode=1 --quiet
CLANG_TIDY = clang-tidy --quiet
lint: schema.h ui.h
	@sh scripts/deps.sh hardening
	$(CPPCHECK) $(CPPFLAGS) -I. reassess.c
	$(CLANG_TIDY) reassess.c -- -std=c11 $(CPPFLAGS) -I.

.PHONY: valgrind valgrind-ci fuzz fuzz-build lint test-cgi FORCE
