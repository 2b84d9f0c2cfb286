#!/usr/bin/env bash
# Fails when a banned function is called, or a shell is invoked, in src/ or include/
# (STYLE.md §2 and §8). Prints every offending file:line.
set -euo pipefail
cd "$(dirname "$0")/.."

banned='gets|strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|system|popen|alloca'
# \b before the name keeps snprintf, vsnprintf, strtok_r and fgets from matching: the name must
# start a word and be followed directly (after blanks) by the call's parenthesis.
call_re="\\b(${banned})[[:space:]]*\\("
shell_re='"/bin/sh"|"sh",[[:space:]]*"-c"'

mapfile -t files < <(find src include -type f \( -name '*.c' -o -name '*.h' -o -name '*.h.in' \) \
                     | LC_ALL=C sort)
if [ "${#files[@]}" -eq 0 ]; then
    echo "check-banned: no C files found under src/ or include/" >&2
    exit 1
fi

# grep exits 0 on a match, 1 on none and 2 on trouble; trouble must not pass as "none".
scan() {
    local title=$1 re=$2 rc=0 hits
    shift 2
    hits=$(grep -nHE -- "$re" "$@") || rc=$?
    case $rc in
    0) echo "check-banned: $title:" >&2; printf '%s\n' "$hits" >&2; fail=1 ;;
    1) ;;
    *) echo "check-banned: grep failed (exit $rc)" >&2; exit 2 ;;
    esac
}

fail=0
scan "banned function calls" "$call_re" "${files[@]}"
mapfile -t src_files < <(printf '%s\n' "${files[@]}" | grep '^src/' || true)
if [ "${#src_files[@]}" -gt 0 ]; then
    scan "shell invocations (use argv through src/util/spawn.c)" "$shell_re" "${src_files[@]}"
fi
if [ "$fail" -ne 0 ]; then
    echo "check-banned: FAILED (banned: ${banned//|/, }, \"/bin/sh\", \"sh\", \"-c\")" >&2
    exit 1
fi
echo "check-banned: ok (${#files[@]} files)"
