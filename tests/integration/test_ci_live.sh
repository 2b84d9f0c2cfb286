#!/usr/bin/env bash
# rollgate as a CI release job's step, on the real local stack: JUnit reports validated against
# the schema, GitHub Actions workflow commands (groups, annotations at the playbook lines of
# the failed gates, escaping), step summary and outputs, GitLab sections, no secret in any
# report, SIGINT then SIGTERM 7.5 s later as GitHub Actions cancels a job (before the switch:
# aborted; during SETTLE: handed to a worker that finishes, asserted with `wait`), and
# --wait-timeout with and without --cancel-on-timeout, while another deploy holds the lock and
# while the run goes.
set -u
bin=$1
port=18120
sshport=18124
sshd_pid=""
project="rgit-ci-$$"
work=$(mktemp -d /tmp/rollgate-ci-test.XXXXXX)
src=$(cd "$(dirname "$0")/../.." && pwd)
reg=${ROLLGATE_REGISTRY:-127.0.0.1:5000}
schema=$src/tests/fixtures/junit.xsd
source "$(dirname "$0")/lib.sh"
require_stack
run_timeout=120
bg_pids=()

cleanup() {
    if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null; fi
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    # Workers this test's runs started: waited for, so that nothing outlives the test.
    for p in $(worker_pids); do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill "$p" 2>/dev/null
    done
    (cd "$work/stack" 2>/dev/null && dcompose -p "$project" down -t 1 >/dev/null 2>&1)
    rm -rf "$work"
}
trap cleanup EXIT

