#!/usr/bin/env bash
# Installs every Debian package the build, the tests, fuzzing and the demo need. Idempotent:
# does nothing (and needs no root) when everything is already installed.
set -euo pipefail

packages=(
    build-essential cmake pkg-config                  # compiler and build
    clang libclang-rt-14-dev                          # fuzzing (libFuzzer, sanitizer runtimes)
    libyaml-dev libcurl4-openssl-dev libpq-dev        # libraries rollgate links
    libarchive-dev libgit2-dev libjansson-dev libsqlite3-dev libssl-dev
    libcmocka-dev zlib1g-dev                          # unit tests, the archive fuzzer
    git python3 jq curl sqlite3 zip                   # test and demo tooling
    libxml2-utils python3-yaml                        # JUnit schema checks, CI recipe runner
    openssh-server openssh-client                     # the git push over ssh test
    dpkg-dev man-db e2fsprogs util-linux              # the package test, chattr, setpriv
    docker.io docker-compose docker-registry          # the local stack of integration tests
    postgresql nginx zstd                             # and of the demo
    gunicorn python3-flask                            # the systemd driver's test app
)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: error: missing packages: ${missing[*]}; run scripts/setup.sh as root" >&2
    exit 1
fi
echo "setup: installing: ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: installed ${#missing[@]} package(s)"
