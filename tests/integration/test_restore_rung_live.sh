#!/usr/bin/env bash
# The last rung of the ladder end to end, on the real stack: a release whose migration breaks
# the schema for the previous release, so that rolling the image back does not help; the restore
# rung brings back the data of the backup taken before the deploy together with its release.
# Also: rollgate killed right after the RESTORE intent, then resumed. Fails (never skips) when
# the stack is not there.
set -u
bin=$1
port=18093
project="rgit-restore-$$"
work=$(mktemp -d /tmp/rollgate-restore-test.XXXXXX)
db="rgrr_$$"

if [ -z "${ROLLGATE_PG_PORT:-}" ] || ! pg_isready -q -h 127.0.0.1 -p "$ROLLGATE_PG_PORT" ||
    ! curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null; then
    echo "FAIL setup: the local stack is not running: run through scripts/test.sh or after eval \"\$(scripts/stack.sh up)\""
    exit 1
fi

psqlc() { psql -X -q -h 127.0.0.1 -p "$ROLLGATE_PG_PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    (cd "$work/stack" 2>/dev/null && docker-compose -p "$project" down -t 1 >/dev/null 2>&1)
    for d in $(psqlc -d postgres -tAc "select datname from pg_database where datname like '${db}%'"); do
        psqlc -d postgres -c "DROP DATABASE IF EXISTS \"$d\" WITH (FORCE)" >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/lib.sh"
serving() { curl -s --max-time 2 "127.0.0.1:$port/version"; }
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "127.0.0.1:$port/health"; }
sql() { sqlite3 "$work/state/restoretest.db" "$1"; }
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; echo "${out:-}" | sed 's/^/    /'; fi; }

# The data of release v1: items with a `name` column, schema 1.
fresh_db() {
    for d in $(psqlc -d postgres -tAc "select datname from pg_database where datname like '${db}%'"); do
        psqlc -d postgres -c "DROP DATABASE \"$d\" WITH (FORCE)" >/dev/null
    done
    psqlc -d postgres -c "CREATE DATABASE $db" >/dev/null
    psqlc -d "$db" -c "CREATE TABLE items (id int PRIMARY KEY, name text);
        INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g;
        CREATE TABLE app_meta (schema int); INSERT INTO app_meta VALUES (1);" >/dev/null
}

mkdir -p "$work/stack" "$work/filestore"
echo "v1 attachment" >"$work/filestore/att"
cat >"$work/stack/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: 127.0.0.1:5000/rollgate/demo-app:\${DEMO_APP_TAG}
    network_mode: host
    environment:
      APP_PORT: "$port"
      APP_DB: "127.0.0.1:$ROLLGATE_PG_PORT:$db:postgres"
    restart: unless-stopped
    stop_grace_period: 1s
YAML
cat >"$work/pb.yml" <<YAML
version: 1
name: restoretest
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: 127.0.0.1:5000/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
defaults: {every: 200ms, within: 6s, timeout: 1s}
gates:
  running: {container: app}
  health: {http: "http://127.0.0.1:$port/health", fail_on: [500]}
backup:
  before_deploy: true
  database: "host=127.0.0.1 port=$ROLLGATE_PG_PORT dbname=$db user=postgres"
  filestore: $work/filestore
  dir: $work/backups
  keep: 5
  verify_query: "SELECT schema = 1 FROM app_meta"
deploy:
  - pull
  - up
  - verify: [running, health]
  - settle: {for: 2s, watch: [app], gates: [health]}
recover:
  - rollback: previous
  - restore: before_deploy
YAML

# 1. v1 deployed (its own backup taken first), healthy.
fresh_db
run deploy_v1 0 deploy "$work/pb.yml" --tag v1 && expect deploy_v1_serves "$(serving)" v1

# 2. v2-migrate renames items.name away: its own health fails, the rollback to v1 fails too (v1
#    needs the column), the restore rung brings back the backup taken before this deploy, with v1.
run migrate_restored 1 deploy "$work/pb.yml" --tag v2-migrate
expect restored_outcome "$(sql "select outcome from deploys order by id desc limit 1")" restored
expect restored_serves_v1 "$(serving)" v1
expect restored_healthy "$(health)" 200
expect restored_schema "$(psqlc -d "$db" -tAc "select schema from app_meta")" 1
expect restored_column "$(psqlc -d "$db" -tAc "select count(name) from items")" 500
expect restored_filestore "$(cat "$work/filestore/att")" "v1 attachment"
expect replaced_filestore_kept "$(cat "$work"/filestore.pre_restore_*/att 2>&1)" "v1 attachment"
kept=$(psqlc -d postgres -tAc "select datname from pg_database where datname like '${db}_pre_restore_%'")
expect migrated_db_kept "$(psqlc -d "$kept" -tAc "select schema from app_meta" 2>&1)" 2
expect rollback_rung_failed "$(sql "select event from transitions t join deploys d on d.id = t.deploy_id
    where d.id = (select max(id) from deploys) and t.rung = 1 and t.phase = 'done' and t.event != 'ok' limit 1")" fail
