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
PKGS     = jansson sqlite3 libcrypto
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
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -DREASSESS_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lfcgi

.PHONY: all test run clean

all: reassess

reassess: reassess.c schema.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ reassess.c $(LDFLAGS) $(LDLIBS)

# schema.sql as a C string literal, so the binary carries its own schema.
schema.h: schema.sql
	{ echo 'static const char schema_sql[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' schema.sql; \
	  echo ';'; } > $@

test: reassess
	bats tests/

run:
	sh scripts/run.sh

clean:
	rm -f reassess schema.h
	rm -rf var
