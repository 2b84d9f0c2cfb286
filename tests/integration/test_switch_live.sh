#!/usr/bin/env bash
# The switch strategy end to end on the real stack: a compose project behind an nginx of its own
# (the Debian package's binary, its own config and port), a client counting failed requests
# through nginx during each deploy. Healthy, crash-looping, HTTP-500 and die-in-settle releases;
# an upstream file edited by hand, a failing `nginx -t`, nginx not running; rollgate killed at
# every new state and resumed. Fails (never skips) when the stack is not there.
set -u
bin=$1
nginx_port=18094
project="rgit-switch-$$"
work=$(mktemp -d /tmp/rollgate-switch-test.XXXXXX)
load_pid=""

if ! curl -sf --unix-socket /var/run/docker.sock http://d/_ping >/dev/null ||
    ! curl -sf "http://${ROLLGATE_REGISTRY:-127.0.0.1:5000}/v2/" >/dev/null; then
    echo "FAIL setup: the local stack is not running: run through scripts/test.sh or after eval \"\$(scripts/stack.sh up)\""
    exit 1
fi
command -v nginx >/dev/null || { echo "FAIL setup: nginx is not installed (scripts/setup.sh installs it)"; exit 1; }

nginx_pid() { cat "$work/nginx/nginx.pid" 2>/dev/null; }
cleanup() {
    [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
    local pid
    pid=$(nginx_pid)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    (cd "$work/stack" 2>/dev/null && docker-compose -p "$project" down -t 1 >/dev/null 2>&1)
    rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/lib.sh"
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; echo "${out:-}" | tail -n 30 | sed 's/^/    /'; fi; }
sql() { sqlite3 "$work/state/switchtest.db" "$1"; }
through_nginx() { curl -s --max-time 2 "127.0.0.1:$nginx_port/version"; }
containers() { docker ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Image}}' | sed 's/.*://' | sort | tr '\n' ' ' | sed 's/ $//'; }
upstream_addrs() { grep -o 'server [0-9.:]*' "$work/nginx/conf.d/upstreams.conf" | sed 's/server //' | sort | tr '\n' ' ' | sed 's/ $//'; }
running_addrs() {
    local id
    for id in $(docker ps -q --filter "label=com.docker.compose.project=$project"); do
        echo "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id"):8080"
    done | sort | tr '\n' ' ' | sed 's/ $//'
}

# load_start / load_stop: a client sending requests through nginx back to back (at least
# 100/s on these machines), counting answers other than 200. Bounded: it stops itself after
# 120 s.
load_start() {
    : >"$work/load.fail"
    (
        end=$((SECONDS + 120)) ok=0 failed=0
        trap 'echo "$ok $failed" >"$work/load.count"; exit 0' TERM
        while [ "$SECONDS" -lt "$end" ]; do
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "127.0.0.1:$nginx_port/version")
            if [ "$code" = 200 ]; then ok=$((ok + 1)); else failed=$((failed + 1)); echo "$code" >>"$work/load.fail"; fi
        done
        echo "$ok $failed" >"$work/load.count"
    ) &
    load_pid=$!
}
load_stop() {
    kill -TERM "$load_pid" 2>/dev/null
    wait "$load_pid" 2>/dev/null
    load_pid=""
    read -r load_ok load_failed <"$work/load.count"
    echo "load: $load_ok requests answered 200, $load_failed failed"
}

mkdir -p "$work/stack" "$work/nginx/conf.d" "$work/nginx/tmp"
cat >"$work/stack/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: ${ROLLGATE_REGISTRY:-127.0.0.1:5000}/rollgate/demo-app:\${DEMO_APP_TAG:?set DEMO_APP_TAG}
    restart: unless-stopped
    stop_grace_period: 2s
