#!/usr/bin/env bash
# End-to-end tests of backup, backups, restore on the real PostgreSQL of the local stack: a round
# trip with equal data, every class of hostile archive refused with the live database and the
# filestore unchanged, Odoo zips and plain SQL, retention, and no secret in any output. Fails
# (never skips) when the stack is not there.
set -u
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/rollgate-backup-test.XXXXXX)
db="rgbk_$$"
secret="s3cret-pw-$$"

if [ -z "${ROLLGATE_PG_PORT:-}" ] || ! pg_isready -q -h 127.0.0.1 -p "$ROLLGATE_PG_PORT"; then
    echo "FAIL setup: PostgreSQL of the local stack is not running: run through scripts/test.sh or after eval \"\$(scripts/stack.sh up)\""
    exit 1
fi
for tool in zstd python3 sqlite3 zip; do
    command -v "$tool" >/dev/null || { echo "FAIL setup: $tool is not installed (scripts/setup.sh installs it)"; exit 1; }
done

psqlc() { psql -X -q -h 127.0.0.1 -p "$ROLLGATE_PG_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    for d in $(psqlc -d postgres -tAc "select datname from pg_database where datname like '${db}%'"); do
        psqlc -d postgres -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1
    done
    psqlc -d postgres -c "DROP ROLE IF EXISTS ${db}_owner" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/lib.sh"
run_log="$work/all-output.log"

# expect_line NAME TEXT: the last run printed exactly this line.
expect_line() {
    if grep -qxF -- "$2" <<<"$out"; then ok "$1"
    else bad "$1" "no line '$2' in:"; echo "$out" | sed 's/^/    /'; fi
}

# The content of the live database: row count and an order-independent checksum of each table.
checksum() {
    psqlc -d "$db" -tAc "select (select count(*) || ':' || md5(string_agg(t::text, ',' order by id)) from items t)
        || '/' || (select count(*) || ':' || md5(string_agg(n::text, ',' order by k)) from notes n)"
}
fs_sum() { (cd "$work/filestore" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum); }
dbs_like() { psqlc -d postgres -tAc "select datname from pg_database where datname like '$1' order by 1"; }

# --- the target: a database owned by its own role, a filestore, a playbook ---------------------
psqlc -d postgres -c "CREATE ROLE ${db}_owner LOGIN" -c "CREATE DATABASE $db OWNER ${db}_owner" >/dev/null
psqlc -d "$db" -U "${db}_owner" <<SQL >/dev/null
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2));
INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 20000) g;
CREATE TABLE notes (k serial PRIMARY KEY, body text);
INSERT INTO notes (body) SELECT repeat(md5(g::text), 20) FROM generate_series(1, 2000) g;
CREATE INDEX items_by_name ON items(name);
SQL
mkdir -p "$work/filestore/ab/cd" "$work/stack" "$work/backups"
echo "attachment one" >"$work/filestore/ab/cd/one"
head -c 300000 /dev/urandom >"$work/filestore/ab/two.bin"
: >"$work/filestore/empty"
echo "DEMO_APP_TAG=v1" >"$work/stack/.env"

dsn="host=127.0.0.1 port=$ROLLGATE_PG_PORT dbname=$db user=postgres password=$secret"
playbook() {
    cat >"$work/pb.yml" <<YAML
version: 1
name: backuptest
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: rgbk$$, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: 127.0.0.1:5000/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
gates:
  health: {http: "http://127.0.0.1:1/health"}
deploy:
  - pull
  - up
  - verify: [health]
backup:
  database: "$dsn"
  filestore: $work/filestore
  dir: $work/backups
  keep: $1
  verify_query: "SELECT count(*) > 0 FROM items"
YAML
}
playbook 3
before=$(checksum)
before_fs=$(fs_sum)

