#!/usr/bin/env bash
# The git hook's pre-receive on a push of 50 commits: how long the push takes with rollgate's
# pre-receive installed against the same push into a repository without hooks (the raw limit:
# what git itself costs), and the hook's own time, measured by a wrapper around it. Target:
# the hook ≤ 1 s (a forge's budget for all pre-receive hooks can be 5 s).
# Prints a markdown section; --write FILE replaces the section in FILE (docs/BENCHMARKS.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BUILD_DIR:-$root/build}/rollgate"
reps=10
commits=50
target_ms=1000
write=""
section="## git push: pre-receive of a 50-commit push"
reproduce="cmake --build build --target rollgate && bench/bench_hook.sh --write docs/BENCHMARKS.md"

die() { echo "bench_hook: $*" >&2; exit 2; }
say() { echo "bench_hook: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_options "$@"
[[ -x $bin ]] || die "no rollgate at $bin (build it first)"
bin=$(readlink -f "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-bench-hook.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@example.com

# The app: 50 commits, each changing a source file, the playbook in deploy/web.yml, tag v1.
git init -q "$work/app"
mkdir -p "$work/app/deploy" "$work/app/src"
cp "$root/playbooks/demo.yml" "$work/app/deploy/web.yml" 2>/dev/null ||
    cp "$(ls "$root"/playbooks/*.yml | head -n 1)" "$work/app/deploy/web.yml"
for i in $(seq "$commits"); do
    head -c 20000 /dev/urandom | base64 >"$work/app/src/file$((i % 10)).txt"
    git -C "$work/app" add -A && git -C "$work/app" commit -qm "change $i"
done
git -C "$work/app" tag v1.0.0
"$bin" validate --no-env "$work/app/deploy/web.yml" >/dev/null 2>&1 ||
    die "the playbook used ($(basename "$(readlink -f "$work/app/deploy/web.yml")")) does not validate"
tag_re=$(awk -F"'" '/tag_pattern/ { print $2; exit }' "$work/app/deploy/web.yml")


# push REPO: one push of the tag (and its 50 commits) into a new bare repository.
push_ms() {
    local t0 t1
    t0=$(now_ms)
    git -C "$work/app" push "$1" v1.0.0 >"$work/push.log" 2>&1 || { cat "$work/push.log" >&2; die "push into $1 failed"; }
    t1=$(now_ms)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
for rep in $(seq "$reps"); do
    rm -rf "$work/plain.git" "$work/hooked.git"
    git init -q --bare "$work/plain.git"
    "$bin" hook install --target web --playbook deploy/web.yml --ref 'refs/tags/v*' "$work/hooked.git" >/dev/null
    # pre-receive alone (no deploy), its own time written by a wrapper around the shim.
    rm -f "$work/hooked.git/hooks/post-receive"
    mv "$work/hooked.git/hooks/pre-receive" "$work/hooked.git/hooks/pre-receive.rollgate"
    cat >"$work/hooked.git/hooks/pre-receive" <<SH
#!/bin/bash
t0=\$EPOCHREALTIME
"$work/hooked.git/hooks/pre-receive.rollgate"
rc=\$?
t1=\$EPOCHREALTIME
echo "\${t0/./} \${t1/./}" >>"$work/hook-times"
exit \$rc
SH
    chmod +x "$work/hooked.git/hooks/pre-receive"
    record plain_ms "$(push_ms "$work/plain.git")"
    record hooked_ms "$(push_ms "$work/hooked.git")"
    grep -q "v1.0.0" <(git -C "$work/hooked.git" tag) || die "the hooked push did not land (pre-receive refused it)"
    grep -q "deploy/web.yml valid" "$work/push.log" || { cat "$work/push.log" >&2; die "the hook did not check the playbook"; }
    read -r a b < <(tail -n 1 "$work/hook-times")
    record hook_ms "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
    say "rep $rep: push $(awk '$1 == "plain_ms" { v = $2 } END { print v }' "$results") ms, with the hook $(awk '$1 == "hooked_ms" { v = $2 } END { print v }' "$results") ms, the hook $(awk '$1 == "hook_ms" { v = $2 } END { print v }' "$results") ms"
done

hook=$(med hook_ms)
res=$(awk -v h="$hook" -v t="$target_ms" 'BEGIN { if (h <= t) print "met"; else print "MISSED" }')
cat >"$work/section.md" <<MD
$section

What: a push of one tag and the $commits commits under it (each changing a 27 KB file; the playbook deploy/web.yml, tag_pattern \`$tag_re\`) into a new bare repository, over a local path, $reps times: into one with no hooks (what git costs: the raw limit) and into one with rollgate's pre-receive installed by \`rollgate hook install\` (post-receive removed, so nothing deploys). The hook's own time is taken by a wrapper script around the shim (start to exit of \`rollgate hook pre-receive\`: open the repository from the quarantine environment, read the target config, read and validate the playbook blob at the pushed commit, check the tag, look up the ledger read-only).

Run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online; $("$bin" --version 2>/dev/null | head -n 1); $(git --version). Reproduce: \`$reproduce\`.

| | median | range |
|---|---:|---:|
| push, no hooks | $(med plain_ms) ms | $(range plain_ms) ms |
| push, rollgate pre-receive | $(med hooked_ms) ms | $(range hooked_ms) ms |
| the pre-receive hook itself | $hook ms | $(range hook_ms) ms |

| target | value | result |
|---|---:|---|
| pre-receive of a $commits-commit push ≤ $target_ms ms | $hook ms | $res |
| push with the hook / push without (informational) | $(awk -v a="$(med hooked_ms)" -v b="$(med plain_ms)" 'BEGIN { printf "%.2f", a / b }') | — |
MD
cat "$work/section.md"

if [[ -n $write ]]; then
    write_section "$section" "$work/section.md" "$write"
fi
[[ $res == met ]] || exit 1
exit 0
