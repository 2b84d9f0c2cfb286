#!/usr/bin/env bash
# Installing rollgate as a newcomer would: `cmake --install` into a temporary prefix, and the
# Debian package `cpack -G DEB` builds, installed with dpkg on this machine and removed again.
# Each must give a working `rollgate --version`, `man rollgate`, bash and zsh completions, the
# docs and the example playbooks.
#   test_install.sh BUILD_DIR
set -u
build=$1
tmp=$(mktemp -d /tmp/rollgate-install-test.XXXXXX)
pkg_installed=0
cleanup() {
    # The package is removed again: the machine is left as it was found.
    [ "$pkg_installed" = 1 ] && dpkg -r rollgate >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/../integration/lib.sh"
has() { if grep -qF -- "$2" <<<"$3"; then ok "$1"; else bad "$1" "lacks '$2'"; echo "$3" | head -n 20 | sed 's/^/    /'; fi; }

want_version=$("$build/rollgate" --version | head -n 1)

# 1. cmake --install into a prefix of its own.
if cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then ok cmake_install; else bad cmake_install "$(tail -n 5 "$tmp/install.log")"; fi
p=$tmp/prefix
has prefix_version "$want_version" "$("$p/bin/rollgate" --version 2>&1)"
has prefix_man "rollgate completion bash|zsh" "$(MANPATH="$p/share/man" MANWIDTH=200 man rollgate 2>&1)"
has prefix_bash_completion "validate" "$(bash -c "source '$p/share/bash-completion/completions/rollgate'; COMP_WORDS=(rollgate vali); COMP_CWORD=1; _rollgate; echo \"\${COMPREPLY[*]}\"" 2>&1)"
has prefix_bash_options "--no-env" "$(bash -c "source '$p/share/bash-completion/completions/rollgate'; COMP_WORDS=(rollgate validate --no); COMP_CWORD=2; _rollgate; echo \"\${COMPREPLY[*]}\"" 2>&1)"
has prefix_zsh_completion "#compdef rollgate" "$(head -n 1 "$p/share/zsh/vendor-completions/_rollgate" 2>&1)"
has prefix_docs "# Exit codes" "$(head -n 1 "$p/share/doc/rollgate/exit-codes.md" 2>&1)"
has prefix_example_validates "odoo.yml: ok" "$("$p/bin/rollgate" validate "$p/share/rollgate/playbooks/odoo.yml" 2>&1)"

# 2. The Debian package, installed on this machine.
if dpkg -s rollgate >/dev/null 2>&1; then
    echo "note: a rollgate package is installed already (an earlier run stopped midway): removing it"
    dpkg -r rollgate >/dev/null 2>&1
fi
rm -f "$build"/rollgate_*.deb
if (cd "$build" && cpack -G DEB >"$tmp/cpack.log" 2>&1); then ok cpack_deb; else bad cpack_deb "$(tail -n 5 "$tmp/cpack.log")"; fi
deb=$(ls "$build"/rollgate_*.deb 2>/dev/null | head -n 1)
has deb_depends "libyaml-0-2" "$(dpkg-deb -f "$deb" Depends 2>&1)"
has deb_depends_libpq "libpq5" "$(dpkg-deb -f "$deb" Depends 2>&1)"
if dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then ok dpkg_install; pkg_installed=1; else bad dpkg_install "$(tail -n 5 "$tmp/dpkg.log")"; fi
has deb_version "$want_version" "$(/usr/bin/rollgate --version 2>&1)"
has deb_man "rollgate completion bash|zsh" "$(MANWIDTH=200 man rollgate 2>&1)"
has deb_bash_completion "/usr/share/bash-completion/completions/rollgate" "$(dpkg -L rollgate)"
has deb_zsh_completion "/usr/share/zsh/vendor-completions/_rollgate" "$(dpkg -L rollgate)"
has deb_examples "/usr/share/rollgate/playbooks/demo.yml" "$(dpkg -L rollgate)"
if dpkg -r rollgate >"$tmp/dpkg-r.log" 2>&1 && [ ! -e /usr/bin/rollgate ]; then
    ok dpkg_remove; pkg_installed=0
else
    bad dpkg_remove "$(tail -n 5 "$tmp/dpkg-r.log")"
fi

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
