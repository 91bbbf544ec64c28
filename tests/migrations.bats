#!/usr/bin/env bats
# Schema migrations (issue: hardening): `reassess init` applies the numbered
# migrations in order inside one transaction; the server refuses a database
# that is behind or ahead of the binary. tests/reassess-migrated is this
# program built with the test migration tests/fixtures/migrations/9999-*,
# tests/reassess-badmigration with one that fails halfway. Both come after
# the real migrations: their version is this binary's (V) plus one, and, as
# for a real migration, a new database gets schema.sql followed by the test
# migration (the Makefile). tests/schema.bats checks the real migrations
# against schema.sql.

load helper
load schema-compare

setup_file() {
  make -s -C "$TOP" tests/reassess-migrated tests/reassess-badmigration >&2
  setup_db
}
teardown_file() { teardown_db; }

MIGRATED="$TOP/tests/reassess-migrated"
V="$("$REASSESS" --version | sed 's/.*schema version \([0-9]*\).*/\1/')"
NEXT=$((V + 1))
BAD="$TOP/tests/reassess-badmigration"

# v1_rows DB: every row of every version-1 table, in a stable order (by
# every column: some tables are WITHOUT ROWID), with the version-1 columns
# only.
v1_rows() {
  local t cols
  for t in orgs api_keys vendors idempotency_keys radar_events \
           radar_event_vendors radar_alerts assessment_plans reassessments \
           reassessment_vendors reassessment_alerts assessments; do
    echo "== $t"
    if [ "$t" = vendors ]; then
      cols="id, org_id, external_id, name, website, description, hq_location,
        use_case, created_at, updated_at"
    else
      cols="$(sqlite3 "$1" "SELECT group_concat(name, ', ')
        FROM pragma_table_info('$t')")"
    fi
    sqlite3 "$1" "SELECT $cols FROM $t ORDER BY $cols" || return 1
  done
}

# populated_db: a copy of a version-1 database holding one of everything,
# a run reassessment included; prints its path.
populated_db() {
  local v1 v2 ev plan rsm
  v1=$(mk_vendor "Migrating One"); v2=$(mk_vendor "Migrating Two")
  ev=$(mk_event "[\"$v1\",\"$v2\"]"); plan=$(mk_plan)
  rsm=$(mk_rsm "$ev" "[\"$v1\",\"$v2\"]" "$plan")
  api POST "/v1/reassessments/$rsm/run"
  assert_status 200
  api -H "Idempotency-Key: mig-$BATS_TEST_NUMBER" POST /v1/vendors '{"name":"Keyed"}'
  assert_status 201
  local copy="$BATS_TEST_TMPDIR/v1.db"
  cli backup "$copy"
  printf '%s' "$copy"
}

@test "init migrates a populated database to the next version without losing a row" {
  local db before
  db=$(populated_db)
  before="$(v1_rows "$db")"
  [ "$(sqlite3 "$db" 'SELECT count(*) FROM assessments')" -ge 2 ]
  run "$MIGRATED" --db "$db" init
  assert_success
  assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" "$NEXT"
  assert_equal "$(v1_rows "$db")" "$before"
  # The migration's own work: a column with its default on every row, and a
  # table derived from the existing rows.
  assert_equal "$(sqlite3 "$db" "SELECT count(*) FROM vendors WHERE risk_tier <> 'unrated'")" 0
  assert_equal "$(sqlite3 "$db" 'SELECT count(*) FROM vendor_notes')" \
               "$(sqlite3 "$db" 'SELECT count(*) FROM vendors')"
  run "$MIGRATED" --db "$db" check
  assert_success
  assert_output ok
}

@test "init on a database already at the binary's version changes nothing" {
  local db digest
  db=$(populated_db)
  "$MIGRATED" --db "$db" init 2>/dev/null
  digest="$(sqlite3 "$db" .dump | sha256sum)"
  run "$MIGRATED" --db "$db" init
  assert_success
  assert_equal "$(sqlite3 "$db" .dump | sha256sum)" "$digest"
}

