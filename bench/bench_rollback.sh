#!/usr/bin/env bash
# bench_rollback: how fast rollgate notices a bad release and serves the previous one again, on
# the local stack (scripts/stack.sh up), against the raw floor of a rollback (compose up of the
# old tag plus one good probe) and against Docker Swarm's own automatic rollback of the same
# images, all in the same run. Prints a markdown section; --write FILE replaces the section
# "## Rollback vs Docker Swarm" of FILE (docs/BENCHMARKS.md) and keeps the others.
#
#   (a) crash verdict: first `die` of the crash-looping container (Docker's event time) to the
#       moment rollgate's FAILED result line arrives on its --json stream;
#   (b) recovery: start of the bad release's UP (rollgate) or of `docker service update`
#       (Swarm) to the first GET /version answering the previous release again;
#   (c) the rollback rung alone (rung 1, RECOVER start to VERIFY ok, rollgate's clock) over the
#       floor: `docker-compose up -d` of the old tag over the same bad container, then GET
#       /health back to back until the first 200.
#
# A client polls GET /version every 50 ms during every rollgate, floor and Swarm run: it is how
# (b) is seen, and its requests during a switch cost the first answers after it up to 1 s (the
# bridge's neighbour resolution), so the floor (c) compares against has the same client; the
# floor without it is reported too.
#
# Needs root (the Docker socket), the local stack, a built build/rollgate (BUILD_DIR overrides
# build/), docker-compose v1, jq, curl, bash >= 5. Uses 127.0.0.1:18097 (compose) and :18098
# (Swarm), initialises a single-node swarm and leaves it at the end: refuses to run on a node
# that is already in a swarm. Leaves no project, service, container or network behind.
# Exit: 0 all targets met, 1 a target missed, 2 the benchmark could not run.
set -euo pipefail
export LC_ALL=C # a '.' in $EPOCHREALTIME

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
bin="$build/rollgate"
registry="${ROLLGATE_REGISTRY:-127.0.0.1:5000}"
image="$registry/rollgate/demo-app"
export DOCKER_HOST=unix:///var/run/docker.sock

section="## Rollback vs Docker Swarm"
reproduce="cmake --build build --target rollgate && bench/bench_rollback.sh --write docs/BENCHMARKS.md"
port=18097       # the compose project rollgate deploys
swarm_port=18098 # the Swarm service, published in host mode
project="rgbench-$$"
stack=rgbench
service="${stack}_app"
good=v1
crash_tag=v2-crash
http500_tag=v2-500
every=100ms          # gate interval
within_eq=1s         # VERIFY deadline of the main playbook: Swarm's 1 s x 1 retry healthcheck
settle=2s
poll_s=0.05          # the /version poller's interval
swarm_cap_s=120      # a Swarm run that has not served the previous release by then timed out
target_a_ms=1000     # (a) <= 1 s
target_b=4           # (b) Swarm / rollgate >= 4
target_c=1.2         # (c) rung / floor <= 1.2

reps=5
swarm_reps=""
write=""
keep=0

