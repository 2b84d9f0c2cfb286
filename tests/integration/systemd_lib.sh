# shellcheck shell=bash
# Helpers of the systemd driver's tests (sourced; lib.sh's ok/bad are not needed here): a real
# systemd booted as PID 1 of a docker container, reached from the host through nsenter, and
# checks that it left the host's cgroups alone. Needs root, dockerd and the host's systemd
# (the Debian package) in /usr, which the container mounts read-only as its own /usr.
#
# Why docker with --cgroupns=private and not systemd-nspawn: on this cgroup v1 host, a systemd
# booted by nspawn took over the host's root cgroup unless the launcher had first moved itself
# into a cgroup of its own in every v1 hierarchy (what the project saw when it tried nspawn; not
# re-run here, as it would change the host's cgroups). runc puts the container's processes in
# /docker/<id> in every hierarchy before they run, and the private cgroup namespace makes that
# directory the container's root: the v1 hierarchies runc mounts and the cgroup2 hierarchy the
# container's systemd mounts itself (at /sys/fs/cgroup/unified: hybrid mode) both start at
# /docker/<id>, so there is nothing above it to take over; isolation by construction. Seen on
# Debian 12 with docker 20.10, runc 1.1.5, kernel 6.18 (the ones under test):
#   - /proc/SD_PID/cgroup on the host: every v1 line /docker/<id>, the cgroup2 line
#     0::/docker/<id>/init.scope; inside the container the same process reads 1:cpu:/ and
#     0::/init.scope;
#   - the container's mountinfo: every cgroup mount's root is /docker/<id>, the v1 ones
#     read-only (as docker mounts them without --privileged), the cgroup2 one read-write;
#   - the services (gunicorn, systemd-run's units) are in /docker/<id>/system.slice/... of the
#     cgroup2 hierarchy; pid 1, dockerd and the test's shell keep their cgroups and the
#     top-level directories of every hierarchy are the same before, during and after
#     (sd_cgroups_snapshot, sd_assert_contained; test_systemd_harness.sh checks it every run).
#
# docker run flags (sd_up), each one needed:
#   --cgroupns=private   the isolation above (docker 20.10 on cgroup v1 defaults to host);
#   --cap-add SYS_ADMIN  systemd mounts (cgroup2 on /sys/fs/cgroup/unified, /dev/mqueue, ...);
#                        without it systemd stops at "Failed to create /init.scope control group:
#                        Read-only file system" (the v1 mounts are read-only) and exits 255;
#   -e container=docker  systemd's container detection (docker sets no such variable), so no
#                        udev, getty, modules or other machine-only units;
#   -v /usr:/usr:ro      systemd, gunicorn, python3-flask from the host's packages;
#   -v ROOT:ROOT         where rollgate writes releases from the host, at the same path;
#   --security-opt apparmor=unconfined only where docker uses AppArmor (docker-default denies
#                        mount); not on this machine.
# Not needed: --privileged, seccomp=unconfined (docker's default profile allows mount and
# friends with CAP_SYS_ADMIN), --tmpfs /run, /run/lock and /tmp (systemd mounts /run itself).
# Conveniences: -p 127.0.0.1:PORT:PORT (also reachable on SD_IP:PORT, which is better for
# gates: docker-proxy accepts on 127.0.0.1 even when nothing listens inside), --stop-signal
# SIGRTMIN+3 (systemd's halt, for a `docker stop`; sd_down kills). Never a bind mount of the
# host's /sys/fs/cgroup.
#
# The prefix (SD_PREFIX) enters the mount, UTS, IPC, network and pid namespaces, not the cgroup
# namespace nor a cgroup: what it runs (systemctl, journalctl, systemd-run as clients) stays in
# the caller's host cgroup and reads /proc/PID/cgroup relative to the host's root. Services are
# started by the container's systemd and are contained.