@test "a migration that fails halfway leaves the database exactly as it was" {
  local db digest
  db=$(populated_db)
  digest="$(sqlite3 "$db" .dump | sha256sum)"
  run "$BAD" --db "$db" init
  assert_failure 1
  assert_output --partial "migration to version $NEXT"
  assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" "$V"
  assert_equal "$(sqlite3 "$db" .dump | sha256sum)" "$digest"
  run sqlite3 "$db" 'SELECT half_done FROM vendors'
  assert_failure
}

@test "the migrated binary makes a new database with the same schema as a migrated one" {
  local db fresh="$BATS_TEST_TMPDIR/fresh.db"
  db=$(populated_db)
  "$MIGRATED" --db "$db" init 2>/dev/null
  run "$MIGRATED" --db "$fresh" init
  assert_success
  assert_output "reassess: $fresh is at schema version $NEXT"
  # The test migration's column and table, made by the schema, not by a
  # migration: the file was new.
  assert_equal "$(sqlite3 "$fresh" "SELECT dflt_value FROM pragma_table_info('vendors')
    WHERE name = 'risk_tier'")" "'unrated'"
  assert_equal "$(sqlite3 "$fresh" 'SELECT count(*) FROM vendor_notes')" 0
  assert_same_schema "$fresh" "$db"
}

@test "a new database whose schema fails halfway is left without a table" {
  local db="$BATS_TEST_TMPDIR/new.db"
  run "$BAD" --db "$db" init
  assert_failure 1
  assert_output --partial "schema version $NEXT"
  assert_output --partial "no such table"
  assert_equal "$(sqlite3 "$db" "SELECT count(*) FROM sqlite_schema")" 0
  assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" 0
  # Nothing was half done: the binary without the failing step starts clean.
  run "$REASSESS" --db "$db" init
  assert_success
}

@test "the server refuses a database behind the binary with 503 database_not_initialized" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "serves with another binary"
  local db
  db=$(populated_db)
  REASSESS="$MIGRATED" REASSESS_DB="$db" api GET /v1/vendors
  assert_error 503 database_not_initialized
  assert_equal "$(header Retry-After)" 1
  grep -q "schema version $V, this binary needs $NEXT: run \`reassess init\`" \
    "$BATS_TEST_TMPDIR/stderr" || fail "no clear log line: $(cat "$BATS_TEST_TMPDIR/stderr")"
  assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" "$V"
}

@test "the server refuses a database ahead of the binary with 503 database_version_unsupported" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "serves another database"
  local db
  db=$(populated_db)
  "$MIGRATED" --db "$db" init 2>/dev/null
  REASSESS_DB="$db" api GET /v1/vendors
  assert_error 503 database_version_unsupported
  grep -q "schema version $NEXT, newer than this binary's $V" "$BATS_TEST_TMPDIR/stderr" ||
    fail "no clear log line: $(cat "$BATS_TEST_TMPDIR/stderr")"
  run "$REASSESS" --db "$db" init
  assert_failure 1
  assert_output --partial "newer than this binary"
  assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" "$NEXT"
}

@test "the migrated binary serves the migrated database with every object intact" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "serves with another binary"
  local db n
  db=$(populated_db)
  n="$(sqlite3 "$db" "SELECT count(*) FROM reassessments WHERE org_id = '$ORG'")"
  "$MIGRATED" --db "$db" init 2>/dev/null
  REASSESS="$MIGRATED" REASSESS_DB="$db" api GET /v1/reassessments
  assert_status 200
  assert_json .total "$n"
  REASSESS="$MIGRATED" REASSESS_DB="$db" api POST /v1/vendors '{"name":"After"}'
  assert_status 201
  assert_equal "$(sqlite3 "$db" "SELECT risk_tier FROM vendors WHERE id = '$(json .id)'")" unrated
}
