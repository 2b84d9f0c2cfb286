#!/usr/bin/env bash
# The emergency path on the real local stack: rollback to the release before the serving one
# (also one that served before rollgate), --to an observed release, the registry down during a
# rollback to a local image, a stale lock from a SIGKILLed deploy, --takeover of a live one,
# quarantine of a release that failed its gates (by tag and by digest), attach and wait, and ten
# deploys started at once on a fresh target and on a ledger of an older schema.
set -u
bin=$1
port=18093
regport=15001
project="rgit-emerg-$$"
work=$(mktemp -d /tmp/rollgate-emergency-test.XXXXXX)
src_reg=${ROLLGATE_REGISTRY:-127.0.0.1:5000}
source "$(dirname "$0")/lib.sh"
require_stack
run_timeout=120
reg_pid=""

cleanup() {
    (cd "$work/stack" 2>/dev/null && docker-compose -p "$project" down -t 1 >/dev/null 2>&1)
    if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null; wait "$reg_pid" 2>/dev/null; fi
    for t in v1 v2 v3 v2-crash v2-crash-again; do
        docker rmi "127.0.0.1:$regport/rollgate/demo-app:$t" >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

# A registry of this test's own (stopped below: the stack's registry is never touched).
start_registry() {
    mkdir -p "$work/registry"
    cat >"$work/registry/config.yml" <<YAML
version: 0.1
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: 127.0.0.1:$regport}
YAML
    docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
    reg_pid=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$regport/v2/" >/dev/null && return 0; sleep 0.1; done
    echo "FAIL setup: the test registry did not start:"; sed 's/^/    /' "$work/registry/log"; exit 1
}
start_registry
for t in v1 v2 v3 v2-crash; do
    docker pull -q "$src_reg/rollgate/demo-app:$t" >/dev/null &&
        docker tag "$src_reg/rollgate/demo-app:$t" "127.0.0.1:$regport/rollgate/demo-app:$t" &&
        docker push -q "127.0.0.1:$regport/rollgate/demo-app:$t" >/dev/null ||
        { echo "FAIL setup: cannot copy $t into the test registry"; exit 1; }
done
# The same image as v2-crash under another tag.
docker tag "$src_reg/rollgate/demo-app:v2-crash" "127.0.0.1:$regport/rollgate/demo-app:v2-crash-again"
docker push -q "127.0.0.1:$regport/rollgate/demo-app:v2-crash-again" >/dev/null

demo_compose "$work/stack" "127.0.0.1:$regport" "$port"
playbook() { # FILE NAME SETTLE
    cat >"$1" <<YAML
version: 1
name: $2
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: 127.0.0.1:$regport/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9-]+)?\$'}
defaults: {every: 200ms, within: 8s, timeout: 1s}
gates:
  running: {container: app}
  health: {http: "http://127.0.0.1:$port/health"}
deploy:
  - pull
  - up
  - verify: [running, health]
  - settle: {for: $3, watch: [app], gates: [health]}
recover:
  - rollback: previous
YAML
}
pb=$work/pb.yml
playbook "$pb" emerg 1s
playbook "$work/slow.yml" emerg 8s
serving() { curl -s --max-time 2 "127.0.0.1:$port/version"; }
sql() { sqlite3 "$work/state/emerg.db" "$1"; }
expect_serving() {
    local got; got=$(serving)
    if [ "$got" = "$2" ]; then ok "$1"; else bad "$1" "serving '$got', want '$2'"; echo "${out:-}" | sed 's/^/    /'; fi
}
has() { # NAME TEXT
    if grep -qF -- "$2" <<<"$out"; then ok "$1"; else bad "$1" "no '$2' in:"; echo "$out" | sed 's/^/    /'; fi
}

# 1. v1 runs before rollgate (brought up by hand); rollgate deploys v2 and v3.
echo "DEMO_APP_TAG=v1" >"$work/stack/.env"
(cd "$work/stack" && docker-compose -p "$project" up -d >/dev/null 2>&1)
for _ in $(seq 50); do [ "$(serving)" = v1 ] && break; sleep 0.2; done
expect_serving by_hand_v1 v1
run deploy_v2 0 deploy "$pb" --tag v2 && expect_serving v2_serves v2
run deploy_v3 0 deploy "$pb" --tag v3 && expect_serving v3_serves v3
[ "$(sql "select tag || ':' || how from serving order by id")" = "$(printf 'v1:observed\nv2:deployed\nv3:deployed')" ] &&
    ok serving_records || bad serving_records "$(sql 'select * from serving')"

