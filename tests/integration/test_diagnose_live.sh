#!/usr/bin/env bash
# `rollgate diagnose` against faults injected for real on the local stack: the demo app under
# compose behind an nginx of the test's own (its own config, error and access logs),
# PostgreSQL, gunicorn from Debian's package, a tmpfs the test mounts. Each fault asserts the
# cause ranked first, its evidence and its fix; the healthy stack asserts no cause at all.
#   test_diagnose_live.sh ROLLGATE
set -uo pipefail

bin=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/systemd_lib.sh
. "$here/systemd_lib.sh"
require_stack
reg=${ROLLGATE_REGISTRY:-127.0.0.1:5000}
pg_port=${ROLLGATE_PG_PORT:-55432}
app_port=18110
nginx_port=18111
gun_port=18113
sd_port=18114
sd_name=rg-dx-sd
work=$(mktemp -d /tmp/rollgate-dx-test.XXXXXX)
chmod 0755 "$work" # the systemd container's app user reads the app from here
project=rgdxtest
if docker compose version >/dev/null 2>&1; then dc=(docker compose); else dc=(docker-compose); fi
nginx_pid=""
gun_pid=""
bench_pid=""
lock_pid=""
mounted=""

cleanup() {
    for p in $gun_pid $bench_pid $lock_pid; do kill "$p" 2>/dev/null; done
    # pgbench's sessions keep their slots until they are ended (a failed run included).
    psql -X -h 127.0.0.1 -p "$pg_port" -U postgres -Atc "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgbench'" postgres >/dev/null 2>&1
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null
    (cd "$work/app" 2>/dev/null && "${dc[@]}" -p "$project" down -t 1 >/dev/null 2>&1)
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    sd_down "$sd_name" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# --- the stack -------------------------------------------------------------------------------
mkdir -p "$work/app" "$work/nginx" "$work/disk" "$work/gapp"
cat >"$work/app/docker-compose.yml" <<YAML
services:
  app:
    image: $reg/rollgate/demo-app:\${DEMO_APP_TAG}
    environment:
      APP_MODE: \${APP_MODE:-healthy}
      APP_PORT: \${APP_PORT:-8080}
      APP_DELAY: "1"
    ports: ["127.0.0.1:$app_port:\${APP_PORT:-8080}"]
    restart: \${RESTART:-unless-stopped}
    mem_limit: 48m
    stop_grace_period: 1s
YAML
printf 'DEMO_APP_TAG=v1\n' >"$work/app/.env"
# stack_env KEY=VALUE...: the app's environment for the next `up`, besides the tag.
stack_env() { { echo DEMO_APP_TAG=v1; printf '%s\n' "$@"; } >"$work/app/.env"; }
# compose ARGS...: compose v2 when the docker CLI has it, else docker-compose (v1).
compose() { (cd "$work/app" && "${dc[@]}" -p "$project" "$@" >/dev/null 2>&1); }

cat >"$work/nginx/nginx.conf" <<CONF
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
events { worker_connections 64; }
http {
    log_format rollgate '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status '
                        '\$body_bytes_sent "\$http_referer" "\$http_user_agent" '
                        'rt=\$request_time uct=\$upstream_connect_time uht=\$upstream_header_time '
                        'urt=\$upstream_response_time ua=\$upstream_addr us=\$upstream_status';
    access_log $work/nginx/access.log rollgate;
    client_body_temp_path $work/nginx/tmp;
    proxy_temp_path $work/nginx/tmp;
    include $work/nginx/upstream.conf;
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://app_up;
            proxy_connect_timeout 2s;
            proxy_read_timeout 2s;
        }
    }
}
CONF
mkdir -p "$work/nginx/tmp"
# upstream ADDR: what nginx sends requests to (written, not yet reloaded).
upstream() { printf 'upstream app_up {\n    server %s;\n}\n' "$1" >"$work/nginx/upstream.conf"; }
reload() { nginx -c "$work/nginx/nginx.conf" -p "$work/nginx/" -s reload 2>/dev/null; sleep 0.5; }
upstream "127.0.0.1:$app_port"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx/" 2>"$work/nginx.start" ||
    { echo "FAIL setup: nginx did not start: $(cat "$work/nginx.start")"; exit 1; }
for _ in $(seq 50); do [ -s "$work/nginx/nginx.pid" ] && break; sleep 0.1; done
nginx_pid=$(cat "$work/nginx/nginx.pid")
if [ -z "$nginx_pid" ]; then
    pkill -QUIT -f "nginx -c $work/nginx/nginx.conf" 2>/dev/null
    echo "FAIL setup: nginx wrote no pid file"
    exit 1
