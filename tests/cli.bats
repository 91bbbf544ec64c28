#!/usr/bin/env bats
# Section 5 of API.md: the admin command line. init, orgs, keys (the secret
# is shown once and only its SHA-256 is stored), usage and exit statuses,
# where the database is, check and backup.

load helper

bats_require_minimum_version 1.5.0

setup_file() { setup_db; }
teardown_file() { teardown_db; }

# fresh_db NAME: the path of an initialised database of its own for this test.
fresh_db() {
  local db="$BATS_TEST_TMPDIR/$1"
  "$REASSESS" --db "$db" init >/dev/null || return 1
  printf '%s' "$db"
}

# key_id NAME: the id of org A's key with this name, from `key list`.
key_id() {
  cli key list "$ORG" | awk -F'\t' -v n="$1" '$2 == n { print $1 }'
}

# -------------------------------------------------------------------------
# init

@test "init creates the database with its schema version and WAL mode" {
  local db="$BATS_TEST_TMPDIR/new.db"
  run "$REASSESS" --db "$db" init
  assert_success
  [ -f "$db" ] || fail "init did not create $db"
  run sqlite3 "$db" 'pragma user_version'
  [ "$output" -ge 1 ] || fail "user_version is '$output'"
  run sqlite3 "$db" 'pragma journal_mode'
  assert_output wal
  run sqlite3 "$db" "select count(*) from sqlite_schema where type = 'table' and name in ('orgs', 'api_keys', 'reassessments')"
  assert_output 3
}

@test "init is idempotent and keeps the data" {
  local db version org
  db="$(fresh_db again.db)"
  version="$(sqlite3 "$db" 'pragma user_version')"
  org="$("$REASSESS" --db "$db" org create "Kept Org")"
  run "$REASSESS" --db "$db" init
  assert_success
  [ "$(sqlite3 "$db" 'pragma user_version')" = "$version" ] || fail "user_version moved"
  run "$REASSESS" --db "$db" org list
  assert_success
  assert_output --partial "$org"
}

@test "init refuses a file that is not a database and leaves it alone" {
  local f="$BATS_TEST_TMPDIR/noise.db" before
  head -c 65536 /dev/urandom > "$f"
  before="$(sha256sum < "$f")"
  run "$REASSESS" --db "$f" init
  assert_failure 1
  [ "$(sha256sum < "$f")" = "$before" ] || fail "init changed the file"
}

# -------------------------------------------------------------------------
# Orgs

@test "org create prints the new org id alone" {
  run --separate-stderr cli org create "Solo Org"
  assert_success
  [ "${#lines[@]}" -eq 1 ] || fail "stdout has ${#lines[@]} lines: $output"
  assert_output --regexp '^cborg_[0-9a-f]{32}$'
  [ "$(sql "select name from orgs where id = '$output'")" = "Solo Org" ] ||
    fail "no org $output named Solo Org in the database"
}

@test "org list shows every org with its id, name and creation time" {
  local a b
  a="$(cli org create "Listed One")"
  b="$(cli org create "Listed Two, with spaces")"
  [ "$a" != "$b" ] || fail "two orgs got the same id"
  run cli org list
  assert_success
  assert_line --regexp "^$a"$'\t'"Listed One"$'\t''[0-9]+$'
  assert_line --regexp "^$b"$'\t'"Listed Two, with spaces"$'\t''[0-9]+$'
  assert_line --regexp "^$ORG"$'\t'"Org A"$'\t''[0-9]+$'
}

@test "org create refuses a name with a control character: exit 2, a clear message, nothing stored" {
  local d n
  d="$(db_digest)"
  for n in $'Tab\tOrg' $'New\nLine' $'Carriage\rReturn' $'Bell\aOrg' $'Del\x7fOrg' $'C1\xc2\x85Org'; do
    run --separate-stderr cli org create "$n"
    assert_failure 2
    assert_output ""
    [[ "$stderr" == *"control character"* ]] || fail "unclear message: $stderr"
  done
  assert_equal "$(db_digest)" "$d"
}

@test "org list escapes control characters and backslashes in names that came in otherwise" {
  local o
  o="$(cli org create "Escaped Org")"
  sql "UPDATE orgs SET name = 'Tab' || char(9) || 'New' || char(10) || 'Back\\slash' || char(1) WHERE id = '$o'"
  run cli org list
  assert_success
  assert_line "$o"$'\t''Tab\tNew\nBack\\slash\x01'$'\t'"$(sql "SELECT created_at FROM orgs WHERE id = '$o'")"
  # Every line still has exactly three fields.
  [ "$(cli org list | awk -F'\t' 'NF != 3' | wc -l)" -eq 0 ] || fail "a line of org list does not have 3 fields"
}

