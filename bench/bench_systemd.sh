#!/usr/bin/env bash
# The systemd driver against doing it by hand, on a real systemd (a docker container booting the
# host's systemd, as tests/integration/test_systemd_live.sh does) running the gunicorn test app:
#   - a healthy deploy: rollgate (export from git, link switch, restart, unit and HTTP gates)
#     against the raw limit: `ln` + `mv -T` of the link, `systemctl restart`, then curl until the
#     new release answers;
#   - a crash-looping release rolled back: rollgate (the unit watch sees the crash, the rollback
#     rung switches back and gates the previous release) against the raw limit: switch, restart,
#     poll `systemctl show` until the crash shows, switch back, restart, curl until it answers.
# Both poll every 50 ms. Target: the rollback ≤ 3 s and ≤ 2× the raw limit.
# Prints a markdown section; --write FILE replaces the section in FILE (docs/BENCHMARKS.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BUILD_DIR:-$root/build}/rollgate"
reps=5
port=18105
name=rg-sd-bench
write=""
section="## systemd: deploy and crash-loop rollback vs by hand"
reproduce="cmake --build build --target rollgate && bench/bench_systemd.sh --write docs/BENCHMARKS.md"

die() { echo "bench_systemd: $*" >&2; exit 2; }
say() { echo "bench_systemd: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
# shellcheck source=tests/integration/systemd_lib.sh
source "$root/tests/integration/systemd_lib.sh"
bench_options "$@"
[[ -x $bin ]] || die "no rollgate at $bin (build it first)"
bin=$(readlink -f "$bin")
work=$(mktemp -d /tmp/rollgate-bench-sd.XXXXXX)
chmod 0755 "$work"
app=$work/app
results=$work/results
trap 'sd_down "$name" >/dev/null 2>&1; rm -rf "$work"' EXIT

mkdir -p "$app"
sd_up "$name" "$work" "$port" >/dev/null || die "systemd did not boot in the container"
sd_app_root "$app"
: >"$app/data/app.db" && chown 1500:1500 "$app/data/app.db"
sd_unit "$name" rg-app.service "$(sd_app_unit "$app" "$port")" >/dev/null || die "unit not installed"
bash "$root/tests/fixtures/gunicorn-app/make-repo.sh" "$work/app.git" >/dev/null
mapfile -t prefix <"$work/prefix"
prefix_yaml=$(printf '%s, ' "${prefix[@]}")
cat >"$work/pb.yml" <<YAML
version: 1
name: sdbench
state_dir: $work/state
runtime: {driver: systemd, unit: rg-app.service, root: $app, keep: 4,
          command_prefix: [${prefix_yaml%, }]}
release: {git: $work/app.git, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?$'}
defaults: {every: 50ms, within: 15s, timeout: 2s}
gates:
  unit:   {unit: rg-app.service}
  health: {http: "http://$SD_IP:$port/health", expect: [200]}
deploy: [pull, switch, up, {verify: [unit, health]}]
recover: [{rollback: previous}]
YAML

serving() { curl -s --max-time 2 "http://$SD_IP:$port/version"; }
# by_hand_switch TAG: what a person's script does: the link, atomically, then a restart.
by_hand_switch() {
    ln -sfn "releases/$1" "$app/current.new" && mv -T "$app/current.new" "$app/current"
    "${prefix[@]}" systemctl restart rg-app.service
}
wait_answer() { # wait_answer TAG
    local i
    for i in $(seq 600); do [[ $(serving) == "$1" ]] && return 0; sleep 0.05; done
    die "release $1 never answered"
}
wait_crash() {
    local i s
    for i in $(seq 600); do
        s=$("${prefix[@]}" systemctl show -p SubState,ActiveState --value rg-app.service | tr '\n' ' ')
        case $s in *auto-restart* | *failed*) return 0 ;; esac
        sleep 0.05
    done
    die "the crash never showed"
}

# Releases present for both (the export is measured once, apart).
t0=$(now_ms)
"$bin" deploy "$work/pb.yml" --tag v1 >/dev/null 2>&1 || die "first deploy of v1 failed"
record first_ms "$(since "$t0")"
"$bin" deploy "$work/pb.yml" --tag v2 >/dev/null 2>&1 || die "deploy of v2 failed"
"$bin" deploy "$work/pb.yml" --tag v2-crash >/dev/null 2>&1 && die "v2-crash was not refused"
for rep in $(seq "$reps"); do
    # Healthy: v1 then v2 again.
    t0=$(now_ms)
    "$bin" deploy "$work/pb.yml" --tag v1 >"$work/out" 2>&1 || { cat "$work/out" >&2; die "deploy v1 failed"; }
    record deploy_ms "$(since "$t0")"
    [[ $(serving) == v1 ]] || die "v1 does not answer after its deploy"
    t0=$(now_ms)
    by_hand_switch v2 && wait_answer v2
    record raw_deploy_ms "$(since "$t0")"
    "$bin" deploy "$work/pb.yml" --tag v2 >/dev/null 2>&1 || die "redeploy v2 failed"
    # A crash loop, rolled back to v2.
    "$bin" release allow "$work/pb.yml" v2-crash >/dev/null 2>&1 || true
    t0=$(now_ms)
    set +e
    "$bin" deploy "$work/pb.yml" --tag v2-crash >"$work/out" 2>&1
    rc=$?
    set -e
    record rollback_ms "$(since "$t0")"
    [[ $rc == 1 && $(serving) == v2 ]] || { cat "$work/out" >&2; die "v2-crash was not rolled back (exit $rc)"; }
    t0=$(now_ms)
    by_hand_switch v2-crash && wait_crash && by_hand_switch v2 && wait_answer v2
    record raw_rollback_ms "$(since "$t0")"
    say "rep $rep: deploy $(awk '$1 == "deploy_ms" { v = $2 } END { print v }' "$results") ms (by hand $(awk '$1 == "raw_deploy_ms" { v = $2 } END { print v }' "$results")), crash loop rolled back $(awk '$1 == "rollback_ms" { v = $2 } END { print v }' "$results") ms (by hand $(awk '$1 == "raw_rollback_ms" { v = $2 } END { print v }' "$results"))"
done

rb=$(med rollback_ms)
rr=$(ratio rollback_ms raw_rollback_ms)
res_abs=$(awk -v v="$rb" 'BEGIN { print (v <= 3000) ? "met" : "MISSED" }')
res_ratio=$(awk -v v="$rr" 'BEGIN { print (v <= 2) ? "met" : "MISSED" }')
cat >"$work/section.md" <<MD
$section

What: the gunicorn test app (tests/fixtures/gunicorn-app, Debian's gunicorn 20.1 with 2 workers, Flask, SQLite) as a unit with \`Restart=always\`, \`RestartSec=1\`, on a real systemd ($("${prefix[@]}" systemctl --version | head -n 1)) booted in a docker container and reached through an nsenter command prefix, $reps times each. **Deploy**: \`rollgate deploy\` of a release already exported (link switch, \`systemctl restart\`, unit and HTTP gates polled every 50 ms) against the same by hand (\`ln -sfn\` + \`mv -T\`, \`systemctl restart\`, curl every 50 ms until the new release answers: the raw limit). **Crash-loop rollback**: \`rollgate deploy\` of v2-crash (fails at import, gunicorn "Worker failed to boot") until it has exited 1 with v2 answering, against by hand: switch, restart, poll \`systemctl show\` every 50 ms until the unit is in auto-restart or failed, switch back, restart, curl until v2 answers. The first deploy (export of the tag from git through libgit2, then the same) took $(med first_ms) ms.

Run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online; $("$bin" --version 2>/dev/null | head -n 1). Reproduce: \`$reproduce\`.

| | rollgate median | range | by hand median | range | ratio |
|---|---:|---:|---:|---:|---:|
| healthy deploy | $(med deploy_ms) ms | $(range deploy_ms) ms | $(med raw_deploy_ms) ms | $(range raw_deploy_ms) ms | $(ratio deploy_ms raw_deploy_ms) |
| crash loop rolled back | $rb ms | $(range rollback_ms) ms | $(med raw_rollback_ms) ms | $(range raw_rollback_ms) ms | $rr |

| target | value | result |
|---|---:|---|
| crash loop detected and rolled back ≤ 3000 ms | $rb ms | $res_abs |
| the same ≤ 2× by hand | $rr | $res_ratio |
MD
cat "$work/section.md"
if [[ -n $write ]]; then
    write_section "$section" "$work/section.md" "$write"
fi
[[ $res_abs == met && $res_ratio == met ]] || exit 1
exit 0
