#!/usr/bin/env bats
# schema.sql and migrations/ (migrations/README): `reassess init` gives a
# new database schema.sql, the current schema whole, and a database of an
# older version the migrations from its version on. The two paths must end
# with the same schema: a migration without the same change in schema.sql
# (or the reverse) fails here. The version-1 databases come from
# tests/fixtures/schema-v1.sql, schema.sql as released at version 1; those of
# version K > 1 from it and the first K - 1 migrations, run by sqlite3 as
# an older binary would have. No server: this file runs the binary alone.

load helper
load schema-compare

V="$("$REASSESS" --version | sed 's/.*schema version \([0-9]*\).*/\1/')"
MIGRATION_FILES=("$TOP"/migrations/[0-9][0-9][0-9][0-9]-*.sql)

# V1_ROWS: one of everything at version 1, consistent (foreign keys hold),
# with reassessments in several statuses and two orgs, so that a migration
# that derives data (0003's counts) has something to derive it from.
V1_ROWS="
PRAGMA foreign_keys = ON;
INSERT INTO orgs VALUES
  ('cborg_00000000000000000000000000000001', 'Old Org', 1700000000),
  ('cborg_00000000000000000000000000000002', 'Other Org', 1700000001);
INSERT INTO api_keys VALUES
  ('cbak_00000000000000000000000000000001', 'cborg_00000000000000000000000000000001',
   'old key', zeroblob(32), 1700000000, NULL);
INSERT INTO vendors VALUES
  ('cbvndr_00000000000000000000000000000001', 'cborg_00000000000000000000000000000001',
   'ext-1', 'Vendor One', 'https://one.example', NULL, NULL, NULL, 1700000010, 1700000010),
  ('cbvndr_00000000000000000000000000000002', 'cborg_00000000000000000000000000000001',
   NULL, 'Vendor Two', NULL, 'second', 'Oslo', 'payroll', 1700000011, 1700000012);
INSERT INTO idempotency_keys VALUES
  ('cborg_00000000000000000000000000000001', 'POST /v1/vendors', zeroblob(32), 201,
   '{\"id\":\"cbvndr_00000000000000000000000000000001\"}', 1700000010);
INSERT INTO radar_events (id, org_id, name, summary, primary_impact_type,
    secondary_impact_types, occurred_at, created_at, updated_at) VALUES
  ('cbrevent_00000000000000000000000000000001', 'cborg_00000000000000000000000000000001',
   'Breach', 'A breach.', 'Infosec', '[\"Legal\"]', 1700000020, 1700000020, 1700000020);
INSERT INTO radar_event_vendors VALUES
  ('cbrevent_00000000000000000000000000000001', 'cbvndr_00000000000000000000000000000002'),
  ('cbrevent_00000000000000000000000000000001', 'cbvndr_00000000000000000000000000000001');
INSERT INTO radar_alerts (id, org_id, vendor_id, event_id, summary, severity,
    is_dismissed, dismiss_reason, dismissed_at, created_at, updated_at) VALUES
  ('cbrdrres_00000000000000000000000000000001', 'cborg_00000000000000000000000000000001',
   'cbvndr_00000000000000000000000000000001', 'cbrevent_00000000000000000000000000000001',
   'A breach.', 'high', 0, NULL, NULL, 1700000020, 1700000020),
  ('cbrdrres_00000000000000000000000000000002', 'cborg_00000000000000000000000000000001',
   'cbvndr_00000000000000000000000000000002', 'cbrevent_00000000000000000000000000000001',
   'A breach.', 'low', 1, 'not us', 1700000030, 1700000020, 1700000030);
INSERT INTO assessment_plans VALUES
  ('cbasmtpl_00000000000000000000000000000001', 'cborg_00000000000000000000000000000001',
   'Plan', NULL, '[\"cs1\"]', 1700000040, 1700000040);
