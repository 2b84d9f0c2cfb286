#!/usr/bin/env bash
# rollgate as a CI job's step, on the local compose stack (the demo app, as the integration tests
# run it):
#   - the cost of the CI reports: a deploy with JUnit, GitHub (groups, annotations, step summary
#     and outputs) and GitLab reports against the same deploy with none (--report none), as a
#     ratio of medians. Target ≤ 1.05.
#   - a cancel during SETTLE: SIGINT to the job's exit (the hand-over), against the 7.5 s GitHub
#     Actions leaves before its SIGTERM (the limit that matters); and SIGINT to the worker holding
#     the target. Target: the job gone within 1 s, ≤ 0.15 of the 7.5 s.
# Prints a markdown section; --write FILE replaces the section in FILE (docs/BENCHMARKS.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BUILD_DIR:-$root/build}/rollgate"
reps=7
port=18122
project="rgbench-ci-$$"
reg=${ROLLGATE_REGISTRY:-127.0.0.1:5000}
write=""
section="## CI reports and a cancelled job's hand-over"
reproduce="cmake --build build --target rollgate && bench/bench_ci.sh --write docs/BENCHMARKS.md"

die() { echo "bench_ci: $*" >&2; exit 2; }
say() { echo "bench_ci: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
# shellcheck source=tests/integration/lib.sh
source "$root/tests/integration/lib.sh" # demo_compose, dcompose
bench_options "$@"
[[ -x $bin ]] || die "no rollgate at $bin (build it first)"
curl -sf "http://$reg/v2/" >/dev/null || die "no registry at $reg: run after eval \"\$(scripts/stack.sh up)\""
bin=$(readlink -f "$bin")
work=$(mktemp -d /tmp/rollgate-bench-ci.XXXXXX)
results=$work/results
cleanup() {
    # A worker still finishing a run is waited for: nothing of this benchmark outlives it.
    "$bin" wait --timeout 60s "$work/slow.yml" "$(sqlite3 "$work/state/bench.db" 'select max(id) from deploys' 2>/dev/null || echo 1)" >/dev/null 2>&1 || true
    (cd "$work/stack" 2>/dev/null && dcompose -p "$project" down -t 1 >/dev/null 2>&1) || true
    rm -rf "$work"
}
trap cleanup EXIT

demo_compose "$work/stack" "$reg" "$port"
playbook() { # FILE SETTLE
    cat >"$1" <<YAML
version: 1
name: bench
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: $reg/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9-]+)?\$'}
defaults: {every: 50ms, within: 10s, timeout: 1s}
gates:
  running: {container: app}
  health: {http: "http://127.0.0.1:$port/health"}
deploy:
  - pull
  - up
  - verify: [running, health]
  - settle: {for: $2, watch: [app], gates: [health]}
recover:
  - rollback: previous
YAML
}
playbook "$work/pb.yml" 1s
playbook "$work/slow.yml" 10s
sql() { sqlite3 "$work/state/bench.db" "$1"; }
gh_env() {
    : >"$work/summary.md"
    : >"$work/output.txt"
    echo GITHUB_ACTIONS=true GITLAB_CI=true "GITHUB_STEP_SUMMARY=$work/summary.md" \
        "GITHUB_OUTPUT=$work/output.txt" "GITHUB_WORKSPACE=$work"
}

"$bin" deploy "$work/pb.yml" --tag v1 >/dev/null 2>&1 || die "the first deploy failed"
"$bin" deploy "$work/pb.yml" --tag v2 >/dev/null 2>&1 || die "the deploy of v2 failed"
tags=(v1 v2)
for rep in $(seq "$reps"); do
    # v2 serves: the plain deploy moves to v1, the one with reports back to v2; both change
    # the release.
    tag=v1
    t0=$(now_ms)
    env GITHUB_ACTIONS= GITLAB_CI= "$bin" deploy "$work/pb.yml" --tag "$tag" --report none >"$work/out" 2>&1 ||
        { cat "$work/out" >&2; die "deploy $tag failed"; }
    record plain_ms "$(since "$t0")"
    tag=v2
    t0=$(now_ms)
    # shellcheck disable=SC2046 # gh_env's words are the variables
    env $(gh_env) "$bin" deploy "$work/pb.yml" --tag "$tag" --report "junit=$work/junit.xml" >"$work/out" 2>&1 ||
        { cat "$work/out" >&2; die "deploy $tag with reports failed"; }
    record reports_ms "$(since "$t0")"
    grep -q '^::group::VERIFY' "$work/out" && [[ -s $work/junit.xml && -s $work/summary.md ]] ||
        die "the reports were not written"
    say "rep $rep: deploy $(awk '$1 == "plain_ms" { v = $2 } END { print v }' "$results") ms, with every report $(awk '$1 == "reports_ms" { v = $2 } END { print v }' "$results") ms"