YAML
cat >"$work/nginx/nginx.conf" <<CONF
daemon on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/cb;
    proxy_temp_path $work/nginx/tmp/p;
    fastcgi_temp_path $work/nginx/tmp/f;
    uwsgi_temp_path $work/nginx/tmp/u;
    scgi_temp_path $work/nginx/tmp/s;
    include $work/nginx/conf.d/*.conf;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { proxy_pass http://demo_app; }
    }
}
CONF
# Before the first deploy the upstream is the user's own (nothing serves yet).
printf 'upstream demo_app {\n    server 127.0.0.1:9;\n}\n' >"$work/nginx/conf.d/upstreams.conf"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx/" || { echo "FAIL setup: nginx did not start"; exit 1; }
ng="-c, $work/nginx/nginx.conf, -p, $work/nginx/"
cat >"$work/pb.yml" <<YAML
version: 1
name: switchtest
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: ${ROLLGATE_REGISTRY:-127.0.0.1:5000}/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
strategy: switch
proxy:
  upstream_file: $work/nginx/conf.d/upstreams.conf
  test: [nginx, -t, -q, $ng]
  reload: [nginx, -s, reload, $ng]
  drain: 1s
  upstreams:
    demo_app: {service: app, port: 8080}
defaults: {every: 200ms, within: 8s, timeout: 1s}
gates:
  running: {container: app}
  health: {http: "http://app:8080/health", fail_on: [500]}
  public: {http: "http://127.0.0.1:$nginx_port/health"}
deploy:
  - pull
  - up
  - verify: [running, health, public]
  - settle: {for: 6s, watch: [app], gates: [health, public]}
recover:
  - rollback: previous
YAML

# 1. First deploy: the candidate is gated, nginx moves to it, compose agrees.
run first_deploy 0 deploy "$work/pb.yml" --tag v1
expect first_serves "$(through_nginx)" v1
expect first_upstream_is_running "$(upstream_addrs)" "$(running_addrs)"
expect first_one_container "$(containers)" v1
cmp=$(cd "$work/stack" && docker-compose -p "$project" up -d 2>&1)
grep -q "is up-to-date" <<<"$cmp" && ! grep -qE "Recreating|Creating|Stopping" <<<"$cmp" &&
    ok compose_up_is_noop || bad compose_up_is_noop "$cmp"
expect compose_ps_shows_serving "$(cd "$work/stack" && docker-compose -p "$project" ps -q | xargs docker inspect -f '{{.Config.Image}}' | sed 's/.*://')" v1

# 2. A healthy release under load: no request fails.
load_start
run healthy_deploy 0 deploy "$work/pb.yml" --tag v2
load_stop
expect healthy_no_failed_requests "$load_failed" 0
[ "$load_ok" -ge 100 ] && ok healthy_load_was_real || bad healthy_load_was_real "only $load_ok requests"
expect healthy_serves "$(through_nginx)" v2
expect healthy_old_removed "$(containers)" v2
expect healthy_upstream_is_running "$(upstream_addrs)" "$(running_addrs)"

# 3. Broken releases never get traffic: rejected before the switch, nothing to roll back.
for tag in v2-crash v2-500; do
    load_start
    run "${tag}_rejected" 3 deploy "$work/pb.yml" --tag "$tag"
    load_stop
    grep -q "rejected before the switch: .*the candidate was removed, users never saw it" <<<"$out" &&
        ok "${tag}_says_rejected" || bad "${tag}_says_rejected" "$out"
    expect "${tag}_no_failed_requests" "$load_failed" 0
    expect "${tag}_still_serves" "$(through_nginx)" v2
    expect "${tag}_candidate_removed" "$(containers)" v2
    expect "${tag}_env_untouched" "$(cat "$work/stack/.env")" DEMO_APP_TAG=v2
done

# 4. A release that dies during settle, after the switch: nginx already holds the release before
#    as a backup, and the rollback rung switches back in one reload.
load_start
run die_rolled_back 1 deploy "$work/pb.yml" --tag v2-die
load_stop
expect die_outcome "$(sql "select outcome from deploys order by id desc limit 1")" rolled_back
expect die_no_failed_requests "$load_failed" 0
expect die_serves_previous "$(through_nginx)" v2
expect die_candidate_removed "$(containers)" v2
expect die_upstream_is_running "$(upstream_addrs)" "$(running_addrs)"

# 5. An upstream file changed by hand is not overwritten: the deploy is refused with the diff.
cp "$work/nginx/conf.d/upstreams.conf" "$work/upstreams.saved"
echo "# tuned by hand" >>"$work/nginx/conf.d/upstreams.conf"
run hand_edit_refused 3 deploy "$work/pb.yml" --tag v3
grep -q "was changed by hand since rollgate wrote it" <<<"$out" && grep -q "+# tuned by hand" <<<"$out" &&
    ok hand_edit_message || bad hand_edit_message "$out"
expect hand_edit_kept "$(tail -n 1 "$work/nginx/conf.d/upstreams.conf")" "# tuned by hand"
expect hand_edit_still_serves "$(through_nginx)" v2
expect hand_edit_candidate_removed "$(containers)" v2
cp "$work/upstreams.saved" "$work/nginx/conf.d/upstreams.conf"

# 6. `nginx -t` failing aborts with nothing changed: the previous upstream file is back.
echo "this is not nginx" >"$work/nginx/conf.d/broken.conf"
before=$(cat "$work/nginx/conf.d/upstreams.conf")
run nginx_t_refused 3 deploy "$work/pb.yml" --tag v3
grep -q "the proxy was not switched (nothing changed): config test: 'nginx' exited with 1" <<<"$out" &&
    ok nginx_t_message || bad nginx_t_message "$out"
expect nginx_t_file_back "$(cat "$work/nginx/conf.d/upstreams.conf")" "$before"
expect nginx_t_still_serves "$(through_nginx)" v2
rm -f "$work/nginx/conf.d/broken.conf"

# 7. nginx not running: the reload fails, the file is put back, nothing changed.
kill "$(nginx_pid)"
for _ in $(seq 50); do [ -f "$work/nginx/nginx.pid" ] || break; sleep 0.1; done
run nginx_down_refused 3 deploy "$work/pb.yml" --tag v3
grep -q "the proxy was not switched (nothing changed): reload: 'nginx' exited with 1" <<<"$out" &&
    ok nginx_down_message || bad nginx_down_message "$out"
expect nginx_down_file_back "$(cat "$work/nginx/conf.d/upstreams.conf")" "$before"
expect nginx_down_env_untouched "$(cat "$work/stack/.env")" DEMO_APP_TAG=v2
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx/"

# 8. Killed right after each new state's intent, then resumed: one consistent end, the upstream
#    file pointing at containers that run, one release left.
for state in CANDIDATE PROBE PROXY RETIRE; do
    ROLLGATE_TEST_KILL_AT=$state timeout 300 "$bin" deploy "$work/pb.yml" --tag v3 >/dev/null 2>&1
    expect "killed_at_$state" "$?" 137
    run "resumed_after_$state" 0 resume "$work/pb.yml"
    expect "resumed_${state}_serves" "$(through_nginx)" v3
    expect "resumed_${state}_one_release" "$(containers)" v3
    expect "resumed_${state}_upstream_is_running" "$(upstream_addrs)" "$(running_addrs)"
    expect "resumed_${state}_env" "$(cat "$work/stack/.env")" DEMO_APP_TAG=v3
    # Back to v2 for the next round (a healthy switch).
    run "reset_after_$state" 0 deploy "$work/pb.yml" --tag v2
done
[ "$(sql "select count(*) from deploys where outcome = ''")" = 0 ] && ok ledger_consistent || bad ledger_consistent "open deploys"

echo "switch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