# 1. A backup, listed, verified.
run backup_taken 0 backup "$work/pb.yml" && expect_line backup_message \
    "$(printf 'backup #1 of release v1: %s (%s bytes)' "$(ls "$work"/backups/*.tar.zst)" "$(stat -c %s "$work"/backups/*.tar.zst)")"
run backups_listed 0 backups "$work/pb.yml" --json
# The playbook's DSN holds a literal password on purpose (it must never be printed): the
# loader warns about it on stderr, so the JSON is read from stdout alone.
grep -q "warning: backup.database: the connection string holds a literal password" <<<"$out" &&
    ok literal_password_warned || bad literal_password_warned "$out"
json=$("$bin" backups "$work/pb.yml" --json 2>/dev/null)
[ "$(jq -r '.[0].tag + " " + (.[0].id|tostring) + " " + (.[0].verified_ms|tostring)' <<<"$json")" = "v1 1 null" ] &&
    ok backups_json || bad backups_json "$json"
run backup_verified 0 backup "$work/pb.yml" --verify 1 && expect_line backup_verify_message \
    "backup #1 verified: every checksum matches ($(ls "$work"/backups/*.tar.zst))"
run backups_show_verified 0 backups "$work/pb.yml"
grep -q "^1 .* v1 .*20[0-9-]* [0-9:]*  *[0-9]* *20[0-9-]" <<<"$out" && ok backups_table_verified || bad backups_table_verified "$out"
run verify_unknown 65 backup "$work/pb.yml" --verify 42 && expect_line verify_unknown_message \
    "rollgate: backup: target 'backuptest' has no backup #42 (see 'rollgate backups')"
first=$(ls "$work"/backups/*.tar.zst)

# The dump is never spooled: the archive holds it in 32 MiB parts, and nothing else was written.
[ "$(ls -A "$work/backups" | wc -l)" = 1 ] && ok backup_dir_holds_one_file || bad backup_dir_holds_one_file "$(ls -A "$work/backups")"

# 2. Round trip: change data and files, restore, everything equal again; the replaced kept.
psqlc -d "$db" -c "DELETE FROM items WHERE id > 100; UPDATE notes SET body = 'x'" >/dev/null
echo "changed" >"$work/filestore/ab/cd/one"
rm "$work/filestore/ab/two.bin"
run restore_no_tty 64 restore "$work/pb.yml" --backup 1 && expect_line restore_no_tty_message \
    "rollgate: restore: not a terminal, so nobody can confirm: add --yes to restore without asking"
run restore_which 64 restore "$work/pb.yml" --yes && expect_line restore_which_message \
    "rollgate: restore: say which backup: one of --backup ID, --latest, --for-tag TAG or --file PATH"
changed=$(checksum)
run restore_round_trip 0 restore "$work/pb.yml" --backup 1 --yes --jobs 2
[ "$(checksum)" = "$before" ] && ok round_trip_data_equal || bad round_trip_data_equal "$(checksum) != $before"
[ "$(fs_sum)" = "$before_fs" ] && ok round_trip_filestore_equal || bad round_trip_filestore_equal "filestore differs"
kept=$(dbs_like "${db}_pre_restore_%")
[ -n "$kept" ] && [ "$(psqlc -d "$kept" -tAc "select count(*) from items")" = 100 ] &&
    ok replaced_database_kept || bad replaced_database_kept "kept '$kept'"
[ "$(cat "$work"/filestore.pre_restore_*/ab/cd/one 2>/dev/null)" = changed ] &&
    ok replaced_filestore_kept || bad replaced_filestore_kept "$(ls -d "$work"/filestore.pre_* 2>&1)"
[ "$(psqlc -d postgres -tAc "select pg_get_userbyid(datdba) from pg_database where datname = '$db'")" = "${db}_owner" ] &&
    ok restored_owner_kept || bad restored_owner_kept "owner changed"
[ "$(psqlc -d postgres -tAc "select datallowconn from pg_database where datname = '$db'")" = t ] &&
    ok restored_allows_connections || bad restored_allows_connections "datallowconn false"
[ -z "$(dbs_like "${db}_rg_scratch_%")" ] && ok no_scratch_left || bad no_scratch_left "$(dbs_like "${db}_rg_scratch_%")"
expect_line restore_message_kept "kept the replaced database as '$kept'"
[ -z "$(ls -A "$work/backups" | grep -v '\.tar\.zst$')" ] && ok no_work_files_left || bad no_work_files_left "$(ls -A "$work/backups")"

# 3. Hostile archives: refused before any change, with the exact reason.
python3 "$src/tests/integration/hostile_archives.py" "$first" "$work/hostile"
live=$(checksum)
live_fs=$(fs_sum)
dbs_before=$(dbs_like "${db}%")
hostile() {
    local name=$1 want=$2 f="$work/hostile/$1.tar.zst"
    run "hostile_$name" 65 restore "$work/pb.yml" --file "$f" --yes &&
        expect_line "hostile_${name}_message" "rollgate: restore: refused, nothing was changed: backup '$f': $want"
    if [ "$(checksum)" = "$live" ] && [ "$(fs_sum)" = "$live_fs" ] && [ "$(dbs_like "${db}%")" = "$dbs_before" ] &&
        [ ! -e /tmp/rollgate-evil ] && [ ! -e "$work/rollgate-evil" ] && [ -z "$(ls -d "$work"/filestore.restoring_* 2>/dev/null)" ]; then
        ok "hostile_${name}_nothing_changed"
    else
        bad "hostile_${name}_nothing_changed" "the database, the filestore or the database list changed"
    fi
}
hostile absolute "member '/tmp/rollgate-evil' is an absolute path"
hostile dotdot "member 'filestore/../../rollgate-evil' escapes the archive (a '..' component)"
hostile symlink "member 'filestore/ab/link' is a link to '/etc/passwd' that points outside the archive"
hostile hardlink "member 'filestore/ab/hard' is a link to '../../etc/passwd' that points outside the archive"
hostile device "member 'filestore/ab/dev' is a device file"
hostile unlisted "member 'filestore/ab/extra' is not listed in the manifest"
hostile badsum "member 'filestore/empty': checksum mismatch: manifest says $(printf '0%.0s' $(seq 64)), archive has e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
hostile version7 "unknown manifest version 7 (this rollgate reads version 1)"
hostile nomanifest "member 'manifest.json' is missing"
# Where the cut falls depends on the sizes; the member named is the one it falls in.
f="$work/hostile/truncated.tar.zst"
run hostile_truncated 65 restore "$work/pb.yml" --file "$f" --yes
grep -qE "^rollgate: restore: refused, nothing was changed: backup '$f': member '[^']+' is truncated or corrupt: Truncated zstd input\$" <<<"$out" &&
    ok hostile_truncated_message || bad hostile_truncated_message "$out"