@test "org list on a fresh database prints nothing" {
  local db
  db="$(fresh_db empty.db)"
  run "$REASSESS" --db "$db" org list
  assert_success
  assert_output ""
}

# -------------------------------------------------------------------------
# Keys

@test "key create --name refuses a control character: exit 2, a clear message, no key" {
  local d n
  d="$(db_digest)"
  for n in $'Tab\tKey' $'New\nLine' $'Esc\x1bKey'; do
    run --separate-stderr cli key create "$ORG" --name "$n"
    assert_failure 2
    assert_output ""
    [[ "$stderr" == *"control character"* ]] || fail "unclear message: $stderr"
  done
  assert_equal "$(db_digest)" "$d"
}

@test "key list escapes control characters in a name made through the API" {
  local admin id
  admin="$(cli key create "$ORG" --name "key admin" --scope keys:manage 2>/dev/null)"
  api --key "$admin" POST /v1/api-keys '{"name":"two\tfields\nand a line"}'
  assert_status 201
  id="$(json .id)"
  run cli key list "$ORG"
  assert_success
  assert_line --regexp "^$id"$'\t''two\\tfields\\nand a line'$'\t'
  [ "$(cli key list "$ORG" | awk -F'\t' 'NF != 6' | wc -l)" -eq 0 ] || fail "a line of key list does not have 6 fields"
}

@test "key create prints the secret alone on stdout" {
  run --separate-stderr cli key create "$ORG" --name "shown once"
  assert_success
  [ "${#lines[@]}" -eq 1 ] || fail "stdout has ${#lines[@]} lines: $output"
  assert_output --regexp '^ak_live_[A-Za-z0-9]{43}$'
  local first="$output"
  run --separate-stderr cli key create "$ORG"
  assert_success
  [ "$output" != "$first" ] || fail "two keys got the same secret"
}

@test "the secret is not in the database, only its SHA-256" {
  local name="hashed-$RANDOM$RANDOM" secret f
  secret="$(cli key create "$ORG" --name "$name" 2>/dev/null)"
  [[ "$secret" == ak_live_* ]] || fail "no secret printed: '$secret'"
  for f in "$REASSESS_DB" "$REASSESS_DB-wal"; do
    [ -e "$f" ] || continue
    ! grep -qF "${secret#ak_live_}" "$f" || fail "the secret is stored in $f"
  done
  run sql "select * from api_keys"
  assert_success
  refute_output --partial "${secret#ak_live_}"
  run sql "select lower(hex(secret_hash)) from api_keys where name = '$name'"
  assert_output "$(printf %s "$secret" | sha256sum | cut -d' ' -f1)"
}

@test "a new key works against the API in its own org" {
  local secret v
  secret="$(cli key create "$ORG" --name "works" 2>/dev/null)"
  api --key "$secret" POST /v1/vendors '{"name":"Made With New Key"}'
  assert_status 201
  v="$(json .id)"
  api GET "/v1/vendors/$v"
  assert_status 200
  api --key "$KEY_B" GET "/v1/vendors/$v"
  assert_status 404
}

@test "key create reports the key id on stderr" {
  local name="id-on-stderr-$RANDOM"
  run --separate-stderr cli key create "$ORG" --name "$name"
  assert_success
  local kid
  kid="$(key_id "$name")"
  [[ "$kid" =~ ^cbak_[0-9a-f]{32}$ ]] || fail "key list has no key '$name': '$kid'"
  [[ "$stderr" == *"$kid"* ]] || fail "stderr does not name $kid: $stderr"
}

@test "key list shows ids, names and live keys, never secrets" {
  local name="listed-$RANDOM$RANDOM" secret kid
  secret="$(cli key create "$ORG" --name "$name" 2>/dev/null)"
  cli key create "$ORG" >/dev/null 2>&1
  run cli key list "$ORG"
  assert_success
  # id, name, created, revoked, scopes, expires (6.1)
  assert_line --regexp '^cbak_[0-9a-f]{32}'$'\t'"$name"$'\t''[0-9]+'$'\t''-'$'\t''-'$'\t''-$'
  assert_line --regexp '^cbak_[0-9a-f]{32}'$'\t''-'$'\t''[0-9]+'$'\t''-'$'\t''-'$'\t''-$'
  refute_output --partial "${secret#ak_live_}"
  refute_output --partial ak_live_
}

@test "key list shows only the keys of the org it is given" {
  local name="org-a-only-$RANDOM$RANDOM"
  cli key create "$ORG" --name "$name" >/dev/null 2>&1
  run cli key list "$ORG_B"
  assert_success
  assert_line --regexp $'\t'"test key B"$'\t'
  refute_output --partial "$name"
}

