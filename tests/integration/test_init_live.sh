#!/usr/bin/env bash
# `rollgate init` on the demo stack's compose project: the playbook it writes validates and
# deploys on the real stack, and rolls a crash-looping release back. Fails (never skips) when
# the stack is not there.
set -u
bin=$1
src=$2
project="rgit-init-$$"
work=$(mktemp -d /tmp/rollgate-init-test.XXXXXX)
source "$(dirname "$0")/lib.sh"
require_stack
cleanup() {
    (cd "$work/$project" 2>/dev/null && DEMO_APP_TAG=none docker-compose down -t 1 >/dev/null 2>&1)
    rm -rf "$work"
}
trap cleanup EXIT

# The project directory's name is the compose project's and the target's.
mkdir -p "$work/$project"
cp "$src/tests/fixtures/demo/docker-compose.yml" "$work/$project/"
echo "DEMO_APP_TAG=none" >"$work/$project/.env"
cd "$work"
run init_writes 0 init "$project"
grep -q "wrote rollgate.yml: target '$project', services app, the release in DEMO_APP_TAG" <<<"$out" &&
    ok init_says_what_it_wrote || bad init_says_what_it_wrote "$out"
# What a person does next (the notes say so): a state directory of their own, a shorter
# settle for a test.
sed -i -e "s|^state_dir: .*|state_dir: $work/state|" -e 's/settle: {for: 30s/settle: {for: 3s/' \
    -e 's/defaults: {every: 2s, within: 2m/defaults: {every: 200ms, within: 10s/' rollgate.yml
run init_validates 0 validate rollgate.yml
run init_deploys 0 deploy rollgate.yml --tag v1
run init_rolls_back 1 deploy rollgate.yml --tag v2-crash
grep -q "outcome: rolled_back" <<<"$out" && ok init_rollback_outcome || bad init_rollback_outcome "$out"
serving=$(docker ps --filter "label=com.docker.compose.project=$project" --format '{{.Image}}' | sed 's/.*://')
[ "$serving" = v1 ] && ok init_serves_v1 || bad init_serves_v1 "serving '$serving'"

echo "init: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
