# Shared by the shell integration tests: counting checks and running rollgate. Source it after
# setting bin (the rollgate binary); run_timeout (seconds, default 300) and run_log (a file that
# collects every run's output, default none) are optional.

pass=0
fail=0

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# run NAME WANT_EXIT ARGS...: runs rollgate (stdin closed), keeps its output (both streams) in
# $out and its exit code in $rc; a different exit code is a failed check that shows the output.
run() {
    local name=$1 want=$2
    shift 2
    out=$(timeout "${run_timeout:-300}" "$bin" "$@" 2>&1 </dev/null)
    rc=$?
    if [ -n "${run_log:-}" ]; then
        echo "$out" >>"$run_log"
    fi
    if [ "$rc" -ne "$want" ]; then
        bad "$name" "exit $rc, want $want"
        echo "$out" | sed 's/^/    /'
        return 1
    fi
    return 0
}

# require_stack: the run fails (never skips) when dockerd or the registry does not answer.
require_stack() {
    if ! curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null ||
        ! curl -sf "http://${ROLLGATE_REGISTRY:-127.0.0.1:5000}/v2/" >/dev/null; then
        echo "FAIL setup: the local stack is not running: run through scripts/test.sh or after eval \"\$(scripts/stack.sh up)\""
        exit 1
    fi
}