@test "key revoke makes the key fail on the next request and shows in key list" {
  local name="to-revoke-$RANDOM$RANDOM" secret kid
  secret="$(cli key create "$ORG" --name "$name" 2>/dev/null)"
  api --key "$secret" GET /v1/vendors
  assert_status 200
  kid="$(key_id "$name")"
  [ -n "$kid" ] || fail "key list has no key '$name'"
  run cli key revoke "$kid"
  assert_success
  api --key "$secret" GET /v1/vendors
  assert_detail 401 "Invalid or expired API key."
  run cli key list "$ORG"
  assert_line --regexp "^$kid"$'\t'"$name"$'\t''[0-9]+'$'\t''[0-9]+'$'\t''-'$'\t''-$'
}

@test "revoking one key leaves the org's other keys working" {
  local name="revoke-one-$RANDOM$RANDOM" secret
  secret="$(cli key create "$ORG" --name "$name" 2>/dev/null)"
  run cli key revoke "$(key_id "$name")"
  assert_success
  api GET /v1/vendors
  assert_status 200
}

@test "key revoke of an unknown key id exits 1" {
  run --separate-stderr cli key revoke cbak_00000000000000000000000000000000
  assert_failure 1
  [ -n "$stderr" ] || fail "no message on stderr"
}

@test "key create for an unknown org exits 1 and makes no key" {
  local before
  before="$(sql 'select count(*) from api_keys')"
  run --separate-stderr cli key create cborg_00000000000000000000000000000000
  assert_failure 1
  [ -n "$stderr" ] || fail "no message on stderr"
  refute_output --partial ak_live_
  run cli key create not-an-org
  assert_failure 1
  [ "$(sql 'select count(*) from api_keys')" = "$before" ] || fail "a key was made"
}

@test "key create --scope and --expires-in: the key carries them and key list shows them" {
  local name="scoped-$RANDOM$RANDOM" secret kid before after
  before="$(date +%s)"
  secret="$(cli key create "$ORG" --scope audit:read --name "$name" --scope keys:manage \
    --scope audit:read --expires-in 3600 2>/dev/null)"
  after="$(date +%s)"
  [[ "$secret" =~ ^ak_live_[A-Za-z0-9]{43}$ ]] || fail "no secret printed: '$secret'"
  kid="$(key_id "$name")"
  [ "$(sql "select scopes from api_keys where id = '$kid'")" = '["keys:manage","audit:read"]' ] ||
    fail "scopes: $(sql "select scopes from api_keys where id = '$kid'")"
  local exp
  exp="$(sql "select expires_at - created_at from api_keys where id = '$kid'")"
  [ "$exp" = 3600 ] || fail "expires_at - created_at is $exp"
  run cli key list "$ORG"
  assert_success
  assert_line --regexp "^$kid"$'\t'"$name"$'\t''[0-9]+'$'\t''-'$'\t''keys:manage,audit:read'$'\t''[0-9]+$'
  exp="$(cli key list "$ORG" | awk -F'\t' -v k="$kid" '$1 == k { print $6 }')"
  ((exp >= before + 3600 && exp <= after + 3600)) || fail "expiry $exp not an hour after $before..$after"
  api --key "$secret" GET /v1/api-keys
  assert_status 200
  cli key revoke "$kid"
  run cli key list "$ORG"
  assert_line --regexp "^$kid"$'\t'"$name"$'\t''[0-9]+'$'\t''[0-9]+'$'\t''-'$'\t''[0-9]+$'
}

@test "key create refuses an unknown scope, a bad --expires-in or a missing value: exit 2, nothing written" {
  local before args
  # (keys and change records: not the API-call records or last_used_at,
  # which a server may write late for earlier tests' requests)
  keys_state() {
    sql "select id, name, created_at, revoked_at, scopes, expires_at, created_by
           from api_keys order by rowid;
         select * from audit_log where event_type <> 'external_api_call'" | sha256sum
  }
  before="$(keys_state)"
  for args in "--scope admin" "--scope keys:manage --scope Keys:Manage" "--scope" \
      "--expires-in abc" "--expires-in 59" "--expires-in 315360001" "--expires-in -60" \
      "--expires-in 60s" "--expires-in" "--name" "--bogus x" "--name a --scope audit:read extra"; do
    run --separate-stderr cli key create "$ORG" $args
    [ "$status" -eq 2 ] || fail "key create ORG $args exited $status, expected 2"
    [ -z "$output" ] || fail "key create ORG $args printed '$output'"
    [ -n "$stderr" ] || fail "key create ORG $args said nothing on stderr"
  done
  [ "$(keys_state)" = "$before" ] || fail "a refused key create wrote something"
  run cli key create "$ORG" --expires-in 60 --expires-in 315360000 --name bounds
  assert_success
}

