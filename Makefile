# reassess: one binary, ./reassess, from reassess.c with schema.sql built in.
#
#   make                      build ./reassess
#   make test                 build, then run the bats suites in tests/
#   make run                  install what is missing, build, serve a demo on
#                             http://127.0.0.1:8080 behind nginx
#   make clean
#
# Switches: WERROR=1 turns warnings into errors (CI);
# SANITIZE=address,undefined builds with the sanitizers.

VERSION  = 0.1.0
PKGS     = jansson sqlite3 libcrypto libcurl
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
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null)
CPPFLAGS += -DREASSESS_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lfcgi -lm

.PHONY: all test run clean

all: reassess

reassess: reassess.c schema.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

# schema.sql and the numbered migrations as C strings, in order, so that
# the binary carries its own schema; its version is their count.
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

schema.h: schema.sql $(MIGRATIONS) scripts/embed-sql.sh
	sh scripts/embed-sql.sh schema.sql $(MIGRATIONS) > $@

# Binaries for tests/migrations.bats: this schema plus a test migration
# (tests/fixtures/migrations/) or a failing one (.../migrations-bad/).
tests/reassess-migrated: reassess.c schema.sql $(MIGRATIONS) scripts/embed-sql.sh \
    $(wildcard tests/fixtures/migrations/*.sql)
	sh scripts/embed-sql.sh schema.sql $(MIGRATIONS) \
	    $(sort $(wildcard tests/fixtures/migrations/*.sql)) > tests/schema-migrated.h
	$(CC) $(CPPFLAGS) -DSCHEMA_H='"tests/schema-migrated.h"' $(CFLAGS) $(WARN) \
	    -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

tests/reassess-badmigration: reassess.c schema.sql $(MIGRATIONS) scripts/embed-sql.sh \
    $(wildcard tests/fixtures/migrations-bad/*.sql)
	sh scripts/embed-sql.sh schema.sql $(MIGRATIONS) \
	    $(sort $(wildcard tests/fixtures/migrations-bad/*.sql)) > tests/schema-badmigration.h
	$(CC) $(CPPFLAGS) -DSCHEMA_H='"tests/schema-badmigration.h"' $(CFLAGS) $(WARN) \
	    -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

test: reassess
	bats tests/

run:
	sh scripts/run.sh

clean:
	rm -f reassess schema.h tests/reassess-migrated tests/reassess-badmigration \
	    tests/schema-migrated.h tests/schema-badmigration.h
	rm -rf var
