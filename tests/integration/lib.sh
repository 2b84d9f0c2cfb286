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

# expect_consistent NAME: the ledger is consistent: every deploy finished, and each one's last
# row is an outcome. Needs sql QUERY (the caller's, on its target's ledger).
expect_consistent() {
    local open unfinished
    open=$(sql "select count(*) from deploys where outcome = ''")
    unfinished=$(sql "select count(*) from deploys d where (select phase from transitions t
        where t.deploy_id = d.id order by id desc limit 1) != 'done'")
    if [ "$open" = 0 ] && [ "$unfinished" = 0 ]; then ok "$1"
    else bad "$1" "$open deploys without outcome, $unfinished ending in an intent"; fi
}

# dcompose ARGS...: docker compose, v1 (docker-compose) or v2 (the docker plugin), whichever
# this machine has.
dcompose() { if command -v docker-compose >/dev/null; then docker-compose "$@"; else docker compose "$@"; fi; }

# demo_compose DIR REGISTRY PORT: a compose project in DIR running the demo app from REGISTRY,
# its tag from .env's DEMO_APP_TAG, published on 127.0.0.1:PORT.
demo_compose() {
    mkdir -p "$1"
    cat >"$1/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: $2/rollgate/demo-app:\${DEMO_APP_TAG}
    ports: ["127.0.0.1:$3:8080"]
    restart: unless-stopped
    stop_grace_period: 1s
YAML
}

# require_stack: the run fails (never skips) when dockerd or the registry does not answer.
require_stack() {
    if ! curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null ||
        ! curl -sf "http://${ROLLGATE_REGISTRY:-127.0.0.1:5000}/v2/" >/dev/null; then
        echo "FAIL setup: the local stack is not running: run through scripts/test.sh or after eval \"\$(scripts/stack.sh up)\""
        exit 1
    fi
}
