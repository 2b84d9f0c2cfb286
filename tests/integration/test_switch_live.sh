#!/usr/bin/env bash
# The switch strategy end to end on the real stack: a compose project behind an nginx of its own
# (the Debian package's binary, its own config and port), a client counting failed requests
# through nginx during each deploy. Healthy, crash-looping, HTTP-500 and die-in-settle releases;
# an upstream file edited by hand or not writable, a failing `nginx -t`, nginx not running, a
# candidate whose host port is taken; rollgate killed at every new state and between the
# rewrite and the reload, then resumed. Fails (never skips) when the stack is not there.
set -u
bin=$1
nginx_port=18094
project="rgit-switch-$$"
work=$(mktemp -d /tmp/rollgate-switch-test.XXXXXX)

source "$(dirname "$0")/lib.sh"
require_stack
command -v nginx >/dev/null || { echo "FAIL setup: nginx is not installed (scripts/setup.sh installs it)"; exit 1; }

source "$(dirname "$0")/switch_lib.sh"
nginx_pid() { cat "$work/nginx/nginx.pid" 2>/dev/null; }
cleanup() {
    load_kill
    chattr -i "$work/nginx/conf.d" 2>/dev/null
    local pid
    pid=$(nginx_pid)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    (cd "$work/stack" 2>/dev/null && DEMO_APP_TAG=none docker-compose -p "$project" down -t 1 >/dev/null 2>&1)
    (cd "$work/stack2" 2>/dev/null && DEMO_APP_TAG=none docker-compose -p "$project-port" down -t 1 >/dev/null 2>&1)
    rm -rf "$work"
}
trap cleanup EXIT

expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; echo "${out:-}" | tail -n 30 | sed 's/^/    /'; fi; }
sql() { sqlite3 "$work/state/switchtest.db" "$1"; }
through_nginx() { curl -s --max-time 2 "127.0.0.1:$nginx_port/version"; }
upstreams="$work/nginx/conf.d/upstreams.conf"
url="http://127.0.0.1:$nginx_port/version"

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
switch_playbook "$work/pb.yml" switchtest "$work/stack" "$upstreams" "nginx, -t, -q, $ng" \
    "nginx, -s, reload, $ng" "$nginx_port"

# 1. First deploy: the candidate is gated, nginx moves to it, compose agrees.
run first_deploy 0 deploy "$work/pb.yml" --tag v1
expect first_serves "$(through_nginx)" v1
expect first_upstream_is_running "$(upstream_addrs "$upstreams")" "$(running_addrs)"
expect first_one_container "$(containers)" v1
cmp=$(cd "$work/stack" && docker-compose -p "$project" up -d 2>&1)
grep -q "is up-to-date" <<<"$cmp" && ! grep -qE "Recreating|Creating|Stopping" <<<"$cmp" &&
    ok compose_up_is_noop || bad compose_up_is_noop "$cmp"
expect compose_ps_shows_serving "$(cd "$work/stack" && docker-compose -p "$project" ps -q | xargs docker inspect -f '{{.Config.Image}}' | sed 's/.*://')" v1

# `check` reaches the serving release by the service name its gates use.
run check_by_service_name 0 check "$work/pb.yml"
grep -qE "^health +pass" <<<"$out" && ok check_health_passes || bad check_health_passes "$out"

# 2. A healthy release under load: no request fails.
load_start "$url"
run healthy_deploy 0 deploy "$work/pb.yml" --tag v2
load_stop
expect healthy_no_failed_requests "$load_failed" 0
[ "$load_rate" -ge 100 ] && ok healthy_load_at_least_100_per_s || bad healthy_load_at_least_100_per_s "$load_rate/s"
expect healthy_serves "$(through_nginx)" v2
expect healthy_old_removed "$(containers)" v2
expect healthy_upstream_is_running "$(upstream_addrs "$upstreams")" "$(running_addrs)"