SD_IMAGE=rollgate/systemd-host:test
SD_PID=""
SD_IP=""
SD_PREFIX=""
sd_host_before=""

# sd_rootfs DIR: writes the container's tiny root file system into DIR (an empty directory).
sd_rootfs() {
    local d=$1
    mkdir -p "$d/etc/systemd/system" "$d/usr" "$d/proc" "$d/sys" "$d/dev" "$d/run" "$d/tmp" \
        "$d/var/log" "$d/var/lib" "$d/var/tmp" "$d/var/cache" "$d/root" "$d/home" "$d/srv" \
        "$d/mnt" "$d/opt"
    chmod 1777 "$d/tmp" "$d/var/tmp"
    chmod 0700 "$d/root"
    ln -s usr/bin "$d/bin"
    ln -s usr/lib "$d/lib"
    ln -s usr/lib64 "$d/lib64"
    ln -s usr/sbin "$d/sbin"
    printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' \
        'app:x:1500:1500:rollgate test app:/nonexistent:/usr/sbin/nologin' \
        'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$d/etc/passwd"
    printf '%s\n' 'root:x:0:' 'app:x:1500:' 'nogroup:x:65534:' >"$d/etc/group"
    printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' \
        >"$d/etc/nsswitch.conf"
    printf '%s\n' 'PRETTY_NAME="rollgate systemd test host"' 'NAME="rollgate-systemd-host"' \
        'ID=rollgate-systemd-host' 'ID_LIKE=debian' >"$d/etc/os-release"
    # A fixed machine id: an empty one makes a "first boot" (systemd-firstboot and friends).
    echo 0123456789abcdef0123456789abcdef >"$d/etc/machine-id"
    ln -s /usr/lib/systemd/system/multi-user.target "$d/etc/systemd/system/default.target"
}

# sd_image: builds the image SD_IMAGE from sd_rootfs with `docker import`, unless one built from
# the same sd_rootfs (its text's hash, kept in the image's environment) is already there.
sd_image() {
    local hash dir rc
    hash=$(declare -f sd_rootfs | sha256sum | cut -c1-16)
    if docker image inspect -f '{{.Config.Env}}' "$SD_IMAGE" 2>/dev/null |
        grep -q "ROLLGATE_ROOTFS=$hash"; then
        return 0
    fi
    dir=$(mktemp -d /tmp/rollgate-sd-rootfs.XXXXXX)
    sd_rootfs "$dir"
    tar --numeric-owner --owner=0 --group=0 -C "$dir" -c . |
        docker import -c "ENV ROLLGATE_ROOTFS=$hash" -c 'CMD ["/usr/lib/systemd/systemd"]' \
            - "$SD_IMAGE" >/dev/null
    rc=$?
    rm -rf "$dir"
    [ "$rc" -eq 0 ] || echo "sd_image: docker import of $SD_IMAGE failed" >&2
    return "$rc"
}