@test "key create and key revoke write change records with no actor; a second revoke writes none" {
  local name="cli-audited-$RANDOM$RANDOM" kid
  cli key create "$ORG" --name "$name" --scope audit:read >/dev/null 2>&1
  kid="$(key_id "$name")"
  run sql "select event_type, event_group, target_type, org_id, actor_id is null,
             actor_name is null, summary from audit_log where target_id = '$kid'"
  assert_output "integration_added|integrations|api_key|$ORG|1|1|API key \"$name\" created."
  run sql "select json_extract(data, '$.id') || ' ' || json_extract(data, '$.scopes')
             from audit_log where target_id = '$kid'"
  assert_output "$kid [\"audit:read\"]"
  run cli key revoke "$kid"
  assert_success
  run sql "select event_type, actor_id is null, json_extract(data, '$.revoked.new_value'),
             json_extract(data, '$.scopes.new_value') from audit_log
           where target_id = '$kid' order by seq desc limit 1"
  assert_output "integration_deactivated|1|1|[]"
  [ "$(sql "select scopes from api_keys where id = '$kid'")" = "[]" ] || fail "scopes kept"
  run cli key revoke "$kid"
  assert_success
  [ "$(sql "select count(*) from audit_log where target_id = '$kid'")" = 2 ] ||
    fail "a second revoke wrote a record"
}

# -------------------------------------------------------------------------
# Usage

@test "no command is a usage error" {
  run --separate-stderr cli
  assert_failure 2
  [ -n "$stderr" ] || fail "no message on stderr"
}

@test "an unknown command or option is a usage error" {
  run cli frobnicate
  assert_failure 2
  run cli org frobnicate
  assert_failure 2
  run "$REASSESS" --bogus --db "$REASSESS_DB" org list
  assert_failure 2
}

@test "a missing argument is a usage error" {
  local args
  for args in "org create" "key create" "key list" "key revoke" "backup" "org" "key"; do
    run cli $args
    [ "$status" -eq 2 ] || fail "reassess $args exited $status, expected 2: $output"
  done
  run "$REASSESS" --db
  assert_failure 2
}

@test "--help prints the usage on stdout and exits 0, without a database" {
  cd "$BATS_TEST_TMPDIR"
  run --separate-stderr env -u REASSESS_DB "$REASSESS" --help
  assert_success
  assert_output --partial init
  assert_output --partial "key create"
  assert_output --partial backup
  assert_output --partial check
  [ ! -e reassess.db ] || fail "--help created ./reassess.db"
}

@test "--version prints the version" {
  run "$REASSESS" --version
  assert_success
  assert_output --regexp '^reassess [0-9]+\.[0-9]+\.[0-9]+ \(schema version [0-9]+\)$'
}

# -------------------------------------------------------------------------
# Where the database is

@test "--db wins over REASSESS_DB" {
  cd "$BATS_TEST_TMPDIR"
  REASSESS_DB="$BATS_TEST_TMPDIR/env.db" run "$REASSESS" --db "$BATS_TEST_TMPDIR/flag.db" init
  assert_success
  [ -f flag.db ] || fail "--db flag.db was not used"
  [ ! -e env.db ] || fail "REASSESS_DB was used despite --db"
  [ ! -e reassess.db ] || fail "./reassess.db was used despite --db"
}

@test "REASSESS_DB wins over ./reassess.db" {
  cd "$BATS_TEST_TMPDIR"
  REASSESS_DB="$BATS_TEST_TMPDIR/env.db" run "$REASSESS" init
  assert_success
  [ -f env.db ] || fail "REASSESS_DB was not used"
  [ ! -e reassess.db ] || fail "./reassess.db was used despite REASSESS_DB"
}

@test "without --db or REASSESS_DB the database is ./reassess.db" {
  cd "$BATS_TEST_TMPDIR"
  run env -u REASSESS_DB "$REASSESS" init
  assert_success
  [ -f reassess.db ] || fail "./reassess.db was not created"
  local org
  org="$(env -u REASSESS_DB "$REASSESS" org create "Local Org")"
  [ "$(sqlite3 reassess.db "select name from orgs where id = '$org'")" = "Local Org" ] ||
    fail "org $org is not in ./reassess.db"
}

@test "a command other than init on a missing database exits 1" {
  run --separate-stderr "$REASSESS" --db "$BATS_TEST_TMPDIR/absent.db" org list
  assert_failure 1
  [ -n "$stderr" ] || fail "no message on stderr"
}

