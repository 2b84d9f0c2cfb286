#!/usr/bin/env bash
# Deploys triggered by a real `git push` (Debian's git) into a real bare repository with the
# hooks `rollgate hook install` wrote, over a local path and over ssh to a throwaway sshd on
# loopback: what the pusher sees, what pre-receive refuses (with validate's file:line:column),
# what deploys nothing, pushes racing, a pusher killed mid-deploy, rollgate.wait=false with
# `wait`, and the bad input a push can carry.
set -u
bin=$(readlink -f "$1")
port=18092
sshport=18091
project="rgit-hook-$$"
work=$(mktemp -d /tmp/rollgate-hook-test.XXXXXX)
source "$(dirname "$0")/lib.sh"
require_stack
run_timeout=120
sshd_pid=""
reg=${ROLLGATE_REGISTRY:-127.0.0.1:5000}

cleanup() {
    (cd "$work/stack" 2>/dev/null && docker-compose -p "$project" down -t 1 >/dev/null 2>&1)
    if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

demo_compose "$work/stack" "$reg" "$port"
# playbook SETTLE: the playbook as committed in the app's repository (absolute paths: it is
# deployed from the bare repository's rollgate/ directory).
playbook() {
    cat <<YAML
version: 1
name: hooktest
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: $reg/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
defaults: {every: 200ms, within: 8s, timeout: 1s}
gates:
  running: {container: app}
  health: {http: "http://127.0.0.1:$port/health"}
deploy:
  - pull
  - up
  - verify: [running, health]
  - settle: {for: $1, watch: [app], gates: [health]}
recover:
  - rollback: previous
YAML
}
serving() { curl -s --max-time 2 "127.0.0.1:$port/version"; }
sql() { sqlite3 "$work/state/hooktest.db" "$1"; }
has() { if grep -qF -- "$2" <<<"$out"; then ok "$1"; else bad "$1" "no '$2' in:"; echo "$out" | sed 's/^/    /'; fi; }
hasnt() { if grep -qF -- "$2" <<<"$out"; then bad "$1" "'$2' in:"; echo "$out" | sed 's/^/    /'; else ok "$1"; fi; }
expect_serving() {
    local got; got=$(serving)
    if [ "$got" = "$2" ]; then ok "$1"; else bad "$1" "serving '$got', want '$2'"; fi
}
# push NAME WANT_EXIT ARGS...: git push from the app's clone; its output (what the pusher sees) in $out.
push() {
    local name=$1 want=$2
    shift 2
    out=$(cd "$work/app" && timeout 120 git push "$@" 2>&1)
    rc=$?
    if [ "$rc" -ne "$want" ]; then bad "$name" "git push exit $rc, want $want"; echo "$out" | sed 's/^/    /'; return 1; fi
    return 0
}
commit() { # MESSAGE [SETTLE]: commits deploy/web.yml
    playbook "${2:-1s}" >"$work/app/deploy/web.yml"
    (cd "$work/app" && git add -A && git commit -qm "$1")
}
deploys() { sql "select count(*) from deploys" 2>/dev/null || echo 0; }

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
git init -q "$work/app" && mkdir -p "$work/app/deploy"
(cd "$work/app" && git remote add origin "$work/web.git")
commit "first"

# 1. hook install: a new bare repository, the two hooks, the target; again: up to date.
run install 0 hook install --target web --playbook deploy/web.yml --ref 'refs/tags/v*' "$work/web.git"
has install_wrote_pre "wrote $work/web.git/hooks/pre-receive: exec $bin hook pre-receive"
has install_wrote_post "wrote $work/web.git/hooks/post-receive"
has install_target "target web: refs/tags/v* deploys deploy/web.yml"
[ "$(git -C "$work/web.git" config receive.advertisePushOptions)" = true ] && ok push_options_advertised || bad push_options_advertised "not set"
diff <(sed "s#@ROLLGATE@#$bin#" "$(dirname "$0")/../../hooks/post-receive") "$work/web.git/hooks/post-receive" >/dev/null &&
    ok shim_is_hooks_file || bad shim_is_hooks_file "the installed hook differs from hooks/post-receive"
run install_again 0 hook install "$work/web.git"
has install_up_to_date "$work/web.git/hooks/pre-receive is up to date"
chmod -x "$work/web.git/hooks/post-receive"
run install_fixes_mode 0 hook install "$work/web.git"
has install_says_not_executable "post-receive was not executable, so git ignored it: made executable"
[ -x "$work/web.git/hooks/post-receive" ] && ok made_executable || bad made_executable "mode $(stat -c %a "$work/web.git/hooks/post-receive")"
git init -q --bare "$work/other.git"
printf '#!/bin/sh\necho mine\n' >"$work/other.git/hooks/post-receive"; chmod +x "$work/other.git/hooks/post-receive"
run install_foreign_refused 73 hook install "$work/other.git"
has foreign_message "exists and was not written by rollgate; not overwritten"
grep -q "echo mine" "$work/other.git/hooks/post-receive" && ok foreign_kept || bad foreign_kept "overwritten"
[ -e "$work/other.git/hooks/pre-receive" ] && bad foreign_nothing_half_installed "pre-receive was written" || ok foreign_nothing_half_installed
git init -q --bare "$work/hp.git"; git -C "$work/hp.git" config core.hooksPath custom-hooks
run install_hooks_path 0 hook install "$work/hp.git"
[ -x "$work/hp.git/custom-hooks/pre-receive" ] && ok hooks_path_used || bad hooks_path_used "$(ls -R "$work/hp.git" | head)"
run install_bad_ref 65 hook install --target x --playbook deploy/web.yml --ref 'v*' "$work/web.git"
has bad_ref_message "--ref 'v*': a glob of full ref names"
git -C "$work/web.git" config --get-regexp '^rollgate\.x\.' >/dev/null && bad bad_ref_not_written "rollgate.x was written" || ok bad_ref_not_written
git -C "$work/web.git" config rollgate.bad.playbook deploy/web.yml
git -C "$work/web.git" config rollgate.bad.ref 'refs/tags/x*'
git -C "$work/web.git" config rollgate.bad.tags sometimes
run install_bad_config 65 hook install "$work/web.git"
has bad_config_message "rollgate.bad.tags"
git -C "$work/web.git" config --remove-section rollgate.bad

# 2. A valid tag deploys; the pusher sees the progress; the ledger has the hook, pusher, commit.
(cd "$work/app" && git tag v1)
push push_v1 0 origin v1 && expect_serving push_v1_serves v1
has pusher_sees_verify "remote: [" ; has pusher_sees_settle "SETTLE"
has pusher_sees_end "rollgate: web: v1 ended with exit 0"
[ "$(sql "select trigger || '|' || actor || '|' || source_commit from deploys order by id desc limit 1")" = "hook|$(id -un)|$(git -C "$work/app" rev-parse v1)" ] &&
    ok ledger_hook_actor_commit || bad ledger_hook_actor_commit "$(sql 'select trigger, actor, source_commit from deploys')"

# 3. An invalid playbook at the pushed commit is rejected by pre-receive with file:line:column.
n=$(deploys)
printf 'version: 1\nname: hooktest\nruntime: {driver: compose}\nrelease: {image: x}\ndeploy:\n  - pul\n' >"$work/app/deploy/web.yml"
(cd "$work/app" && git commit -qam broken && git tag v2)
push invalid_rejected 1 origin v2
has invalid_file_line "remote: deploy/web.yml:6:5:"
has invalid_refused "pre-receive hook declined"
git -C "$work/web.git" rev-parse -q --verify refs/tags/v2 >/dev/null && bad invalid_not_stored "v2 is in the repository" || ok invalid_not_stored
[ "$(deploys)" = "$n" ] && ok invalid_deployed_nothing || bad invalid_deployed_nothing "a deploy was recorded"
(cd "$work/app" && git tag -d v2 >/dev/null && git reset -q --hard HEAD~1)

# 4. A branch push and the deletion of an undeployed tag deploy nothing; a deployed tag may not
#    be deleted or moved.
push branch_push 0 origin HEAD:refs/heads/main
[ "$(deploys)" = "$n" ] && ok branch_deploys_nothing || bad branch_deploys_nothing "a deploy was recorded"
(cd "$work/app" && git tag v5)
git -C "$work/app" push -q --no-verify origin v5 >/dev/null 2>&1 # deploys v5 …
(cd "$work/app" && git tag -d v5 >/dev/null)
run allow_none 65 release allow "$work/web.git/rollgate/web-$(git -C "$work/app" rev-parse HEAD | cut -c1-12).yml" v5
push delete_deployed_refused 1 origin :refs/tags/v1
has delete_message "tag v1 deployed on 'hooktest' (deploy #"
echo moved >"$work/app/moved.txt"
commit "moved"
(cd "$work/app" && git tag -f v1 >/dev/null)
push move_deployed_refused 1 origin +v1
has move_message "may not be moved"

# 5. Bad input: a tag that breaks tag_pattern, a tag on a tree, push options, a symlinked or
#    oversized playbook, a release in quarantine.
(cd "$work/app" && git tag latest)
push bad_tag_refused 0 origin latest  # does not match refs/tags/v*: not a target's ref
(cd "$work/app" && git tag v7_bad)
push pattern_refused 1 origin v7_bad
has pattern_message "does not match"
(cd "$work/app" && git tag v8 "$(git rev-parse 'HEAD^{tree}')")
push tree_tag_refused 1 origin v8
has tree_message "points at a tree, not a commit"
(cd "$work/app" && git tag v9)
push option_control_refused 1 -o "$(printf 'rollgate.wait=\033[2J')" origin v9
has option_control_message 'has a control character'
push option_unknown_refused 1 -o rollgate.yolo origin v9
has option_unknown_message "unknown push option 'rollgate.yolo'"
mv "$work/app/deploy/web.yml" "$work/app/deploy/real.yml"; ln -s real.yml "$work/app/deploy/web.yml"
(cd "$work/app" && git add -A && git commit -qm symlink && git tag v10)
push symlink_refused 1 origin v10
has symlink_message "symlink"
rm "$work/app/deploy/web.yml"; mv "$work/app/deploy/real.yml" "$work/app/deploy/web.yml"
{ playbook 1s; head -c 1100000 /dev/zero | tr '\0' '#'; echo; } >"$work/app/deploy/web.yml"
(cd "$work/app" && git add -A && git commit -qm big && git tag v11)
push oversized_refused 1 origin v11
has oversized_message "bytes"
commit "healthy again"

mkdir -p "$work/app/elsewhere"; git -C "$work/app" mv deploy/web.yml elsewhere/web.yml
(cd "$work/app" && git commit -qm moved-away && git tag v21)
push missing_playbook_refused 1 origin v21
has missing_playbook_message "no 'deploy/web.yml' at commit"
git -C "$work/app" mv elsewhere/web.yml deploy/web.yml; (cd "$work/app" && git commit -qm back)
(cd "$work/app" && git tag v22 "$(git rev-parse HEAD:deploy/web.yml)")
push blob_tag_refused 1 origin v22
has blob_message "points at a blob, not a commit"
(cd "$work/app" && git tag v23)
push delete_undeployed_ok 0 origin v23 -o rollgate.plan
has plan_only "rollgate.plan: the plan of v23, nothing deployed"
push delete_undeployed 0 origin :refs/tags/v23
has delete_deploys_nothing "deleting tag v23 deploys nothing"
# Lines git itself would never send, straight into the hook: each refused with its reason.
z=0000000000000000000000000000000000000000
h=$(git -C "$work/app" rev-parse HEAD)
prehook() { out=$(cd "$work/web.git" && printf '%s\n' "$1" | GIT_DIR=. "$bin" hook pre-receive 2>&1); rc=$?; }
prehook "$z $h refs/tags/v1;reboot"; [ "$rc" = 65 ] && ok meta_ref_refused || bad meta_ref_refused "exit $rc"; has meta_ref_message "v1;reboot"
prehook "$z $h refs/tags/../../etc"; [ "$rc" = 65 ] && ok dotdot_ref_refused || bad dotdot_ref_refused "exit $rc"; has dotdot_ref_message "it contains '..'"
prehook "$z $h refs/tags/v$(head -c 300 /dev/zero | tr '\0' 1)"; [ "$rc" = 65 ] && ok long_ref_refused || bad long_ref_refused "exit $rc"
prehook "$z ${h:0:39} refs/tags/v1"; [ "$rc" = 65 ] && ok short_oid_refused || bad short_oid_refused "exit $rc"
prehook "$z $h refs/tags/v1 extra"; [ "$rc" = 65 ] && ok extra_field_refused || bad extra_field_refused "exit $rc"

# The playbooks pushes leave in GIT_DIR/rollgate are pruned to the newest 20 per target (another
# target's whose name starts the same are not touched).
for i in $(seq 25); do
    f="$work/web.git/rollgate/web-$(printf '%012x' "$i").yml"; echo old >"$f"; touch -d '2 days ago' "$f"
done
echo other >"$work/web.git/rollgate/web-api-aaaaaaaaaaaa.yml"; touch -d '2 days ago' "$work/web.git/rollgate/web-api-aaaaaaaaaaaa.yml"

# 6. rollgate.wait=false returns at once; `wait` gets the exit code.
(cd "$work/app" && git tag v3)
start=$(date +%s%N)
push nowait 0 -o rollgate.wait=false origin v3
took=$(( ($(date +%s%N) - start) / 1000000 ))
has nowait_attach_line "rollgate attach $work/web.git/rollgate/web-"
[ "$took" -lt 5000 ] && ok nowait_returns_at_once || bad nowait_returns_at_once "${took} ms"
id=$(grep -o 'rollgate wait [^ ]* [0-9]*' <<<"$out" | awk '{print $4}')
pbfile=$(grep -o 'rollgate wait [^ ]* [0-9]*' <<<"$out" | awk '{print $3}')
run wait_hook_deploy 0 wait "$pbfile" "$id" && expect_serving nowait_serves v3
kept=$(find "$work/web.git/rollgate" -regextype posix-extended -regex '.*/web-[0-9a-f]{12}\.yml' | wc -l)
[ "$kept" = 20 ] && ok playbooks_pruned || bad playbooks_pruned "$kept kept"
[ -f "$pbfile" ] && ok pruned_keeps_newest || bad pruned_keeps_newest "the deployed playbook is gone"
[ -f "$work/web.git/rollgate/web-api-aaaaaaaaaaaa.yml" ] && ok prune_other_target_kept || bad prune_other_target_kept "web-api's playbook removed"

# The registry holds three healthy releases (v1, v2, v3): from here on a tag is pushed again
# after an administrator removed it from the bare repository (no hook runs for that).
retag() { # TAG...: gone from the bare repository, set again on HEAD in the clone
    local t
    for t in "$@"; do
        git -C "$work/web.git" tag -d "$t" >/dev/null 2>&1
        git -C "$work/app" tag -f "$t" >/dev/null 2>&1
    done
}

# 7. The pusher killed mid-deploy: the deploy goes on and `attach` shows its end.
commit "slow" 6s
retag v2
(cd "$work/app" && exec git push origin v2 >"$work/killed.log" 2>&1) &
gpid=$!
for _ in $(seq 150); do grep -q SETTLE "$work/killed.log" 2>/dev/null && break; sleep 0.1; done
kill -9 "$gpid" 2>/dev/null; pkill -9 -P "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null
id=$(sql "select max(id) from deploys")
pbfile="$work/web.git/rollgate/web-$(git -C "$work/app" rev-parse v2 | cut -c1-12).yml"
run attach_after_kill 0 attach "$pbfile" "$id"
has attach_sees_commit "COMMIT"
expect_serving killed_pusher_deployed v2

# 8. Two pushes racing: the second waits for the first (busy = wait), both are told.
commit "race" 4s
retag v1 v3
(cd "$work/app" && git push origin v1 >"$work/race1.log" 2>&1) &
r1=$!
for _ in $(seq 100); do grep -q PREFLIGHT "$work/race1.log" 2>/dev/null && break; sleep 0.1; done
push race_second_waits 0 origin v3
has race_second_told "waiting for the lock: busy: deploy #"
wait "$r1"; [ $? = 0 ] && ok race_first_done || bad race_first_done "$(cat "$work/race1.log")"
grep -q "v1 ended with exit 0" "$work/race1.log" && ok race_first_told || bad race_first_told "$(cat "$work/race1.log")"
expect_serving race_second_serves v3
git -C "$work/web.git" config rollgate.web.busy refuse
retag v2 v1
(cd "$work/app" && git push origin v2 >"$work/race3.log" 2>&1) &
r3=$!
for _ in $(seq 100); do grep -q PREFLIGHT "$work/race3.log" 2>/dev/null && break; sleep 0.1; done
push race_refused 0 origin v1
has race_refused_busy "busy: deploy #"
has race_refused_exit "v1 ended with exit 4"
wait "$r3"
git -C "$work/web.git" config rollgate.web.busy wait

# 9. A release in quarantine is refused by the hook too.
commit "fast"
(cd "$work/app" && git tag v2-crash)
push crash_pushed 0 origin v2-crash
has crash_rolled_back "v2-crash ended with exit 1"
git -C "$work/web.git" push -q --delete origin v2-crash >/dev/null 2>&1 || true
git -C "$work/web.git" tag -d v2-crash >/dev/null 2>&1
push crash_again_refused 1 origin v2-crash
has crash_quarantine_message "release v2-crash is in quarantine"

# 10. Over ssh to a throwaway sshd on loopback.
mkdir -p "$work/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/host" && ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/client"
cp "$work/ssh/client.pub" "$work/ssh/authorized_keys"; chmod 600 "$work/ssh/authorized_keys"
/usr/sbin/sshd -D -e -p "$sshport" -o ListenAddress=127.0.0.1 -h "$work/ssh/host" \
    -o AuthorizedKeysFile="$work/ssh/authorized_keys" -o PasswordAuthentication=no \
    -o PermitRootLogin=prohibit-password -o StrictModes=no -o UsePAM=no \
    -o PidFile="$work/ssh/pid" >"$work/ssh/log" 2>&1 &
sshd_pid=$!
export GIT_SSH_COMMAND="ssh -p $sshport -i $work/ssh/client -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
for _ in $(seq 50); do ssh -p "$sshport" -i "$work/ssh/client" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes "$(id -un)@127.0.0.1" true 2>/dev/null && break; sleep 0.2; done
(cd "$work/app" && git remote add ssh "$(id -un)@127.0.0.1:$work/web.git")
retag v3
push ssh_push 0 ssh v3 && expect_serving ssh_serves v3
has ssh_progress "remote: ["
[ "$(sql "select actor from deploys order by id desc limit 1")" = "$(id -un) via ssh" ] && ok ssh_actor || bad ssh_actor "$(sql 'select actor from deploys order by id desc limit 1')"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