# 2. v3 passed its gates but is bad in production: rollback with no argument goes to v2.
run rollback_previous 0 rollback "$pb" && expect_serving rollback_to_v2 v2
has rollback_quarantines_v3 "release v3 is in quarantine"
# Again: v3 is in quarantine, so the one before is v1, the pre-rollgate release.
run rollback_to_observed 0 rollback "$pb" && expect_serving rollback_to_v1 v1
run rollback_to_v3_refused 65 rollback "$pb" --to v3
has quarantine_names_rollback "v3 is in quarantine"
run allow_v3 0 release allow "$pb" v3
run allow_again_refused 65 release allow "$pb" v3
has allow_again_message "v3 is not in quarantine"
run rollback_to_current_refused 65 rollback "$pb" --to v1
has noop_message "already runs v1: nothing to roll back to"
run rollback_unseen_refused 65 rollback "$pb" --to v9
has unseen_message "never served on 'emerg'"
# --to a release seen only as observed (v1 served by hand before rollgate).
run deploy_v2_again 0 release allow "$pb" v2 >/dev/null; run deploy_v2_b 0 deploy "$pb" --tag v2
run rollback_to_observed_explicit 0 rollback "$pb" --to v1 && expect_serving to_observed_serves v1

# 3. Quarantine: a release that fails its gates is refused next time, under any tag, by every trigger.
run allow_v2 0 release allow "$pb" v2
run crash_rolled_back 1 deploy "$pb" --tag v2-crash && expect_serving crash_serves_v1 v1
crash_id=$(sql "select max(id) from deploys")
run crash_refused 65 deploy "$pb" --tag v2-crash
has crash_refused_names_deploy "it failed its gates in deploy #$crash_id (rolled_back)"
run crash_refused_ci 65 deploy "$pb" --tag v2-crash --trigger ci
before=$(sql "select count(*) from deploys")
run same_image_refused 3 deploy "$pb" --tag v2-crash-again
has same_image_message "is the image of v2-crash"
run status_shows 0 status "$pb"
has status_quarantine "refused  v2-crash since"
run history_shows 0 history "$pb"
has history_quarantine "v2-crash is in quarantine"
run list_shows 0 release list "$pb"
has list_reason "failed its gates in deploy #$crash_id"
run allow_crash 0 release allow "$pb" v2-crash
run crash_after_allow 1 deploy "$pb" --tag v2-crash && expect_serving after_allow_serves v1
[ "$(sql "select count(*) from quarantine where allowed_ms = 0 and tag = 'v2-crash'")" = 1 ] &&
    ok quarantined_again || bad quarantined_again "not in quarantine after failing again"

# 4. The registry down: a rollback to a release whose image is on the host works; one whose
#    image is not says so and changes nothing.
run deploy_v2_c 0 deploy "$pb" --tag v2
kill "$reg_pid"; wait "$reg_pid" 2>/dev/null; reg_pid=""
run rollback_registry_down 0 rollback "$pb" --to v1 && expect_serving registry_down_v1 v1
docker rmi "127.0.0.1:$regport/rollgate/demo-app:v3" >/dev/null 2>&1
run rollback_not_local 3 rollback "$pb" --to v3
has not_local_message "release v3 is not on this host, and fetching it failed"
expect_serving not_local_untouched v1
start_registry

# 5. A stale lock: a deploy SIGKILLed in SETTLE; the next run says whose lock it takes over.
run allow_v2_b 0 release allow "$pb" v2
ROLLGATE_TEST_KILL_AT=SETTLE "$bin" deploy "$pb" --tag v2 >/dev/null 2>&1
killed_id=$(sql "select max(id) from deploys")
run stale_lock_taken 0 rollback "$pb" --to v1
has stale_lock_line "the lock was left by deploy #$killed_id"
has stale_lock_dead "which no longer runs (killed?): taken over"

# 6. --takeover of a live deploy in SETTLE: it halts, is closed, the rollback goes on.
run allow_v2_c 0 release allow "$pb" v2
# The victim's actor carries a newline: the lock record keeps one pid line all the same.
"$bin" deploy "$work/slow.yml" --tag v2 --actor $'ops\npid=4242' >"$work/victim.log" 2>&1 &
victim=$!
for _ in $(seq 100); do grep -q SETTLE "$work/victim.log" 2>/dev/null && break; sleep 0.1; done
victim_id=$(sql "select max(id) from deploys")
[ "$(grep -c '^pid=' "$work/state/emerg.lock")" = 1 ] && ! grep -q '^pid=4242' "$work/state/emerg.lock" &&
    ok lock_record_not_forged || bad lock_record_not_forged "$(cat "$work/state/emerg.lock")"
