#!/usr/bin/env bash
# The local stack of the integration tests, the demo and the benchmarks:
#
#   dockerd     unix:///var/run/docker.sock (reused when one already answers)
#   registry    Debian's docker-registry on 127.0.0.1:5000   (config: scripts/stack/registry.yml)
#   postgres    a PostgreSQL 15 cluster on 127.0.0.1:$ROLLGATE_PG_PORT, trust auth, user postgres
#   nginx       127.0.0.1:$ROLLGATE_NGINX_PORT proxying to the demo app's upstream `demo_app`
#               (config: scripts/stack/nginx.conf; the upstream in nginx/conf.d/demo-upstreams.conf,
#               rewritten by rollgate on every deploy of playbooks/demo.yml)
#
# and the demo-app images in the registry (tests/fixtures/app/build-images.sh).
#
#   scripts/stack.sh up       start what is not running (idempotent), build/push the images,
#                             print the `export …` line on stdout (progress goes to stderr):
#                             eval "$(scripts/stack.sh up)"
#   scripts/stack.sh down     stop what `up` started (what has a pid file); data stays
#   scripts/stack.sh status   one line per component; exit 0 only when all of them run
#   scripts/stack.sh env      only the `export …` line: eval "$(scripts/stack.sh env)"
#
# State (pid files, logs, data) lives in ${ROLLGATE_STACK_DIR:-/tmp/rollgate-stack}; delete it
# after `down` for a stack from nothing. Needs root (dockerd, runuser postgres).
#
#   ROLLGATE_STACK_DIR   state directory              (default /tmp/rollgate-stack)
#   ROLLGATE_PG_PORT     PostgreSQL port              (default 55432)
#   ROLLGATE_NGINX_PORT  nginx port                   (default 18081)
#   ROLLGATE_APP_PORT    the demo app's host port     (default 18080)
#   ROLLGATE_STACK_NO_IMAGES=1   `up` skips build-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$(pwd)

stack_dir=${ROLLGATE_STACK_DIR:-/tmp/rollgate-stack}
pg_port=${ROLLGATE_PG_PORT:-55432}
nginx_port=${ROLLGATE_NGINX_PORT:-18081}
app_port=${ROLLGATE_APP_PORT:-18080}
registry_addr=127.0.0.1:5000
docker_sock=/var/run/docker.sock
pg_bin=/usr/lib/postgresql/15/bin

# The stack's own engine, whatever the caller's environment points at.
export DOCKER_HOST=unix://$docker_sock

say() { echo "stack: $*" >&2; }
die() {
    echo "stack: error: $*" >&2
    exit 1
}

# fail COMPONENT WHY [LOG…]: says which component failed and why, with the tail of its logs.
fail() {
    local log
    echo "stack: error: $1: $2" >&2
    shift 2
    for log in "$@"; do
        if [ -s "$log" ]; then
            echo "stack: last lines of $log:" >&2
            tail -n 30 -- "$log" | sed 's/^/  | /' >&2
        fi
    done
    exit 1
}

usage() {
    echo "usage: scripts/stack.sh up|down|status|env" >&2
    exit 64
}

