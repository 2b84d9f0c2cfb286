#!/usr/bin/env bash
# The one test command: packages, banned-function check, release build and tests, sanitizer
# build and tests, and a time-boxed libFuzzer run. Every stage runs even after a failure, so the
# summary at the end is complete; the exit status is non-zero when any stage failed.
#
#   RG_FUZZ_SECONDS=N   how long the playbook fuzzer runs (default 60)
#   RG_FUZZ_DOCKER_SECONDS=N   how long the Docker answer decoders' fuzzer runs (default 30)
#   RG_FUZZ_ARCHIVE_SECONDS=N  how long the backup archive verifier's fuzzer runs (default 30)
#   RG_FUZZ_PGDUMP_SECONDS=N   how long the pg_dump archive reader's fuzzer runs (default 30)
#   RG_FUZZ_NGINX_SECONDS=N    how long the nginx log and config readers' fuzzer runs (default 30)
#   RG_TEST_QUICK=1     skip the fuzz stages (local iteration only; CI never sets it)
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=${RG_FUZZ_SECONDS:-60}
fuzz_docker_seconds=${RG_FUZZ_DOCKER_SECONDS:-30}
fuzz_archive_seconds=${RG_FUZZ_ARCHIVE_SECONDS:-30}
fuzz_pgdump_seconds=${RG_FUZZ_PGDUMP_SECONDS:-30}
fuzz_nginx_seconds=${RG_FUZZ_NGINX_SECONDS:-30}
quick=${RG_TEST_QUICK:-0}
jobs=2

passed=0
failed=0
failed_stages=()
corpus_dir=""
docker_corpus_dir=""
archive_corpus_dir=""
pgdump_corpus_dir=""
nginx_corpus_dir=""

cleanup() {
    if [ -n "$nginx_corpus_dir" ]; then
        rm -rf -- "$nginx_corpus_dir"
    fi
    if [ -n "$pgdump_corpus_dir" ]; then
        rm -rf -- "$pgdump_corpus_dir"
    fi
    if [ -n "$archive_corpus_dir" ]; then
        rm -rf -- "$archive_corpus_dir"
    fi
    if [ -n "$corpus_dir" ]; then
        rm -rf -- "$corpus_dir"
    fi
    if [ -n "$docker_corpus_dir" ]; then
        rm -rf -- "$docker_corpus_dir"
    fi
}
trap cleanup EXIT

# stage NAME FUNCTION [ARGS...]: runs FUNCTION in a subshell with errexit in force (it is not
# run in a condition, where bash would ignore -e), records the outcome and says why it failed.
stage() {
    local name=$1 rc
    shift
    echo
    echo "== $name"
    set +e
    (
        # errtrace so the trap also names a command that fails inside a function.
        set -eE
        # shellcheck disable=SC2030 # read by stage_error, which runs in this subshell
        stage_cmd="$*"
        trap 'stage_error $? "$BASH_COMMAND"' ERR
        "$@"
    )
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "== $name: ok"
    else
        record_failure "$name" "exit status $rc"
    fi
}

# Says which command of a stage failed; for a stage that is one command, that command itself.
# A function that fails with `return` has already said why.
stage_error() {
    local cmd=$2
    # shellcheck disable=SC2031 # stage_cmd is set in the same subshell
    case $cmd in
    return*) return ;;
    '"$@"') cmd=$stage_cmd ;;
    esac
    echo "test: stage '$name' failed: \`$cmd\` exited with $1" >&2
}

record_failure() {
    failed=$((failed + 1))
    failed_stages+=("$1 ($2)")
    echo "== $1: FAILED ($2)" >&2
}

# A stage that cannot run because the one it needs failed counts as failed, never as passed.
stage_after() {
    local needs=$1 name=$2
    shift 2
    if stage_failed "$needs"; then
        echo
        echo "== $name"
        record_failure "$name" "not run: stage '$needs' failed"
        return
    fi
    stage "$name" "$@"
}