expect backup_of_deploy "$(sql "select tag from backups where deploy_id = (select max(id) from deploys)")" v1
grep -q "restored backup #2 into '$db'" <<<"$out" && ok restore_note || bad restore_note "$out"
[ "$(sql "select count(*) from deploys where outcome = ''")" = 0 ] && ok ledger_consistent || bad ledger_consistent "open deploys"

# 3. Killed right after the RESTORE intent of the same ladder, then resumed: same end.
fresh_db
echo "v1 attachment" >"$work/filestore/att"
# v2-migrate failed its gates above and is in quarantine: allowed again for this run.
run allow_v2_migrate 0 release allow "$work/pb.yml" v2-migrate
ROLLGATE_TEST_KILL_AT=RESTORE:2 timeout 300 "$bin" deploy "$work/pb.yml" --tag v2-migrate >/dev/null 2>&1
expect killed_at_restore "$?" 137
run resumed_restore 1 resume "$work/pb.yml"
expect resumed_outcome "$(sql "select outcome from deploys order by id desc limit 1")" restored
expect resumed_serves_v1 "$(serving)" v1
expect resumed_schema "$(psqlc -d "$db" -tAc "select schema from app_meta")" 1

# 4. By hand, through the engine: a backup of the serving v1, a change to the data, then a restore
#    of that backup under the lock, with ledger rows that `history` shows; the serving release is
#    stopped for the swap (its container goes) and serves again after it, through the gates.
run manual_backup 0 backup "$work/pb.yml" --json
bid=$(sed -n 's/^  "id": \([0-9]*\),$/\1/p' <<<"$out")
expect manual_backup_row "$(sql "select kind || ' ' || outcome || ' ' || tag from deploys order by id desc limit 1")" "backup backed_up v1"
expect manual_backup_hand "$(sql "select deploy_id from backups where id = ${bid:-0}")" 0
psqlc -d "$db" -c "DELETE FROM items WHERE id > 100" >/dev/null
before=$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=app)
run manual_restore 0 restore "$work/pb.yml" --latest --yes
after=$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=app)
grep -qx "release v1 was stopped for the swap and serves again (restore #[0-9]* in 'rollgate history')" <<<"$out" &&
    ok manual_restore_says_restarted || bad manual_restore_says_restarted "$out"
[ -n "$before" ] && [ -n "$after" ] && [ "$before" != "$after" ] && ok manual_restore_stopped_serving ||
    bad manual_restore_stopped_serving "container before '$before', after '$after'"
expect manual_restore_serves "$(serving)" v1
expect manual_restore_healthy "$(health)" 200
expect manual_restore_data "$(curl -s --max-time 2 "127.0.0.1:$port/db")" 500
expect manual_restore_row "$(sql "select kind || ' ' || outcome || ' ' || tag from deploys order by id desc limit 1")" "restore restored v1"
expect manual_restore_states "$(sql "select group_concat(state, ' ') from transitions where phase = 'done' and deploy_id = (select max(id) from deploys)")" "PREFLIGHT RESTORE UP VERIFY SETTLE"
run history_shows_manual 0 history "$work/pb.yml" -n 2
grep -qE '^[0-9]+ +[0-9-]+ [0-9:]+ +restore +v1 +v1 +restored ' <<<"$out" && grep -qE '^ +restore of .*/backups/' <<<"$out" &&
    grep -qE '^[0-9]+ +[0-9-]+ [0-9:]+ +backup +v1 +v1 +backed_up ' <<<"$out" && grep -qE "^ +backup #${bid:-0} of release v1: " <<<"$out" &&
    ok history_shows_manual_rows || bad history_shows_manual_rows "$out"
# A hostile backup by hand: refused before anything is stopped.
printf 'not an archive' >"$work/bogus.tar.zst"
before=$after
run manual_restore_refused 65 restore "$work/pb.yml" --file "$work/bogus.tar.zst" --yes
grep -q "^rollgate: restore: refused, nothing was changed: " <<<"$out" && ok manual_restore_refused_message || bad manual_restore_refused_message "$out"
after=$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=app)
expect manual_restore_refused_kept_serving "$after" "$before"
expect manual_restore_refused_row "$(sql "select kind || ' ' || outcome from deploys order by id desc limit 1")" "restore aborted"

echo "restore rung: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