[ "$(checksum)" = "$live" ] && [ "$(fs_sum)" = "$live_fs" ] && [ "$(dbs_like "${db}%")" = "$dbs_before" ] &&
    ok hostile_truncated_nothing_changed || bad hostile_truncated_nothing_changed "something changed"

# 4. What teams already have: an Odoo backup zip (plain SQL dump + filestore) and a .sql file.
psqlc -d "$db" -c "INSERT INTO items VALUES (999999, 'from odoo', 1)" >/dev/null
mkdir -p "$work/odoo/filestore/xy"
pg_dump -h 127.0.0.1 -p "$ROLLGATE_PG_PORT" -U postgres --no-owner -f "$work/odoo/dump.sql" "$db"
echo "odoo attachment" >"$work/odoo/filestore/xy/att"
echo '{"odoo_dump": "1", "db_name": "'"$db"'", "version": "17.0", "pg_version": "15.18"}' >"$work/odoo/manifest.json"
(cd "$work/odoo" && zip -q -r "$work/odoo.zip" dump.sql filestore manifest.json)
odoo_sum=$(checksum)
psqlc -d "$db" -c "DELETE FROM items" >/dev/null
run odoo_zip_restored 0 restore "$work/pb.yml" --file "$work/odoo.zip" --yes
[ "$(checksum)" = "$odoo_sum" ] && ok odoo_zip_data_equal || bad odoo_zip_data_equal "$(checksum) != $odoo_sum"
[ "$(cat "$work/filestore/xy/att" 2>/dev/null)" = "odoo attachment" ] && ok odoo_zip_filestore || bad odoo_zip_filestore "$(ls -R "$work/filestore")"
grep -q "(odoo-zip)" <<<"$out" && ok odoo_zip_kind || bad odoo_zip_kind "$out"

printf 'CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2));\nCREATE TABLE notes (k serial PRIMARY KEY, body text);\nINSERT INTO items VALUES (1, %s, 2);\n' "'plain'" >"$work/plain.sql"
run plain_sql_restored 0 restore "$work/pb.yml" --file "$work/plain.sql" --yes
[ "$(psqlc -d "$db" -tAc "select name from items")" = plain ] && ok plain_sql_data || bad plain_sql_data "$(psqlc -d "$db" -tAc 'select * from items')"
printf 'CREATE TABLE items (id int);\nINSERT INTO nope VALUES (1);\n' >"$work/broken.sql"
plain=$(checksum)
run broken_sql_refused 3 restore "$work/pb.yml" --file "$work/broken.sql" --yes
grep -q 'relation "nope" does not exist' <<<"$out" && ok broken_sql_message || bad broken_sql_message "$out"
[ "$(checksum)" = "$plain" ] && [ -z "$(dbs_like "${db}_rg_scratch_%")" ] && ok broken_sql_nothing_changed ||
    bad broken_sql_nothing_changed "live changed or scratch left"
# The verification query must hold on the scratch database: an empty items table fails it.
printf 'CREATE TABLE items (id int);\n' >"$work/empty.sql"
run verify_query_refused 3 restore "$work/pb.yml" --file "$work/empty.sql" --yes
[ "$(checksum)" = "$plain" ] && ok verify_query_nothing_changed || bad verify_query_nothing_changed "live changed"

# 5. Retention: keep 2, but never the newest backup of the live release or of the previous
#    known-good one (v1 here: marked known-good in the ledger).
sqlite3 "$work/state/backuptest.db" "INSERT INTO releases (tag, digest, deploy_id, good_ms) VALUES ('v1', '', 0, 1)"
playbook 2
echo "DEMO_APP_TAG=v2" >"$work/stack/.env"
sqlite3 "$work/state/backuptest.db" "INSERT INTO releases (tag, digest, deploy_id, good_ms) VALUES ('v2', '', 0, 2)"
for i in 1 2 3; do run "backup_v2_$i" 0 backup "$work/pb.yml"; done
present=$(sqlite3 "$work/state/backuptest.db" "select group_concat(id || ':' || tag, ' ') from (select * from backups where deleted_ms = 0 order by id)")
[ "$present" = "1:v1 3:v2 4:v2" ] && ok retention_keeps_previous_release || bad retention_keeps_previous_release "present: $present"
[ "$(ls "$work"/backups/*.tar.zst | wc -l)" = 3 ] && ok retention_removed_file || bad retention_removed_file "$(ls "$work/backups")"

# 6. The password in the DSN never appears in any output.
if grep -q -- "$secret" "$work/all-output.log"; then bad secret_never_printed "found in the outputs"
else ok secret_never_printed; fi

echo "backup: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
