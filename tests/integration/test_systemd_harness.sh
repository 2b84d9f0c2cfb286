#!/usr/bin/env bash
# The systemd test harness checks itself (systemd_lib.sh, tests/fixtures/gunicorn-app): a real
# systemd boots in a container, the gunicorn test app's v1 runs under it and answers from the
# host, v2-crash crash-loops (NRestarts grows), and the host's cgroups are the same before, during
# and after. The releases are put in place with `git archive | tar` here only; rollgate itself
# uses libgit2. Needs root, dockerd, gunicorn and python3-flask (scripts/setup.sh); fails, never
# skips, without them. An argument (the rollgate binary, as the other tests get) is ignored.
set -u
name=rg-sd-harness
port=18102
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/rollgate-sd-harness.XXXXXX)
root=$work/srv
repo=$work/app.git

source "$here/lib.sh"
source "$here/systemd_lib.sh"
cleanup() {
    sd_down "$name"
    rm -rf "$work"
}
trap cleanup EXIT

expect() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }
ms() { echo $(($(date +%s%N) / 1000000)); }
# deploy TAG: exports release TAG into releases/TAG and points current at it.
deploy() {
    mkdir -p "$root/releases/$1"
    git --git-dir="$repo" archive "$1" | tar -x -C "$root/releases/$1"
    ln -sfn "releases/$1" "$root/current"
}
# show: the app unit's state, one line.
show() {
    sd_run systemctl show -p ActiveState,SubState,NRestarts,ExecMainPID,InvocationID app.service |
        tr '\n' ' '
}
prop() { sd_run systemctl show -p "$1" --value app.service; }

if [ "$(id -u)" -ne 0 ] || ! docker info >/dev/null 2>&1; then
    echo "FAIL setup: needs root and a running dockerd (scripts/stack.sh up)"
    exit 1
fi
if [ ! -x /usr/bin/gunicorn ] || ! /usr/bin/python3 -c 'import flask' 2>/dev/null; then
    echo "FAIL setup: gunicorn or python3-flask is not installed (scripts/setup.sh installs them)"
    exit 1
fi
chmod 0755 "$work"
mkdir -p "$root"
sd_down "$name"                     # a container left by a killed run
sd_cgroups_snapshot "$work/cgroups.before"

# 1. systemd boots, reached through the prefix; it and its services stay in its own cgroup.
t0=$(ms)
if sd_up "$name" "$root" "$port"; then
    ok "systemd_boots ($(($(ms) - t0)) ms)"
else
    bad systemd_boots "see above"
    echo "systemd harness: $pass passed, $fail failed"
    exit 1
fi
mapfile -t prefix <"$root/prefix"
expect prefix_file "${prefix[*]}" "$SD_PREFIX"
expect prefix_works "$("${prefix[@]}" systemctl show -p ActiveState --value basic.target)" active
# (the reader's cgroup namespace decides what /proc/PID/cgroup shows: the container's here)
expect container_sees_own_root "$(sd_run nsenter -t 1 -C -- cat /proc/1/cgroup | sed 's/^[0-9]*:[^:]*://' | sort -u |
    tr '\n' ' ')" "/ /init.scope "
sd_assert_contained "$name" && ok contained_after_boot || bad contained_after_boot "see above"

# 2. The app's v1 under systemd answers from the host.
sd_app_root "$root"
"$here/../fixtures/gunicorn-app/make-repo.sh" "$repo" || bad make_repo "exit $?"
deploy v1
sd_unit "$name" app.service "$(sd_app_unit "$root" "$port")" && ok unit_installed ||
    bad unit_installed "sd_unit failed"
t0=$(ms)
sd_run systemctl restart app.service
t1=$(ms)
answer=""
for ((i = 0; i < 100; i++)); do
    answer=$(curl -s --max-time 1 "http://$SD_IP:$port/version") && break
    sleep 0.1
done
echo "restart took $((t1 - t0)) ms, first answer $(($(ms) - t0)) ms after the restart began"
expect v1_version "$answer" v1
expect v1_health "$(curl -s "http://$SD_IP:$port/health")" ok
expect v1_index "$(curl -s -o /dev/null -w '%{http_code}' "http://$SD_IP:$port/")" 200
expect v1_published "$(curl -s --max-time 1 "http://127.0.0.1:$port/version")" v1
expect v1_runs_as_app "$(sd_run ps -o user= -p "$(prop MainPID)")" app
sd_assert_contained "$name" && ok contained_with_app || bad contained_with_app "see above"

# 3. v2-crash: gunicorn's master exits 3 and systemd restarts it for ever.
deploy v2-crash
sd_run systemctl restart app.service
before=$(prop NRestarts)
for ((i = 0; i < 6; i++)); do
    echo "  $(show)"
    sleep 1
done
after=$(prop NRestarts)
if [ "$after" -ge $((before + 2)) ]; then
    ok "crash_loop (NRestarts $before -> $after)"
else
    bad crash_loop "NRestarts $before -> $after"
fi
sd_run journalctl -u app.service --no-pager -n 200 | grep -q 'Worker failed to boot' &&
    ok crash_logged || bad crash_logged "no 'Worker failed to boot' in the journal"
# 3 (gunicorn's "worker failed to boot"), or 1 when Debian's gunicorn 20.1 gets the second
# worker's exit while halting and dies of the HaltServer it raises again in its SIGCHLD handler.
sd_run journalctl -u app.service --no-pager -n 200 |
    grep -qE 'Main process exited, code=exited, status=(3|1)/' &&
    ok crash_exit_status || bad crash_exit_status "no exit status 3 or 1 in the journal"
expect crash_no_answer "$(curl -s --max-time 1 "http://$SD_IP:$port/version")" ""

# 4. Gone, and the host's cgroups are as they were.
sd_down "$name"
sd_down "$name" && ok down_idempotent || bad down_idempotent "second sd_down failed"
expect container_gone "$(docker ps -aq --filter "name=^$name\$")" ""
sd_cgroups_snapshot "$work/cgroups.after"
sd_cgroups_assert_same "$work/cgroups.before" "$work/cgroups.after" &&
    ok host_cgroups_unchanged || bad host_cgroups_unchanged "see above"

echo "systemd harness: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