case $stack_dir in
/*) ;;
*) stack_dir=$(pwd)/$stack_dir ;;
esac
# The path goes through sed into the config files and must not need quoting there.
[[ $stack_dir =~ ^[A-Za-z0-9._/-]+$ ]] ||
    die "ROLLGATE_STACK_DIR '$stack_dir' may only contain letters, digits, '.', '_', '-', '/'"
for v in "$pg_port" "$nginx_port" "$app_port"; do
    if ! [[ $v =~ ^[0-9]+$ ]] || [ "$v" -lt 1 ] || [ "$v" -gt 65535 ]; then
        die "invalid port '$v' (ROLLGATE_PG_PORT, ROLLGATE_NGINX_PORT, ROLLGATE_APP_PORT)"
    fi
done

export_line() {
    echo "export ROLLGATE_STACK_DIR=$stack_dir ROLLGATE_PG_PORT=$pg_port" \
        "ROLLGATE_REGISTRY=$registry_addr DOCKER_HOST=unix://$docker_sock" \
        "ROLLGATE_NGINX_PORT=$nginx_port ROLLGATE_APP_PORT=$app_port"
}

# --- process helpers ------------------------------------------------------------------------

# pid_of PIDFILE COMM: prints the pid recorded in PIDFILE when that process is alive and is
# COMM (a recycled pid is not ours); fails otherwise.
pid_of() {
    local pid comm
    [ -s "$1" ] || return 1
    read -r pid <"$1" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "$2" ] || return 1
    echo "$pid"
}

# start_bg PIDFILE LOG CMD…: runs CMD in its own session, detached from our stdio and from the
# lock descriptor, and records its pid.
start_bg() {
    local pidfile=$1 log=$2
    shift 2
    setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
    echo $! >"$pidfile"
}

# wait_until SECONDS PID CMD…: polls CMD every 0.2 s; fails after SECONDS or as soon as PID
# (when not empty) has exited.
wait_until() {
    local deadline=$((SECONDS + $1)) pid=$2
    shift 2
    until "$@"; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 2
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.2
    done
}

# stop_pid NAME PIDFILE COMM GRACE: SIGTERM, then SIGKILL after GRACE seconds.
stop_pid() {
    local name=$1 pidfile=$2 comm=$3 grace=$4 pid
    if [ ! -e "$pidfile" ]; then
        say "$name: no pid file (stopped, or not started by stack.sh): nothing to stop"
        return 0
    fi
    if ! pid=$(pid_of "$pidfile" "$comm"); then
        say "$name: not running (stale pid file removed)"
        rm -f -- "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until "$grace" "" proc_gone "$pid"; then
        say "$name: pid $pid still running ${grace}s after SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_until 10 "" proc_gone "$pid" || fail "$name" "pid $pid survives SIGKILL"
    fi
    rm -f -- "$pidfile"
    say "$name: stopped (pid $pid)"
}

proc_gone() { ! kill -0 "$1" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- dockerd --------------------------------------------------------------------------------
dockerd_pidfile() { echo "$stack_dir/dockerd/dockerd.pid"; }
dockerd_log() { echo "$stack_dir/dockerd/dockerd.log"; }

docker_ping() {
    curl -fsS --max-time 2 -o /dev/null --unix-socket "$docker_sock" http://localhost/_ping \
        2>/dev/null
}

up_dockerd() {
    local pidfile log pid rc=0
    pidfile=$(dockerd_pidfile)
    log=$(dockerd_log)
    if pid=$(pid_of "$pidfile" dockerd); then
        wait_until 60 "$pid" docker_ping ||
            fail dockerd "pid $pid runs but $docker_sock does not answer GET /_ping" "$log"
        say "dockerd: already running (pid $pid, $docker_sock)"
        return 0
    fi
    rm -f -- "$pidfile"
    if docker_ping; then
        say "dockerd: reusing the daemon already answering on $docker_sock (not started by stack.sh)"
        return 0
    fi
    command -v dockerd >/dev/null || fail dockerd "dockerd not found (scripts/setup.sh installs docker.io)"
    mkdir -p "$stack_dir/dockerd"
    : >"$log"
    # 127.0.0.0/8 is an insecure (plain HTTP) registry range by default; say so anyway, so a
    # daemon.json that overrides insecure-registries cannot break the local registry.
    start_bg "$pidfile" "$log" dockerd --host "unix://$docker_sock" \
        --insecure-registry "$registry_addr"
    pid=$(cat "$pidfile")
    wait_until 60 "$pid" docker_ping || rc=$?
    case $rc in
    0) say "dockerd: started (pid $pid, $docker_sock, log $log)" ;;
    2) rm -f -- "$pidfile"; fail dockerd "exited during startup" "$log" ;;
    *) fail dockerd "no answer to GET /_ping on $docker_sock within 60 s (pid $pid)" "$log" ;;
    esac
}

# --- registry -------------------------------------------------------------------------------
registry_pidfile() { echo "$stack_dir/registry/registry.pid"; }
registry_log() { echo "$stack_dir/registry/registry.log"; }

registry_ping() {
    [ "$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$registry_addr/v2/" \
        2>/dev/null)" = 200 ]
}

up_registry() {
    local pidfile log cfg pid rc=0
    pidfile=$(registry_pidfile)
    log=$(registry_log)
    cfg=$stack_dir/registry/config.yml
    if pid=$(pid_of "$pidfile" docker-registry); then
        wait_until 30 "$pid" registry_ping ||
            fail registry "pid $pid runs but http://$registry_addr/v2/ does not answer 200" "$log"
        say "registry: already running (pid $pid, http://$registry_addr)"
        return 0
    fi
    rm -f -- "$pidfile"
    if registry_ping; then
        say "registry: reusing the registry already answering on http://$registry_addr (not started by stack.sh)"
        return 0
    fi
    if port_open 5000; then
        fail registry "127.0.0.1:5000 is taken by something that is not a registry"
    fi
    command -v docker-registry >/dev/null ||
        fail registry "docker-registry not found (scripts/setup.sh installs docker-registry)"
    mkdir -p "$stack_dir/registry/data"
    sed "s|@STACK_DIR@|$stack_dir|g" scripts/stack/registry.yml >"$cfg"
    : >"$log"
    start_bg "$pidfile" "$log" docker-registry serve "$cfg"
    pid=$(cat "$pidfile")
    wait_until 30 "$pid" registry_ping || rc=$?
    case $rc in
    0) say "registry: started (pid $pid, http://$registry_addr, data $stack_dir/registry/data)" ;;
    2) rm -f -- "$pidfile"; fail registry "exited during startup" "$log" ;;
    *) fail registry "http://$registry_addr/v2/ did not answer 200 within 30 s (pid $pid)" "$log" ;;
    esac
}

# --- PostgreSQL -----------------------------------------------------------------------------
pg_pidfile() { echo "$stack_dir/postgres/postgres.pid"; }
pg_log() { echo "$stack_dir/postgres/postgres.log"; }
pg_data() { echo "$stack_dir/postgres/data"; }
pg_sockdir() { echo "$stack_dir/postgres/run"; }

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$pg_port" -t 2; }

as_postgres() { runuser -u postgres -- "$@"; }

up_postgres() {
    local pidfile log data pid
    pidfile=$(pg_pidfile)
    log=$(pg_log)
    data=$(pg_data)
    if pid=$(pid_of "$pidfile" postgres); then
        wait_until 30 "$pid" pg_ready ||
            fail postgres "pid $pid runs but 127.0.0.1:$pg_port is not ready (pg_isready)" "$log"
        say "postgres: already running (pid $pid, 127.0.0.1:$pg_port)"
        return 0
    fi
    rm -f -- "$pidfile"
    if pg_ready || port_open "$pg_port"; then
        fail postgres "127.0.0.1:$pg_port is taken by a server stack.sh did not start; stop it or set ROLLGATE_PG_PORT"
    fi
    [ -x "$pg_bin/initdb" ] || fail postgres "$pg_bin/initdb not found (scripts/setup.sh installs postgresql)"
    id postgres >/dev/null 2>&1 || fail postgres "no 'postgres' OS user (scripts/setup.sh installs postgresql)"
    mkdir -p "$stack_dir/postgres" "$(pg_sockdir)"
    # postgres must be able to reach its directories through the stack directory.
    chmod 755 "$stack_dir" "$stack_dir/postgres"
    chown postgres:postgres "$stack_dir/postgres" "$(pg_sockdir)"
    as_postgres test -w "$stack_dir/postgres" ||
        fail postgres "the postgres OS user cannot write $stack_dir/postgres (a parent directory not searchable?)"
    touch "$log"
    chown postgres:postgres "$log"
    if [ ! -s "$data/PG_VERSION" ]; then
        rm -rf -- "$data"
        if ! as_postgres "$pg_bin/initdb" -D "$data" -A trust -U postgres -E UTF8 \
            --locale=C.UTF-8 >"$stack_dir/postgres/initdb.log" 2>&1 9>&-; then
            fail postgres "initdb failed" "$stack_dir/postgres/initdb.log"
        fi
        say "postgres: initialized a cluster in $data (trust auth, superuser postgres)"
    fi
    if ! as_postgres "$pg_bin/pg_ctl" start -D "$data" -l "$log" -w -t 60 -s \
        -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $(pg_sockdir)" \
        >"$stack_dir/postgres/pg_ctl.log" 2>&1 9>&-; then
        fail postgres "pg_ctl start failed" "$stack_dir/postgres/pg_ctl.log" "$log"
    fi
    head -n 1 "$data/postmaster.pid" >"$pidfile"
    pid=$(pid_of "$pidfile" postgres) || fail postgres "started, but no postmaster pid in $data/postmaster.pid" "$log"
    wait_until 30 "$pid" pg_ready ||
        fail postgres "127.0.0.1:$pg_port not ready (pg_isready) within 30 s" "$log"
    say "postgres: started (pid $pid, 127.0.0.1:$pg_port, socket dir $(pg_sockdir), log $log)"
}

down_postgres() {
    local pidfile pid
    pidfile=$(pg_pidfile)
    if [ -e "$pidfile" ] && pid=$(pid_of "$pidfile" postgres); then
        if as_postgres "$pg_bin/pg_ctl" stop -D "$(pg_data)" -m fast -w -t 60 -s \
            >"$stack_dir/postgres/pg_ctl.log" 2>&1; then
            rm -f -- "$pidfile"
            say "postgres: stopped (pid $pid)"
            return 0
        fi
        say "postgres: pg_ctl stop failed, signalling pid $pid"
    fi
    stop_pid postgres "$pidfile" postgres 30
}

# --- nginx ----------------------------------------------------------------------------------
nginx_pidfile() { echo "$stack_dir/nginx/stack-nginx.pid"; }
nginx_log() { echo "$stack_dir/nginx/error.log"; }

nginx_answers() {
    local code
    code=$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$nginx_port/" 2>/dev/null) || true
    [ -n "$code" ] && [ "$code" != 000 ]
}

up_nginx() {
    local pidfile log dir cfg pid rc=0
    pidfile=$(nginx_pidfile)
    log=$(nginx_log)
    dir=$stack_dir/nginx
    cfg=$dir/nginx.conf
    command -v nginx >/dev/null || fail nginx "nginx not found (scripts/setup.sh installs nginx)"
    mkdir -p "$dir/tmp" "$dir/conf.d"
    sed -e "s|@STACK_DIR@|$stack_dir|g" -e "s|@NGINX_PORT@|$nginx_port|g" \
        -e "s|@APP_PORT@|$app_port|g" scripts/stack/nginx.conf >"$cfg.new"
    # The demo's upstream file: written here once, then owned by rollgate (playbooks/demo.yml
    # switches it on every deploy), so never overwritten.
    [ -e "$dir/conf.d/demo-upstreams.conf" ] ||
        printf '# nothing deployed yet: rollgate writes this file on the first deploy\nupstream demo_app {\n    server 127.0.0.1:%s;\n}\n' \
            "$app_port" >"$dir/conf.d/demo-upstreams.conf"
    touch "$log"
    if pid=$(pid_of "$pidfile" nginx); then
        wait_until 10 "$pid" nginx_answers ||
            fail nginx "pid $pid runs but 127.0.0.1:$nginx_port does not answer HTTP" "$log"
        # A stack started by an older checkout runs an older config: apply this one.
        if ! cmp -s "$cfg.new" "$cfg"; then
            mv -- "$cfg.new" "$cfg"
            nginx -t -q -c "$cfg" -p "$dir/" -e "$log" >"$dir/nginx-t.log" 2>&1 9>&- ||
                fail nginx "configuration test of $cfg failed" "$dir/nginx-t.log"
            nginx -s reload -c "$cfg" -p "$dir/" -e "$log" >>"$dir/nginx-t.log" 2>&1 9>&- ||
                fail nginx "reload with the new $cfg failed" "$dir/nginx-t.log"
            say "nginx: already running (pid $pid, 127.0.0.1:$nginx_port), reloaded with the current config"
        else
            rm -f -- "$cfg.new"
            say "nginx: already running (pid $pid, 127.0.0.1:$nginx_port)"
        fi
        return 0
    fi
    rm -f -- "$pidfile"
    if port_open "$nginx_port"; then
        rm -f -- "$cfg.new"
        fail nginx "127.0.0.1:$nginx_port is taken by a process stack.sh did not start; set ROLLGATE_NGINX_PORT"
    fi
    mv -- "$cfg.new" "$cfg"
    if ! nginx -t -q -c "$cfg" -p "$dir/" -e "$log" >"$dir/nginx-t.log" 2>&1 9>&-; then
        fail nginx "configuration test of $cfg failed" "$dir/nginx-t.log"
    fi
    start_bg "$pidfile" "$log" nginx -c "$cfg" -p "$dir/" -e "$log"
    pid=$(cat "$pidfile")
    wait_until 15 "$pid" nginx_answers || rc=$?
    case $rc in
    0) say "nginx: started (pid $pid, http://127.0.0.1:$nginx_port -> upstream demo_app, log $log)" ;;
    2) rm -f -- "$pidfile"; fail nginx "exited during startup" "$log" ;;
    *) fail nginx "127.0.0.1:$nginx_port did not answer within 15 s (pid $pid)" "$log" ;;
    esac
}

# --- commands -------------------------------------------------------------------------------
lock() {
    mkdir -p "$stack_dir"
    exec 9>"$stack_dir/stack.lock"
    flock -w 600 9 || die "another stack.sh holds $stack_dir/stack.lock"
}

cmd_up() {
    [ "$(id -u)" -eq 0 ] || die "scripts/stack.sh up needs root (dockerd, runuser postgres)"
    lock
    up_dockerd
    up_registry
    up_postgres
    up_nginx
    if [ "${ROLLGATE_STACK_NO_IMAGES:-0}" != 1 ]; then
        say "images: running tests/fixtures/app/build-images.sh"
        if ! ROLLGATE_STACK_DIR=$stack_dir ROLLGATE_REGISTRY=$registry_addr \
            "$repo_root/tests/fixtures/app/build-images.sh" >&2 9>&-; then
            fail images "tests/fixtures/app/build-images.sh failed (see above)"
        fi
    fi
    say "up: all components running; for the tests:"
    export_line
}

cmd_down() {
    [ "$(id -u)" -eq 0 ] || die "scripts/stack.sh down needs root"
    if [ ! -d "$stack_dir" ]; then
        say "down: $stack_dir does not exist, nothing to stop"
        return 0
    fi
    lock
    stop_pid nginx "$(nginx_pidfile)" nginx 15
    down_postgres
    stop_pid registry "$(registry_pidfile)" docker-registry 15
    # dockerd stops its containers first (up to 15 s each by default).
    stop_pid dockerd "$(dockerd_pidfile)" dockerd 60
    say "down: done (data kept in $stack_dir)"
}

# status_line NAME PIDFILE COMM ADDRESS PROBE…
status_line() {
    local name=$1 pidfile=$2 comm=$3 addr=$4 pid
    shift 4
    if pid=$(pid_of "$pidfile" "$comm"); then
        if "$@"; then
            printf 'stack: %-9s running   pid %-8s %s\n' "$name" "$pid" "$addr"
            return 0
        fi
        printf 'stack: %-9s failing   pid %-8s %s (process runs, does not answer)\n' \
            "$name" "$pid" "$addr"
        return 1
    fi
    if "$@"; then
        printf 'stack: %-9s running   %-12s %s (not started by stack.sh)\n' "$name" "-" "$addr"
        return 0
    fi
    printf 'stack: %-9s stopped   %-12s %s\n' "$name" "-" "$addr"
    return 1
}

cmd_status() {
    local bad=0
    status_line dockerd "$(dockerd_pidfile)" dockerd "unix://$docker_sock" docker_ping || bad=1
    status_line registry "$(registry_pidfile)" docker-registry "http://$registry_addr" \
        registry_ping || bad=1
    status_line postgres "$(pg_pidfile)" postgres "127.0.0.1:$pg_port" pg_ready || bad=1
    status_line nginx "$(nginx_pidfile)" nginx "http://127.0.0.1:$nginx_port" nginx_answers ||
        bad=1
    export_line
    return "$bad"
}

[ $# -eq 1 ] || usage
case $1 in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) export_line ;;
*) usage ;;
esac
