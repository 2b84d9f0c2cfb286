#!/usr/bin/env bash
# The systemd driver on a real systemd: a docker container booting the host's systemd
# (systemd_lib.sh says why docker and not nspawn), a gunicorn + Flask + SQLite app whose
# releases are the tags of a git repository (tests/fixtures/gunicorn-app), reached through an
# nsenter command prefix. Healthy deploys from git tags (and one from a `git push` through the
# hooks); a release that fails to import
# (crash loop under Restart=always), one that answers 500, one that dies 5 s after start
# (caught in settle), one a repair rung fixes in place, and a migration the previous release
# cannot read (rolled back with the SQLite restore rung); SIGKILL at every transition and
# resume; and the host's cgroups the same after the suite as before it.
#   test_systemd_live.sh ROLLGATE
set -uo pipefail

bin=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/systemd_lib.sh
. "$here/systemd_lib.sh"

name=rg-sd-live
port=18103
work=$(mktemp -d /tmp/rollgate-sd-live.XXXXXX)
chmod 0755 "$work"
root=$work/app
cg_before=$work/cgroups.before
cg_after=$work/cgroups.after

cleanup() {
    sd_down "$name" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

if ! curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null; then
    echo "FAIL setup: dockerd does not answer: run through scripts/test.sh"
    exit 1
fi
for tool in gunicorn nsenter; do
    command -v "$tool" >/dev/null || { echo "FAIL setup: $tool is not installed (scripts/setup.sh)"; exit 1; }
done

sd_cgroups_snapshot "$cg_before"
mkdir -p "$root"
if ! sd_up "$name" "$work" "$port"; then
    echo "FAIL setup: systemd did not boot in the container"
    exit 1
fi
ok systemd_booted
sd_app_root "$root"
# The app's database exists before the first deploy (an empty file is an empty SQLite
# database), the app user's: the backup before a deploy copies what is there.
: >"$root/data/app.db" && chown 1500:1500 "$root/data/app.db"
sd_unit "$name" rg-app.service "$(sd_app_unit "$root" "$port")" || { echo "FAIL setup: unit not installed"; exit 1; }
bash "$here/../fixtures/gunicorn-app/make-repo.sh" "$work/app.git" >/dev/null ||
    { echo "FAIL setup: the app's git repository was not made"; exit 1; }
mapfile -t prefix <"$work/prefix"
prefix_yaml=$(printf '%s, ' "${prefix[@]}")
prefix_yaml="[${prefix_yaml%, }]"

# playbook FILE RECOVER_YAML [SETTLE]: the test playbook with the given recover section.
playbook() {
    cat >"$1" <<YAML
version: 1
name: sdlive
state_dir: $work/state
runtime:
  driver: systemd
  unit: rg-app.service
  root: $root
  keep: 3
  command_prefix: $prefix_yaml
release: {git: $work/app.git, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?$'}
defaults: {every: 300ms, within: 12s, timeout: 3s}
gates:
  unit:   {unit: rg-app.service}
  health: {http: "http://$SD_IP:$port/health", expect: [200]}
  boot:   {logs: rg-app.service, pattern: 'Worker failed to boot|Traceback'}
backup: {before_deploy: true, database: "sqlite://$root/data/app.db", dir: $work/backups, keep: 10}
deploy:
  - pull
  - switch
  - up
  - verify: [unit, health]
  - settle: {for: ${3:-7s}, gates: [health, boot]}
recover:
$2
YAML
}
playbook "$work/pb.yml" "  - rollback: previous
  - restore: before_deploy"
playbook "$work/repair.yml" "  - repair:
      exec: {service: rg-app.service, run: [/usr/bin/python3, repair.py, 'cost: \$\$5 \$\${HOME}'],
             timeout: 30s}
      restart: [rg-app.service]
  - rollback: previous"
playbook "$work/quick.yml" "  - rollback: previous" 2s

sql() { sqlite3 "$work/state/sdlive.db" "$1"; }
serving() { curl -s --max-time 3 "http://$SD_IP:$port/version"; }
expect_serving() {
    local got
    got=$(serving)
    if [ "$got" = "$2" ]; then ok "$1"
    else bad "$1" "serving '$got', want '$2'; the run said:"; echo "${out:-}" | sed 's/^/    /'; fi
}
expect_current() {
    local got
    got=$(readlink "$root/current")
    if [ "$got" = "releases/$2" ]; then ok "$1"; else bad "$1" "current -> '$got', want releases/$2"; fi
}
expect_out() {
    if grep -qF -- "$2" <<<"$out"; then ok "$1"
    else bad "$1" "output lacks '$2':"; echo "$out" | sed 's/^/    /'; fi
}

# 1. Validation and the plan name what the driver does.
run validate 0 validate "$work/pb.yml" && expect_out validate_says "systemd driver"
run plan 0 plan "$work/pb.yml" --tag v1
expect_out plan_export "export tag v1 of $work/app.git into $root/releases/v1"
expect_out plan_restart "restart unit rg-app.service"

# 2. Healthy deploys from git tags (v1 annotated; the tree exported through libgit2).
run deploy_v1 0 deploy "$work/pb.yml" --tag v1 && expect_serving deploy_v1_serves v1
expect_current current_v1 v1
[ -f "$root/releases/v1/app.py" ] && ok release_exported || bad release_exported "no releases/v1/app.py"
[ "$(cat "$root/releases/v1/VERSION")" = v1 ] && ok release_tree || bad release_tree "VERSION is not v1"
run deploy_v2 0 deploy "$work/pb.yml" --tag v2 && expect_serving deploy_v2_serves v2
expect_current current_v2 v2
[ "$(sql "select count(*) from releases where tag in ('v1','v2') and digest like 'git:%'")" = 2 ] &&
    ok ledger_pins_commits || bad ledger_pins_commits "$(sql "select tag, digest from releases")"
run status 0 status "$work/pb.yml"
expect_out status_release "v2 (known-good)"

# 3. A tag that does not exist, or breaks the pattern, changes nothing.
run tag_missing 3 deploy "$work/pb.yml" --tag v9
expect_out tag_missing_says "no tag 'v9' in $work/app.git"
expect_current tag_missing_keeps v2
run tag_pattern 65 deploy "$work/pb.yml" --tag release-1
expect_current tag_pattern_keeps v2

# 4. A release that fails to import: gunicorn "Worker failed to boot", a crash loop under
#    Restart=always; rolled back to v2.
run crash 1 deploy "$work/pb.yml" --tag v2-crash && expect_serving crash_rolled_back v2
expect_current crash_current v2
expect_out crash_unit_evidence "unit rg-app.service:"
expect_out crash_journal "Worker failed to boot"
run crash_quarantined 65 deploy "$work/pb.yml" --tag v2-crash
expect_out crash_quarantine_says "quarantine"

# 5. A release that answers 500.
run http500 1 deploy "$work/pb.yml" --tag v2-500 && expect_serving http500_rolled_back v2
expect_out http500_gate "gate health"

# 6. A release that dies 5 s after start: it passes verify, settle catches it.
run die 1 deploy "$work/pb.yml" --tag v2-die && expect_serving die_rolled_back v2
expect_out die_in_settle "SETTLE"
expect_out die_killed "last run killed by signal 9"

# 7. A repair rung fixes a release in place (repair.py, run as the unit's user with its
#    environment through systemd-run).
run repaired 1 deploy "$work/repair.yml" --tag v2-fixable && expect_serving repaired_serves v2-fixable
[ "$(sql "select outcome from deploys order by id desc limit 1")" = repaired ] && ok ledger_repaired ||
    bad ledger_repaired "$(sql "select outcome from deploys order by id desc limit 1")"
[ "$(stat -c %U "$root/state/repaired" 2>/dev/null)" = app ] || [ "$(stat -c %u "$root/state/repaired" 2>/dev/null)" = 1500 ] &&
    ok repair_as_unit_user || bad repair_as_unit_user "state/repaired is not the app user's"
[ "$(sed -n 2p "$root/state/repaired")" = 'cost: $5 ${HOME}' ] && ok exec_words_as_given ||
    bad exec_words_as_given "systemd-run changed the words: $(sed -n 2p "$root/state/repaired")"
run back_to_v2 0 deploy "$work/pb.yml" --tag v2 && expect_serving back_to_v2_serves v2

# 8. A migration the previous release cannot read: rolling back the code is not enough, the
#    restore rung brings back the data from before the deploy (SQLite online backup), with v2.
run migrate 1 deploy "$work/pb.yml" --tag v2-migrate && expect_serving migrate_restored v2
[ "$(sql "select outcome from deploys order by id desc limit 1")" = restored ] && ok ledger_restored ||
    bad ledger_restored "$(sql "select outcome from deploys order by id desc limit 1")"
[ "$(sqlite3 -readonly "$root/data/app.db" "select schema_version from meta")" = 1 ] && ok data_restored ||
    bad data_restored "schema is not 1 again"
ls "$root/data/" | grep -q 'app.db.pre_restore_' && ok replaced_kept || bad replaced_kept "$(ls "$root/data")"

# 9. A pushed tag deploys through the git hooks: the playbook at the pushed commit, the tag's
#    tree exported by libgit2, the pusher sees the run.
run hook_install 0 hook install --target sdlive --playbook deploy/sdlive.yml --ref 'refs/tags/v*' "$work/app.git"
git clone -q "$work/app.git" "$work/clone" && git -C "$work/clone" checkout -q v2
mkdir -p "$work/clone/deploy" && cp "$work/pb.yml" "$work/clone/deploy/sdlive.yml" && echo v3 >"$work/clone/VERSION"
git -C "$work/clone" add -A && git -C "$work/clone" -c user.name=t -c user.email=t@t commit -qm "release v3" &&
    git -C "$work/clone" tag v3
out=$(cd "$work/clone" && timeout 180 git push origin v3 2>&1)
rc=$?
if [ "$rc" = 0 ] && grep -q "rollgate: sdlive: v3 ended with exit 0" <<<"$out"; then ok pushed_tag_deployed
else bad pushed_tag_deployed "git push exit $rc"; echo "$out" | sed 's/^/    /'; fi
expect_serving pushed_tag_serves v3
expect_current pushed_tag_current v3
[ "$(sql "select trigger from deploys order by id desc limit 1")" = hook ] && ok pushed_tag_ledger ||
    bad pushed_tag_ledger "$(sql "select trigger from deploys order by id desc limit 1")"

# 10. Old releases are pruned (keep 3), never the live one (v3) nor the one before it (v2).
n=$(find "$root/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l)
[ "$n" -le 5 ] && [ -d "$root/releases/v3" ] && [ -d "$root/releases/v2" ] && ok pruned ||
    bad pruned "$(ls -a "$root/releases")"

# 11. SIGKILL at every transition, then resume: the unit ends on one release, the ledger whole.
for at in PREFLIGHT BACKUP PULL SWITCH UP VERIFY SETTLE COMMIT; do
    ROLLGATE_TEST_KILL_AT=$at "$bin" deploy "$work/quick.yml" --tag v1 >/dev/null 2>&1
    killed=$?
    [ "$killed" = 137 ] || bad "kill_at_$at" "rollgate was not killed (exit $killed)"
    run "resume_after_$at" 0 resume "$work/quick.yml" && expect_serving "healthy_after_$at" v1
    expect_consistent "ledger_after_$at"
    run "redeploy_after_$at" 0 deploy "$work/quick.yml" --tag v2 >/dev/null
done
for at in RECOVER:1 SWITCH:1 UP:1 VERIFY:1 SETTLE:1 COMMIT:1; do
    "$bin" release allow "$work/quick.yml" v2-500 >/dev/null 2>&1
    ROLLGATE_TEST_KILL_AT=$at "$bin" deploy "$work/quick.yml" --tag v2-500 >/dev/null 2>&1
    killed=$?
    [ "$killed" = 137 ] || bad "kill_at_$at" "rollgate was not killed (exit $killed)"
    run "resume_after_$at" 1 resume "$work/quick.yml" && expect_serving "healthy_after_$at" v2
    expect_consistent "ledger_after_$at"
done

# 12. Emergency rollback by hand.
run manual_rollback 0 rollback "$work/pb.yml" --to v1 && expect_serving manual_rollback_serves v1
expect_current manual_rollback_current v1

# 13. The container's systemd stayed in its own cgroups; the host's are as they were.
if sd_assert_contained "$name"; then ok cgroups_contained; else bad cgroups_contained "see above"; fi
sd_down "$name" >/dev/null 2>&1
sd_cgroups_snapshot "$cg_after"
if sd_cgroups_assert_same "$cg_before" "$cg_after"; then ok host_cgroups_unchanged
else bad host_cgroups_unchanged "see the difference above"; fi

echo "systemd: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