stage_failed() {
    local s
    for s in "${failed_stages[@]+"${failed_stages[@]}"}"; do
        case $s in "$1 ("*) return 0 ;; esac
    done
    return 1
}

# The integration tests run against the real local stack (dockerd, registry with the test app's
# images, PostgreSQL, nginx). scripts/stack.sh up prints the variables the tests read; when the
# stack cannot start, this stage fails with the reason and the integration tests then fail too
# (they never skip).
stack_env=$(mktemp "${TMPDIR:-/tmp}/rollgate-stack-env.XXXXXX")
start_stack() {
    scripts/stack.sh up >"$stack_env"
}

configure_and_build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@"
    cmake --build "$dir" -j"$jobs"
}

run_ctest() {
    ctest --test-dir "$1" --output-on-failure
}

run_ctest_sanitized() {
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "$1" --output-on-failure
}

build_fuzz() {
    # The options are explicit because a cache left by an earlier configure would keep its own.
    CC=clang configure_and_build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DROLLGATE_FUZZ=ON -DROLLGATE_TESTS=OFF -DROLLGATE_SANITIZE=OFF -DROLLGATE_BENCH=OFF
}

# fuzz NAME PREFIX SECONDS MAX_LEN TIMEOUT CORPUS: runs build-fuzz/tests/fuzz/NAME from the seeds
# in CORPUS (a scratch directory, so the inputs it adds along the way stay out of the work tree),
# its artifacts prefixed PREFIX so fuzzers do not take each other's; on failure shows the log's
# end and how to reproduce each failing input.
fuzz() {
    local name=$1 prefix=$2 seconds=$3 max_len=$4 timeout=$5 corpus=$6
    local log=build-fuzz/$name.log rc=0 f kind

    for kind in crash leak timeout oom; do rm -f build-fuzz/"$prefix$kind"-*; done
    echo "$name for ${seconds}s from $(find "$corpus" -type f | wc -l) seeds (log: $log)"
    build-fuzz/tests/fuzz/"$name" -max_total_time="$seconds" -max_len="$max_len" \
        -timeout="$timeout" -rss_limit_mb=2048 -artifact_prefix=build-fuzz/"$prefix" \
        -print_final_stats=1 "$corpus" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 80 "$log" >&2
        for kind in crash leak timeout oom; do
            for f in build-fuzz/"$prefix$kind"-*; do
                if [ -f "$f" ]; then
                    echo "fuzz: failing input: $f; reproduce: build-fuzz/tests/fuzz/$name $f" >&2
                fi
            done
        done
        echo "fuzz: $name exited with $rc" >&2
        return 1
    fi
    grep -E '^Done [0-9]+ runs|^#[0-9]+.*cov:' "$log" | tail -n 2 || true
}

