# Helpers of the switch tests (sourced after lib.sh): a client counting failed requests through
# nginx, and what runs against what nginx's upstream file names. Needs $work and $project.

# load_start URL / load_stop: tests/fixtures/load/client.py sending 200 requests a second, one
# new connection each; load_stop sets load_ok, load_failed and load_rate and prints them.
load_pid=""
load_start() {
    "$(dirname "${BASH_SOURCE[0]}")/../fixtures/load/client.py" "$1" "$work/load.out" \
        --rate 200 --max-seconds 300 &
    load_pid=$!
}
load_stop() {
    kill -TERM "$load_pid" 2>/dev/null
    wait "$load_pid" 2>/dev/null
    load_pid=""
    local secs bodies
    read -r load_ok load_failed secs bodies <"$work/load.out"
    load_rate=$(LC_ALL=C awk -v n=$((load_ok + load_failed)) -v s="$secs" 'BEGIN { printf "%d", n / s }')
    echo "load: $((load_ok + load_failed)) requests in ${secs}s ($load_rate/s), $load_failed failed; answers $bodies"
    grep '^fail' "$work/load.out" | head -n 5
}
load_kill() { [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null; }

# The release tags of the project's app containers (every state), sorted.
containers() {
    docker ps -a --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=app" --format '{{.Image}}' |
        sed 's/.*://' | sort | tr '\n' ' ' | sed 's/ $//'
}
# The servers an upstream file names, and the running app containers' addresses, sorted.
upstream_addrs() {
    grep -o 'server [0-9.:]*' "$1" | sed 's/server //' | sort | tr '\n' ' ' | sed 's/ $//'
}
running_addrs() {
    local id
    for id in $(docker ps -q --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=app"); do
        echo "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id"):8080"
    done | sort | tr '\n' ' ' | sed 's/ $//'
}

# switch_playbook FILE NAME STACK_DIR UPSTREAM_FILE TEST_ARGV RELOAD_ARGV PUBLIC_PORT: the
# switch tests' playbook (gates by service name and through nginx, settle 5 s, rollback rung).
# TEST_ARGV and RELOAD_ARGV are YAML flow lists' items, e.g. "nginx, -t".
switch_playbook() {
    cat >"$1" <<YAML
version: 1
name: $2
state_dir: $work/state
runtime: {driver: compose, project_dir: $3, project_name: $project, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: ${ROLLGATE_REGISTRY:-127.0.0.1:5000}/rollgate/demo-app, tag_pattern: '^v[0-9]+(-[a-z0-9]+)?\$'}
strategy: switch
proxy:
  upstream_file: $4
  test: [$5]
  reload: [$6]
  drain: 1s
  upstreams:
    demo_app: {service: app, port: 8080}
defaults: {every: 200ms, within: 8s, timeout: 1s}
gates:
  running: {container: app}
  health: {http: "http://app:8080/health", fail_on: [500]}
  public: {http: "http://127.0.0.1:$7/health"}
deploy:
  - pull
  - up
  - verify: [running, health, public]
  - settle: {for: 5s, watch: [app], gates: [health, public]}
recover:
  - rollback: previous
YAML
}
