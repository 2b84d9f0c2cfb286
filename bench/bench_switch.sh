#!/usr/bin/env bash
# bench_switch: failed requests through nginx during a deploy, for rollgate's `strategy: switch`,
# rollgate's default `strategy: replace` and Docker Swarm's automatic rollback, on the same
# images in the same run; the switch strategy's switch-back time; the healthy deploy's wall time
# under switch and under replace. Prints a markdown section; --write FILE replaces the section
# "## Zero-downtime deploys: switch vs replace vs Docker Swarm" of FILE (docs/BENCHMARKS.md) and
# keeps the others.
#
# Four cases, over a serving v1: a healthy release (v2), a crash-looping one (v2-crash: exits at
# start), one whose /health answers 500 (v2-500) and one that dies in the settle window (v2-die:
# exits ~3 s after start). During every deploy a client (python3, asyncio in one thread, a new
# TCP connection per request, 2 s timeout) sends GET /version through an nginx of the
# benchmark's own at a fixed rate (open loop: a request is started every 1/rate s whatever the
# others do) and logs every answer; a failed request is any answer other than 200, a connection error or a
# timeout. Its real rate is measured and must be >= 100 requests/s in every run (else exit 2).
#
#   switch:  the compose service publishes no port; nginx's upstream file is rollgate's;
#   replace: nginx's upstream is the service's published port 127.0.0.1:18100;
#   Swarm:   a single-node swarm, one replica, healthcheck, update_config failure_action
#            rollback, the port published in host mode on 127.0.0.1:18101 (nginx's upstream).
#
# Targets: switch: 0 failed requests in all four cases; switch-back (die case, from rollgate's
# failed verdict to the reload in force and to the client's last switch to the old release)
# <= 200 ms; healthy deploy: rollgate's elapsed time under switch <= under replace.
#
# Needs root (the Docker socket), the local stack (scripts/stack.sh up), a built build/rollgate
# (BUILD_DIR overrides build/), nginx (the Debian package's binary), docker-compose v1, python3,
# jq, curl, bash >= 5. Uses 127.0.0.1:18099 (its nginx), :18100 and :18101; initialises a
# single-node swarm and leaves it at the end: refuses to run on a node already in a swarm.
# Leaves no project, stack, service, container, network or nginx behind. Run it alone on the
# stack (the tests take /tmp/rollgate-stack.lock: `flock /tmp/rollgate-stack.lock bench/...`).
# Exit: 0 all targets met, 1 a target missed, 2 the benchmark could not run.
set -euo pipefail
export LC_ALL=C # a '.' in $EPOCHREALTIME

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
bin="$build/rollgate"
registry="${ROLLGATE_REGISTRY:-127.0.0.1:5000}"
image="$registry/rollgate/demo-app"
export DOCKER_HOST=unix:///var/run/docker.sock

section="## Zero-downtime deploys: switch vs replace vs Docker Swarm"
reproduce="cmake --build build --target rollgate && bench/bench_switch.sh --write docs/BENCHMARKS.md"
nginx_port=18099   # the benchmark's nginx
replace_port=18100 # the replace project's published port
swarm_port=18101   # the Swarm service, published in host mode
project_sw="rgbswitch-$$"
project_rp="rgbreplace-$$"
stack=rgbswitch
service="${stack}_app"
old=v1
new=v2
crash_tag=v2-crash
http500_tag=v2-500
die_tag=v2-die
every=200ms  # gate interval
within=8s    # gate deadline
gate_to=2s   # gate probe timeout: the client's
settle=6s    # the settle window of both strategies; Swarm's update monitor
reset_settle=1s # the unmeasured deploys back to v1
drain=1s     # switch: how long the old release runs after the switch
client_to=2  # the client's timeout, seconds
min_rate=100 # requests/s the client must reach in every run
swarm_cap_s=120
target_sb_ms=200 # switch-back <= 200 ms

reps=3
swarm_reps=1
rate=150
write=""
keep=0

usage() {
    cat <<EOF
usage: bench/bench_switch.sh [--reps N] [--swarm-reps N] [--rate N] [--write FILE] [--keep]
  --reps N        rollgate runs of each case and strategy (default $reps)
  --swarm-reps N  Swarm runs of each case (default $swarm_reps)
  --rate N        the client's request rate, requests/s (default $rate, at least $min_rate)
  --write FILE    replace the section '${section#\#\# }' of FILE (docs/BENCHMARKS.md)
  --keep          keep the work directory (client logs, stamped JSON, nginx logs, events)
exit: 0 targets met, 1 a target missed, 2 the benchmark could not run
EOF
}

die() {
    echo "bench_switch: $*" >&2
    exit 2
}
bench_t0=${EPOCHREALTIME/./}
say() { echo "bench_switch: [$(((${EPOCHREALTIME/./} - bench_t0) / 1000000)) s] $*" >&2; }

