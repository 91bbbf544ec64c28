# Helpers to compare the schemas of two databases: `load schema-compare`
# (tests/schema.bats, tests/migrations.bats).
#
# A fresh database gets schema.sql; an older one gets the migrations. Both
# must end with the same schema, but not with the same text: SQLite keeps
# each CREATE as it was written, comments and line breaks included (and
# schema.sql is commented where the migrations are not), and ALTER TABLE
# ADD COLUMN splices the new column's text into the CREATE TABLE, after a
# comma and a space of its own. So schema_of prints a schema as what SQLite
# made of it, never as its layout:
#   * the CREATE text of each object, normalised by sql_normalise;
#   * objects sorted by type and name: the order in which tables were made
#     means nothing; the order in which one table's indexes and triggers
#     were made does (SQLite lists a table's indexes, and fires its
#     triggers, in an order that follows it), so each index and trigger
#     carries its rank among its table's;
#   * what SQLite parsed, from the PRAGMAs: table_list, table_info and
#     table_xinfo (columns, types, NOT NULL, defaults, primary key, hidden
#     columns), index_list and index_xinfo of every index, the automatic
#     ones included (uniqueness, origin, partial, key columns, collations,
#     order), foreign_key_list (targets and actions); CHECK constraints and
#     a partial index's WHERE have no PRAGMA, hence the normalised text;
#   * PRAGMA user_version.

# sql_normalise: read SQL texts, one per record, records separated by the
# character 0x1e; print each on one line with its comments removed, each
# run of whitespace made one space, and no space next to ( ) , ; . This is
# the same token sequence, so two texts normalise alike only if SQLite
# reads them alike: whitespace only ever separates tokens, and ( ) , ; are
# tokens of their own whatever surrounds them. String literals ('...') are
# copied as they are, so that a change inside one (a CHECK's allowed value)
# is never hidden; so are quoted names ("...", `...`, [...]), except that
# the quotes go from a plain name (letters, digits, _): SQLite's ALTER
# TABLE ... RENAME TO writes the new name in double quotes, so a table that
# a migration rebuilt and renamed reads CREATE TABLE "t"(...), which means
# what schema.sql's CREATE TABLE t (...) means.
sql_normalise() {
  awk 'BEGIN { RS = "\036" }
  function emit(tok) {
    if (sp && out != "" && substr(out, length(out), 1) !~ /[(),;]/ &&
        substr(tok, 1, 1) !~ /[(),;]/)
      out = out " "
    out = out tok
    sp = 0
  }
  {
    s = $0; n = length(s); out = ""; sp = 0
    for (i = 1; i <= n; i++) {
      c = substr(s, i, 1)
      if (c == "\047" || c == "\"" || c == "`" || c == "[") {
        q = c == "[" ? "]" : c
        j = index(substr(s, i + 1), q)
        if (j == 0) j = n - i
        tok = substr(s, i, j + 1)
        if (c != "\047" && tok ~ /^.[A-Za-z_][A-Za-z0-9_]*.$/)
          tok = substr(tok, 2, length(tok) - 2)
        emit(tok)
        i += j
      } else if (c == "-" && substr(s, i + 1, 1) == "-") {
        j = index(substr(s, i), "\n")
        i = j ? i + j - 1 : n
        sp = 1
      } else if (c == "/" && substr(s, i + 1, 1) == "*") {
        j = index(substr(s, i + 2), "*/")
        i = j ? i + j + 2 : n
        sp = 1
      } else if (c ~ /[ \t\r\n\f]/) {
        sp = 1
      } else {
        emit(c)
      }
    }
    print out
  }'
}

# schema_of DB: DB's schema as text, as described at the top of this file
# (one sqlite3 for the PRAGMAs: their table-valued forms, joined to every
# table of sqlite_schema). Fails if any query does, so that two databases
# that cannot be read never compare equal.
schema_of() {
  local db="$1" objects
  [ -s "$db" ] || { echo "schema_of: no database $db" >&2; return 1; }
  objects="$(sqlite3 -bail -batch -noheader "$db" "
    SELECT type || ' ' || name || ' on ' || tbl_name || ' rank ' ||
           row_number() OVER (PARTITION BY tbl_name, type ORDER BY rowid) ||
           char(10) || coalesce(sql, '(automatic)') || char(30)
      FROM sqlite_schema ORDER BY type, name")" || return 1
  echo "== objects"
  printf '%s' "$objects" | sql_normalise || return 1
  sqlite3 -bail -batch -noheader "$db" <<'SQL'
.print == user_version
PRAGMA user_version;
.print == table_list
SELECT * FROM pragma_table_list WHERE schema = 'main' ORDER BY name;
.print == table_info
SELECT m.name, p.* FROM sqlite_schema m, pragma_table_info(m.name) p
  WHERE m.type = 'table' ORDER BY m.name, p.cid;
.print == table_xinfo
SELECT m.name, p.* FROM sqlite_schema m, pragma_table_xinfo(m.name) p
  WHERE m.type = 'table' ORDER BY m.name, p.cid;
.print == index_list
SELECT m.name, p.* FROM sqlite_schema m, pragma_index_list(m.name) p
  WHERE m.type = 'table' ORDER BY m.name, p.seq;
.print == index_xinfo
SELECT m.name, l.name, x.* FROM sqlite_schema m,
    pragma_index_list(m.name) l, pragma_index_xinfo(l.name) x
  WHERE m.type = 'table' ORDER BY m.name, l.name, x.seqno;
.print == foreign_key_list
SELECT m.name, p.* FROM sqlite_schema m, pragma_foreign_key_list(m.name) p
  WHERE m.type = 'table' ORDER BY m.name, p.id, p.seq;
SQL
}

# assert_same_schema EXPECTED_DB ACTUAL_DB: fail, showing the difference,
# unless the two have the same schema (schema_of).
assert_same_schema() {
  local a="$BATS_TEST_TMPDIR/expected.schema" b="$BATS_TEST_TMPDIR/actual.schema" d
  schema_of "$1" > "$a" || fail "cannot read the schema of $1"
  schema_of "$2" > "$b" || fail "cannot read the schema of $2"
  d="$(diff -u --label "$1" --label "$2" "$a" "$b")" ||
    fail "the schemas differ:
$d"
}
