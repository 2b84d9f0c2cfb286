#!/usr/bin/env bash
# The main job: on a local stack this script sets up (dockerd, a registry with the demo app's
# images, PostgreSQL, nginx), deploy the demo app behind nginx with the switch strategy: a
# healthy v1, a healthy v2, then broken releases, with a client sending requests through nginx
# during the last deploys and counting the failed ones. A crash-looping release is rejected
# before nginx ever sends it a request; a release that dies after the switch is switched back
# by rollgate itself. Ends with the service answering from v2.
set -euo pipefail
cd "$(dirname "$0")/.."

demo_dir=${ROLLGATE_DEMO_DIR:-/tmp/rollgate-demo}
export ROLLGATE_DEMO_DIR=$demo_dir
# The broken releases, in order: v2-crash exits at start, v2-500 answers /health with 500 (both
# fail before the switch), v2-die dies 3 s after start (after the switch, during settle).
broken=${ROLLGATE_DEMO_BROKEN:-v2-crash v2-die}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\n$ %s\n' "$*"; "$@"; }

cat <<BANNER
=====================================================================
 rollgate demo: deploys behind nginx that users never see fail
   1. bring up the local stack (dockerd, registry, PostgreSQL, nginx)
   2. deploy v1 of the demo app: healthy, becomes the known-good release
   3. deploy v2 (healthy) while a client sends requests through nginx
   4. deploy broken releases (${broken}) under the same client:
      rejected before the switch, or switched back by rollgate itself
   5. show the ledger and what the service answers
=====================================================================
BANNER

say "setup: packages"
scripts/setup.sh

say "build rollgate"
if [ ! -f build/CMakeCache.txt ]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build -j2 --target rollgate >/dev/null
echo "built build/rollgate"

say "local stack"
eval "$(scripts/stack.sh up)"

say "demo project in $demo_dir"
mkdir -p "$demo_dir/stack"
cp tests/fixtures/demo/docker-compose.yml "$demo_dir/stack/docker-compose.yml"
# Start from a clean slate: no containers, no ledger, no release, so the demo is the same on
# every run.
(cd "$demo_dir/stack" && DEMO_APP_TAG=none docker-compose -p rollgate-demo down -t 1 >/dev/null 2>&1 || true)
rm -rf "$demo_dir/state" "$demo_dir/stack/.env"
echo "compose file: $demo_dir/stack/docker-compose.yml (the tag lives in .env as DEMO_APP_TAG)"

show build/rollgate validate playbooks/demo.yml

nginx_url="http://127.0.0.1:${ROLLGATE_NGINX_PORT:-18081}"
load_pid=""
trap '[ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null || true' EXIT
# A client sending GET /version through nginx, 200 a second, one new connection each,
# counting every answer other than 200 (a 502 while a release is replaced, a timeout).
load_start() {
    tests/fixtures/load/client.py "$nginx_url/version" "$demo_dir/load.out" --rate 200 &
    load_pid=$!
}
total_failed=0
load_stop() {
    kill -TERM "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    load_pid=""
    read -r ok failed secs bodies <"$demo_dir/load.out"
    rate=$(LC_ALL=C awk -v n=$((ok + failed)) -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    echo "client through nginx: $((ok + failed)) requests in ${secs}s ($rate/s), $failed failed; answers: ${bodies//,/, }"
    grep '^fail' "$demo_dir/load.out" | head -n 5 || true
    total_failed=$((total_failed + failed))
}
# Runs a deploy under the client; its exit code in $code.
deploy_under_load() {
    load_start
    set +e
    build/rollgate deploy playbooks/demo.yml --tag "$1"
    code=$?
    set -e
    load_stop
}

say "deploy v1 (healthy): nothing served before it"
show build/rollgate deploy playbooks/demo.yml --tag v1
printf '\n$ curl %s/version   (through nginx)\n' "$nginx_url"
curl -s "$nginx_url/version"
echo

say "deploy v2 (healthy) while a client sends requests through nginx"
deploy_under_load v2
echo "exit code: $code (0 = deployed)"
[ "$code" -eq 0 ] || { echo "demo FAILED: the healthy v2 did not deploy (exit $code)"; exit 1; }

for tag in $broken; do
    say "deploy $tag (broken) under the same client"
    deploy_under_load "$tag"
    case $code in
    3) echo "exit code: 3 (aborted: rejected before the switch, nothing changed)" ;;
    1) echo "exit code: 1 (the release failed after the switch and rollgate switched back)" ;;
    *) echo "demo FAILED: $tag ended with exit $code"; exit 1 ;;
    esac
done

say "what the service answers now"
printf '$ curl %s/version   (through nginx)\n' "$nginx_url"
answer=$(curl -s "$nginx_url/version")
echo "$answer"
printf '$ cat %s\n' "${ROLLGATE_STACK_DIR:-/tmp/rollgate-stack}/nginx/conf.d/demo-upstreams.conf"
cat "${ROLLGATE_STACK_DIR:-/tmp/rollgate-stack}/nginx/conf.d/demo-upstreams.conf"

say "the ledger"
show build/rollgate history playbooks/demo.yml
show build/rollgate status playbooks/demo.yml

if [ "$answer" != "v2" ] || [ "$total_failed" -ne 0 ]; then
    echo
    echo "demo FAILED: expected v2 serving and no failed request, got '$answer' and $total_failed failed"
    exit 1
fi
echo
echo "demo ok: v2 deployed and ${broken} refused or switched back, with no one touching it and"
echo "no request through nginx failing."