fi

cat >"$work/pb.yml" <<YAML
version: 1
name: dxtest
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/app, project_name: $project, env_file: .env,
          tag_var: DEMO_APP_TAG, services: [app]}
release: {image: $reg/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
gates:
  health: {http: "http://127.0.0.1:$app_port/health", expect: [200]}
deploy: [pull, up, {verify: [health]}]
diagnose:
  nginx_config: [nginx, -T, -c, $work/nginx/nginx.conf, -p, $work/nginx/]
  error_log: $work/nginx/error.log
  access_log: $work/nginx/access.log
  app_log: $work/gunicorn.log
  database: "host=127.0.0.1 port=$pg_port dbname=postgres user=postgres"
  disks: [$work/disk]
YAML

# A gunicorn app of plain WSGI (no framework): /slow outlives gunicorn's --timeout 1; /write
# writes to a SQLite file with a short busy timeout.
cat >"$work/gapp/wsgiapp.py" <<'PY'
import os, sqlite3, time

def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/slow":
        time.sleep(5)
    if path == "/write":
        db = sqlite3.connect(os.environ["DX_DB"], timeout=0.2)
        db.execute("insert into t values (1)")
        db.commit()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
PY

# reset: truncated logs (nginx appends to its open files), a healthy app behind nginx.
reset() {
    : >"$work/nginx/error.log"
    : >"$work/nginx/access.log"
    : >"$work/gunicorn.log"
}
# traffic N [PATH]: N requests through nginx.
traffic() {
    for _ in $(seq "$1"); do curl -s -o /dev/null --max-time 6 "http://127.0.0.1:$nginx_port${2:-/}"; done
}
# dx NAME WANT: rollgate diagnose (the last minute), output in $out.
# RG_DX_SAMPLES=DIR keeps each output as DIR/NAME.txt (the samples of docs/diagnose.md).
dx() {
    run "$1" "$2" diagnose --since 2m "$work/pb.yml"
    local rc=$?
    [ -z "${RG_DX_SAMPLES:-}" ] || printf '%s\n' "$out" >"$RG_DX_SAMPLES/$1.txt"
    return $rc
}
# first NAME CAUSE: the cause ranked first.
first() {
    local got
    got=$(grep -m1 -oE '^1\. \[[a-z-]+' <<<"$out" | sed 's/^1\. \[//')
    if [ "$got" = "$2" ]; then ok "$1"
    else bad "$1" "first cause '$got', want '$2':"; echo "$out" | sed 's/^/    /'; fi
}
has() {
    if grep -qF -- "$2" <<<"$out"; then ok "$1"
    else bad "$1" "lacks '$2':"; echo "$out" | sed 's/^/    /'; fi
}
wait_app() {
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$app_port/health" >/dev/null && return 0; sleep 0.2; done
    return 1
}

run deploy_v1 0 deploy "$work/pb.yml" --tag v1 || exit 1
wait_app || { echo "FAIL setup: the app does not answer"; exit 1; }

# 0. A healthy stack: no cause.
reset; traffic 5
dx healthy 0 && has healthy_says "diagnose: no cause found"
run healthy_json 0 diagnose --json "$work/pb.yml"
grep -q '"findings": \[\]\|"findings":\[\]' <<<"$out" && ok healthy_json_empty || bad healthy_json_empty "$out"

# 1. The app stopped: nginx is refused.
reset; compose stop app; traffic 3
dx app_stopped 7 && first app_stopped_first app-down
has app_stopped_state "exited"; has app_stopped_nginx "connect() failed (111"
has app_stopped_fix "rollgate rollback $work/pb.yml"
compose start app; wait_app

# 2. A crash loop.
reset; stack_env APP_MODE=crash RESTART=always; compose up -d; sleep 4; traffic 3
dx crash_loop 7 && first crash_loop_first app-down
has crash_loop_restarts "restart"; has crash_loop_log "fatal: crash mode"
stack_env; compose up -d; wait_app

# 3. Out of memory: killed by the kernel under mem_limit (exit 137).
reset; stack_env APP_MODE=oom RESTART=no; compose up -d; sleep 6; traffic 2
dx oom 7 && first oom_first out-of-memory
has oom_137 "exit code 137"
has oom_fix "mem_limit"
stack_env; compose up -d; wait_app

# 4. The app accepts and never answers: nginx times out reading the response header (504).
reset; stack_env APP_MODE=hang; compose up -d; sleep 1; traffic 2
dx hang 7 && first hang_first upstream-timeout
has hang_110 "upstream timed out (110"; has hang_fix "proxy_read_timeout"
stack_env; compose up -d; wait_app

# 5. nginx points at the wrong port.
reset; upstream "127.0.0.1:18119"; reload; traffic 3
dx wrong_port 7 && first wrong_port_first upstream-port
has wrong_port_where "$work/nginx/upstream.conf:2"; has wrong_port_addr "127.0.0.1:18119"

# 6. A stale upstream address: an IP on the app's network that no container has.
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(cd "$work/app" && "${dc[@]}" -p "$project" ps -q app)")
stale="${ip%.*}.250:8080"
reset; upstream "$stale"; reload; traffic 2
dx stale_ip 7 && first stale_ip_first upstream-stale
has stale_ip_addr "$stale"; has stale_ip_fix "resolver"

# 7. A compose service name nginx on the host cannot resolve (the config is refused).
reset; upstream "app:8080"
dx host_not_found 7 && first host_not_found_first upstream-host-not-found
has host_not_found_line "host not found in upstream"; has host_not_found_fix "127.0.0.1:PUBLISHED_PORT"
upstream "127.0.0.1:$app_port"; reload

# 8. An Odoo-like app on 8069 without a gevent port (a threaded Odoo serves /websocket on
#    8069 through /): nothing wrong. With its gevent port 8072, /websocket left to / is.
reset; stack_env APP_PORT=8069; compose up -d; wait_app; traffic 2
dx odoo_threaded 0 && has odoo_threaded_says "no cause found"
cp "$work/app/docker-compose.yml" "$work/compose.saved"
sed -i 's/^    mem_limit: 48m$/    mem_limit: 48m\n    expose: ["8072"]/' "$work/app/docker-compose.yml"
compose up -d; wait_app
dx websocket 7 && first websocket_first websocket-misrouted
has websocket_location "/websocket"; has websocket_fix "Upgrade"
cp "$work/compose.saved" "$work/app/docker-compose.yml"
stack_env; compose up -d; wait_app

# 8b. nginx gives up before the app's own limit: proxy_read_timeout 2s against app_timeout 5s.
sed 's/^  disks: \[\(.*\)\]$/  disks: [\1]\n  app_timeout: 5s/' "$work/pb.yml" >"$work/pb-timeout.yml"
reset; traffic 1
run proxy_timeout 7 diagnose --since 2m "$work/pb-timeout.yml" && first proxy_timeout_first proxy-timeout
has proxy_timeout_where "$work/nginx/nginx.conf:"; has proxy_timeout_fix "proxy_read_timeout"
[ -z "${RG_DX_SAMPLES:-}" ] || printf '%s\n' "$out" >"$RG_DX_SAMPLES/proxy_timeout.txt"

# 9. PostgreSQL out of connection slots (held by pgbench's clients).
reset
printf 'select pg_sleep(30);\n' >"$work/sleep.sql"
pgbench -n -h 127.0.0.1 -p "$pg_port" -U postgres -c 92 -j 2 -T 40 -f "$work/sleep.sql" postgres >/dev/null 2>&1 &
bench_pid=$!
for _ in $(seq 50); do
    n=$(psql -X -h 127.0.0.1 -p "$pg_port" -U postgres -Atc "select count(*) from pg_stat_activity where application_name = 'pgbench'" postgres 2>/dev/null)
    [ "${n:-0}" -ge 92 ] && break; sleep 0.2
done
dx pg_slots 7 && first pg_slots_first pg-connections
has pg_slots_numbers "max_connections"; has pg_slots_fix "pgbouncer"
kill "$bench_pid" 2>/dev/null; wait "$bench_pid" 2>/dev/null; bench_pid=""
psql -X -h 127.0.0.1 -p "$pg_port" -U postgres -Atc "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pgbench'" postgres >/dev/null 2>&1

# 10. A full disk (a 2 MiB tmpfs the test mounts, filled).
if mount -t tmpfs -o size=2m rgdxtest "$work/disk"; then
    mounted=$work/disk
    reset
    dx disk_small_not_full 0    # an empty small filesystem is not a full one
    dd if=/dev/zero of="$work/disk/fill" bs=64k >/dev/null 2>&1
    dx disk_full 7 && first disk_full_first disk-full
    has disk_full_path "$work/disk"; has disk_full_fix "free space"
    umount "$work/disk" && mounted=""
else
    bad disk_full "cannot mount a tmpfs at $work/disk (the test needs root)"
fi

# 11. gunicorn kills a worker that outlives its --timeout: 502 through nginx.
: >"$work/gunicorn.log"
DX_DB=$work/dx.db gunicorn --timeout 1 --workers 1 --bind "127.0.0.1:$gun_port" --chdir "$work/gapp" \
    --error-logfile "$work/gunicorn.log" wsgiapp:app >/dev/null 2>&1 &
gun_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$gun_port/" >/dev/null && break; sleep 0.2; done
reset; upstream "127.0.0.1:$gun_port"; reload; traffic 2 /slow
dx worker_timeout 7 && first worker_timeout_first worker-timeout
has worker_timeout_line "WORKER TIMEOUT"; has worker_timeout_fix "--timeout"

# 12. SQLite refuses writes while another connection holds the write lock.
sqlite3 "$work/dx.db" "create table t (x int)"
(echo "BEGIN EXCLUSIVE; insert into t values (0);"; sleep 20) | sqlite3 "$work/dx.db" &
lock_pid=$!
sleep 0.5
reset
traffic 2 /write
dx sqlite_locked 7 && first sqlite_locked_first sqlite-locked
has sqlite_locked_line "database is locked"; has sqlite_locked_fix "WAL"
kill "$lock_pid" 2>/dev/null; lock_pid=""
kill "$gun_pid" 2>/dev/null; wait "$gun_pid" 2>/dev/null; gun_pid=""
upstream "127.0.0.1:$app_port"; reload

# 13. A failed deploy carries its diagnosis: in its output, its JSON events and its history.
reset; stack_env APP_MODE=crash RESTART=always
run failed_deploy 2 deploy "$work/pb.yml" --tag v2
has failed_deploy_diagnosis "diagnose: "; has failed_deploy_cause "[app-down,"
run failed_deploy_json 0 history --json "$work/pb.yml" -n 1
has failed_deploy_history "app-down"
stack_env; compose up -d

# 14. A unit under a real systemd (the container of the systemd tests): gunicorn's WORKER
#     TIMEOUT read from the unit's journal, then the unit stopped.
if sd_up "$sd_name" "$work" "$sd_port" >/dev/null; then
    mapfile -t prefix <"$work/prefix"
    prefix_yaml=$(printf '%s, ' "${prefix[@]}")
    printf 'DX_DB=%s/dx.db\nAPP_TAG=v1\n' "$work" >"$work/unit.env"
    chmod 0644 "$work/unit.env"
    sd_unit "$sd_name" rg-dx.service "[Service]
User=app
EnvironmentFile=$work/unit.env
ExecStart=/usr/bin/gunicorn --timeout 1 --workers 1 --bind 0.0.0.0:$sd_port --chdir $work/gapp wsgiapp:app
Restart=always
RestartSec=1" >/dev/null
    sd_run systemctl start rg-dx.service
    sed -e "s|^runtime: .*|runtime: {driver: systemd, unit: rg-dx.service, env_file: $work/unit.env, tag_var: APP_TAG,|" \
        -e "s|^          tag_var: DEMO_APP_TAG, services: \[app\]}|          command_prefix: [${prefix_yaml%, }]}|" \
        -e "s|^release: .*|release: {tag_pattern: '^v[0-9]+\$'}|" \
        -e "s|^  app_log: .*||" -e "s|^deploy: .*|deploy: [up, {verify: [health]}]|" \
        "$work/pb.yml" >"$work/pb-sd.yml"
    for _ in $(seq 50); do curl -sf "http://$SD_IP:$sd_port/" >/dev/null && break; sleep 0.2; done
    reset; upstream "$SD_IP:$sd_port"; reload; traffic 1 /slow
    run unit_worker_timeout 7 diagnose --since 2m "$work/pb-sd.yml" &&
        first unit_worker_timeout_first worker-timeout
    has unit_worker_timeout_journal "rg-dx.service: "; has unit_worker_timeout_line "WORKER TIMEOUT"
    sd_run systemctl stop rg-dx.service
    reset; traffic 2
    run unit_stopped 7 diagnose --since 2m "$work/pb-sd.yml" && first unit_stopped_first app-down
    has unit_stopped_state "inactive (dead)"; has unit_stopped_fix "journalctl -u rg-dx.service"
    sd_down "$sd_name" >/dev/null 2>&1
    upstream "127.0.0.1:$app_port"; reload
else
    bad unit_faults "systemd did not boot in a container"
fi

echo "diagnose: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
