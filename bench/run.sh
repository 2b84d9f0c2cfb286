#!/usr/bin/env bash
# Builds a release tree in build/ and runs every benchmark: the programs (bench/bench_*.c) and
# the scripts that time whole rollgate runs (bench/bench_*.sh, which need the local stack and use
# build/rollgate), each writing its section of docs/BENCHMARKS.md. Exits non-zero when a
# benchmark missed its target or broke. BUILD_DIR overrides build/; extra arguments go to every
# benchmark (e.g. --reps 15).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
doc="$root/docs/BENCHMARKS.md"

benches=()
for src in "$root"/bench/bench_*.c; do
    [[ -e "$src" ]] || continue
    name="$(basename "$src" .c)"
    benches+=("$name")
done
scripts=()
for src in "$root"/bench/bench_*.sh; do
    [[ -e "$src" ]] || continue
    scripts+=("$src")
done
if ((${#benches[@]} + ${#scripts[@]} == 0)); then
    echo "run.sh: no benchmarks found in $root/bench" >&2
    exit 2
fi

targets=("${benches[@]}")
((${#scripts[@]} == 0)) || targets+=(rollgate)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DROLLGATE_BENCH=ON
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"

failed=()
for name in "${benches[@]}"; do
    echo "== $name"
    if ! "$build/bench/$name" --write "$doc" "$@"; then
        failed+=("$name")
    fi
done
for src in "${scripts[@]}"; do
    name="$(basename "$src" .sh)"
    echo "== $name"
    if ! BUILD_DIR="$build" bash "$src" --write "$doc" "$@"; then
        failed+=("$name")
    fi
done
total=$((${#benches[@]} + ${#scripts[@]}))
if ((${#failed[@]} > 0)); then
    echo "run.sh: missed target or failed: ${failed[*]}" >&2
    exit 1
fi
echo "run.sh: all $total benchmark(s) met their targets; results in $doc"