worker_pids() { grep -sho 'a worker (pid [0-9]*' "$work"/*.out 2>/dev/null | grep -o '[0-9]*$' | sort -u; }
command -v xmllint >/dev/null || { echo "FAIL setup: xmllint is not installed (libxml2-utils)"; exit 1; }
[ -f "$schema" ] || { echo "FAIL setup: no schema at $schema"; exit 1; }

demo_compose "$work/stack" "$reg" "$port"
# playbook FILE SETTLE [EXTRA GATES] [PRE-SWITCH STEP]
playbook() {
    cat >"$1" <<YAML
version: 1
name: ci
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: $reg/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9-]+)?\$'}
defaults: {every: 200ms, within: 6s, timeout: 1s}
gates:
  running: {container: app}
  health:
    http: "http://127.0.0.1:$port/health"
  closed: {tcp: "127.0.0.1:1", within: 40s}
${3:-}
deploy:
  - pull
${4:-}
  - up
  - verify: [running, health]
  - settle: {for: $2, watch: [app], gates: [health]}
recover:
  - rollback: previous
YAML
}
pb=$work/pb.yml
playbook "$pb" 1s
playbook "$work/slow.yml" 12s
playbook "$work/pre.yml" 1s "" "  - verify: [closed]"
playbook "$work/mid.yml" 4s
serving() { curl -s --max-time 2 "127.0.0.1:$port/version"; }
sql() { sqlite3 "$work/state/ci.db" "$1"; }
has() { # NAME TEXT [FILE]
    local text=${3:+$(cat "$3")}
    [ -n "${3:-}" ] || text=$out
    if grep -qF -- "$2" <<<"$text"; then ok "$1"; else bad "$1" "no '$2' in:"; echo "$text" | sed 's/^/    /'; fi
}
hasnt() { # NAME TEXT FILE...
    local name=$1 text=$2
    shift 2
    if grep -qF -- "$text" "$@" 2>/dev/null; then bad "$name" "'$text' found in $(grep -lF -- "$text" "$@")"; else ok "$name"; fi
}
valid_junit() { # NAME FILE
    local v
    if v=$(xmllint --noout --schema "$schema" "$2" 2>&1); then ok "$1"; else bad "$1" "$v"; fi
}
line_of() { grep -n -- "$2" "$1" | head -1 | cut -d: -f1; }
wait_for() { # FILE TEXT: until TEXT is in FILE (20 s)
    for _ in $(seq 200); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
# gh_on: a GitHub Actions step's environment, its files fresh; gh_off: no CI at all.
gh_on() {
    rm -f "$work/summary.md" "$work/output.txt"
    touch "$work/summary.md" "$work/output.txt"
    export GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY=$work/summary.md GITHUB_OUTPUT=$work/output.txt
    export GITHUB_WORKSPACE=$work
}
gh_off() { unset GITHUB_ACTIONS GITHUB_STEP_SUMMARY GITHUB_OUTPUT GITHUB_WORKSPACE GITLAB_CI; }
gh_off

# 1. A healthy deploy: a JUnit file with every stage and gate passing, valid against the schema.
run deploy_v1 0 deploy "$pb" --tag v1 --report "junit=$work/v1.xml" && ok deploy_v1
valid_junit junit_v1_valid "$work/v1.xml"
has junit_v1_no_failure 'failures="0" errors="0"' "$work/v1.xml"
has junit_v1_gate_case 'classname="ci/VERIFY" name="health"' "$work/v1.xml"
has junit_v1_deploy_id '<property name="deploy_id" value="1"/>' "$work/v1.xml"

# 2. A release that answers 500: GitHub Actions' reports (detected from GITHUB_ACTIONS=true)
#    and a JUnit file, written as the deploy is rolled back.
gh_on
run fail_500 1 deploy "$pb" --tag v2-500 --report "junit=$work/fail.xml"
gh_off
[ "$(serving)" = v1 ] && ok fail_500_rolled_back || bad fail_500_rolled_back "serving $(serving)"
valid_junit junit_fail_valid "$work/fail.xml"
has junit_failure_names_gate '<testcase classname="ci/VERIFY" name="health"' "$work/fail.xml"
has junit_failure_element '<failure message="gate health failed' "$work/fail.xml"
has junit_failure_evidence '500' "$work/fail.xml"
has junit_counts 'failures="2" errors="0"' "$work/fail.xml"
has junit_rung_case 'classname="ci/rung 1 rollback/VERIFY" name="health"' "$work/fail.xml"
has junit_rolled_back_to '<property name="rolled_back_to" value="v1"/>' "$work/fail.xml"
health_line=$(line_of "$pb" '^  health:')
has gh_annotation_line "::error file=pb.yml,line=$health_line,col=3,title=rollgate%3A gate health failed (ci/VERIFY)::"
has gh_annotation_escaped_newline "%0A"
annot=$(grep -c '^::error ' <<<"$out")
[ "$annot" = 1 ] && ok gh_one_annotation || bad gh_one_annotation "$annot ::error lines"
has gh_group_verify "::group::VERIFY"
has gh_group_rung "::group::UP (rung 1, rollback)"
opened=$(grep -c '^::group::' <<<"$out"); closed=$(grep -c '^::endgroup::' <<<"$out")
[ "$opened" = "$closed" ] && [ "$opened" -gt 5 ] && ok gh_groups_balanced || bad gh_groups_balanced "$opened opened, $closed closed"
has summary_title "## rollgate deploy of ci: v2-500 — rolled_back (exit 1)" "$work/summary.md"
has summary_serving "| Serving | v1 |" "$work/summary.md"
has summary_failed_gate "**health** in \`ci/VERIFY\` (playbook line $health_line)" "$work/summary.md"
has summary_ladder "- recover: rung 1, rollback" "$work/summary.md"
want_out=$(printf 'deploy_id=2\noutcome=rolled_back\ntag=v2-500\nserving=v1\nrolled_back_to=v1\nexit_code=1')
[ "$(cat "$work/output.txt")" = "$want_out" ] && ok gh_outputs || { bad gh_outputs "got:"; sed 's/^/    /' "$work/output.txt"; }
run allow_v2_500 0 release allow "$pb" v2-500

# 3. The same with --json: stdout stays JSON lines, the workflow commands go to stderr.
gh_on
"$bin" deploy "$pb" --tag v2-500 --json >"$work/json.out" 2>"$work/json.err" </dev/null
rc=$?
gh_off
[ "$rc" = 1 ] && ok json_exit || bad json_exit "exit $rc"
if jq -e . "$work/json.out" >/dev/null 2>&1 && ! grep -q '^::' "$work/json.out"; then ok json_stdout_clean
else bad json_stdout_clean "stdout is not JSON lines:"; head -5 "$work/json.out" | sed 's/^/    /'; fi
has json_commands_on_stderr "::error file=pb.yml,line=$health_line" "$work/json.err"
run allow_v2_500_again 0 release allow "$pb" v2-500

# 4. Escaping in properties: a playbook path with a comma and a colon.
odd="$work/odd,name:x.yml"
cp "$pb" "$odd"
gh_on
run odd_path 1 deploy "$odd" --tag v2-500
gh_off
has gh_property_escaped "::error file=odd%2Cname%3Ax.yml,line=$health_line,"
run allow_v2_500_odd 0 release allow "$pb" v2-500

# 5. GitLab: collapsible sections, balanced; --report none turns detection off.
export GITLAB_CI=true
run gitlab_sections 0 deploy "$pb" --tag v2
gh_off
starts=$(grep -c $'\e\\[0Ksection_start:[0-9]*:rollgate_[0-9]*_[a-z]*\r\e\\[0K' <<<"$out")
ends=$(grep -c $'\e\\[0Ksection_end:[0-9]*:rollgate_[0-9]*_[a-z]*\r\e\\[0K' <<<"$out")
[ "$starts" = "$ends" ] && [ "$starts" -ge 6 ] && ok gitlab_balanced || bad gitlab_balanced "$starts starts, $ends ends"
has gitlab_verify_section "rollgate_5_verify"
gh_on
run report_none 0 deploy "$pb" --tag v1 --report none
gh_off
if grep -q '^::' <<<"$out" || [ -s "$work/summary.md" ]; then bad report_none_quiet "workflow commands or a summary with --report none"; else ok report_none_quiet; fi

# 6. Bad --report values, with the message a user sees.
run report_bad 64 deploy "$pb" --tag v2 --report xml
has report_bad_message "rollgate: deploy: --report 'xml' is not a report: junit=PATH, github, gitlab or none"
run report_junit_no_path 64 deploy "$pb" --tag v2 --report junit
has report_junit_message "rollgate: deploy: --report junit needs a file: junit=PATH"
run report_none_and_more 64 deploy "$pb" --tag v2 --report none --report github
has report_none_message "--report none cannot go with another report"
run wait_timeout_bad 64 deploy "$pb" --tag v2 --wait-timeout 0s
has wait_timeout_zero "--wait-timeout must be more than 0"
run cancel_alone 64 deploy "$pb" --tag v2 --cancel-on-timeout
has cancel_alone_message "--cancel-on-timeout needs --wait-timeout"
run junit_unwritable 73 deploy "$pb" --tag v2 --report "junit=$work/no/such/dir/r.xml"
has junit_unwritable_message "--report junit: cannot write"

# 7. check --report junit: a gate that fails is a failure with its evidence.
run check_junit 5 check "$pb" health closed --report "junit=$work/check.xml"
valid_junit check_junit_valid "$work/check.xml"
has check_junit_failure '<testcase classname="ci/check" name="closed"' "$work/check.xml"
has check_junit_failure_text '<failure message="gate closed failed' "$work/check.xml"
run check_junit_pass 0 check "$pb" health --report "junit=$work/check.xml"
valid_junit check_junit_pass_valid "$work/check.xml"
has check_junit_pass_counts 'tests="1" failures="0"' "$work/check.xml"

# 8. No secret in any report: a header from ${VAR}, a URL password, a DSN password, a webhook.
export RG_CI_TOKEN=tok-3b9f1c RG_CI_URLPASS=urlpw-77aa RG_CI_DBPASS=dbpw-51cc RG_CI_HOOK=hook-9e0d
playbook "$work/secret.yml" 1s '  api:
    http: "http://ci:${RG_CI_URLPASS}@127.0.0.1:'"$port"'/health"
    headers: {Authorization: "Bearer ${RG_CI_TOKEN}", X-Key: "${RG_CI_TOKEN}"}
  db: {postgres: "postgresql://rollgate:${RG_CI_DBPASS}@127.0.0.1:1/postgres", within: 1s}
notify:
  - {webhook: "http://127.0.0.1:9/hook?token=${RG_CI_HOOK}", on: [rolled_back]}'
sed -i 's/verify: \[running, health\]/verify: [running, api, db]/' "$work/secret.yml"
gh_on
export GITLAB_CI=true
"$bin" deploy "$work/secret.yml" --tag v2 --report "junit=$work/secret.xml" >"$work/secret.out" 2>&1 </dev/null
rc=$?
gh_off
[ "$rc" = 2 ] && ok secret_deploy_failed || { bad secret_deploy_failed "exit $rc"; sed 's/^/    /' "$work/secret.out"; }
valid_junit secret_junit_valid "$work/secret.xml"
has secret_db_failed 'name="db"' "$work/secret.xml"
for s in "$RG_CI_TOKEN" "$RG_CI_URLPASS" "$RG_CI_DBPASS" "$RG_CI_HOOK"; do
    hasnt "no_secret_${s%%-*}" "$s" "$work/secret.out" "$work/secret.xml" "$work/summary.md" "$work/output.txt" \
        "$work"/state/logs/*.log
done
run allow_v2 0 release allow "$work/secret.yml" v2 || true

# 9. GitHub Actions cancels a job: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that.
# 9a. Before the switch (a verify before the first up): aborted, nothing changed.
before=$(serving)
RUNNER_TRACKING_ID=github_test "$bin" deploy "$work/pre.yml" --tag v3 >"$work/pre.out" 2>&1 </dev/null &
p=$!
bg_pids+=("$p")
wait_for "$work/pre.out" "VERIFY" || bad pre_switch_started "no VERIFY in $(cat "$work/pre.out")"
sleep 0.5
kill -INT "$p"
sleep 7.5
kill -TERM "$p" 2>/dev/null
sleep 2.5
kill -KILL "$p" 2>/dev/null && bad pre_switch_ended "still running 10 s after SIGINT"
wait "$p"
rc=$?
[ "$rc" = 3 ] && ok pre_switch_aborted || { bad pre_switch_aborted "exit $rc"; sed 's/^/    /' "$work/pre.out"; }
[ "$(serving)" = "$before" ] && ok pre_switch_unchanged || bad pre_switch_unchanged "serving $(serving), was $before"
[ "$(sql "select outcome from deploys order by id desc limit 1")" = aborted ] && ok pre_switch_ledger || bad pre_switch_ledger "$(sql 'select id, outcome from deploys order by id desc limit 1')"

# 9b. During SETTLE: the job's process hands the deploy to a worker and exits; the worker
#     finishes it; `rollgate wait` follows it to its end.
RUNNER_TRACKING_ID=github_test setsid "$bin" deploy "$work/slow.yml" --tag v3 >"$work/settle.out" 2>&1 </dev/null &
p=$!
bg_pids+=("$p")
wait_for "$work/settle.out" "SETTLE" || bad settle_started "no SETTLE in $(cat "$work/settle.out")"
sleep 1
kill -INT "$p"
t0=$(date +%s%N)
sleep 7.5
kill -TERM "$p" 2>/dev/null
sleep 2.5
kill -KILL "$p" 2>/dev/null && bad settle_job_ended "still running 10 s after SIGINT"
wait "$p"
rc=$?
[ "$rc" = 6 ] && ok settle_handed_over_exit || { bad settle_handed_over_exit "exit $rc"; sed 's/^/    /' "$work/settle.out"; }
id=$(sql "select max(id) from deploys")
has settle_says_worker "SIGINT after the switch: deploy #$id of 'ci' is handed to a worker" "$work/settle.out"
has settle_attach_line "rollgate attach $work/slow.yml $id" "$work/settle.out"
wpid=$(grep -o 'a worker (pid [0-9]*' "$work/settle.out" | head -1 | grep -o '[0-9]*$')
if [ -n "$wpid" ] && [ -r "/proc/$wpid/environ" ]; then
    if tr '\0' '\n' <"/proc/$wpid/environ" | grep -q '^RUNNER_TRACKING_ID='; then
        bad worker_untracked "the worker keeps RUNNER_TRACKING_ID (a GitHub runner would kill it)"
    else ok worker_untracked; fi
    # The job ran in a session of its own (setsid, as a runner's step): the worker is in
    # neither that one nor this test's, so that a signal to either does not reach it.
    wsid=$(ps -o sid= -p "$wpid" | tr -d ' ')
    [ -n "$wsid" ] && [ "$wsid" != "$p" ] && [ "$wsid" != "$(ps -o sid= -p $$ | tr -d ' ')" ] &&
        ok worker_own_session || bad worker_own_session "session $wsid (the job's: $p)"
else
    bad worker_alive "no live worker after the job's process ended ($wpid)"
fi
run settle_wait 0 wait "$work/slow.yml" "$id"
has settle_wait_deployed "deploy #$id of 'ci': deployed (exit 0)"
[ "$(serving)" = v3 ] && ok settle_serving_v3 || bad settle_serving_v3 "serving $(serving)"
[ "$(sql "select count(*) from deploys where outcome = ''")" = 0 ] && ok settle_ledger_closed || bad settle_ledger_closed "$(sql 'select id, outcome from deploys')"
expect_consistent settle_ledger_consistent
took=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "     (handed over, finished by the worker, $took ms after SIGINT)"

# 9c. A closed terminal (SIGHUP) after the switch is a cancel too; a reader that goes away (a
#     pipe into head, an ssh session a cancelled job closed) stops nothing.
"$bin" deploy "$work/slow.yml" --tag v2 >"$work/hup.out" 2>&1 </dev/null &
p=$!
bg_pids+=("$p")
wait_for "$work/hup.out" "SETTLE" || bad hup_started "no SETTLE in $(cat "$work/hup.out")"
kill -HUP "$p"
wait "$p"
rc=$?
[ "$rc" = 6 ] && grep -qF "SIGHUP after the switch" "$work/hup.out" && ok sighup_hands_over ||
    { bad sighup_hands_over "exit $rc"; sed 's/^/    /' "$work/hup.out"; }
id=$(sql "select max(id) from deploys")
run sighup_worker_finishes 0 wait "$work/slow.yml" "$id"
("$bin" deploy "$pb" --tag v3; echo "exit $?" >"$work/pipe.rc") 2>/dev/null | head -1 >/dev/null
for _ in $(seq 100); do [ -s "$work/pipe.rc" ] && break; sleep 0.2; done
[ "$(sql "select outcome from deploys order by id desc limit 1")" = deployed ] && [ "$(serving)" = v3 ] &&
    ok closed_reader_run_finishes || bad closed_reader_run_finishes "$(sql 'select id, tag, outcome from deploys order by id desc limit 1'), serving $(serving), $(cat "$work/pipe.rc")"

# 9d. A job started with SIGHUP ignored (nohup) is not cancelled by a hangup.
(trap '' HUP; exec "$bin" deploy "$pb" --tag v1) >"$work/nohup.out" 2>&1 </dev/null &
p=$!
wait_for "$work/nohup.out" "SETTLE" || bad nohup_started "$(cat "$work/nohup.out")"
kill -HUP "$p"
wait "$p"
rc=$?
[ "$rc" = 0 ] && ok nohup_ignores_hangup || { bad nohup_ignores_hangup "exit $rc"; sed 's/^/    /' "$work/nohup.out"; }

# 9e. A deploy that first finishes a run a crash left in flight still hands its own run over.
ROLLGATE_TEST_KILL_AT=SETTLE "$bin" deploy "$work/mid.yml" --tag v2 >/dev/null 2>&1
[ "$?" = 137 ] && ok crash_left_in_flight || bad crash_left_in_flight "the deploy was not killed"
"$bin" deploy "$work/mid.yml" --tag v3 >"$work/second.out" 2>&1 </dev/null &
p=$!
bg_pids+=("$p")
for _ in $(seq 300); do [ "$(grep -c '^\[.*\] SETTLE' "$work/second.out")" -ge 2 ] && break; sleep 0.1; done
sleep 0.5
kill -INT "$p"
wait "$p"
rc=$?
has second_run_resumed_first "resuming deploy #" "$work/second.out"
[ "$rc" = 6 ] && grep -qF "SIGINT after the switch" "$work/second.out" && ok second_run_handed_over ||
    { bad second_run_handed_over "exit $rc"; sed 's/^/    /' "$work/second.out"; }
id=$(sql "select max(id) from deploys")
run second_run_worker_finishes 0 wait "$work/mid.yml" "$id"
[ "$(serving)" = v3 ] && ok second_run_v3 || bad second_run_v3 "serving $(serving)"

# 10. --wait-timeout while another deploy holds the lock.
qid=$(sql "select max(id) from deploys")
"$bin" deploy "$work/slow.yml" --tag v1 >"$work/holder.out" 2>&1 </dev/null &
holder=$!
bg_pids+=("$holder")
wait_for "$work/holder.out" "SETTLE" || bad holder_started "$(cat "$work/holder.out")"
t0=$(date +%s%N)
run queued_timeout 6 deploy "$pb" --tag v2 --wait 2m --wait-timeout 2s
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 5000 ] && ok "queued_timeout_bounded ($ms ms)" || bad queued_timeout_bounded "took $ms ms"
has queued_says_waiting "--wait-timeout 2s passed waiting for the target (busy: deploy #"
logf=$(grep -o "rollgate attach $pb [^ ]*worker.log" <<<"$out" | awk '{print $4}')
[ -n "$logf" ] && ok queued_attach_line || bad queued_attach_line "$out"
echo "$out" >"$work/queued.out"
run queued_timeout_cancel 4 deploy "$pb" --tag v3 --wait 2m --wait-timeout 1s --cancel-on-timeout
has queued_cancel_message "nothing was started"
wait "$holder"
[ -n "$logf" ] && run queued_worker_wait 0 wait "$pb" "$logf"
[ "$(serving)" = v2 ] && ok queued_worker_deployed || bad queued_worker_deployed "serving $(serving)"
[ "$(sql "select count(*) from deploys where tag = 'v3' and id > $qid")" = 0 ] && ok queued_cancel_started_nothing || bad queued_cancel_started_nothing "$(sql 'select id, tag, outcome from deploys')"

# 11. --wait-timeout while the run goes: without --cancel-on-timeout the worker finishes it;
#     with it, the deploy is called off and the ladder brings back what served.
run running_timeout 6 deploy "$work/slow.yml" --tag v3 --wait-timeout 4s
has running_timeout_worker "--wait-timeout 4s passed: deploy #"
echo "$out" >"$work/running.out"
id=$(sql "select max(id) from deploys")
run running_timeout_wait 0 wait "$work/slow.yml" "$id"
[ "$(serving)" = v3 ] && ok running_timeout_v3 || bad running_timeout_v3 "serving $(serving)"
run cancel_on_timeout 1 deploy "$work/slow.yml" --tag v2 --wait-timeout 4s --cancel-on-timeout \
    --report "junit=$work/cancel.xml"
has cancel_calls_off "calling the deploy off (--cancel-on-timeout)"
[ "$(serving)" = v3 ] && ok cancel_back_to_v3 || bad cancel_back_to_v3 "serving $(serving)"
valid_junit cancel_junit_valid "$work/cancel.xml"
has cancel_junit_outcome '<property name="outcome" value="rolled_back"/>' "$work/cancel.xml"
run cancel_not_quarantined 0 deploy "$pb" --tag v2
expect_consistent ledger_consistent

# 12. The recipes of examples/ci/, their shell run as their CI runs it (tests/integration/
#     ci_examples.py), rollgate on the PATH, the playbook at deploy/web.yml of the workspace.
ws=$work/ws
mkdir -p "$ws/deploy"
cp "$pb" "$ws/deploy/web.yml"
export PATH="$(cd "$(dirname "$bin")" && pwd):$PATH"
recipe() { # NAME WANT KIND FILE TAG [JOB]
    out=$(cd "$ws" && timeout 300 python3 "$src/tests/integration/ci_examples.py" "$3" \
        "$src/examples/ci/$4" "$ws" "$5" ${6:+"$6"} 2>&1 </dev/null)
    rc=$?
    if [ "$rc" = "$2" ]; then ok "$1"; else bad "$1" "exit $rc, want $2"; echo "$out" | sed 's/^/    /'; fi
}
rm -f "$ws/rollgate-junit.xml"
recipe github_recipe_deploys 0 github github-actions.yml v3
has github_recipe_success "job deploy: success"
has github_recipe_says "deploy #"
has github_recipe_serving "deployed; serving v3"
valid_junit github_recipe_junit "$ws/rollgate-junit.xml"
has github_recipe_summary "## rollgate deploy of ci: v3 — deployed (exit 0)" "$ws/step_summary.md"
[ "$(serving)" = v3 ] && ok github_recipe_v3 || bad github_recipe_v3 "serving $(serving)"
recipe github_recipe_rolls_back 1 github github-actions.yml v2-crash
has github_recipe_failure "job deploy: failure"
has github_recipe_always_step "step Say what production runs: exit 0"
has github_recipe_warning "::warning title=rolled back::v2-crash failed its gates; production is back on v3"
has github_recipe_annotation "::error file=deploy/web.yml,line="
has github_recipe_artifact "step actions/upload-artifact@v4: exit 0"
has github_recipe_junit_failure '<failure' "$ws/rollgate-junit.xml"
[ "$(serving)" = v3 ] && ok github_recipe_still_v3 || bad github_recipe_still_v3 "serving $(serving)"
recipe gitlab_recipe_deploys 0 gitlab gitlab-ci.yml v2
has gitlab_recipe_success "job deploy: success (exit 0)"
has gitlab_recipe_sections "section_start:"
valid_junit gitlab_recipe_junit "$ws/rollgate-junit.xml"
recipe gitlab_recipe_allowed 1 gitlab gitlab-ci.yml v2-500
has gitlab_recipe_allowed_failure "job deploy: allowed_failure (exit 1)"
has gitlab_recipe_junit_failure '<failure' "$ws/rollgate-junit.xml"
recipe gitlab_recipe_refused 65 gitlab gitlab-ci.yml v2-crash
has gitlab_recipe_not_allowed "job deploy: failure (exit 65)"
has gitlab_recipe_quarantine "v2-crash is in quarantine"
recipe gitlab_recipe_rules 0 gitlab gitlab-ci.yml main
has gitlab_recipe_not_run "job deploy: not run (rules)"
[ "$(serving)" = v2 ] && ok recipes_end_on_v2 || bad recipes_end_on_v2 "serving $(serving)"
recipe gitlab_ssh_needs_host 0 gitlab gitlab-ci.yml v3 deploy-ssh
has gitlab_ssh_not_run "job deploy-ssh: not run (rules)"

# The ssh job against a throwaway sshd on loopback (this machine is the deploy host).
mkdir -p "$work/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/host" && ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/client"
cp "$work/ssh/client.pub" "$work/ssh/authorized_keys"
chmod 600 "$work/ssh/authorized_keys"
/usr/sbin/sshd -D -e -p "$sshport" -o ListenAddress=127.0.0.1 -h "$work/ssh/host" \
    -o AuthorizedKeysFile="$work/ssh/authorized_keys" -o PasswordAuthentication=no \
    -o PermitRootLogin=prohibit-password -o StrictModes=no -o UsePAM=no \
    -o PidFile="$work/ssh/pid" >"$work/ssh/log" 2>&1 &
sshd_pid=$!
ssh_opts="-o Port=$sshport -i $work/ssh/client -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
for _ in $(seq 50); do
    # shellcheck disable=SC2086 # the options are words
    ssh $ssh_opts "$(id -un)@127.0.0.1" true 2>/dev/null && break
    sleep 0.2
done
export DEPLOY_HOST="$(id -un)@127.0.0.1" SSH_OPTS="$ssh_opts" REMOTE_PLAYBOOK="$ws/deploy/web.yml" \
    ROLLGATE="$(cd "$(dirname "$bin")" && pwd)/rollgate"
rm -f "$ws/rollgate-junit.xml"
recipe gitlab_ssh_deploys 0 gitlab gitlab-ci.yml v3 deploy-ssh
has gitlab_ssh_success "job deploy-ssh: success (exit 0)"
valid_junit gitlab_ssh_junit "$ws/rollgate-junit.xml"
[ "$(serving)" = v3 ] && ok gitlab_ssh_v3 || bad gitlab_ssh_v3 "serving $(serving)"
run allow_v2_500_ssh 0 release allow "$pb" v2-500
recipe gitlab_ssh_allowed 1 gitlab gitlab-ci.yml v2-500 deploy-ssh
has gitlab_ssh_allowed_failure "job deploy-ssh: allowed_failure (exit 1)"
has gitlab_ssh_junit_failure '<failure' "$ws/rollgate-junit.xml"
# A git tag may hold shell: it must never reach the remote shell.
recipe gitlab_ssh_hostile_tag 65 gitlab gitlab-ci.yml 'v1$(touch '"$work"'/pwned)' deploy-ssh
has gitlab_ssh_hostile_refused 'refusing v1$(touch'
[ -e "$work/pwned" ] && bad gitlab_ssh_hostile_not_run "the tag's command ran" || ok gitlab_ssh_hostile_not_run
unset DEPLOY_HOST SSH_OPTS REMOTE_PLAYBOOK ROLLGATE
kill "$sshd_pid" 2>/dev/null
wait "$sshd_pid" 2>/dev/null
sshd_pid=""

echo "integration_ci: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
