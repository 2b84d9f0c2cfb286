#!/usr/bin/env bash
# The switch strategy with nginx in a container of the same compose project (as many Odoo
# stacks run it): nginx built FROM scratch around the host's nginx binary
# (tests/fixtures/nginx/build-image.sh), the upstream file in a bind-mounted directory, the
# config test and the reload through `docker exec`. First, healthy and die-in-settle deploys
# under a client counting failed requests; compose stays the source of truth; a config that
# fails `nginx -t` inside the container stops the deploy before anything starts. Fails (never
# skips) when the stack is not there.
set -u
bin=$1
port=18095
project="rgit-swc-$$"
proxy="rgit-swc-proxy-$$"
work=$(mktemp -d /tmp/rollgate-switch-c-test.XXXXXX)
registry=${ROLLGATE_REGISTRY:-127.0.0.1:5000}

source "$(dirname "$0")/lib.sh"
require_stack

source "$(dirname "$0")/switch_lib.sh"
compose() { (cd "$work/stack" && docker-compose -p "$project" "$@"); }
cleanup() {
    load_kill
    DEMO_APP_TAG=none compose down -t 1 >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; echo "${out:-}" | tail -n 30 | sed 's/^/    /'; fi; }
sql() { sqlite3 "$work/state/swc.db" "$1"; }
through_nginx() { curl -s --max-time 2 "127.0.0.1:$port/version"; }
upstreams="$work/nginx/conf.d/upstreams.conf"

"$(dirname "$0")/../fixtures/nginx/build-image.sh" || { echo "FAIL setup: the nginx image could not be built"; exit 1; }

mkdir -p "$work/stack" "$work/nginx/conf.d"
cat >"$work/stack/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: $registry/rollgate/demo-app:\${DEMO_APP_TAG:?set DEMO_APP_TAG}
    restart: unless-stopped
    stop_grace_period: 2s
  proxy:
    image: rollgate-test/nginx:local
    container_name: $proxy
    restart: unless-stopped
    ports: ["127.0.0.1:$port:80"]
    # The directory, not the file: rollgate renames a new file into place.
    volumes: ["$work/nginx/conf.d:/etc/nginx/conf.d"]
YAML
printf 'upstream demo_app {\n    server 127.0.0.1:9;\n}\n' >"$upstreams"
DEMO_APP_TAG=none compose up -d proxy >"$work/proxy-up.log" 2>&1 ||
    { echo "FAIL setup: the nginx container did not start"; cat "$work/proxy-up.log"; exit 1; }
switch_playbook "$work/pb.yml" swc "$work/stack" "$upstreams" "docker, exec, $proxy, nginx, -t, -q" \
    "docker, exec, $proxy, nginx, -s, reload" "$port"

# 1. First deploy: nginx in the container moves to the new release.
run first_deploy 0 deploy "$work/pb.yml" --tag v1
expect first_serves "$(through_nginx)" v1
expect first_upstream_is_running "$(upstream_addrs "$upstreams")" "$(running_addrs)"

# 2. A healthy release under load, then one that dies after the switch: no request fails.
load_start "http://127.0.0.1:$port/version"
run healthy_deploy 0 deploy "$work/pb.yml" --tag v2
load_stop
expect healthy_no_failed_requests "$load_failed" 0
[ "$load_rate" -ge 100 ] && ok healthy_load_at_least_100_per_s || bad healthy_load_at_least_100_per_s "$load_rate/s"
expect healthy_serves "$(through_nginx)" v2
expect healthy_old_removed "$(containers)" v2

load_start "http://127.0.0.1:$port/version"
run die_rolled_back 1 deploy "$work/pb.yml" --tag v2-die
load_stop
expect die_outcome "$(sql "select outcome from deploys order by id desc limit 1")" rolled_back
expect die_no_failed_requests "$load_failed" 0
expect die_serves_previous "$(through_nginx)" v2
expect die_candidate_removed "$(containers)" v2
expect die_upstream_is_running "$(upstream_addrs "$upstreams")" "$(running_addrs)"

# 3. Compose agrees: the proxy and the app are up to date, nothing is recreated.
cmp=$(compose up -d 2>&1)
grep -q "${project}_app_[0-9]* is up-to-date" <<<"$cmp" && grep -q "$proxy is up-to-date" <<<"$cmp" &&
    ! grep -qE "Recreating|Creating|Stopping" <<<"$cmp" && ok compose_up_is_noop || bad compose_up_is_noop "$cmp"
expect compose_ps_shows_serving "$(compose ps -q app | xargs docker inspect -f '{{.Config.Image}}' | sed 's/.*://')" v2

# 4. A config that fails `nginx -t` in the container: refused before anything starts.
echo "this is not nginx" >"$work/nginx/conf.d/broken.conf"
before=$(cat "$upstreams")
run nginx_t_refused 3 deploy "$work/pb.yml" --tag v3
grep -q "PREFLIGHT: the proxy's configuration fails its test before the deploy changes anything; fix it first: config test: 'docker' exited with 1" <<<"$out" &&
    ok nginx_t_message || bad nginx_t_message "$out"
expect nginx_t_file_untouched "$(cat "$upstreams")" "$before"
expect nginx_t_no_candidate "$(containers)" v2
expect nginx_t_still_serves "$(through_nginx)" v2
rm -f "$work/nginx/conf.d/broken.conf"

echo "switch in a container: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