INSERT INTO reassessments VALUES
  ('cbrsm_00000000000000000000000000000001', 'cborg_00000000000000000000000000000001',
   'run', 'Ran', 'cbasmtpl_00000000000000000000000000000001',
   'cbrevent_00000000000000000000000000000001', 1700000050, 1700000060),
  ('cbrsm_00000000000000000000000000000002', 'cborg_00000000000000000000000000000001',
   'draft', NULL, NULL, 'cbrevent_00000000000000000000000000000001', 1700000051, 1700000051),
  ('cbrsm_00000000000000000000000000000003', 'cborg_00000000000000000000000000000001',
   'draft', NULL, NULL, 'cbrevent_00000000000000000000000000000001', 1700000052, 1700000052),
  ('cbrsm_00000000000000000000000000000004', 'cborg_00000000000000000000000000000001',
   'dismissed', NULL, NULL, 'cbrevent_00000000000000000000000000000001', 1700000053, 1700000054),
  ('cbrsm_00000000000000000000000000000005', 'cborg_00000000000000000000000000000002',
   'confirmed', NULL, NULL, NULL, 1700000055, 1700000056);
INSERT INTO assessments VALUES
  ('cbqsrw_00000000000000000000000000000001', 'cborg_00000000000000000000000000000001',
   'cbvndr_00000000000000000000000000000002', 'Plan: Vendor Two', 'created', '[\"cs1\"]',
   'cbasmtpl_00000000000000000000000000000001', 'cbrsm_00000000000000000000000000000001',
   1700000060, 1700000060);
INSERT INTO reassessment_vendors VALUES
  ('cbrsm_00000000000000000000000000000001', 'cbvndr_00000000000000000000000000000002',
   'matched', 1, 'cbqsrw_00000000000000000000000000000001'),
  ('cbrsm_00000000000000000000000000000001', 'cbvndr_00000000000000000000000000000001',
   'manual', 0, NULL),
  ('cbrsm_00000000000000000000000000000002', 'cbvndr_00000000000000000000000000000001',
   'matched', 1, NULL);
INSERT INTO reassessment_alerts VALUES
  ('cbrsm_00000000000000000000000000000001', 'cbrdrres_00000000000000000000000000000001');
"

# old_db K PATH: make PATH a database of schema version K, as the binary of
# that version left it: the version-1 schema with V1_ROWS, then the first
# K - 1 migrations, each run by sqlite3 in a transaction of its own.
old_db() {
  local k="$1" db="$2" i
  rm -f "$db" "$db-wal" "$db-shm"
  sqlite3 -bail "$db" < "$TOP/tests/fixtures/schema-v1.sql" || return 1
  sqlite3 -bail "$db" "$V1_ROWS PRAGMA user_version = 1;" || return 1
  for ((i = 1; i < k; i++)); do
    { echo 'BEGIN;'; cat "${MIGRATION_FILES[i - 1]}";
      echo "PRAGMA user_version = $((i + 1)); COMMIT;"; } |
      sqlite3 -bail "$db" || return 1
  done
}

# rows_of DB REF: every row of DB's tables that REF has, with REF's
# columns only (a migration may add columns), ordered by those columns (a
# migration may rebuild a table WITHOUT ROWID: its rows have no rowid).
# A table whose owner column became rsm_rid (version 9) shows it as the
# owner's reassessment_id again.
rows_of() {
  local t cols src
  for t in $(sqlite3 "$2" "SELECT name FROM sqlite_schema
      WHERE type = 'table' AND sql NOT LIKE '%WITHOUT ROWID%' ORDER BY name"); do
    cols="$(sqlite3 "$2" "SELECT group_concat(name, ', ') FROM pragma_table_info('$t')")"
    src="$t"
    [ "$(sqlite3 "$1" "SELECT count(*) FROM pragma_table_info('$t')
         WHERE name = 'rsm_rid'")" = 1 ] &&
      src="(SELECT (SELECT id FROM reassessments WHERE rid = rsm_rid)
             AS reassessment_id, * FROM $t)"
    echo "== $t"
    sqlite3 "$1" "SELECT $cols FROM $src ORDER BY $cols"
  done
}

