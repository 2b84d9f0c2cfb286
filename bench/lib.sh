# Shared by the benchmark scripts that source it (not a benchmark itself: bench/run.sh runs
# bench_*.sh only). Needs die and say of the sourcing script.

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
