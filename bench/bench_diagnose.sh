#!/usr/bin/env bash
# The whole `rollgate diagnose` command with 1 GB of nginx logs present (768 MB access log, 256
# MB error log: a day's worth of old lines, then 15 minutes of fresh ones with refused
# connections and 502s), against the raw limit of reading the window's bytes (`tail -c` of the
# same files, measured in the same run). It reads only what it needs: from the end, back to the
# window. Targets: ≤ 2 s and ≤ 20 MB of memory (max RSS, GNU time).
# Prints a markdown section; --write FILE replaces the section in FILE (docs/BENCHMARKS.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BUILD_DIR:-$root/build}/rollgate"
reps=5
write=""
section="## diagnose with 1 GB of nginx logs"
reproduce="cmake --build build --target rollgate && bench/bench_diagnose.sh --write docs/BENCHMARKS.md"

die() { echo "bench_diagnose: $*" >&2; exit 2; }
say() { echo "bench_diagnose: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_options "$@"
[[ -x $bin ]] || die "no rollgate at $bin (build it first)"
bin=$(readlink -f "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-bench-dx.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results

# Old lines (a day ago) fill the files; the last 15 minutes are fresh.
old=$(date -d '-1 day' '+%Y/%m/%d %H:%M:%S')
old_acc=$(date -d '-1 day' '+%d/%b/%Y:%H:%M:%S %z')
# (yes ends on SIGPIPE when head has its bytes: not a failure.)
{ yes "$old [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1, server: erp, request: \"GET /web HTTP/1.1\", upstream: \"http://127.0.0.1:8069/web\", host: \"erp\"" || true; } |
    head -c $((256 << 20)) >"$work/error.log"
{ yes "10.0.0.1 - - [$old_acc] \"GET /web/assets/x.js HTTP/1.1\" 200 51234 \"-\" \"Mozilla/5.0\" rt=0.012 uct=0.000 uht=0.011 urt=0.012 ua=127.0.0.1:8069 us=200" || true; } |
    head -c $((768 << 20)) >"$work/access.log"
# Fresh lines: 15 minutes, 50 error lines and 200 requests a second.
now=$(date +%s)
awk -v now="$now" 'BEGIN {
    for (t = now - 900; t < now; t++) {
        ts = strftime("%Y/%m/%d %H:%M:%S", t)
        for (i = 0; i < 50; i++)
            printf "%s [error] 7#7: *%d connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1, server: erp, request: \"GET /web HTTP/1.1\", upstream: \"http://127.0.0.1:8069/web\", host: \"erp\"\n", ts, t * 100 + i
    } }' >>"$work/error.log"
awk -v now="$now" 'BEGIN {
    for (t = now - 900; t < now; t++) {
        ts = strftime("%d/%b/%Y:%H:%M:%S %z", t)
        for (i = 0; i < 200; i++)
            printf "10.0.0.1 - - [%s] \"GET /web HTTP/1.1\" %d 157 \"-\" \"Mozilla/5.0\" rt=0.004 uct=- uht=- urt=0.001 ua=127.0.0.1:8069 us=%d\n", ts, i % 10 ? 200 : 502, i % 10 ? 200 : 502
    } }' >>"$work/access.log"
total=$(($(stat -c %s "$work/error.log") + $(stat -c %s "$work/access.log")))
window=$(($(stat -c %s "$work/error.log") - (256 << 20) + $(stat -c %s "$work/access.log") - (768 << 20)))

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
pid $work/nginx/nginx.pid;
error_log $work/error.log;
events {}
http {
    access_log $work/access.log;
    upstream odoo { server 127.0.0.1:8069; }
    server { listen 127.0.0.1:18199; location / { proxy_pass http://odoo; } }
}
CONF
cat >"$work/pb.yml" <<YAML
version: 1
name: dxbench
state_dir: $work/state
runtime: {driver: compose, project_dir: $work, project_name: rgdxbench, env_file: .env,
          tag_var: T, services: [odoo]}
release: {image: example/odoo, tag_pattern: '^v[0-9]+\$'}
gates: {health: {http: "http://127.0.0.1:18199/web/health"}}
deploy: [pull, up, {verify: [health]}]
diagnose:
  nginx_config: [nginx, -T, -c, $work/nginx/nginx.conf]
  error_log: $work/error.log
  access_log: $work/access.log
  disks: [$work]
YAML

for rep in $(seq "$reps"); do
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" diagnose --since 15m --json "$work/pb.yml" >"$work/out" 2>&1 || true
    grep -q '"upstream-refused"' "$work/out" || { cat "$work/out" >&2; die "diagnose did not name the refused upstream"; }
    # GNU time writes "Command exited with non-zero status 7" first: diagnose exits 7 here.
    read -r secs kb < <(tail -n 1 "$work/time")
    echo "dx_ms $(awk -v s="$secs" 'BEGIN { printf "%.0f", s * 1000 }')" >>"$results"
    echo "dx_kb $kb" >>"$results"
    t0=$EPOCHREALTIME
    tail -c $((window / 4)) "$work/error.log" >/dev/null
    tail -c $((window * 3 / 4)) "$work/access.log" >/dev/null
    t1=$EPOCHREALTIME
    echo "raw_ms $(awk -v a="${t0/./}" -v b="${t1/./}" 'BEGIN { printf "%.1f", (b - a) / 1000 }')" >>"$results"
    say "rep $rep: diagnose $(awk '$1 == "dx_ms" { v = $2 } END { print v }' "$results") ms, $(awk '$1 == "dx_kb" { v = $2 } END { print v }' "$results") KB"
done
med() {
    awk -v k="$1" '$1 == k { print $2 }' "$results" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ms=$(med dx_ms)
kb=$(med dx_kb)
res_t=$(awk -v v="$ms" 'BEGIN { print (v <= 2000) ? "met" : "MISSED" }')
res_m=$(awk -v v="$kb" 'BEGIN { print (v <= 20480) ? "met" : "MISSED" }')
cat >"$work/section.md" <<MD
$section

What: \`rollgate diagnose --since 15m --json\` of a compose target (no containers) whose nginx has $((total >> 20)) MB of logs present — 256 MB error log and 768 MB access log of day-old lines, then the last 15 minutes ($((window >> 20)) MB: 50 refused connections and 200 requests, 10 % of them 502, a second) — $reps times. Wall time and max RSS by GNU time (the whole process: playbook, driver, nginx -T, both logs, disks). The raw limit: \`tail -c\` of the window's bytes of both files, in the same run.

Run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online; $("$bin" --version 2>/dev/null | head -n 1). Reproduce: \`$reproduce\`.

| | median |
|---|---:|
| rollgate diagnose, wall | $ms ms |
| rollgate diagnose, max RSS | $kb KB |
| tail -c of the window (raw limit) | $(med raw_ms) ms |

| target | value | result |
|---|---:|---|
| ≤ 2000 ms with 1 GB of logs | $ms ms | $res_t |
| ≤ 20 MB of memory | $((kb / 1024)) MB | $res_m |
| diagnose / raw limit (informational) | $(awk -v a="$ms" -v b="$(med raw_ms)" 'BEGIN { printf "%.1f", a / b }') | — |
MD
cat "$work/section.md"
if [[ -n $write ]]; then
    write_section "$section" "$work/section.md" "$write"
fi
[[ $res_t == met && $res_m == met ]] || exit 1
exit 0