# 3. Broken releases never get traffic: rejected before the switch, nothing to roll back.
for tag in v2-crash v2-500; do
    load_start "$url"
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
load_start "$url"
run die_rolled_back 1 deploy "$work/pb.yml" --tag v2-die
load_stop
expect die_outcome "$(sql "select outcome from deploys order by id desc limit 1")" rolled_back
expect die_no_failed_requests "$load_failed" 0
expect die_serves_previous "$(through_nginx)" v2
expect die_candidate_removed "$(containers)" v2
expect die_upstream_is_running "$(upstream_addrs "$upstreams")" "$(running_addrs)"

# 5. An upstream file changed by hand is not overwritten: the deploy is refused with the diff.
cp "$upstreams" "$work/upstreams.saved"
echo "# tuned by hand" >>"$upstreams"
run hand_edit_refused 3 deploy "$work/pb.yml" --tag v3
grep -q "was changed by hand since rollgate wrote it" <<<"$out" && grep -q "+# tuned by hand" <<<"$out" &&
    ok hand_edit_message || bad hand_edit_message "$out"
expect hand_edit_kept "$(tail -n 1 "$upstreams")" "# tuned by hand"
expect hand_edit_still_serves "$(through_nginx)" v2
expect hand_edit_no_candidate "$(containers)" v2
grep -q "PREFLIGHT: upstream file" <<<"$out" && ok hand_edit_refused_before_anything || bad hand_edit_refused_before_anything "$out"
cp "$work/upstreams.saved" "$upstreams"

# 6. `nginx -t` failing: refused before anything starts, nothing changed.
echo "this is not nginx" >"$work/nginx/conf.d/broken.conf"
before=$(cat "$upstreams")
run nginx_t_refused 3 deploy "$work/pb.yml" --tag v3
grep -q "PREFLIGHT: the proxy's configuration fails its test before the deploy changes anything; fix it first: config test: 'nginx' exited with 1" <<<"$out" &&
    ok nginx_t_message || bad nginx_t_message "$out"
expect nginx_t_file_untouched "$(cat "$upstreams")" "$before"
expect nginx_t_no_candidate "$(containers)" v2
expect nginx_t_still_serves "$(through_nginx)" v2
rm -f "$work/nginx/conf.d/broken.conf"

# 6b. The upstream file's directory not writable (immutable here, as root): refused before
#     anything starts.
chattr +i "$work/nginx/conf.d"
run not_writable_refused 3 deploy "$work/pb.yml" --tag v3
chattr -i "$work/nginx/conf.d"
grep -q "PREFLIGHT: cannot write the upstream file's directory '$work/nginx/conf.d'" <<<"$out" &&
    ok not_writable_message || bad not_writable_message "$out"
expect not_writable_file_untouched "$(cat "$upstreams")" "$before"
expect not_writable_no_candidate "$(containers)" v2

# 7. nginx not running: the reload fails, the file is put back, nothing changed.
kill "$(nginx_pid)"
for _ in $(seq 50); do [ -f "$work/nginx/nginx.pid" ] || break; sleep 0.1; done
run nginx_down_refused 3 deploy "$work/pb.yml" --tag v3
grep -q "the proxy was not switched (nothing changed): reload: 'nginx' exited with 1" <<<"$out" &&
    ok nginx_down_message || bad nginx_down_message "$out"
expect nginx_down_file_back "$(cat "$upstreams")" "$before"
expect nginx_down_env_untouched "$(cat "$work/stack/.env")" DEMO_APP_TAG=v2
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx/"