while (($# > 0)); do
    case $1 in
    --reps | --swarm-reps)
        [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -ge 1 && $2 -le 100 ]] ||
            die "$1: expected a number from 1 to 100"
        if [[ $1 == --reps ]]; then reps=$2; else swarm_reps=$2; fi
        shift 2
        ;;
    --rate)
        [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -ge $min_rate && $2 -le 2000 ]] ||
            die "--rate: expected a number from $min_rate to 2000"
        rate=$2
        shift 2
        ;;
    --write)
        [[ $# -ge 2 ]] || die "--write: expected a file"
        write=$2
        shift 2
        ;;
    --keep)
        keep=1
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument '$1'"
        ;;
    esac
done

# --- preflight --------------------------------------------------------------------------------
((BASH_VERSINFO[0] >= 5)) || die "needs bash >= 5 (\$EPOCHREALTIME)"
for tool in docker docker-compose jq curl awk nginx python3 pgrep getconf; do
    command -v "$tool" >/dev/null || die "'$tool' not found (scripts/setup.sh installs it)"
done
[[ -x $bin ]] || die "no rollgate binary at $bin: cmake --build build --target rollgate"
[[ -z $write || -f $write ]] || die "--write: '$write' does not exist"
curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://d/_ping >/dev/null ||
    die "the Docker engine does not answer on /var/run/docker.sock: eval \"\$(scripts/stack.sh up)\""
curl -sf --max-time 2 "http://$registry/v2/" >/dev/null ||
    die "registry http://$registry does not answer: eval \"\$(scripts/stack.sh up)\""
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$nginx_port" "$replace_port" "$swarm_port"; do
    ! port_open "$p" || die "127.0.0.1:$p is in use"
done
swarm_state=$(docker info --format '{{.Swarm.LocalNodeState}}')
[[ $swarm_state == inactive ]] ||
    die "this Docker node is in a swarm ($swarm_state): the benchmark creates and leaves its own"

work=$(mktemp -d /tmp/rollgate-bench-switch.XXXXXX)
results=$work/results # lines "CASE KEY VALUE"
: >"$results"
client_pid=""
events_pid=""
nginx_pid=""
swarm_created=0
gwbridge_existed=0
if docker network inspect docker_gwbridge >/dev/null 2>&1; then gwbridge_existed=1; fi

stop_client() {
    if [[ -n $client_pid ]]; then
        kill -TERM "$client_pid" 2>/dev/null || true
        wait "$client_pid" 2>/dev/null || true
        client_pid=""
    fi
}

stop_events() {
    if [[ -n $events_pid ]]; then
        sleep 0.3 # the last events on their way
        kill "$events_pid" 2>/dev/null || true
        wait "$events_pid" 2>/dev/null || true
        events_pid=""
    fi
}

# Stops the nginx this benchmark started (its master's pid, read when it started).
nginx_stop() {
    [[ -n $nginx_pid ]] || return 0
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$nginx_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$nginx_pid" 2>/dev/null; then kill -TERM "$nginx_pid" 2>/dev/null || true; fi
    nginx_pid=""
}

swarm_teardown() {
    ((swarm_created)) || return 0
    docker stack rm "$stack" >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        [[ -z $(docker ps -aq --filter "label=com.docker.swarm.service.name=$service") ]] && break
        sleep 0.2
    done
    docker swarm leave --force >/dev/null 2>&1 || true
    docker ps -aq --filter "label=com.docker.swarm.service.name=$service" | xargs -r docker rm -f \
        >/dev/null 2>&1 || true
    if ((!gwbridge_existed)); then
        docker network rm docker_gwbridge >/dev/null 2>&1 || true
    fi
    swarm_created=0
}

compose_down() { # DIR PROJECT
    (cd "$1" 2>/dev/null && docker-compose -p "$2" down -t 1 >/dev/null 2>&1) || true
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    stop_client
    stop_events
    nginx_stop
    compose_down "$work/switch" "$project_sw"
    compose_down "$work/replace" "$project_rp"
    swarm_teardown
    if ((keep)); then
        say "kept $work"
    else
        rm -rf -- "$work"
    fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# --- helpers ----------------------------------------------------------------------------------
now_us() { printf -v "$1" '%s' "${EPOCHREALTIME/./}"; }

# "1763680000123456" -> "1763680000.123456", for docker events --since
us_to_s() { printf '%s.%s' "${1:0:${#1}-6}" "${1: -6}"; }

# Stamps each line of stdin with the wall time of its arrival, in microseconds, and a tab.
stamp_lines() {
    local line
    while IFS= read -r line; do
        printf '%s\t%s\n' "${EPOCHREALTIME/./}" "$line"
    done
}

record() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$results"; }

# stats CASE KEY: "median min max n" of the recorded values, or nothing.
stats() {
    awk -v c="$1" -v k="$2" '$1 == c && $2 == k { print $3 }' "$results" | sort -g |
        awk '{ v[NR] = $1 } END {
            if (NR == 0) exit
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.3f %s %s %d\n", m, v[1], v[NR], NR }'
}

med() {
    local s
    s=$(stats "$1" "$2")
    [[ -n $s ]] || die "no measurement of $1 $2"
    echo "${s%% *}"
}

# total CASE KEY: the sum of the recorded values (0 when none).
total() { awk -v c="$1" -v k="$2" '$1 == c && $2 == k { s += $3 } END { printf "%.0f", s }' "$results"; }

# values CASE KEY: the recorded values in run order, ", "-separated.
values() {
    awk -v c="$1" -v k="$2" '$1 == c && $2 == k { printf "%s%s", (n++ ? ", " : ""), $3 }' "$results"
}

# --- the client -------------------------------------------------------------------------------
cat >"$work/client.py" <<'PY'
# Open-loop HTTP client, one thread (asyncio): starts GET PATH on a new TCP connection every
# 1/RATE s whatever the earlier requests do, until SIGTERM or MAX_S; one line per answer, written
# when it arrives: "start_us<TAB>end_us<TAB>status<TAB>body" (status: the HTTP code, TIMEOUT
# after TIMEOUT s, or ERR:reason for a connection error).
import asyncio
import signal
import sys
import time

host, port, path, rate, out, max_s, timeout = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                               float(sys.argv[4]), sys.argv[5],
                                               float(sys.argv[6]), float(sys.argv[7]))
request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
           % (path, host, port)).encode()
log = open(out, "w", buffering=1)


async def exchange():
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        return await reader.read()  # the server closes the connection after its answer
    finally:
        writer.close()


async def one():
    t0 = time.time()
    status, body = "ERR", "-"
    try:
        data = await asyncio.wait_for(exchange(), timeout)
        head, _, rest = data.partition(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].split()
        if not data:
            status = "ERR:EmptyReply"
        elif len(line) >= 2 and line[0].startswith(b"HTTP/"):
            status = line[1].decode("ascii", "replace")
            if status == "200":
                body = "_".join(rest.decode("ascii", "replace").split())[:40] or "-"
        else:
            status = "ERR:BadStatusLine"
    except asyncio.TimeoutError:
        status = "TIMEOUT"
    except Exception as e:  # every error is a failed request, named
        status = "ERR:" + type(e).__name__
    log.write("%d\t%d\t%s\t%s\n" % (t0 * 1e6, time.time() * 1e6, status, body))


async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tasks = set()
    start = loop.time()
    n = 0
    while not stop.is_set() and loop.time() - start < max_s:
        wait = start + n / rate - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
            continue
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


asyncio.run(main())
log.close()
PY

# start_client OUT WANT: the client on the benchmark's nginx, logging to OUT; returns once its
# first answer is logged and is WANT's /version.
start_client() {
    local out=$1 want=$2 first=""
    : >"$out"
    python3 "$work/client.py" 127.0.0.1 "$nginx_port" /version "$rate" "$out" 300 "$client_to" &
    client_pid=$!
    for _ in $(seq 200); do
        first=$(head -n1 "$out")
        [[ -n $first ]] && break
        sleep 0.02
    done
    [[ $(cut -f3,4 <<<"$first") == "200"$'\t'"$want" ]] ||
        die "nginx on 127.0.0.1:$nginx_port does not serve $want before the run (first answer: '$first')"
}

# client_stats LOG: "requests failed rate_per_s p50_ms p99_ms" (the percentiles of the answered
# requests' latency), then one line "KIND COUNT" for each kind of failed answer.
client_stats() {
    local lat
    lat=$(awk -F'\t' '$3 == "200" { printf "%.1f\n", ($2 - $1) / 1000 }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1]
            else print "0 0" }')
    awk -F'\t' -v lat="$lat" '
        { n++; if (n == 1 || $1 < min) min = $1; if ($1 > max) max = $1
          if ($3 != "200") { f++; k[$3]++ } }
        END {
            span = (max - min) / 1e6
            printf "%d %d %.1f %s\n", n, f, (span > 0 ? (n - 1) / span : 0), lat
            for (x in k) print x, k[x]
        }' "$1"
}

