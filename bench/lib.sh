# Shared by the benchmark scripts that source it (not a benchmark itself: bench/run.sh runs
# bench_*.sh only). Needs die and say of the sourcing script.

# bench_options ARGS...: the options every benchmark script takes, into the globals write (the
# file whose section is replaced, "" for none) and reps.
bench_options() {
    while (($#)); do
        case $1 in
        --write) write=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        *) die "unknown option '$1' (use --write FILE, --reps N)" ;;
        esac
    done
}

# write_section HEAD NEW FILE: replaces the section of FILE that starts with the line HEAD (up
# to the next "## " heading) by the file NEW, or appends NEW when FILE has no such section;
# written to a temporary file beside FILE, then renamed, keeping FILE's mode.
write_section() {
    local head=$1 new=$2 file=$3 tmp
    [[ -f $file ]] || die "--write: '$file' does not exist"
    tmp=$(mktemp "$file.tmpXXXXXX")
    awk -v head="$head" -v new="$new" '
        function emit(   line) { while ((getline line < new) > 0) print line; close(new); done = 1 }
        $0 == head { skip = 1; emit(); next }
        skip && /^## / { skip = 0; print "" }
        skip { next }
        { print }
        END { if (!done) { print ""; emit() } }' "$file" >"$tmp"
    chmod --reference="$file" "$tmp"
    mv -f "$tmp" "$file"
    say "wrote section '${head#\#\# }' of $file"
}

# ---- timing and statistics of the scripts that record "KEY VALUE" lines in $results ----

# now_ms: monotonic enough wall time in milliseconds, with a tenth.
now_ms() { local t=$EPOCHREALTIME; echo "${t/./}" | awk '{ printf "%.1f", $1 / 1000 }'; }
# since T0: milliseconds from T0 (a now_ms value) to now.
since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", b - a }'; }
# record KEY VALUE
record() { echo "$1 $2" >>"$results"; }
# med KEY: the median of KEY's values (0 when none).
med() {
    awk -v k="$1" '$1 == k { print $2 }' "$results" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print 0; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# range KEY: "lo–hi" of KEY's values, rounded.
range() { awk -v k="$1" '$1 == k { print $2 }' "$results" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f–%.0f", lo, hi }'; }
# ratio KEY_A KEY_B: median of A over median of B.
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f", a / b }'; }