# 8. Killed right after each new state's intent, and between the upstream file's rewrite and
#    nginx's reload (PROXY_WRITTEN), then resumed: one consistent end, the upstream file
#    pointing at containers that run, one release left.
for state in CANDIDATE PROBE PROXY PROXY_WRITTEN RETIRE; do
    ROLLGATE_TEST_KILL_AT=$state timeout 300 "$bin" deploy "$work/pb.yml" --tag v3 >/dev/null 2>&1
    expect "killed_at_$state" "$?" 137
    run "resumed_after_$state" 0 resume "$work/pb.yml"
    expect "resumed_${state}_serves" "$(through_nginx)" v3
    expect "resumed_${state}_one_release" "$(containers)" v3
    expect "resumed_${state}_upstream_is_running" "$(upstream_addrs "$upstreams")" "$(running_addrs)"
    expect "resumed_${state}_env" "$(cat "$work/stack/.env")" DEMO_APP_TAG=v3
    # Back to v2 for the next round (a healthy switch).
    run "reset_after_$state" 0 deploy "$work/pb.yml" --tag v2
done
[ "$(sql "select count(*) from deploys where outcome = ''")" = 0 ] && ok ledger_consistent || bad ledger_consistent "open deploys"

# 8b. A rollback by hand goes the deploy's way: the release it returns to is probed beside the
#     serving one before nginx moves. One that fails is refused with nothing changed; one that
#     passes takes over without a failed request.
# v2-crash failed its gates above: it is in quarantine until a person allows it.
run manual_rollback_quarantined 65 rollback "$work/pb.yml" --to v2-crash --force
grep -q "release v2-crash is in quarantine" <<<"$out" && ok manual_rollback_quarantine_message || bad manual_rollback_quarantine_message "$out"
run allow_v2_crash 0 release allow "$work/pb.yml" v2-crash
load_start "$url"
run manual_rollback_refused 3 rollback "$work/pb.yml" --to v2-crash --force
load_stop
grep -q "rejected before the switch" <<<"$out" && ok manual_rollback_probed || bad manual_rollback_probed "$out"
expect manual_rollback_refused_no_failed_requests "$load_failed" 0
expect manual_rollback_refused_still_serves "$(through_nginx)" v2
expect manual_rollback_refused_one_release "$(containers)" v2
load_start "$url"
run manual_rollback 0 rollback "$work/pb.yml" --to v1
load_stop
expect manual_rollback_no_failed_requests "$load_failed" 0
expect manual_rollback_serves "$(through_nginx)" v1
expect manual_rollback_one_release "$(containers)" v1
expect manual_rollback_upstream_is_running "$(upstream_addrs "$upstreams")" "$(running_addrs)"
expect manual_rollback_env "$(cat "$work/stack/.env")" DEMO_APP_TAG=v1

# 9. A service that publishes a fixed host port cannot run twice: the second deploy's candidate
#    cannot start; it is refused with the fix, nothing changed. (A project of its own, on the
#    same nginx through an upstream file of its own.)
mkdir -p "$work/stack2"
sed -e 's/^    stop_grace_period: 2s$/    stop_grace_period: 2s\n    ports: ["127.0.0.1:18096:8080"]/' \
    "$work/stack/docker-compose.yml" >"$work/stack2/docker-compose.yml"
printf 'upstream demo_port {\n    server 127.0.0.1:9;\n}\n' >"$work/nginx/conf.d/port.conf"
project=$project-port switch_playbook "$work/pb-port.yml" porttest "$work/stack2" \
    "$work/nginx/conf.d/port.conf" "nginx, -t, -q, $ng" "nginx, -s, reload, $ng" "$nginx_port"
sed -i 's/demo_app:/demo_port:/' "$work/pb-port.yml"
run port_first_deploy 0 deploy "$work/pb-port.yml" --tag v1
run port_taken_refused 3 deploy "$work/pb-port.yml" --tag v2
grep -q "publishes a fixed host port" <<<"$out" && ok port_taken_message || bad port_taken_message "$out"
expect port_taken_one_release "$(project=$project-port containers)" v1
expect port_taken_env "$(cat "$work/stack2/.env")" DEMO_APP_TAG=v1
(cd "$work/stack2" && docker-compose -p "$project-port" down -t 1 >/dev/null 2>&1)

echo "switch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