# The playbook fuzzer starts from the hand-written seeds and every real playbook.
run_fuzz() {
    local f

    cp tests/fuzz/corpus/* "$corpus_dir"/
    for f in playbooks/*.yml tests/fixtures/playbooks/*.yml; do
        if [ -f "$f" ]; then
            cp "$f" "$corpus_dir/$(echo "$f" | tr / _)"
        fi
    done
    fuzz fuzz_playbook "" "$fuzz_seconds" 65536 5 "$corpus_dir"
}

# The Docker answer decoders start from the answers recorded from a real daemon, and from each
# event line on its own (the event stream is decoded a line at a time).
run_fuzz_docker() {
    local line i=0

    cp tests/fixtures/docker/* "$docker_corpus_dir"/
    cp tests/fixtures/odoo/docker-compose.yml "$docker_corpus_dir/compose-odoo.yml"
    cp tests/fixtures/demo/docker-compose.yml "$docker_corpus_dir/compose-demo.yml"
    while IFS= read -r line; do
        printf '%s\n' "$line" >"$docker_corpus_dir/event-$i.json"
        i=$((i + 1))
    done <tests/fixtures/docker/events.jsonl
    fuzz fuzz_docker docker- "$fuzz_docker_seconds" 16384 5 "$docker_corpus_dir"
}

# The archive verifier starts from a small rollgate backup (as is, and as a raw tar that the
# harness wraps in gzip) and an Odoo zip.
run_fuzz_archive() {
    cp tests/fuzz/corpus-archive/* "$archive_corpus_dir"/
    fuzz fuzz_archive archive- "$fuzz_archive_seconds" 65536 10 "$archive_corpus_dir"
}

# The pg_dump reader (what the parallel table load walks) starts from a real pg_dump 15 archive
# and three handmade ones (archive versions 1.12, 1.15, 1.16).
run_fuzz_pgdump() {
    cp tests/fuzz/corpus-pgdump/* "$pgdump_corpus_dir"/
    fuzz fuzz_pgdump pgdump- "$fuzz_pgdump_seconds" 16384 5 "$pgdump_corpus_dir"
}

# The nginx readers start from recorded `nginx -T` dumps and log lines.
run_fuzz_nginx() {
    cp tests/fuzz/corpus-nginx/* "$nginx_corpus_dir"/
    fuzz fuzz_nginx nginx- "$fuzz_nginx_seconds" 65536 5 "$nginx_corpus_dir"
}

stage "setup" scripts/setup.sh
stage "check banned functions" scripts/check-banned.sh
stage "check module layers" scripts/check-layers.sh

stage "local stack" start_stack
if ! stage_failed "local stack"; then
    # shellcheck disable=SC1090 # written by scripts/stack.sh up just now
    . "$stack_env"
fi
rm -f "$stack_env"

stage "build (release)" configure_and_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DROLLGATE_TESTS=ON -DROLLGATE_SANITIZE=OFF -DROLLGATE_FUZZ=OFF
stage_after "build (release)" "tests (release)" run_ctest build
stage_after "build (release)" "install (prefix and Debian package)" \
    bash tests/install/test_install.sh build

stage "build (asan+ubsan)" configure_and_build build-asan -DCMAKE_BUILD_TYPE=Debug \
    -DROLLGATE_TESTS=ON -DROLLGATE_SANITIZE=ON -DROLLGATE_FUZZ=OFF
stage_after "build (asan+ubsan)" "tests (asan+ubsan)" run_ctest_sanitized build-asan

if [ "$quick" = 1 ]; then
    echo
    echo "!! ================================================================ !!"
    echo "!!  RG_TEST_QUICK=1: the fuzz stages were SKIPPED.                  !!"
    echo "!!  This run does not count as a full test; CI always fuzzes.       !!"
    echo "!! ================================================================ !!"
else
    corpus_dir=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-corpus.XXXXXX")
    docker_corpus_dir=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-corpus-docker.XXXXXX")
    archive_corpus_dir=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-corpus-archive.XXXXXX")
    pgdump_corpus_dir=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-corpus-pgdump.XXXXXX")
    nginx_corpus_dir=$(mktemp -d "${TMPDIR:-/tmp}/rollgate-corpus-nginx.XXXXXX")
    stage "build (fuzz)" build_fuzz
    stage_after "build (fuzz)" "fuzz (${fuzz_seconds}s)" run_fuzz
    stage_after "build (fuzz)" "fuzz docker (${fuzz_docker_seconds}s)" run_fuzz_docker
    stage_after "build (fuzz)" "fuzz archive (${fuzz_archive_seconds}s)" run_fuzz_archive
    stage_after "build (fuzz)" "fuzz pgdump (${fuzz_pgdump_seconds}s)" run_fuzz_pgdump
    stage_after "build (fuzz)" "fuzz nginx (${fuzz_nginx_seconds}s)" run_fuzz_nginx
fi

echo
if [ "$failed" -gt 0 ]; then
    echo "failed stages:"
    printf '  %s\n' "${failed_stages[@]}"
fi
if [ "$quick" = 1 ]; then
    echo "(fuzz skipped: RG_TEST_QUICK=1)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
