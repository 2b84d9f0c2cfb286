#!/usr/bin/env bash
# Fails when a module reaches a module above it, or past the driver interface: the arrows of
# docs/architecture.md. Each module may include only the public headers listed for it, and the
# engine and the steps may call nothing of Docker, compose or the env file (only the driver
# does). Prints every offending file:line.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
    [util]="err spawn util"
    [playbook]="playbook err util"
    [ledger]="ledger err util"
    [git]="git err util"
    [runtime]="runtime driver proxy compose_file playbook git spawn err util"
    [gates]="gates runtime playbook spawn err util"
    [diagnose]="diagnose runtime driver playbook spawn err util"
    [backup]="backup backup_archive backup_pg ledger playbook spawn err util"
    [steps]="steps driver proxy gates backup ledger playbook spawn err util"
    [engine]="engine diagnose steps driver proxy gates backup ledger playbook spawn err util"
    [cli]="*"
)
fail=0

# The module each public header belongs to.
declare -A owner=(
    [util]=util [err]=util [spawn]=util [playbook]=playbook [ledger]=ledger [git]=git [runtime]=runtime
    [driver]=runtime [proxy]=runtime [compose_file]=runtime [gates]=gates [backup]=backup [backup_archive]=backup
    [backup_pg]=backup [steps]=steps [engine]=engine [cli]=cli [diagnose]=diagnose
)

# check FILE MODULE: every rollgate header FILE includes is allowed to MODULE; no reach into
# another module's private headers.
check() {
    local file=$1 module=$2 hit header
    while IFS= read -r hit; do
        header=$(sed -E 's/.*#include ["<]rollgate\/([a-z_]+)\.h[">].*/\1/' <<<"$hit")
        case " ${allowed[$module]} " in
        *" $header "*) ;;
        *) echo "check-layers: $module may not include rollgate/$header.h: $hit" >&2; fail=1 ;;
        esac
    done < <(grep -nHE '#include ["<]rollgate/[a-z_]+\.h[">]' "$file" || true)
    if grep -nHE '#include "\.\./' "$file" >&2 ||
        grep -nHE '#include "[a-z_]+/' "$file" | grep -vE "#include \"(rollgate|$module)/" >&2; then
        echo "check-layers: $file reaches into another module's private headers" >&2
        fail=1
    fi
}

for header in include/rollgate/*.h; do
    name=$(basename "$header" .h)
    if [ -z "${owner[$name]+x}" ]; then
        echo "check-layers: header '$header' has no owner in scripts/check-layers.sh" >&2
        fail=1
        continue
    fi
    [ "${allowed[${owner[$name]}]}" = "*" ] || check "$header" "${owner[$name]}"
done

for dir in src/*/; do
    module=$(basename "$dir")
    if [ -z "${allowed[$module]+x}" ]; then
        echo "check-layers: module '$module' has no row in scripts/check-layers.sh" >&2
        fail=1
        continue
    fi
    [ "${allowed[$module]}" = "*" ] && continue
    for file in "$dir"*.[ch]; do
        check "$file" "$module"
    done
done

# Below the interface: only drivers (src/runtime) speak Docker, compose or the env file.
hits=$(grep -nHE '\brg_(docker|compose|envfile)_[a-z_]+[[:space:]]*\(' src/engine/*.[ch] \
       src/steps/*.[ch] || true)
if [ -n "$hits" ]; then
    echo "check-layers: the engine and the steps reach the target only through the driver:" >&2
    printf '%s\n' "$hits" >&2
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "check-layers: every module includes only what lies below it"