# A deploy queued behind the victim must not get the lock before the takeover.
"$bin" deploy "$work/slow.yml" --tag v3 --wait 60s >"$work/queued.log" 2>&1 &
queued=$!
sleep 0.5
run busy_names_state 4 rollback "$pb" --to v1
has busy_message "busy: deploy #$victim_id of 'emerg' by"
has busy_state "in SETTLE"
run takeover 0 rollback "$pb" --to v1 --takeover && expect_serving takeover_serves v1
has takeover_line "--takeover: stopping deploy #$victim_id"
wait "$victim"; vrc=$?
[ "$vrc" = 2 ] && ok victim_halted || bad victim_halted "the victim exited $vrc"
[ "$(sql "select outcome || ':' || error from deploys where id = $victim_id")" = "unrecovered:stopped in SETTLE by --takeover of $(id -un)" ] &&
    ok victim_closed || bad victim_closed "$(sql "select outcome, error from deploys where id = $victim_id")"
sql "select note from deploys where kind = 'rollback' order by id desc limit 1" | grep -q "took over from deploy #$victim_id" &&
    ok takeover_recorded || bad takeover_recorded "no note"
wait "$queued"
[ "$(sql "select max(id) from deploys where kind = 'rollback'")" -lt "$(sql "select max(id) from deploys where kind = 'deploy' and tag = 'v3'")" ] &&
    ok takeover_before_queued || bad takeover_before_queued "$(sql 'select id, kind, tag, outcome from deploys order by id desc limit 3')"
run back_to_v1 0 rollback "$pb" --to v1

# 7. attach and wait: a deploy followed from another process, with its exit code. (The takeover
#    rolled back from v2: in quarantine until allowed.)
run allow_v2_d 0 release allow "$pb" v2
"$bin" deploy "$work/slow.yml" --tag v2 >/dev/null 2>&1 &
dep=$!
for _ in $(seq 100); do [ "$(sql "select count(*) from deploys where tag = 'v2' and outcome = ''")" = 1 ] && break; sleep 0.1; done
id=$(sql "select max(id) from deploys")
run wait_timeout 6 wait "$pb" "$id" --timeout 1s
has wait_timeout_line "still runs after 1s"
run attach_follows 0 attach "$pb" "$id"
has attach_shows_settle "SETTLE"
wait "$dep"
run wait_done 0 wait "$pb" "$id"
has wait_line "deploy #$id of 'emerg': deployed (exit 0)"
run attach_unknown 65 attach "$pb" 9999
crash2=$(sql "select max(id) from deploys where tag = 'v2-crash'")
run wait_rolled_back 1 wait "$pb" "$crash2"

# 8. Ten deploys at once, on a fresh target and on a ledger of schema 3.
playbook "$work/fresh.yml" fresh 3s
ten() { # PLAYBOOK: starts ten deploys together, prints their exit codes sorted
    local i pids=() codes=()
    for i in $(seq 10); do "$bin" deploy "$1" --tag v1 >"$work/ten.$i.log" 2>&1 & pids+=($!); done
    for i in "${pids[@]}"; do wait "$i"; codes+=($?); done
    printf '%s\n' "${codes[@]}" | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}'
}
got=$(ten "$work/fresh.yml")
[ "$got" = "1×0 9×4 " ] && ok ten_fresh || { bad ten_fresh "exit codes $got"; cat "$work"/ten.*.log | sort | uniq -c | head; }
[ "$(sqlite3 "$work/state/fresh.db" "select count(*) from deploys")" = 1 ] && ok ten_fresh_one_row || bad ten_fresh_one_row "$(sqlite3 "$work/state/fresh.db" 'select id, outcome from deploys')"
playbook "$work/old.yml" old 3s
sqlite3 "$work/state/old.db" <"$(dirname "$0")/../fixtures/ledger/schema3.sql" >/dev/null
got=$(ten "$work/old.yml")
[ "$got" = "1×0 9×4 " ] && ok ten_old_schema || { bad ten_old_schema "exit codes $got"; cat "$work"/ten.*.log | sort | uniq -c | head; }
[ "$(sqlite3 "$work/state/old.db" "pragma user_version")" = 4 ] && ok old_schema_migrated || bad old_schema_migrated "schema $(sqlite3 "$work/state/old.db" 'pragma user_version')"
[ "$(sqlite3 "$work/state/old.db" "select count(*) from deploys")" = 2 ] && ok ten_old_one_row || bad ten_old_one_row "$(sqlite3 "$work/state/old.db" 'select id, outcome from deploys')"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