# start_events OUT FILTER…: this run's container events to OUT as "TIMENANO<TAB>IMAGE<TAB>ACTION".
start_events() {
    local out=$1 since
    shift
    now_us since
    docker events --since "$(us_to_s "$since")" --filter type=container "$@" \
        --format "{{.TimeNano}}"$'\t'"{{.Actor.Attributes.image}}"$'\t'"{{.Action}}" \
        >"$out" 2>/dev/null &
    events_pid=$!
}

through_nginx() { curl -s --max-time 2 "http://127.0.0.1:$nginx_port/version" || true; }

# The image IDs of the tags the benchmark deploys: another process rebuilding them mid-run (the
# stack's build-images.sh) would move the tags under the running containers.
image_ids() {
    local t
    for t in "$old" "$new" "$crash_tag" "$http500_tag" "$die_tag"; do
        docker image inspect -f '{{.Id}}' "$image:$t" 2>/dev/null || echo "missing:$t"
    done | tr '\n' ' '
}
check_images() {
    [[ $(image_ids) == "$images_at_start" ]] ||
        die "the images $image:* changed during the run (rebuilt by another process?): results not valid, run again"
}

# quiet_wait CASE: waits (60 s at most) until the CPUs are less than 50% busy over half a second
# with the benchmark idle, i.e. until other work on the machine lets up; records how busy they
# were when the run started.
quiet_wait() {
    local busy=100 a b
    for _ in $(seq 40); do
        a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
        sleep 0.5
        b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
        busy=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
            printf "%.0f", (y[2] > x[2] ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0) }')
        ((busy < 50)) && break
        sleep 1
    done
    record "$1" busy_pct "$busy"
}