usage() {
    cat <<EOF
usage: bench/bench_rollback.sh [--reps N] [--swarm-reps N] [--write FILE] [--keep]
  --reps N        rollgate runs of each case, and floors (default $reps)
  --swarm-reps N  Swarm runs of each case (default: --reps)
  --write FILE    replace the section '${section#\#\# }' of FILE (docs/BENCHMARKS.md)
  --keep          keep the work directory (every run's stamped JSON, poller and event logs)
exit: 0 targets met, 1 a target missed, 2 the benchmark could not run
EOF
}

die() {
    echo "bench_rollback: $*" >&2
    exit 2
}
say() { echo "bench_rollback: $*" >&2; }

while (($# > 0)); do
    case $1 in
    --reps | --swarm-reps)
        [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -ge 1 && $2 -le 100 ]] ||
            die "$1: expected a number from 1 to 100"
        if [[ $1 == --reps ]]; then reps=$2; else swarm_reps=$2; fi
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
swarm_reps=${swarm_reps:-$reps}

# --- preflight --------------------------------------------------------------------------------
((BASH_VERSINFO[0] >= 5)) || die "needs bash >= 5 (\$EPOCHREALTIME)"
for tool in docker docker-compose jq curl awk; do
    command -v "$tool" >/dev/null || die "'$tool' not found (scripts/setup.sh installs it)"
done
[[ -x $bin ]] || die "no rollgate binary at $bin: cmake --build build --target rollgate"
curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://d/_ping >/dev/null ||
    die "the Docker engine does not answer on /var/run/docker.sock: eval \"\$(scripts/stack.sh up)\""
curl -sf --max-time 2 "http://$registry/v2/" >/dev/null ||
    die "registry http://$registry does not answer: eval \"\$(scripts/stack.sh up)\""
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$port" "$swarm_port"; do
    ! port_open "$p" || die "127.0.0.1:$p is in use"
done
swarm_state=$(docker info --format '{{.Swarm.LocalNodeState}}')
[[ $swarm_state == inactive ]] ||
    die "this Docker node is in a swarm ($swarm_state): the benchmark creates and leaves its own"

work=$(mktemp -d /tmp/rollgate-bench-rollback.XXXXXX)
results=$work/results # lines "CASE KEY VALUE"
: >"$results"
poller_pid=""
events_pid=""
swarm_created=0
gwbridge_existed=0
if docker network inspect docker_gwbridge >/dev/null 2>&1; then gwbridge_existed=1; fi

stop_poller() {
    if [[ -n $poller_pid ]]; then
        kill "$poller_pid" 2>/dev/null || true
        wait "$poller_pid" 2>/dev/null || true
        poller_pid=""
    fi
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

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    stop_poller
    stop_events
    (cd "$work/stack" 2>/dev/null && docker-compose -p "$project" down -t 1 >/dev/null 2>&1) || true
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

# poll_versions URL OUT: appends "STAMP_US<TAB>BODY" to OUT whenever GET URL answers something
# other than its last answer ("-" for no answer), every $poll_s seconds, until killed. The stamp
# is taken when curl returns, so a change is never seen before it happened.
poll_versions() {
    local url=$1 out=$2 prev="" body t fd
    exec {fd}<> <(:) # a pipe no one writes: read -t on it is a sleep without a fork
    while :; do
        body=$(curl -s --max-time 0.5 "$url" 2>/dev/null) || body=""
        t=${EPOCHREALTIME/./}
        body=${body//[[:space:]]/}
        [[ -n $body ]] || body=-
        if [[ $body != "$prev" ]]; then
            printf '%s\t%s\n' "$t" "$body" >>"$out"
            prev=$body
        fi
        read -r -t "$poll_s" -u "$fd" _ || true
    done
}

# start_poller PORT OUT: starts poll_versions on 127.0.0.1:PORT/version, returns once its first
# answer is recorded and is the good release.
start_poller() {
    : >"$2"
    poll_versions "http://127.0.0.1:$1/version" "$2" &
    poller_pid=$!
    for _ in $(seq 100); do
        [[ -s $2 ]] && break
        sleep 0.02
    done
    [[ $(cut -f2 "$2" | head -n1) == "$good" ]] ||
        die "127.0.0.1:$1 does not serve $good before the run (got '$(cut -f2 "$2" | head -n1)')"
}

# start_events OUT FILTER…: streams this run's container events to OUT as "TIMENANO<TAB>IMAGE<TAB>
# ACTION", from now on (--since: nothing is lost while the client connects), until stop_events.
start_events() {
    local out=$1 since
    shift
    now_us since
    docker events --since "$(us_to_s "$since")" --filter type=container "$@" \
        --format "{{.TimeNano}}"$'\t'"{{.Actor.Attributes.image}}"$'\t'"{{.Action}}" \
        >"$out" 2>/dev/null &
    events_pid=$!
}

stop_events() {
    if [[ -n $events_pid ]]; then
        sleep 0.3 # the last events on their way
        kill "$events_pid" 2>/dev/null || true
        wait "$events_pid" 2>/dev/null || true
        events_pid=""
    fi
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

# medr CASE KEY: the median rounded to a whole number, or "—" when nothing was measured.
medr() {
    local s
    s=$(stats "$1" "$2")
    if [[ -z $s ]]; then echo "—"; else awk -v v="${s%% *}" 'BEGIN { printf "%.0f", v }'; fi
}

# --- the compose project and its playbooks ------------------------------------------------------
mkdir -p "$work/stack"
cat >"$work/stack/docker-compose.yml" <<YAML
version: "2.4"
services:
  app:
    image: $image:\${DEMO_APP_TAG}
    ports: ["127.0.0.1:$port:8080"]
    restart: unless-stopped
    mem_limit: 64m
    stop_grace_period: 1s
YAML

# playbook FILE WITHIN
playbook() {
    cat >"$1" <<YAML
version: 1
name: benchrollback
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: $image, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
defaults: {every: $every, within: $2, timeout: 2s}
gates:
  running: {container: app}
  health: {http: "http://127.0.0.1:$port/health"${3:-}}
  version: {http: "http://127.0.0.1:$port/version", body: '^v'}
deploy:
  - pull
  - up
  - verify: [running, health, version]
  - settle: {for: $settle, watch: [app], gates: [health]}
recover:
  - rollback: previous
YAML
}
pb_eq=$work/pb.yml
pb_failon=$work/pb-failon.yml
playbook "$pb_eq" "$within_eq"
playbook "$pb_failon" "$within_eq" ", fail_on: [500]"

compose() { (cd "$work/stack" && docker-compose --project-name "$project" --project-directory "$work/stack" "$@"); }

set_tag() {
    printf 'DEMO_APP_TAG=%s\n' "$1" >"$work/stack/.env.tmp"
    mv -f "$work/stack/.env.tmp" "$work/stack/.env"
}

# --- rollgate ---------------------------------------------------------------------------------
# rg_once CASE TAG PLAYBOOK REP: one deploy of a bad TAG that rollgate must roll back to $good.
rg_once() {
    local case=$1 tag=$2 pb=$3 rep=$4 log=$work/rg-$1-$4 rc out die_us="" m
    start_poller "$port" "$log.poll"
    start_events "$log.events" --filter "label=com.docker.compose.project=$project"
    # Each run deploys the same broken release: lift the quarantine the run before put it in.
    "$bin" release allow "$pb" "$tag" >/dev/null 2>&1 || true
    set +e
    "$bin" deploy "$pb" --tag "$tag" --json 2>"$log.err" | stamp_lines >"$log.json"
    rc=${PIPESTATUS[0]}
    set -e
    stop_poller
    stop_events
    out=$(tail -n1 "$log.json" | cut -f2 | jq -r '.outcome // empty' 2>/dev/null || true)
    if [[ $rc != 1 || $out != rolled_back ]]; then
        sed 's/^/    /' "$log.err" >&2 || true
        die "$case run $rep: rollgate deploy --tag $tag exited $rc, outcome '$out' (want 1, rolled_back)"
    fi
    if [[ $tag == "$crash_tag" ]]; then
        die_us=$(awk -F'\t' -v img="$image:$tag" '$2 == img && $3 == "die" {
            printf "%.0f\n", $1 / 1000; exit }' "$log.events")
        [[ -n $die_us ]] || die "$case run $rep: no die event of $image:$tag (see $log.events)"
    fi
    # The JSON events as "stamp event state result rung elapsed_ms", then the poller's changes.
    cut -f2 "$log.json" | jq -r '[.event, (.state // "-"), (.result // "-"), (.rung // 0),
        .elapsed_ms] | @tsv' | paste <(cut -f1 "$log.json") - >"$log.tsv"
    m=$(awk -F'\t' -v die="${die_us:-0}" -v good="$good" '
        FNR == NR {
            t = $1; ev = $2; st = $3; res = $4; rung = $5; el = $6
            if (rung == 0 && ev == "state" && st == "UP" && up == "") { up = t; up_el = el }
            if (rung == 0 && ev == "result" && st == "UP" && upe == "") upe = el
            if (rung == 0 && ev == "state" && st == "VERIFY" && v0 == "") v0 = el
            if (rung == 0 && ev == "result" && res != "ok" && fail == "") { fail = t; fail_el = el }
            if (rung == 1 && ev == "state" && st == "RECOVER" && rec == "") rec = el
            if (rung == 1 && ev == "state" && st == "SWITCH" && sw == "") sw = el
            if (rung == 1 && ev == "state" && st == "UP" && u1 == "") u1 = el
            if (rung == 1 && ev == "result" && st == "UP" && u1e == "") u1e = el
            if (rung == 1 && ev == "state" && st == "VERIFY" && v1 == "") v1 = el
            if (rung == 1 && ev == "result" && st == "VERIFY" && res == "ok" && v1e == "") v1e = el
            next
        }
        $1 >= up && gone == "" && $2 != good { gone = $1; next }
        gone != "" && back == "" && $2 == good { back = $1 }
        END {
            if (up == "" || fail == "" || rec == "" || v1e == "" || back == "") { print "broken"; exit }
            printf "recovery_ms %.1f\n", (back - up) / 1000
            printf "outage_start_ms %.1f\n", (gone - up) / 1000
            printf "rung_ms %d\n", v1e - rec
            printf "bad_up_ms %d\n", upe - up_el
            printf "verify_to_verdict_ms %d\n", fail_el - v0
            printf "rung_recover_ms %d\n", sw - rec
            printf "rung_switch_ms %d\n", u1 - sw
            printf "rung_up_ms %d\n", u1e - u1
            printf "rung_verify_ms %d\n", v1e - v1
            printf "verdict_to_rung_ms %d\n", rec - fail_el
            if (die > 0) {
                printf "verdict_after_die_ms %.1f\n", (fail - die) / 1000
                printf "die_after_up_ms %.1f\n", (die - up) / 1000
            }
        }' "$log.tsv" "$log.poll")
    [[ $m != broken ]] || die "$case run $rep: missing events or the previous release never came back (see $log.*)"
    while read -r k v; do record "$case" "$k" "$v"; done <<<"$m"
    say "$case run $rep: recovery $(awk '$1 == "recovery_ms" { print $2 }' <<<"$m") ms, rung $(awk '$1 == "rung_ms" { print $2 }' <<<"$m") ms${die_us:+, verdict $(awk '$1 == "verdict_after_die_ms" { print $2 }' <<<"$m") ms after the first exit}"
}

# floor_once CASE BADTAG REP TRAFFIC: the bad tag left in its bad state (as rollgate finds it
# when its rung starts), then what a rollback cannot beat: compose up of the good tag and GET
# /health back to back until a 200. TRAFFIC 1: with the same /version poller as the rollgate
# runs (the measure (c) compares against); 0: nothing else touches the service.
floor_once() {
    local case=$1 tag=$2 rep=$3 traffic=$4 id t0 t1 t2 st bad=0 key=floor
    ((traffic)) || key=floor_quiet
    ((!traffic)) || start_poller "$port" "$work/floor-$case-$rep.poll"
    set_tag "$tag"
    compose up -d app >/dev/null 2>&1 || die "floor: compose up of $tag failed"
    id=$(docker ps -aq --filter "label=com.docker.compose.project=$project" \
        --filter label=com.docker.compose.service=app | head -n1)
    for _ in $(seq 200); do
        if [[ $tag == "$crash_tag" ]]; then
            st=$(docker inspect -f '{{.RestartCount}}' "$id" 2>/dev/null || echo 0)
            [[ $st -ge 1 ]] && bad=1
        else
            st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/health" || true)
            [[ $st == 500 ]] && bad=1
        fi
        ((bad)) && break
        sleep 0.05
    done
    ((bad)) || die "floor: $tag never reached its bad state"
    set_tag "$good"
    now_us t0
    compose up -d app >/dev/null 2>&1 || die "floor: compose up of $good failed"
    now_us t1
    until curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/health"; do :; done
    now_us t2
    stop_poller
    record "$case" "${key}_ms" "$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
    record "$case" "${key}_up_ms" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
    say "$case $key $rep: $(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.1f", (b - a) / 1000 }') ms"
}

# --- Swarm ------------------------------------------------------------------------------------
swarm_file=$work/swarm.yml
cat >"$swarm_file" <<YAML
version: "3.8"
services:
  app:
    image: $image:$good
    ports:
      - {target: 8080, published: $swarm_port, protocol: tcp, mode: host}
    healthcheck: {test: ["CMD", "/app", "--probe"], interval: 1s, timeout: 1s, retries: 1, start_period: 0s}
    stop_grace_period: 1s
    deploy:
      replicas: 1
      update_config: {parallelism: 1, delay: 0s, failure_action: rollback, monitor: 1s, max_failure_ratio: 0, order: stop-first}
      rollback_config: {parallelism: 1, delay: 0s, failure_action: pause, monitor: 1s, max_failure_ratio: 0, order: stop-first}
      restart_policy: {condition: none}
      resources: {limits: {memory: 64M}}
YAML

swarm_update_state() {
    docker service inspect "$service" \
        --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}none{{end}}' 2>/dev/null ||
        echo gone
}

# Waits until the service runs the good release, healthy, with no update or rollback under way.
swarm_wait_settled() {
    local st body tasks
    for _ in $(seq 300); do
        st=$(swarm_update_state)
        tasks=$(docker ps --filter "label=com.docker.swarm.service.name=$service" \
            --format '{{.Image}} {{.Status}}')
        body=$(curl -s --max-time 0.5 "http://127.0.0.1:$swarm_port/version" || true)
        if [[ $st =~ ^(none|completed|rollback_completed)$ && $body == "$good" &&
            $(wc -l <<<"$tasks") == 1 && $tasks == *"$image:$good"*"(healthy)"* ]]; then
            return 0
        fi
        if [[ $st =~ ^(paused|rollback_paused)$ ]]; then
            say "swarm: update $st, putting $good back"
            docker service update --detach --image "$image:$good" "$service" >/dev/null 2>&1 || true
        fi
        sleep 0.2
    done
    die "swarm: the service did not settle on a healthy $good within 60 s (state $st)"
}

swarm_setup() {
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die "docker swarm init failed"
    swarm_created=1
    docker stack deploy -c "$swarm_file" "$stack" >/dev/null 2>&1 || die "docker stack deploy failed"
    swarm_wait_settled
}

# swarm_once CASE TAG REP: docker service update to a bad TAG; Swarm must roll back by itself.
swarm_once() {
    local case=$1 tag=$2 rep=$3 log=$work/swarm-$1-$3 t0 m
    swarm_wait_settled
    sleep 1
    start_poller "$swarm_port" "$log.poll"
    start_events "$log.events" --filter "label=com.docker.swarm.service.name=$service"
    now_us t0
    docker service update --detach --image "$image:$tag" "$service" >/dev/null 2>&1 ||
        die "swarm: docker service update --image $image:$tag failed"
    # Until the poller has seen the good release go and come back, or the cap.
    while :; do
        if awk -F'\t' -v t0="$t0" -v good="$good" '$1 >= t0 && $2 != good { g = 1; next }
            g && $2 == good { found = 1 } END { exit !found }' "$log.poll"; then
            break
        fi
        if (((${EPOCHREALTIME/./} - t0) / 1000000 >= swarm_cap_s)); then
            break
        fi
        sleep 0.1
    done
    stop_poller
    stop_events
    m=$(awk -F'\t' -v t0="$t0" -v good="$good" -v img="$image" -v tag="$tag" '
        FNR == NR {
            if ($1 >= t0 && gone == "" && $2 != good) gone = $1
            else if (gone != "" && back == "" && $2 == good) back = $1
            next
        }
        {
            t = $1 / 1000; i = $2; sub(/@sha256:.*/, "", i); a = $3
            if (i == img ":" good && a == "kill" && kill_old == "") kill_old = t
            if (i == img ":" tag && a == "start" && bad_start == "") bad_start = t
            if (i == img ":" tag && (a == "die" || a ~ /unhealthy/) && bad_fail == "") bad_fail = t
            if (i == img ":" good && a == "start" && bad_fail != "" && new_start == "") new_start = t
        }
        END {
            if (back == "") { print "timeout"; exit }
            printf "recovery_ms %.1f\n", (back - t0) / 1000
            if (kill_old != "") printf "sw_old_stop_ms %.1f\n", (kill_old - t0) / 1000
            if (bad_start != "") printf "sw_bad_start_ms %.1f\n", (bad_start - t0) / 1000
            if (bad_fail != "") printf "sw_bad_fail_ms %.1f\n", (bad_fail - t0) / 1000
            if (new_start != "") printf "sw_good_start_ms %.1f\n", (new_start - t0) / 1000
        }' "$log.poll" "$log.events")
    if [[ $m == timeout ]]; then
        record "$case" timeouts 1
        say "$case run $rep: TIMED OUT: $good not served again within ${swarm_cap_s} s (update state $(swarm_update_state))"
        return 0
    fi
    while read -r k v; do record "$case" "$k" "$v"; done <<<"$m"
    say "$case run $rep: recovery $(awk '$1 == "recovery_ms" { print $2 }' <<<"$m") ms"
}

# --- the run ----------------------------------------------------------------------------------
say "work directory $work; compose project $project on 127.0.0.1:$port"
for tag in "$good" "$crash_tag" "$http500_tag"; do
    docker pull -q "$image:$tag" >/dev/null || die "cannot pull $image:$tag"
done

set +e
"$bin" deploy "$pb_eq" --tag "$good" >"$work/baseline.log" 2>&1
rc=$?
set -e
((rc == 0)) || { sed 's/^/    /' "$work/baseline.log" >&2; die "baseline deploy of $good exited $rc"; }

say "warm-up (not counted)"
rg_once warmup "$crash_tag" "$pb_eq" 0
floor_once warmup "$crash_tag" 0 1

for rep in $(seq "$reps"); do
    rg_once crash "$crash_tag" "$pb_eq" "$rep"
    floor_once crash "$crash_tag" "$rep" 1
    floor_once crash "$crash_tag" "$rep" 0
    rg_once http500 "$http500_tag" "$pb_eq" "$rep"
    floor_once http500 "$http500_tag" "$rep" 1
    floor_once http500 "$http500_tag" "$rep" 0
    rg_once http500failon "$http500_tag" "$pb_failon" "$rep"
done
compose down -t 1 >/dev/null 2>&1 || true

say "swarm: init, stack $stack on 127.0.0.1:$swarm_port (host mode)"
swarm_setup
for rep in $(seq "$swarm_reps"); do
    swarm_once swarm_crash "$crash_tag" "$rep"
    swarm_once swarm_http500 "$http500_tag" "$rep"
done
swarm_teardown

# --- the report -------------------------------------------------------------------------------
# shellcheck disable=SC2317 # called through $f in row
fmt_s() { awk -v v="$1" 'BEGIN { printf "%.2f s", v / 1000 }'; }
fmt_ms() { awk -v v="$1" 'BEGIN { printf "%.0f ms", v }'; }

# row LABEL CASE KEY UNIT: "| LABEL | median | min–max |"
row() {
    local s m lo hi f=fmt_s
    [[ ${4:-s} == ms ]] && f=fmt_ms
    s=$(stats "$2" "$3")
    if [[ -z $s ]]; then
        printf '| %s | — | — |\n' "$1"
        return
    fi
    read -r m lo hi _ <<<"$s"
    printf '| %s | %s | %s–%s |\n' "$1" "$($f "$m")" "$($f "$lo" | cut -d' ' -f1)" "$($f "$hi")"
}

medr_of() { awk -v v="$1" 'BEGIN { printf "%.0f", v }'; }

ok_if() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }

timeouts() { awk -v c="$1" '$1 == c && $2 == "timeouts" { n++ } END { print n + 0 }' "$results"; }

a_med=$(med crash verdict_after_die_ms)
rg_crash=$(med crash recovery_ms)
rg_500=$(med http500 recovery_ms)
rg_500f=$(med http500failon recovery_ms)
sw_crash_to=$(timeouts swarm_crash)
sw_500_to=$(timeouts swarm_http500)
# A timed-out Swarm run counts as the cap; with no finished run the median is the cap.
for c in swarm_crash swarm_http500; do
    for _ in $(seq "$(timeouts "$c")"); do record "$c" recovery_ms "$((swarm_cap_s * 1000))"; done
done
sw_crash=$(med swarm_crash recovery_ms)
sw_500=$(med swarm_http500 recovery_ms)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
b_crash=$(ratio "$sw_crash" "$rg_crash")
b_500=$(ratio "$sw_500" "$rg_500")
b_500f=$(ratio "$sw_500" "$rg_500f")
c_crash=$(ratio "$(med crash rung_ms)" "$(med crash floor_ms)")
c_500=$(ratio "$(med http500 rung_ms)" "$(med http500 floor_ms)")
# What (b) could be with no detection time and no overhead at all: the bad release's compose up
# (for the 500, plus the 1 s to turn healthy that Swarm's healthcheck gives too), then the floor.
bound_crash=$(awk -v u="$(med crash bad_up_ms)" -v f="$(med crash floor_ms)" 'BEGIN { print u + f }')
bound_500=$(awk -v u="$(med http500 bad_up_ms)" -v f="$(med http500 floor_ms)" \
    'BEGIN { print u + 1000 + f }')
res_a=$(ok_if "$a_med <= $target_a_ms")
res_b_crash=$(ok_if "$b_crash >= $target_b")
res_b_500=$(ok_if "$b_500 >= $target_b")
res_c_crash=$(ok_if "$c_crash <= $target_c")
res_c_500=$(ok_if "$c_500 <= $target_c")
missed=""
[[ $res_a == met ]] || missed+=", (a)"
[[ $res_b_crash == met ]] || missed+=", (b) crash"
[[ $res_b_500 == met ]] || missed+=", (b) 500"
[[ $res_c_crash == met ]] || missed+=", (c) crash"
[[ $res_c_500 == met ]] || missed+=", (c) 500"
if [[ -z $missed ]]; then verdict="all targets met"; else verdict="target missed: ${missed#, }"; fi

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
docker_v=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)
compose_v=$(docker-compose version --short 2>/dev/null || echo unknown)
build_type=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$build/CMakeCache.txt" 2>/dev/null || true)
rg_v=$("$bin" --version 2>/dev/null || echo rollgate)
date_s=$(date -u '+%Y-%m-%d %H:%M UTC')
rn() { if (($1 == 1)); then echo "1 run"; else echo "$1 runs"; fi; }
to_note() { (($1 == 0)) || echo " ($1 timed out at ${swarm_cap_s} s)"; }

report() {
    cat <<EOF
$section

What: a crash-looping release (\`$crash_tag\`: exits 1 at start) and one answering \`GET /health\` with 500 (\`$http500_tag\`) are deployed over a healthy \`$good\` by rollgate and by Docker Swarm, which must each bring \`$good\` back by themselves: same images from the local registry, same run, same machine. Throughout every run a client polls the service's \`GET /version\` every $(awk -v s="$poll_s" 'BEGIN { print s * 1000 }') ms with curl (a change is stamped when curl returns): that is how the recovery is seen, and it is client traffic arriving during the switch, as in production.

- rollgate: a throwaway compose project (\`restart: unless-stopped\`, no compose healthcheck, 127.0.0.1:$port) and a playbook like the deploy tests' one: gates \`running\` (container), \`health\` (\`GET /health\` = 200), \`version\` (\`GET /version\` ~ \`^v\`), \`every: $every\`, \`within: $within_eq\`, \`timeout: 2s\`; deploy \`pull, up, verify: [running, health, version], settle: {for: $settle}\`; recover \`rollback: previous\`. \`within: $within_eq\` gives a release the time Swarm's healthcheck below gives it (one 1 s interval, one retry); the informational 500 row adds \`fail_on: [500]\` to the \`health\` gate (as the demo playbook does): a 500 fails the gate at once instead of at the deadline. Each deploy runs with \`--json\`, each line stamped with the wall clock as it arrives; container events come from a \`docker events\` stream opened before the deploy.
- Swarm: \`docker swarm init --advertise-addr 127.0.0.1\`, one replica from \`docker stack deploy\` (a compose v3.8 file: the images are FROM scratch and only a stack file takes the exec-form healthcheck \`["CMD", "/app", "--probe"]\`; \`docker service create --health-cmd\` is shell form), healthcheck interval 1s, timeout 1s, retries 1, start_period 0s; \`update_config\` and \`rollback_config\`: parallelism 1, delay 0s, monitor 1s, max_failure_ratio 0, order stop-first (a host-mode port cannot be held by two tasks); update failure_action rollback; \`restart_policy: {condition: none}\` (with \`any\` the crashed task can be restarted before the rollback, which must then stop it first: slower); \`stop_grace_period: 1s\`; the port published with \`mode: host\` on $swarm_port (the ingress mesh does not route on these machines). A run is \`docker service update --detach --image …:TAG\`, capped at ${swarm_cap_s} s; the next starts once the service is back on a healthy \`$good\` with no update under way. The swarm is left at the end.

Measures:

- (a) crash verdict: the first \`die\` of the \`$crash_tag\` container (Docker's event time) to the arrival of rollgate's first non-ok \`result\` line. Target ≤ $((target_a_ms / 1000)) s.
- (b) recovery: rollgate from the arrival of the bad release's \`state: UP\` line, Swarm from the start of \`docker service update\`, to the first \`GET /version\` answering \`$good\` after it stopped doing so. Target: Swarm / rollgate ≥ ${target_b}× (ratio of medians).
- (c) the rollback rung alone: rung 1 from its \`RECOVER\` state to its \`VERIFY\` ok result, on rollgate's own clock (\`elapsed_ms\`): image check, tag switch, the containers of \`$good\` made again from their inspect documents taken before the deploy (remove the bad ones, create, start through the Engine API: no compose run), first passing probes. The floor, measured after each rollgate run of the same case: the bad tag brought up and left in its bad state (crash: restarted once; 500: answering 500), \`.env\` set back to \`$good\`, then from the start of \`docker-compose --project-name P --project-directory D up -d app\` to the first 200 of \`GET /health\` polled back to back, with the same client polling \`/version\` as in the rollgate runs. Target: rung / floor ≤ $target_c (ratio of medians).

The floor without the client is shown for comparison. A request that arrives while the container is being replaced makes the kernel start resolving the container's address on the compose bridge (neighbour entry \`INCOMPLETE\`, seen with \`ip neigh\`); resolution is retried once a second (\`net.ipv4.neigh.<bridge>.retrans_time_ms\`, default 1000), so the first answers after \`up\` wait up to 1 s for it (Docker 20.10 announces nothing when a container starts). The floor and Swarm pay it; rollgate writes the host's neighbour entry of each container it brought up (address and MAC from the Engine API, state \`STALE\`, over netlink), which sends the queued packets at once.

Run: $date_s on $cpu, $(nproc) CPUs online, Linux $(uname -r), Docker $docker_v, docker-compose $compose_v; $rg_v, build ${build_type:-unknown}. $(rn "$reps") of each rollgate case and floor after one warm-up, $(rn "$swarm_reps") of each Swarm case.  
Reproduce: \`$reproduce\`

| measure | median | min–max |
|---|---:|---:|
$(row "(a) crash: first exit → rollgate's FAILED verdict" crash verdict_after_die_ms ms)
$(row "(b) crash: rollgate, UP → \`$good\` served again" crash recovery_ms)
$(row "(b) crash: Swarm, \`service update\` → \`$good\` served again$(to_note "$sw_crash_to")" swarm_crash recovery_ms)
$(row "(b) 500: rollgate, UP → \`$good\` served again" http500 recovery_ms)
$(row "(b) 500: Swarm, \`service update\` → \`$good\` served again$(to_note "$sw_500_to")" swarm_http500 recovery_ms)
$(row "(b) 500, informational: rollgate with \`fail_on: [500]\`" http500failon recovery_ms)
$(row "(c) crash: rollback rung" crash rung_ms ms)
$(row "(c) crash: floor (compose up + first 200)" crash floor_ms ms)
$(row "(c) crash: floor without the client" crash floor_quiet_ms ms)
$(row "(c) 500: rollback rung" http500 rung_ms ms)
$(row "(c) 500: floor (compose up + first 200)" http500 floor_ms ms)
$(row "(c) 500: floor without the client" http500 floor_quiet_ms ms)

| target | value | result |
|---|---:|---|
| (a) crash verdict ≤ $((target_a_ms / 1000)) s | $(fmt_ms "$a_med") | $res_a |
| (b) crash: Swarm / rollgate ≥ ${target_b}× | ${b_crash}× | $res_b_crash |
| (b) 500: Swarm / rollgate ≥ ${target_b}× | ${b_500}× | $res_b_500 |
| (b) 500 with \`fail_on: [500]\` (informational) | ${b_500f}× | — |
| (c) crash: rung / floor ≤ $target_c | $c_crash | $res_c_crash |
| (c) 500: rung / floor ≤ $target_c | $c_500 | $res_c_500 |

Where the time goes (medians, ms), rollgate from the bad release's UP:

| | crash | 500 |
|---|---:|---:|
| \`docker-compose up\` of the bad release (UP) | $(medr crash bad_up_ms) | $(medr http500 bad_up_ms) |
| first exit of the bad container, after UP began | $(medr crash die_after_up_ms) | — |
| VERIFY start → failed verdict | $(medr crash verify_to_verdict_ms) | $(medr http500 verify_to_verdict_ms) |
| verdict → rung start | $(medr crash verdict_to_rung_ms) | $(medr http500 verdict_to_rung_ms) |
| rung RECOVER (image check) | $(medr crash rung_recover_ms) | $(medr http500 rung_recover_ms) |
| rung SWITCH (env file) | $(medr crash rung_switch_ms) | $(medr http500 rung_switch_ms) |
| rung UP (\`$good\`'s containers made again through the Engine API) | $(medr crash rung_up_ms) | $(medr http500 rung_up_ms) |
| rung VERIFY (first passing probes) | $(medr crash rung_verify_ms) | $(medr http500 rung_verify_ms) |
| floor: \`docker-compose up\` alone / whole floor | $(medr crash floor_up_ms) / $(medr crash floor_ms) | $(medr http500 floor_up_ms) / $(medr http500 floor_ms) |
| floor without the client: \`docker-compose up\` / whole | $(medr crash floor_quiet_up_ms) / $(medr crash floor_quiet_ms) | $(medr http500 floor_quiet_up_ms) / $(medr http500 floor_quiet_ms) |
| bound for (b) of a compose-driven rollback: bad UP + floor (500: + the 1 s to turn healthy) | $(medr_of "$bound_crash") | $(medr_of "$bound_500") |
| Swarm / that bound: the best (b) a rollback through \`docker-compose up\` reaches here | $(ratio "$sw_crash" "$bound_crash")× | $(ratio "$sw_500" "$bound_500")× |

Swarm, from \`docker service update\` (container events), crash / 500: the old task's stop signal at $(medr swarm_crash sw_old_stop_ms) / $(medr swarm_http500 sw_old_stop_ms) ms (Swarm's executor takes a task out of its load balancer and waits a fixed 2 s, \`defaultGossipConvergeDelay\`, before it stops the container), the bad container started at $(medr swarm_crash sw_bad_start_ms) / $(medr swarm_http500 sw_bad_start_ms), failed (exit / \`unhealthy\`) at $(medr swarm_crash sw_bad_fail_ms) / $(medr swarm_http500 sw_bad_fail_ms), \`$good\` started again at $(medr swarm_crash sw_good_start_ms) / $(medr swarm_http500 sw_good_start_ms).

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
