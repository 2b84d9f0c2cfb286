#!/usr/bin/env bash
# End-to-end tests of deploy, rollback, resume, status and history on the real local stack:
# the built binary against real containers, asserting exit codes, what the service answers and
# the ledger's rows. Fails (never skips) when the stack is not there.
set -u
bin=$1
port=18095
project="rgit-deploy-$$"
work=$(mktemp -d /tmp/rollgate-deploy-test.XXXXXX)

if ! command -v sqlite3 >/dev/null; then
    echo "FAIL setup: sqlite3 is not installed (scripts/setup.sh installs it)"; exit 1
fi
if [ -z "${ROLLGATE_PG_PORT:-}" ] || ! curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null; then
    echo "FAIL setup: the local stack is not running: run through scripts/test.sh or after eval \"\$(scripts/stack.sh up)\""
    exit 1
fi

cleanup() {
    (cd "$work/stack" 2>/dev/null && docker-compose -p "$project" down -t 1 >/dev/null 2>&1)
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/stack"
cat >"$work/stack/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: 127.0.0.1:5000/rollgate/demo-app:\${DEMO_APP_TAG}
    ports: ["127.0.0.1:$port:8080"]
    restart: unless-stopped
    mem_limit: 64m
    stop_grace_period: 1s
YAML

# playbook FILE SETTLE RECOVER-YAML: a playbook of this project.
playbook() {
    cat >"$1" <<YAML
version: 1
name: deploytest
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: 127.0.0.1:5000/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
defaults: {every: 200ms, within: 8s, timeout: 1s}
gates:
  running: {container: app}
  health: {http: "http://127.0.0.1:$port/health"}
  version: {http: "http://127.0.0.1:$port/version", body: '^v'}
deploy:
  - pull
  - up
  - verify: [running, health, version]
  - settle: {for: $2, watch: [app], gates: [health]}
recover:
$3
YAML
}
# A webhook receiver standing in for Slack: it records each POST body.
hook_port=18096
python3 - "$hook_port" "$work/hook.log" <<'PY' &
import http.server, sys
port, log = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(log, "ab") as f:
            f.write(self.path.encode() + b" " + body + b"\n")
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
hook_pid=$!
trap 'kill $hook_pid 2>/dev/null; cleanup' EXIT
export RG_TEST_HOOK="http://127.0.0.1:$hook_port/services/T000/B000/secret-token"

playbook "$work/pb.yml" 2s "  - rollback: previous
notify:
  - {webhook: '\${RG_TEST_HOOK}', on: [rolled_back, unrecovered], timeout: 2s, retries: 1}"
playbook "$work/slow-settle.yml" 6s "  - rollback: previous"
playbook "$work/repair.yml" 2s "  - repair: {exec: {service: app, run: [/app, --repair]}, restart: [app]}
  - rollback: previous"


run_timeout=120
source "$(dirname "$0")/lib.sh"

serving() { curl -s --max-time 2 "127.0.0.1:$port/version"; }
sql() { sqlite3 "$work/state/deploytest.db" "$1"; }

# expect_serving NAME TAG: the service answers from TAG.
expect_serving() {
    local got
    got=$(serving)
    if [ "$got" = "$2" ]; then ok "$1"
    else bad "$1" "serving '$got', want '$2'; the run said:"; echo "${out:-}" | sed 's/^/    /'; fi
}

# 1. A healthy deploy, twice (the second has a previous release).
run deploy_v1 0 deploy "$work/pb.yml" --tag v1 && expect_serving deploy_v1_serves v1
run deploy_v2 0 deploy "$work/pb.yml" --tag v2 && expect_serving deploy_v2_serves v2
[ "$(sql "select outcome from deploys order by id desc limit 1")" = deployed ] && ok ledger_deployed || bad ledger_deployed "last outcome not deployed"
[ "$(sql "select count(*) from releases where tag in ('v1', 'v2') and digest like '127.0.0.1:5000/rollgate/demo-app@sha256:%'")" = 2 ] && ok ledger_digests || bad ledger_digests "known-good releases lack digests"

# 2. A crash-looping release is rolled back by itself.
run crash_rolled_back 1 deploy "$work/pb.yml" --tag v2-crash && expect_serving crash_serves_previous v2
grep -q "exited with code 1" <<<"$out" && ok crash_evidence || bad crash_evidence "no exit code in the output"
[ "$(sql "select outcome from deploys order by id desc limit 1")" = rolled_back ] && ok ledger_rolled_back || bad ledger_rolled_back "outcome not rolled_back"

# Notifications: the webhook got the outcome; the output never shows its secret path.
sleep 0.5
if grep -q '"outcome":"rolled_back"' "$work/hook.log" 2>/dev/null &&
   grep -q "/services/T000/B000/secret-token" "$work/hook.log"; then ok notified
else bad notified "the webhook did not receive the rolled_back outcome"; fi
grep -q "notified http://127.0.0.1:$hook_port/\*\*\*" <<<"$out" && ok notify_redacted || bad notify_redacted "$out"
grep -q "secret-token" <<<"$out" && bad notify_secret_shown "the webhook's path was printed" || ok notify_secret_hidden

# 3. A release answering 500 is rolled back, with the body as evidence.
run http500_rolled_back 1 deploy "$work/pb.yml" --tag v2-500 && expect_serving http500_serves_previous v2
grep -q "database unavailable" <<<"$out" && ok http500_evidence || bad http500_evidence "no body excerpt in the output"

# 4. A release that dies after a few seconds passes verify and is caught by settle.
run die_caught_in_settle 1 deploy "$work/slow-settle.yml" --tag v2-die && expect_serving die_serves_previous v2
grep -q "SETTLE     FAILED" <<<"$out" && ok die_failed_settle || bad die_failed_settle "settle did not fail"

# 5. A missing tag aborts with nothing changed.
run missing_tag_aborted 3 deploy "$work/pb.yml" --tag v9-nope && expect_serving missing_tag_untouched v2
grep -q "DEMO_APP_TAG=v2$" "$work/stack/.env" && ok missing_tag_env_untouched || bad missing_tag_env_untouched "the env file changed"
[ "$(sql "select outcome from deploys order by id desc limit 1")" = aborted ] && ok ledger_aborted || bad ledger_aborted "outcome not aborted"

# 6. A bad tag is refused before anything is recorded.
before=$(sql "select count(*) from deploys")
run bad_tag_refused 65 deploy "$work/pb.yml" --tag 'v1;reboot'
[ "$(sql "select count(*) from deploys")" = "$before" ] && ok bad_tag_not_recorded || bad bad_tag_not_recorded "a deploy row was written"

# 7. Two deploys at once: one is refused with exit 4 naming the holder, one waits.
"$bin" deploy "$work/slow-settle.yml" --tag v3 >"$work/first.log" 2>&1 &
first=$!
for _ in $(seq 50); do grep -q SETTLE "$work/first.log" 2>/dev/null && break; sleep 0.2; done
run concurrent_refused 4 deploy "$work/pb.yml" --tag v1
grep -q "busy: deploy #[0-9]* of 'deploytest' by" <<<"$out" && ok concurrent_busy_message || bad concurrent_busy_message "$out"
run concurrent_waits 0 deploy "$work/pb.yml" --tag v1 --wait 60s && expect_serving concurrent_waited v1
wait "$first"; [ $? = 0 ] && ok concurrent_first_done || bad concurrent_first_done "the first deploy failed"

# 8. The repair rung fixes a release in place (v2-500 failed its gates in 3: in quarantine until
#    allowed).
run http500_quarantined 65 deploy "$work/repair.yml" --tag v2-500
grep -q "release v2-500 is in quarantine: it failed its gates in deploy #" <<<"$out" && ok quarantine_message || bad quarantine_message "$out"
run allow_v2_500 0 release allow "$work/pb.yml" v2-500
run repaired 1 deploy "$work/repair.yml" --tag v2-500 && expect_serving repaired_serves v2-500
[ "$(sql "select outcome from deploys order by id desc limit 1")" = repaired ] && ok ledger_repaired || bad ledger_repaired "outcome not repaired"

# 9. Manual rollback, status and history.
run manual_rollback 0 rollback "$work/pb.yml" --to v1 && expect_serving manual_rollback_serves v1
run rollback_unknown 65 rollback "$work/pb.yml" --to v7
grep -q "never served on 'deploytest'" <<<"$out" && ok rollback_unknown_message || bad rollback_unknown_message "$out"
run status 0 status "$work/pb.yml"
grep -q "release  v1 (known-good)" <<<"$out" && ok status_release || bad status_release "$out"
run history 0 history "$work/pb.yml" -n 3
grep -q "rollback" <<<"$out" && ok history_lists || bad history_lists "$out"

# 10. SIGKILL at every transition, then resume: the target ends healthy, the ledger consistent.
tag_n=0
for at in PREFLIGHT PULL SWITCH UP VERIFY SETTLE COMMIT; do
    tag_n=$((tag_n + 1))
    want="v$((tag_n + 10))"
    ROLLGATE_TEST_KILL_AT=$at "$bin" deploy "$work/pb.yml" --tag v3 >/dev/null 2>&1
    killed=$?
    [ "$killed" = 137 ] || bad "kill_at_$at" "rollgate was not killed (exit $killed)"
    run "resume_after_$at" 0 resume "$work/pb.yml" && expect_serving "healthy_after_$at" v3
    expect_consistent "ledger_after_$at"
    run "redeploy_after_$at" 0 deploy "$work/pb.yml" --tag v1 >/dev/null
done
for at in RECOVER:1 SWITCH:1 UP:1 VERIFY:1 SETTLE:1 COMMIT:1; do
    "$bin" release allow "$work/pb.yml" v2-crash >/dev/null 2>&1 # in quarantine since 2
    ROLLGATE_TEST_KILL_AT=$at "$bin" deploy "$work/pb.yml" --tag v2-crash >/dev/null 2>&1
    killed=$?
    [ "$killed" = 137 ] || bad "kill_at_$at" "rollgate was not killed (exit $killed)"
    run "resume_after_$at" 1 resume "$work/pb.yml" && expect_serving "healthy_after_$at" v1
    expect_consistent "ledger_after_$at"
done
# 11. SIGINT during settle (a person's ^C, a CI's cancel) stops this process between steps and
#     hands the deploy, in flight, to a detached worker whose resume finishes it.
"$bin" deploy "$work/slow-settle.yml" --tag v3 >"$work/int.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q SETTLE "$work/int.log" 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" = 6 ] && grep -q "is handed to a worker (pid [0-9]*) that finishes it" "$work/int.log"; then ok sigint_hands_over
else bad sigint_hands_over "exit $rc"; sed 's/^/    /' "$work/int.log"; fi
id=$(sql "select max(id) from deploys")
run wait_for_worker 0 wait "$work/pb.yml" "$id" && expect_serving worker_finished_v3 v3
expect_consistent ledger_after_sigint

run resume_nothing 0 resume "$work/pb.yml"
grep -q "nothing to resume" <<<"$out" && ok resume_nothing_message || bad resume_nothing_message "$out"

echo "deploy: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