# --- nginx --------------------------------------------------------------------------------------
mkdir -p "$work/nginx/tmp"
# nginx_conf PHASE: a config of its own for PHASE (switch, replace, swarm), including PHASE.d/.
nginx_conf() {
    local n=$work/nginx
    mkdir -p "$n/$1.d"
    cat >"$n/$1.conf" <<CONF
daemon on;
pid $n/nginx.pid;
error_log $n/$1-error.log warn;
events { worker_connections 1024; }
http {
    log_format bench '\$msec \$status \$request_time "\$upstream_addr" "\$upstream_status" "\$upstream_connect_time" "\$upstream_header_time"';
    access_log $n/$1-access.log bench;
    client_body_temp_path $n/tmp/cb;
    proxy_temp_path $n/tmp/p;
    fastcgi_temp_path $n/tmp/f;
    uwsgi_temp_path $n/tmp/u;
    scgi_temp_path $n/tmp/s;
    include $n/$1.d/*.conf;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { proxy_pass http://demo_app; }
    }
}
CONF
}

nginx_start() {
    local pid=""
    nginx -c "$work/nginx/$1.conf" -p "$work/nginx/" || die "nginx ($1) did not start"
    for _ in $(seq 50); do
        pid=$(cat "$work/nginx/nginx.pid" 2>/dev/null || true)
        [[ -n $pid ]] && break
        sleep 0.1
    done
    [[ -n $pid ]] || die "nginx ($1) wrote no pid file"
    nginx_pid=$pid
}

# The wall time (µs) at which the newest worker of our nginx started: a reload is in force once
# the master has read the new configuration and forked its new workers. From /proc (process start
# in clock ticks since boot, 10 ms at CLK_TCK 100) and /proc/uptime (10 ms).
nginx_worker_start_us() {
    local pid files=()
    for pid in $(pgrep -P "$nginx_pid"); do files+=("/proc/$pid/stat"); done
    ((${#files[@]} > 0)) || return 1
    awk -v tck="$(getconf CLK_TCK)" -v now="${EPOCHREALTIME/./}" '
        FILENAME == "/proc/uptime" { up = $1; next }
        $22 + 0 > best { best = $22 + 0 }
        END { if (!best) exit 1; printf "%.0f\n", now - up * 1e6 + best * 1e6 / tck }' \
        /proc/uptime "${files[@]}"
}

# --- the compose projects and their playbooks --------------------------------------------------
# compose_file DIR PORTS_LINE
compose_file() {
    mkdir -p "$1"
    cat >"$1/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: $image:\${DEMO_APP_TAG:?set DEMO_APP_TAG}
$2    restart: unless-stopped
    stop_grace_period: 2s
YAML
}
compose_file "$work/switch" ""
compose_file "$work/replace" "    ports: [\"127.0.0.1:$replace_port:8080\"]
"

ng_args="-c, $work/nginx/switch.conf, -p, $work/nginx/"
# playbook FILE STRATEGY SETTLE
playbook() {
    local strat=$2 health proxy="" project dir
    if [[ $strat == switch ]]; then
        project=$project_sw dir=$work/switch health="http://app:8080/health"
        proxy="strategy: switch
proxy:
  upstream_file: $work/nginx/switch.d/upstreams.conf
  test: [nginx, -t, -q, $ng_args]
  reload: [nginx, -s, reload, $ng_args]
  drain: $drain
  upstreams:
    demo_app: {service: app, port: 8080}
"
    else
        project=$project_rp dir=$work/replace health="http://127.0.0.1:$replace_port/health"
    fi
    cat >"$1" <<YAML
version: 1
name: bench$strat
state_dir: $work/state-$strat
runtime: {driver: compose, project_dir: $dir, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: $image, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
${proxy}defaults: {every: $every, within: $within, timeout: $gate_to}
gates:
  running: {container: app}
  health: {http: "$health", fail_on: [500]}
  public: {http: "http://127.0.0.1:$nginx_port/health"}
deploy:
  - pull
  - up
  - verify: [running, health, public]
  - settle: {for: $3, watch: [app], gates: [health, public]}
recover:
  - rollback: previous
YAML
}
for s in switch replace; do
    playbook "$work/pb-$s.yml" "$s" "$settle"
    playbook "$work/pb-$s-reset.yml" "$s" "$reset_settle"
done

# --- rollgate runs ------------------------------------------------------------------------------
# rg_reset STRATEGY: back to $old, unmeasured (a shorter settle), the client off.
rg_reset() {
    local rc=0
    "$bin" deploy "$work/pb-$1-reset.yml" --tag "$old" >"$work/reset.log" 2>&1 || rc=$?
    ((rc == 0)) || { sed 's/^/    /' "$work/reset.log" >&2; die "$1: reset deploy of $old exited $rc"; }
}

# client_record CASE REP LOG: the client's figures of one run, recorded; exits 2 when the client
# did not reach $min_rate requests/s. Sets n and f (requests, failed) and kinds.
client_record() {
    local c=$1 rep=$2 cs r p50 p99
    cs=$(client_stats "$3")
    read -r n f r p50 p99 <<<"${cs%%$'\n'*}"
    kinds=""
    [[ $cs != *$'\n'* ]] || kinds=${cs#*$'\n'}
    awk -v r="$r" -v m="$min_rate" 'BEGIN { exit !(r >= m) }' ||
        die "$c run $rep: the client reached only $r requests/s (< $min_rate): results not valid"
    record "$c" requests "$n"
    record "$c" failed "$f"
    record "$c" rate "$r"
    record "$c" p50_ms "$p50"
    record "$c" p99_ms "$p99"
    [[ -z $kinds ]] || awk -v c="$c" '{ print c, $0 }' <<<"$kinds" >>"$work/kinds"
}

# rg_run STRATEGY CASE TAG REP: one measured deploy over $old, the client running.
rg_run() {
    local strat=$1 case=$2 tag=$3 rep=$4 c want_rc want_out want_serve rc out t0 t1 s old_addr
    local log=$work/$1-$2-$3-$4 project=$project_sw
    c=${strat}_$case
    [[ $strat == switch ]] || project=$project_rp
    want_rc=1 want_out=rolled_back want_serve=$old
    if [[ $case == healthy ]]; then
        want_rc=0 want_out=deployed want_serve=$new
    elif [[ $strat == switch && $case != die ]]; then
        want_rc=3 want_out=aborted
    fi
    # nginx's server before the deploy: a failed request that never left it is not the switch's.
    old_addr=$(grep -o 'server [0-9.:]*' "$work/nginx/$strat.d/upstreams.conf" | head -n1 | cut -d' ' -f2)
    quiet_wait "$c"
    start_events "$log.events" --filter "label=com.docker.compose.project=$project"
    start_client "$log.client" "$old"
    # Each run deploys the same broken release: lift the quarantine the run before put it in.
    "$bin" release allow "$work/pb-$strat.yml" "$tag" >/dev/null 2>&1 || true
    now_us t0
    set +e
    "$bin" deploy "$work/pb-$strat.yml" --tag "$tag" --json 2>"$log.err" | stamp_lines >"$log.json"
    rc=${PIPESTATUS[0]}
    set -e
    now_us t1
    stop_client
    stop_events
    out=$(tail -n1 "$log.json" | cut -f2 | jq -r '.outcome // empty' 2>/dev/null || true)
    record "$c" "outcome_$out" 1
    if [[ $rc != "$want_rc" || $out != "$want_out" ]]; then
        say "$c run $rep: UNEXPECTED: rollgate deploy --tag $tag exited $rc, outcome '$out' (want $want_rc, $want_out)"
        echo "$c run $rep: rollgate exited $rc, outcome \`$out\` (expected $want_rc, \`$want_out\`)" >>"$work/unexpected"
    fi
    check_images
    s=$(through_nginx)
    if [[ $s != "$want_serve" ]]; then
        say "$c run $rep: nginx serves '$s' after the deploy, not $want_serve"
        echo "$c run $rep: nginx served \`$s\` after it" >>"$work/unexpected"
        [[ $case == healthy ]] || rg_reset "$strat"
    fi

    client_record "$c" "$rep" "$log.client"
    record "$c" wall_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
    # nginx's view of the run (its access log): requests it passed from one server to the next
    # (two addresses), and its failed answers (499: the client gave up) on the server that served
    # before the deploy alone, or through another one.
    awk -v a="$t0" -v b="$t1" -v old="\"$old_addr\"" '
        $1 * 1e6 < a || $1 * 1e6 > b { next }
        /, / { nu++ }
        $2 != 200 { if ($4 == old) fo++; else fn++ }
        END { printf "next_upstream %d\nnginx_fail_old %d\nnginx_fail_new %d\n", nu, fo, fn }' \
        "$work/nginx/$strat-access.log" >"$log.nginx"
    while read -r k v; do record "$c" "$k" "$v"; done <"$log.nginx"

    # The JSON events as "stamp event state result rung elapsed_ms".
    cut -f2 "$log.json" | jq -r '[.event, (.state // "-"), (.result // "-"), (.rung // 0),
        .elapsed_ms] | @tsv' | paste <(cut -f1 "$log.json") - >"$log.tsv"
    # rollgate's own elapsed time, and each state of the deploy (rung 0) on its clock.
    awk -F'\t' '
        $2 == "outcome" { printf "elapsed_ms %d\n", $6 }
        $2 == "state" && $5 == 0 { st[$3] = $6 }
        $2 == "result" && $5 == 0 && ($3 in st) { printf "st_%s_ms %d\n", $3, $6 - st[$3] }' \
        "$log.tsv" >"$log.m"
    while read -r k v; do record "$c" "$k" "$v"; done <"$log.m"

    if ((f > 0)) && [[ $strat == switch ]]; then
        say "$c run $rep: $f failed request(s): $(tr '\n' ' ' <<<"$kinds")(nginx: $(tr '\n' ' ' <"$log.nginx")); nginx's error log of the run:"
        sed 's/^/    /' "$work/nginx/$strat-error.log" | tail -n 20 >&2 || true
    fi
    : >"$work/nginx/$strat-error.log"
    if [[ $strat == switch && $case == die && $out == rolled_back ]]; then
        switch_back "$log" "$rep"
    fi
    say "$c run $rep: $f failed of $n requests, rollgate ${rc}/$out in $(awk '$1 == "elapsed_ms" { print $2 }' "$log.m") ms"
}

# switch_back LOG REP: the die case under switch, from rollgate's failed verdict (the arrival of
# its first non-ok result line) to the rung's reload and to the client's last switch to $old.
switch_back() {
    local log=$1 rep=$2 c=switch_die verdict die_us worker m
    verdict=$(awk -F'\t' '$2 == "result" && $4 != "ok" && $5 == 0 { print $1; exit }' "$log.tsv")
    [[ -n $verdict ]] || die "$c run $rep: no failed verdict in rollgate's JSON (see $log.json)"
    die_us=$(awk -F'\t' -v img="$image:$die_tag" '$2 == img && $3 == "die" {
        printf "%.0f\n", $1 / 1000; exit }' "$log.events")
    worker=$(nginx_worker_start_us) || die "$c run $rep: no nginx worker found"
    m=$(awk -F'\t' -v v="$verdict" -v die="${die_us:-0}" -v worker="$worker" -v new="$die_tag" \
        -v old="$old" '
        FNR == NR {
            if ($2 == "result" && $4 != "ok" && $5 == 0 && vel == "") vel = $6
            if ($2 == "state" && $3 == "UP" && $5 == 1 && ups == "") ups = $6
            if ($2 == "result" && $3 == "UP" && $5 == 1 && upe == "") upe = $6
            next
        }
        { t1[FNR] = $2; st[FNR] = $3; b[FNR] = $4; n = FNR
          if ($3 == "200" && $4 == new && $2 + 0 > lastnew) lastnew = $2 + 0 }
        END {
            if (vel == "" || upe == "") { print "broken"; exit }
            lim = lastnew > v ? lastnew : v
            first = ""; backup = 0; after = 0
            for (i = 1; i <= n; i++) {
                if (st[i] != "200") continue
                if (b[i] == old && t1[i] > lim && (first == "" || t1[i] < first)) first = t1[i]
                if (b[i] == old && die > 0 && t1[i] >= die && t1[i] < v) backup++
                if (b[i] == new && t1[i] > v) after++
            }
            if (first == "") { print "broken"; exit }
            printf "sb_up_done_ms %d\n", upe - vel
            printf "sb_up_start_ms %d\n", ups - vel
            printf "sb_reload_ms %.1f\n", (worker - v) / 1000
            printf "sb_client_ms %.1f\n", (first - v) / 1000
            if (lastnew) printf "sb_last_new_ms %.1f\n", (lastnew - v) / 1000
            printf "sb_new_after %d\n", after
            if (die > 0) {
                printf "sb_die_to_verdict_ms %.1f\n", (v - die) / 1000
                printf "sb_backup_answers %d\n", backup
            }
        }' "$log.tsv" "$log.client")
    [[ $m != broken ]] || die "$c run $rep: no rung UP, or no answer from $old after the verdict (see $log.*)"
    while read -r k v; do record "$c" "$k" "$v"; done <<<"$m"
    say "$c run $rep: switch-back: reload in force $(awk '$1 == "sb_reload_ms" { print $2 }' <<<"$m") ms, client $(awk '$1 == "sb_client_ms" { print $2 }' <<<"$m") ms after the verdict"
}

# rg_phase STRATEGY: nginx for it, a first deploy of $old, then every case $reps times.
rg_phase() {
    local strat=$1 rc=0
    nginx_conf "$strat"
    if [[ $strat == switch ]]; then
        # Before the first deploy the upstream is the user's own (nothing serves yet).
        printf 'upstream demo_app {\n    server 127.0.0.1:9;\n}\n' >"$work/nginx/switch.d/upstreams.conf"
    else
        printf 'upstream demo_app {\n    server 127.0.0.1:%s;\n}\n' "$replace_port" \
            >"$work/nginx/replace.d/upstreams.conf"
    fi
    nginx_start "$strat"
    "$bin" deploy "$work/pb-$strat-reset.yml" --tag "$old" >"$work/first.log" 2>&1 || rc=$?
    ((rc == 0)) || { sed 's/^/    /' "$work/first.log" >&2; die "$strat: first deploy of $old exited $rc"; }
    for rep in $(seq "$reps"); do
        rg_run "$strat" healthy "$new" "$rep"
        rg_reset "$strat"
        rg_run "$strat" crash "$crash_tag" "$rep"
        rg_run "$strat" http500 "$http500_tag" "$rep"
        rg_run "$strat" die "$die_tag" "$rep"
    done
    nginx_stop
    if [[ $strat == switch ]]; then compose_down "$work/switch" "$project_sw"; else
        compose_down "$work/replace" "$project_rp"; fi
}

# --- Swarm ------------------------------------------------------------------------------------
swarm_file=$work/swarm.yml
cat >"$swarm_file" <<YAML
version: "3.8"
services:
  app:
    image: $image:$old
    ports:
      - {target: 8080, published: $swarm_port, protocol: tcp, mode: host}
    healthcheck: {test: ["CMD", "/app", "--probe"], interval: 1s, timeout: 1s, retries: 1, start_period: 0s}
    stop_grace_period: 2s
    deploy:
      replicas: 1
      update_config: {parallelism: 1, delay: 0s, failure_action: rollback, monitor: $settle, max_failure_ratio: 0, order: stop-first}
      rollback_config: {parallelism: 1, delay: 0s, failure_action: pause, monitor: $settle, max_failure_ratio: 0, order: stop-first}
      restart_policy: {condition: none}
YAML

# "STATE|STARTEDAT" of the service's update (or "none|-").
swarm_update() {
    docker service inspect "$service" --format \
        '{{if .UpdateStatus}}{{.UpdateStatus.State}}|{{.UpdateStatus.StartedAt}}{{else}}none|-{{end}}' \
        2>/dev/null || echo "gone|-"
}

# Waits until the service runs TAG (default $old), healthy, with no update or rollback under way.
swarm_wait_settled() {
    local want=${1:-$old} st body tasks
    for _ in $(seq 600); do
        st=$(swarm_update)
        st=${st%%|*}
        tasks=$(docker ps --filter "label=com.docker.swarm.service.name=$service" \
            --format '{{.Image}} {{.Status}}')
        body=$(through_nginx)
        if [[ $st =~ ^(none|completed|rollback_completed)$ && $body == "$want" &&
            $(wc -l <<<"$tasks") == 1 && $tasks == *"$image:$want"*"(healthy)"* ]]; then
            return 0
        fi
        if [[ $st =~ ^(paused|rollback_paused)$ ]]; then
            say "swarm: update $st, putting $want back"
            docker service update --detach --image "$image:$want" "$service" >/dev/null 2>&1 || true
        fi
        sleep 0.2
    done
    die "swarm: the service did not settle on a healthy $want within 120 s (state $st)"
}

swarm_setup() {
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die "docker swarm init failed"
    swarm_created=1
    docker stack deploy -c "$swarm_file" "$stack" >/dev/null 2>&1 || die "docker stack deploy failed"
    swarm_wait_settled
}

# swarm_run CASE TAG REP: docker service update to TAG with the client running, until the
# update has completed (healthy) or Swarm has rolled back (the others), or the cap.
swarm_run() {
    local case=$1 tag=$2 rep=$3 c=swarm_$1 log=$work/swarm-$1-$3 before st t0 t1 want
    swarm_wait_settled
    quiet_wait "$c"
    before=$(swarm_update)
    before=${before#*|}
    want=rollback_completed
    [[ $case != healthy ]] || want=completed
    start_client "$log.client" "$old"
    now_us t0
    docker service update --detach --image "$image:$tag" "$service" >/dev/null 2>&1 ||
        die "swarm: docker service update --image $image:$tag failed"
    while :; do
        st=$(swarm_update)
        if [[ ${st#*|} != "$before" && ${st%%|*} =~ ^(completed|rollback_completed|paused|rollback_paused)$ ]]; then
            break
        fi
        if (((${EPOCHREALTIME/./} - t0) / 1000000 >= swarm_cap_s)); then
            st="timeout|-"
            break
        fi
        sleep 0.1
    done
    now_us t1
    stop_client
    check_images
    st=${st%%|*}
    [[ $st == "$want" ]] || say "$c run $rep: Swarm's update ended '$st', not $want"
    record "$c" "end_$st" 1
    client_record "$c" "$rep" "$log.client"
    record "$c" wall_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
    say "$c run $rep: $f failed of $n requests, update $st in $(((t1 - t0) / 1000)) ms"
    if [[ $case == healthy && $st == completed ]]; then
        swarm_wait_settled "$new"
        docker service update --detach --image "$image:$old" "$service" >/dev/null 2>&1 ||
            die "swarm: docker service update back to $old failed"
    fi
}

swarm_phase() {
    nginx_conf swarm
    printf 'upstream demo_app {\n    server 127.0.0.1:%s;\n}\n' "$swarm_port" \
        >"$work/nginx/swarm.d/upstreams.conf"
    nginx_start swarm
    swarm_setup
    for rep in $(seq "$swarm_reps"); do
        swarm_run healthy "$new" "$rep"
        swarm_run crash "$crash_tag" "$rep"
        swarm_run http500 "$http500_tag" "$rep"
        swarm_run die "$die_tag" "$rep"
    done
    swarm_teardown
    nginx_stop
}

# --- the run ----------------------------------------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "work directory $work; nginx on 127.0.0.1:$nginx_port, client at $rate requests/s"
for tag in "$old" "$new" "$crash_tag" "$http500_tag" "$die_tag"; do
    docker pull -q "$image:$tag" >/dev/null || die "cannot pull $image:$tag"
done
images_at_start=$(image_ids)
: >"$work/kinds"
: >"$work/unexpected"
say "rollgate, strategy: switch"
rg_phase switch
say "rollgate, strategy: replace"
rg_phase replace
say "Docker Swarm: init, stack $stack on 127.0.0.1:$swarm_port (host mode)"
swarm_phase
bench_t1=${EPOCHREALTIME/./}

# --- the report -------------------------------------------------------------------------------
fmt_ms() { awk -v v="$1" 'BEGIN { printf "%.0f ms", v }'; }
fmt_s() { awk -v v="$1" 'BEGIN { printf "%.2f s", v / 1000 }'; }

# row LABEL CASE KEY [ms|s]: "| LABEL | median | min–max |"
row() {
    local s m lo hi f=fmt_ms
    [[ ${4:-ms} == s ]] && f=fmt_s
    s=$(stats "$2" "$3")
    if [[ -z $s ]]; then
        printf '| %s | — | — |\n' "$1"
        return
    fi
    read -r m lo hi _ <<<"$s"
    printf '| %s | %s | %s–%s |\n' "$1" "$($f "$m")" "$($f "$lo" | cut -d' ' -f1)" "$($f "$hi")"
}

# failed_cell CASE: "**F** of N (runs: a, b, c)"
# shellcheck disable=SC2317 # called through cells4
failed_cell() {
    local f n
    f=$(total "$1" failed)
    n=$(total "$1" requests)
    if [[ $n == 0 ]]; then echo "—"; return; fi
    printf '**%s** of %s (runs: %s)' "$f" "$n" "$(values "$1" failed)"
}

medr() {
    local s
    s=$(stats "$1" "$2")
    if [[ -z $s ]]; then echo "—"; else awk -v v="${s%% *}" 'BEGIN { printf "%.0f", v }'; fi
}

ok_if() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

cases=(healthy crash http500 die)
declare -A label=([healthy]="healthy (\`$old\` → \`$new\`)" [crash]="crash-looping (\`$crash_tag\`)"
    [http500]="/health answers 500 (\`$http500_tag\`)" [die]="dies in settle (\`$die_tag\`)")
missed=""
declare -A sw_failed res_fail
for k in "${cases[@]}"; do
    sw_failed[$k]=$(total "switch_$k" failed)
    if ((sw_failed[$k] == 0)); then res_fail[$k]=met; else
        res_fail[$k]=MISSED
        missed+=", switch $k: ${sw_failed[$k]} failed"
    fi
done
# med_or CASE KEY: the median, or "" when nothing was measured.
med_or() {
    local s
    s=$(stats "$1" "$2")
    echo "${s%% *}"
}
sb_reload=$(med_or switch_die sb_reload_ms)
sb_client=$(med_or switch_die sb_client_ms)
res_sb_reload=MISSED res_sb_client=MISSED
[[ -z $sb_reload ]] || res_sb_reload=$(ok_if "$sb_reload <= $target_sb_ms")
[[ -z $sb_client ]] || res_sb_client=$(ok_if "$sb_client <= $target_sb_ms")
[[ $res_sb_reload == met ]] || missed+=", switch-back (reload)"
[[ $res_sb_client == met ]] || missed+=", switch-back (client)"
wall_sw=$(med switch_healthy elapsed_ms)
wall_rp=$(med replace_healthy elapsed_ms)
res_wall=$(ok_if "$wall_sw <= $wall_rp")
[[ $res_wall == met ]] || missed+=", healthy wall time"
if [[ -z $missed ]]; then verdict="all targets met"; else verdict="target missed: ${missed#, }"; fi

rates_all=$(awk '$2 == "rate" { print $3 }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.0f %.0f %.0f", v[1], NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[NR] }')
read -r rate_min rate_med rate_max <<<"$rates_all"
# "switch_crash: TIMEOUT×12, 502×3; …" over all runs.
kinds_txt=$(awk '{ n[$1 " " $2] += $3 } END { for (k in n) print k, n[k] }' "$work/kinds" | sort |
    awk '{ sub(/_/, " ", $1); if ($1 != c) printf "%s%s: ", (c == "" ? "" : "; "), $1; else printf ", "
        printf "%s×%s", $2, $3; c = $1 }')
[[ -n $kinds_txt ]] || kinds_txt="none"
# "healthy deployed×3; crash aborted×3; …" for one strategy.
outcomes() {
    awk -v s="$1_" 'index($1, s) == 1 && $2 ~ /^outcome_/ { c = substr($1, length(s) + 1)
        o = substr($2, 9); n[c " " (o == "" ? "none" : o)]++ } END { for (k in n) print k, n[k] }' \
        "$results" | sort | awk '{ if ($1 != c) printf "%s%s ", (c == "" ? "" : "; "), $1; else printf ", "
            printf "%s×%s", $2, $3; c = $1 }'
}
unexpected_txt=""
if [[ -s $work/unexpected ]]; then
    unexpected_txt=$'\n\n'"Unexpected outcomes (a failure of rollgate, not of the benchmark: the run is counted as it happened): $(awk '{ printf "%s%s", (NR > 1 ? "; " : ""), $0 }' "$work/unexpected")."
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
busy_all=$(awk '$2 == "busy_pct" { print $3 }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.0f %.0f %d", v[int((NR + 1) / 2)], v[NR], NR }')
read -r busy_med busy_max _ <<<"$busy_all"
busy_waits=$(awk '$2 == "busy_pct" && $3 >= 50 { n++ } END { print n + 0 }' "$results")
swarm_ends=$(awk '$1 ~ /^swarm_/ && $2 ~ /^end_/ { sub(/^swarm_/, "", $1); sub(/^end_/, "", $2);
    n[$1 " " $2]++ } END { for (k in n) print k, n[k] }' "$results" | sort |
    awk '{ printf "%s%s %s×%s", (NR > 1 ? ", " : ""), $1, $2, $3 }')

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
docker_v=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)
compose_v=$(docker-compose version --short 2>/dev/null || echo unknown)
nginx_v=$(nginx -v 2>&1 | sed 's/.*nginx\///')
py_v=$(python3 -c 'import platform; print(platform.python_version())')
build_type=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$build/CMakeCache.txt" 2>/dev/null || true)
rg_v=$("$bin" --version 2>/dev/null || echo rollgate)
date_s=$(date -u '+%Y-%m-%d %H:%M UTC')
bench_s=$(awk -v a="$bench_t0" -v b="$bench_t1" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')
rn() { if (($1 == 1)); then echo "1 run"; else echo "$1 runs"; fi; }

# cells4 FN: "| label | FN switch_CASE | FN replace_CASE | FN swarm_CASE |" for each case.
cells4() {
    local k
    for k in "${cases[@]}"; do
        printf '| %s | %s | %s | %s |\n' "${label[$k]}" "$("$1" "switch_$k")" "$("$1" "replace_$k")" \
            "$("$1" "swarm_$k")"
    done
}
# shellcheck disable=SC2317 # called through cells4
lat_cell() {
    local a b
    a=$(medr "$1" p50_ms)
    b=$(medr "$1" p99_ms)
    if [[ $a == — ]]; then echo "—"; else echo "$a / $b"; fi
}
nginx_cell() { echo "$(total "$1" nginx_fail_old) / $(total "$1" nginx_fail_new)"; }
sb_fmt() { if [[ -z $1 ]]; then echo "—"; else fmt_ms "$1"; fi; }

report() {
    cat <<EOF
$section

What: requests that fail through nginx while a release is deployed over a serving \`$old\`, for rollgate's \`strategy: switch\` (docs/switch.md), rollgate's default \`strategy: replace\` and Docker Swarm's automatic rollback: the same images from the local registry, the same nginx, the same client, in the same run. Four releases: healthy (\`$new\`), crash-looping (\`$crash_tag\`: exits 1 at start), \`GET /health\` answering 500 (\`$http500_tag\`), and one that passes its gates and dies ~3 s after start, in the settle window (\`$die_tag\`, exit 3).

- The client: python3 $py_v, asyncio in one thread, open loop: a request \`GET /version\` is started every $(awk -v r="$rate" 'BEGIN { printf "%.1f", 1000 / r }') ms ($rate/s) on a new TCP connection (HTTP/1.1, \`Connection: close\`, timeout ${client_to} s for connect and answer), whatever the requests before it do; it runs from just before the deploy starts (once it has an answer from \`$old\`) to its end. A failed request: any answer other than 200, a connection error or a timeout. Its real rate (requests started over the run's span) must be ≥ $min_rate/s in every run, else the benchmark exits 2: it was $rate_min–$rate_max/s (median $rate_med).
- nginx $nginx_v, the Debian package's binary with a config, pid file and port (127.0.0.1:$nginx_port) of the benchmark's own; \`location / { proxy_pass http://demo_app; }\`, nginx's defaults otherwise (\`proxy_next_upstream error timeout\`, \`proxy_connect_timeout 60s\`); the upstream \`demo_app\` in a file of its own per strategy; an access log with \`\$upstream_addr\`.
- rollgate, both strategies: a compose project (\`restart: unless-stopped\`, \`stop_grace_period: 2s\`), gates \`running\` (container), \`health\` (\`GET /health\` = 200, \`fail_on: [500]\`), \`public\` (\`GET /health\` through nginx), \`every: $every\`, \`within: $within\`, \`timeout: $gate_to\`; deploy \`pull, up, verify: [running, health, public], settle: {for: $settle, watch: [app], gates: [health, public]}\`; recover \`rollback: previous\`. Each deploy runs with \`--json\`, each line stamped with the wall clock as it arrives.
  - switch: the service publishes no host port; \`health\` is \`http://app:8080/health\` (the candidate's address before the switch); \`proxy\`: the upstream file owned by rollgate, \`test: [nginx, -t, -q, -c, CONF, -p, DIR/]\`, \`reload: [nginx, -s, reload, -c, CONF, -p, DIR/]\`, \`drain: $drain\`.
  - replace: the service publishes \`127.0.0.1:$replace_port:8080\`, nginx's upstream is that port, \`health\` is \`http://127.0.0.1:$replace_port/health\`.
- Swarm: \`docker swarm init --advertise-addr 127.0.0.1\`, one replica from \`docker stack deploy\` (compose v3.8: the images are FROM scratch, so the healthcheck is the exec form \`["CMD", "/app", "--probe"]\`), healthcheck interval 1s, timeout 1s, retries 1; \`update_config\`: parallelism 1, delay 0s, \`failure_action: rollback\`, monitor $settle (rollgate's settle window), max_failure_ratio 0, \`order: stop-first\`; \`rollback_config\` alike (failure_action pause); \`restart_policy: {condition: none}\`; \`stop_grace_period: 2s\`. The port is published with \`mode: host\` on 127.0.0.1:$swarm_port, nginx's upstream: the ingress routing mesh does not route on these machines, and a host-mode port can be held by one task at a time, which rules out \`order: start-first\` — Swarm's own zero-downtime setting could not be measured here, so its figures are those of a stop-first update. A run is \`docker service update --detach --image …:TAG\` until Swarm's update state is \`completed\` (healthy) or \`rollback_completed\`, capped at ${swarm_cap_s} s. Ends: $swarm_ends.

Before each healthy run the service is put back on \`$old\` (an unmeasured deploy, settle $reset_settle); the other cases end on \`$old\` by themselves.

Run: $date_s on $cpu, $(nproc) CPUs online, Linux $(uname -r), Docker $docker_v, docker-compose $compose_v, nginx $nginx_v; $rg_v, build ${build_type:-unknown}. $(rn "$reps") of each case with each rollgate strategy, $(rn "$swarm_reps") of each Swarm case; the whole benchmark took $bench_s s. The machine is shared with other work: before each run the benchmark waits (60 s at most) until the CPUs are less than 50% busy without it; they were busy $busy_med% (median), $busy_max% at most when the runs started ($busy_waits run(s) started after the 60 s at 50% or more); load average at the start / end $load_start / $load_end.  
Reproduce: \`$reproduce\`

Failed requests (all runs of a case added up; each run's count in brackets):

| release | rollgate \`switch\` | rollgate \`replace\` | Docker Swarm |
|---|---:|---:|---:|
$(cells4 failed_cell)

Failed answers by kind (the client's view: an HTTP status, \`TIMEOUT\` after ${client_to} s, \`ERR:…\` a connection error): $kinds_txt.

rollgate's outcomes: switch: $(outcomes switch); replace: $(outcomes replace).${unexpected_txt}

Client latency of the answered requests, p50 / p99 in ms (median over the runs):

| release | rollgate \`switch\` | rollgate \`replace\` | Docker Swarm |
|---|---:|---:|---:|
$(cells4 lat_cell)

nginx's view of the failed requests under \`switch\` (its access log, which also holds rollgate's \`public\` gate probes; status ≠ 200, 499 when the requester gave up), on the server that served before the deploy alone / through another address (the candidate's): $(for k in "${cases[@]}"; do printf '%s %s; ' "$k" "$(nginx_cell "switch_$k")"; done | sed 's/; $//'). A failure on the old server alone is no traffic sent to the new release: a request the old one did not answer within ${client_to} s (the deploy's load on the machine), or a gate probe rollgate abandoned (a 499 in 0 ms).

Switch-back, \`$die_tag\` under \`switch\`, from rollgate's failed verdict (the arrival of its first non-ok \`result\` line, SETTLE):

| measure | median | min–max |
|---|---:|---:|
$(row "the candidate's first exit (Docker's \`die\` event) → the verdict" switch_die sb_die_to_verdict_ms)
$(row "(i) verdict → the rung's UP starts (rollgate's clock, \`elapsed_ms\`)" switch_die sb_up_start_ms)
$(row "(i) verdict → the rung's UP done: nginx reloaded onto \`$old\`, the failed release's containers removed (rollgate's clock)" switch_die sb_up_done_ms)
$(row "(i) verdict → the reload in force: nginx's new worker started (/proc, ±10 ms)" switch_die sb_reload_ms)
$(row "(ii) verdict → the client's first \`$old\` answer after which no \`$die_tag\` answer comes" switch_die sb_client_ms)
$(row "the client's last \`$die_tag\` answer, relative to the verdict" switch_die sb_last_new_ms)
| answers from \`$old\` between the candidate's exit and the verdict (each run) | $(values switch_die sb_backup_answers) | |
| requests nginx passed to the next server, whole run (each run) | $(values switch_die next_upstream) | |

What these mean: after the switch, \`$old\` stays nginx's \`backup\` server while \`$die_tag\` settles, so when \`$die_tag\` exits, the requests it refuses are answered by \`$old\` (nginx's \`proxy_next_upstream error\`) before rollgate's verdict: the client is served by \`$old\` from the exit on, not from the switch-back (the row of \`$old\` answers between exit and verdict). A negative last-\`$die_tag\` time means no answer came from it after the verdict; (ii) is then the next request's answer after the verdict and says little. rollgate writes no line when the rung's reload is done: its UP step also removes the failed release's containers, so the UP-done row bounds the reload from above; the reload itself is timed from nginx's side (the start of the worker the reload forked; 10 ms clock ticks). The target applies to the reload in force and to (ii).

Healthy deploy (\`$old\` → \`$new\`), wall time: rollgate's \`elapsed_ms\` at its \`outcome\` line (the whole run from the process's start, including the compose check before its \`start\` line), the same settle window ($settle) for both strategies:

| measure | median | min–max |
|---|---:|---:|
$(row "rollgate \`switch\`" switch_healthy elapsed_ms s)
$(row "rollgate \`replace\`" replace_healthy elapsed_ms s)
$(row "Swarm, \`service update\` → \`completed\` (monitor $settle; informational)" swarm_healthy wall_ms s)

Where the time goes (medians, ms, rollgate's clock), healthy deploy: switch PULL $(medr switch_healthy st_PULL_ms), CANDIDATE $(medr switch_healthy st_CANDIDATE_ms), PROBE $(medr switch_healthy st_PROBE_ms), PROXY $(medr switch_healthy st_PROXY_ms), VERIFY $(medr switch_healthy st_VERIFY_ms), SETTLE $(medr switch_healthy st_SETTLE_ms), RETIRE $(medr switch_healthy st_RETIRE_ms) (a reload, the drain of $drain, the old release removed), COMMIT $(medr switch_healthy st_COMMIT_ms); replace PULL $(medr replace_healthy st_PULL_ms), SWITCH $(medr replace_healthy st_SWITCH_ms), UP $(medr replace_healthy st_UP_ms), VERIFY $(medr replace_healthy st_VERIFY_ms), SETTLE $(medr replace_healthy st_SETTLE_ms), COMMIT $(medr replace_healthy st_COMMIT_ms). Whole runs of the other cases (medians, ms, crash / 500 / die): switch $(medr switch_crash elapsed_ms) / $(medr switch_http500 elapsed_ms) / $(medr switch_die elapsed_ms), replace $(medr replace_crash elapsed_ms) / $(medr replace_http500 elapsed_ms) / $(medr replace_die elapsed_ms); Swarm until \`rollback_completed\` $(medr swarm_crash wall_ms) / $(medr swarm_http500 wall_ms) / $(medr swarm_die wall_ms).

| target | value | result |
|---|---:|---|
$(for k in "${cases[@]}"; do
        printf '| switch, %s: 0 failed requests | %s | %s |\n' "${label[$k]}" "${sw_failed[$k]}" "${res_fail[$k]}"
    done)
| switch-back, reload in force ≤ $target_sb_ms ms | $(sb_fmt "$sb_reload") | $res_sb_reload |
| switch-back, client (ii) ≤ $target_sb_ms ms | $(sb_fmt "$sb_client") | $res_sb_client |
| healthy wall time: switch ≤ replace | $(fmt_s "$wall_sw") vs $(fmt_s "$wall_rp") | $res_wall |

Result: $verdict.
EOF
}

report >"$work/section.md"
cat "$work/section.md"

# write_section FILE: replaces this benchmark's section of FILE (up to the next "## " heading), or
# appends it; temp file next to it, then rename, keeping the file's mode.
write_section() {
    local file=$1 tmp
    [[ -f $file ]] || die "--write: '$file' does not exist"
    tmp=$(mktemp "$file.tmpXXXXXX")
    awk -v head="$section" -v new="$work/section.md" '
        function emit(   line) {
            while ((getline line < new) > 0) print line
            close(new)
            done = 1
        }
        $0 == head { skip = 1; if (pending) print ""; pending = 0; emit(); next }
        skip && /^## / { skip = 0; print "" }
        skip { next }
        /^$/ { pending++; next }
        { while (pending > 0) { print ""; pending-- } print }
        END { if (!done) { print ""; emit() } }' "$file" >"$tmp"
    chmod --reference="$file" "$tmp"
    mv -f "$tmp" "$file"
    say "wrote section '${section#\#\# }' of $file"
}
[[ -z $write ]] || write_section "$write"

[[ -z $missed ]] || exit 1
exit 0
