#!/usr/bin/env bash
# The foundation demo: validate the demo playbook and show the plan of a deploy of v2.
set -euo pipefail
cd "$(dirname "$0")/.."

cat <<'BANNER'
=====================================================================
 rollgate: foundation demo
 Loads and checks a playbook, then shows the states a deploy of v2
 would go through, its health gates and its recover ladder.
 The real deploy/rollback demo arrives with the engine.
=====================================================================
BANNER

scripts/setup.sh

if [ ! -f build/CMakeCache.txt ]; then
    echo "== configure (release)"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
echo "== build rollgate"
cmake --build build -j2 --target rollgate

echo
echo "\$ build/rollgate validate playbooks/demo.yml"
build/rollgate validate playbooks/demo.yml
echo
echo "\$ build/rollgate plan playbooks/demo.yml --tag v2"
build/rollgate plan playbooks/demo.yml --tag v2