# entry_order DB: each reassessment's vendors in joining order, one line
# each: rowid order up to version 4, position order from version 5; the
# owner by its text id up to version 8, by its rid from version 9.
entry_order() {
  local order=rowid v owner=reassessment_id
  v="$(sqlite3 "$1" 'PRAGMA user_version')"
  [ "$v" -ge 5 ] && order=position
  [ "$v" -ge 9 ] && owner="(SELECT id FROM reassessments WHERE rid = rsm_rid)"
  sqlite3 "$1" "SELECT reassessment_id, group_concat(vendor_id) FROM
    (SELECT $owner AS reassessment_id, vendor_id FROM reassessment_vendors
     ORDER BY 1, $order) GROUP BY reassessment_id"
}

@test "the binary's schema version is 1 + the number of migrations" {
  assert_equal "$V" "$((${#MIGRATION_FILES[@]} + 1))"
  # And they are numbered 0002, 0003, ... with no gap: NNNN is the version
  # the file makes.
  local i
  for ((i = 0; i < ${#MIGRATION_FILES[@]}; i++)); do
    assert_equal "$(basename "${MIGRATION_FILES[i]}" | cut -c1-4)" "$(printf '%04d' $((i + 2)))"
  done
}

@test "init creates a new database from schema.sql, at the binary's version" {
  local db="$BATS_TEST_TMPDIR/fresh.db" ref="$BATS_TEST_TMPDIR/ref.db"
  run "$REASSESS" --db "$db" init
  assert_success
  assert_output "reassess: $db is at schema version $V"
  assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" "$V"
  sqlite3 -bail "$ref" < "$TOP/schema.sql"
  sqlite3 "$ref" "PRAGMA user_version = $V"
  assert_same_schema "$ref" "$db"
  # schema.sql ran as written: its comments are in the stored text.
  sqlite3 "$db" "SELECT sql FROM sqlite_schema WHERE name = 'orgs'" |
    grep -q -- '-- free text, for the operator' || fail "orgs lost its comments"
}

@test "a database of every older version, migrated by init, has the schema of a new one" {
  local fresh="$BATS_TEST_TMPDIR/fresh.db" db k
  "$REASSESS" --db "$fresh" init 2>/dev/null
  [ "$V" -ge 2 ] || skip "no migration yet"
  for ((k = 1; k < V; k++)); do
    db="$BATS_TEST_TMPDIR/v$k.db"
    old_db "$k" "$db" || fail "cannot make a version-$k database"
    assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" "$k"
    run "$REASSESS" --db "$db" init
    assert_success
    assert_output "reassess: $db is at schema version $V"
    assert_same_schema "$fresh" "$db"
  done
}

@test "migrating a version-1 database keeps every row and derives reassessment_counts from them" {
  local v1="$BATS_TEST_TMPDIR/v1.db" db="$BATS_TEST_TMPDIR/migrated.db" k
  old_db 1 "$v1"
  for ((k = 1; k < V; k++)); do
    old_db "$k" "$db"
    "$REASSESS" --db "$db" init 2>/dev/null
    assert_equal "$(rows_of "$db" "$v1")" "$(rows_of "$v1" "$v1")"
    assert_equal "$(entry_order "$db")" "$(entry_order "$v1")"
    assert_equal "$(sqlite3 "$db" 'SELECT org_id, status, n FROM reassessment_counts
                                   WHERE n > 0 ORDER BY 1, 2')" \
                 "$(sqlite3 "$db" 'SELECT org_id, status, count(*) FROM reassessments
                                   GROUP BY 1, 2 ORDER BY 1, 2')"
    assert_equal "$(sqlite3 "$db" 'PRAGMA foreign_key_check')" ""
    run "$REASSESS" --db "$db" check
    assert_success
    assert_output ok
  done
}

@test "a migrated database serves the rows it held" {
  [ "$REASSESS_TRANSPORT" = http ] && skip "serves another database"
  local db="$BATS_TEST_TMPDIR/served.db" key
  old_db 1 "$db"
  "$REASSESS" --db "$db" init 2>/dev/null
  key="$("$REASSESS" --db "$db" key create cborg_00000000000000000000000000000001 2>/dev/null)"
  REASSESS_DB="$db" api --key "$key" GET /v1/reassessments
  assert_status 200
  assert_json .total 4
  REASSESS_DB="$db" api --key "$key" GET '/v1/reassessments?status=draft'
  assert_json .total 2
  REASSESS_DB="$db" api --key "$key" GET /v1/reassessments/cbrsm_00000000000000000000000000000001
  assert_status 200
  assert_json .status run
}

@test "init refuses a database whose version was set back to 0 and leaves it as it was" {
  local db="$BATS_TEST_TMPDIR/lowered.db" digest
  "$REASSESS" --db "$db" init 2>/dev/null
  "$REASSESS" --db "$db" org create "Kept" >/dev/null
  sqlite3 "$db" 'PRAGMA user_version = 0'
  digest="$(sqlite3 "$db" .dump | sha256sum)"
  run "$REASSESS" --db "$db" init
  assert_failure 1
  assert_output --partial "user_version is 0 and the file holds"
  assert_output --partial "refusing to create the schema over it"
  assert_equal "$(sqlite3 "$db" 'PRAGMA user_version')" 0
  assert_equal "$(sqlite3 "$db" .dump | sha256sum)" "$digest"
}

@test "init refuses a file of another program's tables and adds none of its own" {
  local db="$BATS_TEST_TMPDIR/other.db"
  sqlite3 "$db" 'CREATE TABLE t (x)'
  run "$REASSESS" --db "$db" init
  assert_failure 1
  assert_output --partial "refusing to create the schema over it"
  assert_equal "$(sqlite3 "$db" .tables)" t
}

@test "the schema comparison ignores layout, comments and renames, not a changed constraint or index" {
  local a="$BATS_TEST_TMPDIR/a.db" b="$BATS_TEST_TMPDIR/b.db"
  sqlite3 -bail "$a" < "$TOP/schema.sql"
  # Layout and comments only: same schema.
  sed -e 's/  */ /g' -e 's/, /,\n /g' -e 's/--.*$/-- another comment/' "$TOP/schema.sql" |
    sqlite3 -bail "$b"
  assert_same_schema "$a" "$b"
  # A table rebuilt and renamed as a migration would (SQLite quotes the
  # new name in the stored text): same schema.
  rm -f "$b"
  { cat "$TOP/schema.sql"; echo "
    CREATE TABLE orgs_new (
      id         TEXT PRIMARY KEY CHECK (id LIKE 'cborg\_%' ESCAPE '\'),
      name       TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      api_ip_allowlist TEXT NOT NULL DEFAULT '[]'
        CHECK (json_valid(api_ip_allowlist)),
      updated_at INTEGER
    );
    INSERT INTO orgs_new SELECT * FROM orgs;
    DROP TABLE orgs;
    ALTER TABLE orgs_new RENAME TO orgs;"; } | sqlite3 -bail "$b"
  assert_equal "$(sqlite3 "$b" "SELECT substr(sql, 1, 19) FROM sqlite_schema
                                WHERE name = 'orgs'")" 'CREATE TABLE "orgs"'
  assert_same_schema "$a" "$b"
  # A CHECK's allowed value (no PRAGMA shows it), a default, an index
  # column: each is a difference.
  for change in "s/'Other'/'Others'/" "s/DEFAULT 'medium'/DEFAULT 'low'/" \
      "s/ON vendors(org_id, created_at)/ON vendors(org_id, updated_at)/"; do
    rm -f "$b"
    sed "$change" "$TOP/schema.sql" | sqlite3 -bail "$b"
    run assert_same_schema "$a" "$b"
    assert_failure
  done
}