done

for rep in $(seq "$reps"); do
    tag=${tags[$((rep % 2))]}
    "$bin" deploy "$work/slow.yml" --tag "$tag" >"$work/job.out" 2>&1 </dev/null &
    job=$!
    for _ in $(seq 400); do grep -q '^\[.*\] SETTLE' "$work/job.out" && break; sleep 0.025; done
    sleep 0.5
    id=$(sql "select max(id) from deploys")
    t0=$(now_ms)
    kill -INT "$job"
    wait "$job" && die "the job exited 0 after SIGINT" || rc=$?
    record exit_ms "$(since "$t0")"
    [[ $rc == 6 ]] || { cat "$work/job.out" >&2; die "the job exited $rc, not 6"; }
    # The worker has the target once its resume names its own log in the ledger.
    for _ in $(seq 400); do
        [[ $(sql "select log from deploys where id = $id") == *worker.log ]] && break
        sleep 0.01
    done
    record worker_ms "$(since "$t0")"
    "$bin" wait "$work/slow.yml" "$id" >"$work/wait.out" 2>&1 || { cat "$work/wait.out" >&2; die "the worker's run did not deploy"; }
    say "rep $rep: SIGINT to the job's exit $(awk '$1 == "exit_ms" { v = $2 } END { print v }' "$results") ms, to the worker's resume $(awk '$1 == "worker_ms" { v = $2 } END { print v }' "$results") ms"
done

overhead=$(ratio reports_ms plain_ms)
exit_med=$(med exit_ms)
budget=$(awk -v v="$exit_med" 'BEGIN { printf "%.3f", v / 7500 }')
res_overhead=$(awk -v v="$overhead" 'BEGIN { print (v <= 1.05) ? "met" : "MISSED" }')
res_exit=$(awk -v v="$exit_med" -v b="$budget" 'BEGIN { print (v <= 1000 && b <= 0.15) ? "met" : "MISSED" }')
cat >"$work/section.md" <<MD
$section

What: the demo app (\`$reg/rollgate/demo-app\`, compose v$(dcompose version --short 2>/dev/null || echo '?')) deployed $reps times per variant, alternating v1 and v2, gates polled every 50 ms, a 1 s settle. **Reports**: \`rollgate deploy\` with \`--report junit=FILE\` and the GitHub and GitLab reports (\`GITHUB_ACTIONS=true\`, \`GITLAB_CI=true\`: groups, sections, annotations, the step summary and outputs appended to files) against the same deploy with \`--report none\`. **Cancel**: a deploy with a 10 s settle gets SIGINT 0.5 s into SETTLE, as GitHub Actions cancels a job; measured are the time to the job's exit (exit 6, the run handed to a worker) against the 7.5 s GitHub leaves before it sends SIGTERM, and the time until the worker's \`resume\` holds the target (its log recorded in the ledger); each worker's run is waited for (\`rollgate wait\`) and deployed.

Run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online; $("$bin" --version 2>/dev/null | head -n 1). Reproduce: \`$reproduce\`.

| | median | range | against | ratio |
|---|---:|---:|---|---:|
| deploy with every CI report | $(med reports_ms) ms | $(range reports_ms) ms | $(med plain_ms) ms without ($(range plain_ms) ms) | $overhead |
| SIGINT in SETTLE → the job's exit | $exit_med ms | $(range exit_ms) ms | 7500 ms to GitHub's SIGTERM | $budget |
| SIGINT in SETTLE → the worker holds the target | $(med worker_ms) ms | $(range worker_ms) ms | | |

| target | value | result |
|---|---:|---|
| reports cost ≤ 1.05× a deploy without | $overhead | $res_overhead |
| the job gone ≤ 1000 ms after SIGINT, ≤ 0.15 of the 7.5 s | $exit_med ms | $res_exit |
MD
cat "$work/section.md"
if [[ -n $write ]]; then
    write_section "$section" "$work/section.md" "$write"
fi
[[ $res_overhead == met && $res_exit == met ]] || exit 1
exit 0