# -------------------------------------------------------------------------
# check and backup

@test "check prints ok and exits 0 on a sound database" {
  run cli check
  assert_success
  assert_output ok
}

@test "check exits 1 on a file of random bytes and on a missing file" {
  local f="$BATS_TEST_TMPDIR/noise.db"
  head -c 65536 /dev/urandom > "$f"
  run "$REASSESS" --db "$f" check
  assert_failure 1
  refute_output ok
  run "$REASSESS" --db "$BATS_TEST_TMPDIR/absent.db" check
  assert_failure 1
}

@test "check exits 1 on a truncated database" {
  local db
  db="$(fresh_db whole.db)"
  "$REASSESS" --db "$db" org create "Soon Cut" >/dev/null
  sqlite3 "$db" 'pragma wal_checkpoint(truncate)' >/dev/null
  [ "$(stat -c %s "$db")" -gt 16384 ] || fail "the database is too small to cut"
  truncate -s 8192 "$db"
  rm -f "$db-wal" "$db-shm"
  run "$REASSESS" --db "$db" check
  assert_failure 1
  refute_output ok
}

@test "check exits 1 naming a statement that no longer fits the schema" {
  local db
  db="$(fresh_db drifted.db)"
  # Sound as a file, but a table the program reads is gone: integrity and
  # foreign keys pass, the statements that read it do not prepare.
  sqlite3 "$db" 'DROP TRIGGER reassessment_counts_insert;
                 DROP TRIGGER reassessment_counts_status;
                 DROP TRIGGER reassessment_counts_delete;
                 DROP TABLE reassessment_counts'
  run "$REASSESS" --db "$db" check
  assert_failure 1
  assert_output --partial "does not prepare: no such table: reassessment_counts"
  refute_output --partial "ok"
}

@test "backup writes a copy that passes check and holds the same orgs" {
  cli org create "Backed Up Org" >/dev/null
  local copy="$BATS_TEST_TMPDIR/copy.db"
  run cli backup "$copy"
  assert_success
  [ -f "$copy" ] || fail "no backup file"
  run "$REASSESS" --db "$copy" check
  assert_success
  assert_output ok
  [ "$(sqlite3 "$copy" 'select id, name from orgs order by id')" = \
    "$(sql 'select id, name from orgs order by id')" ] || fail "orgs differ"
  [ "$(sqlite3 "$copy" 'pragma user_version')" = "$(sql 'pragma user_version')" ] ||
    fail "user_version differs"
}

@test "a backup's keys work when the copy is served" {
  local name="backed-key-$RANDOM$RANDOM" secret copy="$BATS_TEST_TMPDIR/served.db"
  [ "$REASSESS_TRANSPORT" = http ] && skip "needs the CGI transport"
  secret="$(cli key create "$ORG" --name "$name" 2>/dev/null)"
  run cli backup "$copy"
  assert_success
  REASSESS_DB="$copy" api --key "$secret" GET /v1/vendors
  assert_status 200
}

@test "a key's secret never reaches a log line, whatever the request does" {
  local secret
  secret=$(cli key create "$ORG" --name "log check" 2>/dev/null)
  : > "$BATS_TEST_TMPDIR/all.log"
  api --key "$secret" GET /v1/vendors
  assert_status 200
  cat "$BATS_TEST_TMPDIR/stderr" >> "$BATS_TEST_TMPDIR/all.log" 2>/dev/null || true
  api --key "${secret}x" GET /v1/vendors
  assert_status 401
  cat "$BATS_TEST_TMPDIR/stderr" >> "$BATS_TEST_TMPDIR/all.log" 2>/dev/null || true
  api --key "$secret" POST /v1/vendors '{"name":'
  assert_status 422
  cat "$BATS_TEST_TMPDIR/stderr" >> "$BATS_TEST_TMPDIR/all.log" 2>/dev/null || true
  api --key "$secret" POST /v1/reassessments/cbrsm_00000000000000000000000000000000/run
  assert_status 404
  cat "$BATS_TEST_TMPDIR/stderr" >> "$BATS_TEST_TMPDIR/all.log" 2>/dev/null || true
  # Under the HTTP transport the server's own logs are the ones to read.
  cat "$BATS_FILE_TMPDIR"/service/serve.log "$BATS_FILE_TMPDIR"/service/nginx/*.log \
    >> "$BATS_TEST_TMPDIR/all.log" 2>/dev/null || true
  run grep -c -- "${secret#ak_live_}" "$BATS_TEST_TMPDIR/all.log"
  assert_output 0
}
