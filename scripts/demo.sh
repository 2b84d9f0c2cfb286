#!/usr/bin/env bash
# The main job: on a local stack this script sets up (dockerd, a registry with the demo app's
# images, PostgreSQL, nginx), deploy a healthy v1, then a broken v2 that fails its health gates
# and is rolled back to v1 by rollgate itself. Ends with the service answering from v1.
set -euo pipefail
cd "$(dirname "$0")/.."

demo_dir=${ROLLGATE_DEMO_DIR:-/tmp/rollgate-demo}
export ROLLGATE_DEMO_DIR=$demo_dir
broken=${ROLLGATE_DEMO_BROKEN:-v2-crash}   # or v2-500: health answers 500

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\n$ %s\n' "$*"; "$@"; }

cat <<BANNER
=====================================================================
 rollgate demo: a deploy that fails its gates and rolls back by itself
   1. bring up the local stack (dockerd, registry, PostgreSQL, nginx)
   2. deploy v1 of the demo app: healthy, becomes the known-good release
   3. deploy ${broken}: broken, fails its gates, rolled back to v1
   4. show the ledger and what the service answers
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
(cd "$demo_dir/stack" && docker-compose -p rollgate-demo down -t 1 >/dev/null 2>&1 || true)
rm -rf "$demo_dir/state" "$demo_dir/stack/.env"
echo "compose file: $demo_dir/stack/docker-compose.yml (the tag lives in .env as DEMO_APP_TAG)"

show build/rollgate validate playbooks/demo.yml

say "deploy v1 (healthy)"
show build/rollgate deploy playbooks/demo.yml --tag v1
printf '\n$ curl http://127.0.0.1:18080/version\n'
curl -s http://127.0.0.1:18080/version

say "deploy ${broken} (broken): rollgate should roll back to v1 by itself"
set +e
build/rollgate deploy playbooks/demo.yml --tag "$broken"
code=$?
set -e
echo "exit code: $code (1 = the deploy failed and the service was recovered)"

say "what the service answers now"
printf '$ curl http://127.0.0.1:18080/version\n'
answer=$(curl -s http://127.0.0.1:18080/version)
echo "$answer"
printf '$ curl http://127.0.0.1:18081/version   (through nginx)\n'
curl -s http://127.0.0.1:18081/version || true

say "the ledger"
show build/rollgate history playbooks/demo.yml
show build/rollgate status playbooks/demo.yml

if [ "$code" -ne 1 ] || [ "$answer" != "v1" ]; then
    echo
    echo "demo FAILED: expected exit 1 and the service answering v1, got exit $code and '$answer'"
    exit 1
fi
echo
echo "demo ok: ${broken} failed its gates and v1 is serving again, with no one touching it."