# sd_dockerd_pid: the pid of dockerd (its pid file when that names a live dockerd, else pgrep).
sd_dockerd_pid() {
    local pid=""
    read -r pid </var/run/docker.pid 2>/dev/null
    if [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
        echo "$pid"
    else
        pgrep -xo dockerd
    fi
}

# sd_host_cgroups: the /proc/PID/cgroup lines of host pid 1, dockerd and this shell, labelled.
sd_host_cgroups() {
    local who pid
    for who in "pid1 1" "dockerd $(sd_dockerd_pid)" "shell $$"; do
        pid=${who#* }
        sed "s|^|${who% *} |" "/proc/$pid/cgroup" || echo "${who% *} unreadable"
    done
}

# sd_cgroup_mounts: the host's cgroup hierarchies under /sys/fs/cgroup (v1 ones and cgroup2's).
sd_cgroup_mounts() {
    awk '$5 ~ "^/sys/fs/cgroup/" {
        for (i = 7; $i != "-"; i++) ;
        if ($(i + 1) == "cgroup" || $(i + 1) == "cgroup2") print $5
    }' /proc/self/mountinfo | sort
}

# sd_cgroups_snapshot FILE: writes to FILE the host cgroup state a systemd taking over the host
# would change: sd_host_cgroups, and the top-level directories of every hierarchy. (Only the
# top level: containers of other tests come and go under docker/ meanwhile; this container's
# docker/<id> is not at the top level.)
sd_cgroups_snapshot() {
    local mp d
    {
        sd_host_cgroups
        for mp in $(sd_cgroup_mounts); do
            for d in "$mp"/*/; do
                [ -d "$d" ] && echo "dir $mp ${d#"$mp"/}"
            done
        done
    } >"$1"
}

# sd_cgroups_assert_same BEFORE AFTER: fails, showing the difference, unless two snapshots match.
sd_cgroups_assert_same() {
    if ! diff -u "$1" "$2" >/dev/null; then
        echo "host cgroups changed:"
        diff -u "$1" "$2" | sed 's/^/    /'
        return 1
    fi
    return 0
}

# sd_run ARGS...: runs a command in the container's namespaces (SD_PREFIX) from the host.
sd_run() {
    local prefix
    read -r -a prefix <<<"$SD_PREFIX"
    "${prefix[@]}" "$@"
}

# sd_up NAME ROOT PORT: boots systemd in the container NAME (ROOT read-write at the same path,
# PORT published on 127.0.0.1 too), waits up to 60 s for it to be running or degraded, checks
# that systemctl, journalctl and systemd-run work through the prefix, and exports SD_PID, SD_IP
# and SD_PREFIX (also written one word a line to ROOT/prefix). ROOT must be traversable by uid
# 1500 (app). On failure prints docker logs and the failed units and returns 1.
sd_up() {
    local name=$1 root=$2 port=$3 st="" t0 deadline=$((SECONDS + 60))
    local -a opts=(--cgroupns=private --cap-add SYS_ADMIN -e container=docker
        --stop-signal SIGRTMIN+3 -v /usr:/usr:ro -v "$root:$root"
        -p "127.0.0.1:$port:$port" --label rollgate.test=systemd-host)
    case $root in
    /*) ;;
    *) echo "sd_up: ROOT must be an absolute path: '$root'" >&2; return 1 ;;
    esac
    if docker info -f '{{.SecurityOptions}}' 2>/dev/null | grep -q apparmor; then
        opts+=(--security-opt apparmor=unconfined)
    fi
    sd_host_before=$(sd_host_cgroups)
    sd_image || return 1
    t0=$(date +%s%N)
    docker run -d --name "$name" "${opts[@]}" "$SD_IMAGE" /usr/lib/systemd/systemd >/dev/null ||
        return 1
    SD_PID=$(docker inspect -f '{{.State.Pid}}' "$name")
    SD_IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
    SD_PREFIX="nsenter -t $SD_PID -m -u -i -n -p --"
    export SD_PID SD_IP SD_PREFIX
    if [ "$SD_PID" != 0 ]; then
        while [ "$SECONDS" -lt "$deadline" ]; do
            st=$(sd_run timeout 5 systemctl is-system-running --wait 2>/dev/null)
            case $st in running | degraded) break ;; esac
            [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
            sleep 0.1
        done
    fi
    case $st in
    running | degraded) ;;
    *)
        echo "sd_up: systemd in '$name' is '${st:-not running}' after 60 s"
        docker logs --tail 50 "$name" 2>&1 | sed 's/^/    /'
        [ "$SD_PID" = 0 ] || sd_run systemctl --failed --no-pager --no-legend 2>&1 | sed 's/^/    /'
        return 1
        ;;
    esac
    echo "sd_up: systemd in '$name' $st after $((($(date +%s%N) - t0) / 1000000)) ms (pid $SD_PID, $SD_IP)"
    printf '%s\n' nsenter -t "$SD_PID" -m -u -i -n -p -- >"$root/prefix"
    if ! sd_run systemctl show -p ActiveState basic.target | grep -qx ActiveState=active ||
        ! sd_run journalctl -o json -n 1 | grep -q '"MESSAGE"' ||
        [ "$(sd_run systemd-run --wait --pipe --quiet --collect -p User=app \
            -p WorkingDirectory=/tmp -- id -un </dev/null 2>&1)" != app ]; then
        echo "sd_up: systemctl, journalctl or systemd-run do not work through '$SD_PREFIX'"
        return 1
    fi
    return 0
}

# sd_unit NAME UNIT_NAME CONTENT: installs CONTENT as /etc/systemd/system/UNIT_NAME in the
# container NAME (started by sd_up) and reloads systemd.
sd_unit() {
    local name=$1 unit=$2 content=$3
    case $unit in
    */* | .* | "") echo "sd_unit: bad unit name '$unit'" >&2; return 1 ;;
    esac
    [ "$(docker inspect -f '{{.State.Pid}}' "$name" 2>/dev/null)" = "$SD_PID" ] || {
        echo "sd_unit: container '$name' is not the one sd_up started" >&2
        return 1
    }
    printf '%s\n' "$content" | sd_run tee "/etc/systemd/system/$unit" >/dev/null &&
        sd_run systemctl daemon-reload
}

# sd_down NAME: removes the container NAME (with its volumes) when it exists; idempotent.
sd_down() {
    if docker container inspect "$1" >/dev/null 2>&1; then
        docker rm -f -v "$1" >/dev/null
    fi
    SD_PID=""
    SD_IP=""
    SD_PREFIX=""
}

# sd_assert_contained NAME: while NAME runs, fails unless pid 1, dockerd and this shell are in the
# cgroups they were in before sd_up, and every process of the container (its pid namespace) is
# under the container's own cgroup (a path naming its id) in every hierarchy.
sd_assert_contained() {
    local id ns p line rc=0 now
    id=$(docker inspect -f '{{.Id}}' "$1") || return 1
    now=$(sd_host_cgroups)
    if [ "$now" != "$sd_host_before" ]; then
        echo "host processes moved cgroup:"
        diff -u <(echo "$sd_host_before") <(echo "$now") | sed 's/^/    /'
        rc=1
    fi
    ns=$(readlink "/proc/$SD_PID/ns/pid") || return 1
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
        while read -r line; do
            case ${line#*:*:} in
            */"$id" | */"$id"/*) ;;
            *)
                echo "pid ${p#/proc/} ($(cat "$p/comm" 2>/dev/null)) outside the container: $line"
                rc=1
                ;;
            esac
        done <"$p/cgroup" 2>/dev/null
    done
    return "$rc"
}

# sd_app_root ROOT: prepares ROOT for the gunicorn test app (tests/fixtures/gunicorn-app):
# releases/, data/ and state/ (the last two the app user's), and the unit's EnvironmentFile env.
sd_app_root() {
    mkdir -p "$1/releases" "$1/data" "$1/state" &&
        chmod 0755 "$1" "$1/releases" &&
        chown 1500:1500 "$1/data" "$1/state" &&
        printf '%s\n' "APP_DB=$1/data/app.db" "APP_STATE_DIR=$1/state" >"$1/env"
}

# sd_app_unit ROOT PORT: prints the gunicorn test app's unit: ROOT/current served on PORT,
# restarted for ever (no start limit, so a crash loop keeps looping).
sd_app_unit() {
    cat <<UNIT
[Unit]
Description=rollgate gunicorn test app
StartLimitIntervalSec=0

[Service]
User=app
WorkingDirectory=$1/current
EnvironmentFile=$1/env
ExecStart=/usr/bin/gunicorn --bind 0.0.0.0:$2 --workers 2 app:app
Restart=always
RestartSec=1
TimeoutStopSec=10

[Install]
WantedBy=multi-user.target
UNIT
}
