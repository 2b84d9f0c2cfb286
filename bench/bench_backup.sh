#!/usr/bin/env bash
# Backup and restore of a generated database of at least 1 GB through rollgate, next to the
# plain PostgreSQL tools on the same data in the same run:
#   backup:  `rollgate backup` (pg_dump -Fc -Z0 streamed into a zstd tar with checksums) vs
#            `pg_dump -Fc -f FILE` (pg_dump's own default compression)
#   restore: `rollgate restore --yes --jobs 2` (verify the archive, extract, restore into a
#            scratch database with the table data loaded over 2 connections, verification query,
#            swap by renames) vs `createdb` + `pg_restore --jobs 2` of the same dump (the one
#            inside rollgate's archive, extracted beforehand), and of pg_dump's own file
#            (informational)
# Every timed run starts from the same state: dirty pages written (sync) and a PostgreSQL
# checkpoint done, so that no run pays for the writes of the one before.
# Prints a markdown section; --write FILE replaces the section in FILE (docs/BENCHMARKS.md).
#
# Needs the local stack's PostgreSQL (scripts/stack.sh up), a built rollgate (BUILD_DIR,
# default build/), zstd, and about 6 GB free under /tmp and in PostgreSQL's data directory.
# Exit: 0 both targets met, 1 a target missed, 2 the benchmark could not run.
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
bin="$build/rollgate"
section="## Backup and restore vs pg_dump and pg_restore"
reproduce="cmake --build build --target rollgate && bench/bench_backup.sh --write docs/BENCHMARKS.md"
db=rgbench_data
rows=${BENCH_ROWS:-5300000}  # about 1.08 GB with its index
reps=5
target=1.10
write=""

die() { echo "bench_backup: $*" >&2; exit 2; }
say() { echo "bench_backup: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
bench_options "$@"
[[ -x $bin ]] || die "no rollgate at $bin (cmake --build build --target rollgate)"
port=${ROLLGATE_PG_PORT:-55432}
pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL is not answering on 127.0.0.1:$port (scripts/stack.sh up)"
command -v zstd >/dev/null || die "zstd is not installed"

work=$(mktemp -d /tmp/rollgate-bench-backup.XXXXXX)
results=$work/results
psqlc() { psql -X -q -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
drop_like() {
    local d
    for d in $(psqlc -d postgres -tAc "select datname from pg_database where datname like '$1'"); do
        psqlc -d postgres -c "DROP DATABASE \"$d\" WITH (FORCE)" >/dev/null
    done
}
cleanup() { drop_like "${db}%"; rm -rf "$work"; }
trap cleanup EXIT

quiesce() { sync; psqlc -d postgres -c CHECKPOINT; }
now_ms() { local t=$EPOCHREALTIME; echo "${t/./}" | awk '{ printf "%.1f", $1 / 1000 }'; }
record() { printf '%s %s\n' "$1" "$2" >>"$results"; }
stats() {
    awk -v k="$1" '$1 == k { print $2 }' "$results" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f %s %s\n", m, v[1], v[NR] }'
}
med() { stats "$1" | cut -d' ' -f1; }
medr() { awk -v v="$(med "$1")" 'BEGIN { printf "%.0f", v }'; }

say "generating $db ($rows rows)"
drop_like "${db}%"
psqlc -d postgres -c "CREATE DATABASE $db"
psqlc -d "$db" <<SQL
CREATE TABLE orders (id bigint PRIMARY KEY, customer text, status text, note text,
                     amount numeric(12,2), created timestamptz);
INSERT INTO orders SELECT g, 'customer ' || (g % 50000), (ARRAY['new','paid','sent'])[g % 3 + 1],
       md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text),
       (g % 100000) / 100.0, timestamptz '2026-01-01' + g * interval '1 second'
  FROM generate_series(1, $rows) g;
CREATE INDEX orders_by_customer ON orders(customer);
ANALYZE orders;
SQL
size=$(psqlc -d postgres -tAc "select pg_database_size('$db')")
((size >= 1000000000)) || die "the generated database has only $size bytes (raise BENCH_ROWS)"
say "database size $size bytes"

mkdir -p "$work/backups" "$work/stack"
echo "DEMO_APP_TAG=v1" >"$work/stack/.env"
cat >"$work/pb.yml" <<YAML
version: 1
name: benchbackup
state_dir: $work/state
runtime: {driver: compose, project_dir: $work/stack, project_name: rgbenchbk, tag_var: DEMO_APP_TAG, services: [app]}
release: {image: 127.0.0.1:5000/rollgate/demo-app, tag_pattern: '^v[0-9]+\$'}
gates:
  health: {http: "http://127.0.0.1:1/health"}
deploy: [pull, up, {verify: [health]}]
backup:
  database: "host=127.0.0.1 port=$port dbname=$db user=postgres"
  dir: $work/backups
  keep: 2
  verify_query: "SELECT count(*) = $rows FROM orders"
YAML

for rep in $(seq "$reps"); do
    quiesce
    t0=$(now_ms)
    "$bin" backup "$work/pb.yml" >"$work/backup.out"
    t1=$(now_ms)
    record rg_backup_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    rm -f "$work/plain.dump"
    quiesce
    t0=$(now_ms)
    pg_dump -h 127.0.0.1 -p "$port" -U postgres -Fc -f "$work/plain.dump" "$db"
    t1=$(now_ms)
    record pg_dump_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    say "backup $rep: rollgate $(awk '$1 == "rg_backup_ms" { v = $2 } END { print v }' "$results") ms, pg_dump -Fc $(awk '$1 == "pg_dump_ms" { v = $2 } END { print v }' "$results") ms"
done
archive=$(ls -t "$work"/backups/*.tar.zst | head -1)
record archive_bytes "$(stat -c %s "$archive")"
record pgdump_bytes "$(stat -c %s "$work/plain.dump")"
# The dump inside the archive, as one file: what plain pg_restore gets.
zstd -dc "$archive" | tar -xf - -C "$work" --wildcards 'database.dump.*'
cat "$work"/database.dump.* >"$work/same.dump"
rm -f "$work"/database.dump.*
record dump_bytes "$(stat -c %s "$work/same.dump")"

for rep in $(seq "$reps"); do
    drop_like "${db}_pre_restore_%"
    quiesce
    t0=$(now_ms)
    "$bin" -v restore "$work/pb.yml" --file "$archive" --yes --jobs 2 >"$work/restore.out" 2>"$work/restore.log"
    t1=$(now_ms)
    record rg_restore_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    # rollgate's own clock (-v): extraction done, scratch restored and verified.
    record rg_extract_ms "$(sed -n 's/.*archive verified and extracted in \([0-9]*\) ms.*/\1/p' "$work/restore.log")"
    record rg_scratch_done_ms "$(sed -n 's/.*restored and verified after \([0-9]*\) ms.*/\1/p' "$work/restore.log")"
    # From the scratch database's creation to the last row loaded (schema + table data).
    record rg_load_ms "$(sed -n 's/.*table data loaded over [0-9]* connections after \([0-9]*\) ms.*/\1/p' "$work/restore.log")"
    # The raw limit of the extraction: the same decompression and write by zstd and tar, with
    # no checks at all.
    quiesce
    t0=$(now_ms)
    zstd -dc "$archive" | tar -xOf - --wildcards 'database.dump.*' >"$work/floor.bin"
    t1=$(now_ms)
    record write_floor_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    rm -f "$work/floor.bin"
    drop_like "${db}_pre_restore_%"
    for kind in same plain; do
        quiesce
        t0=$(now_ms)
        psqlc -d postgres -c "CREATE DATABASE ${db}_plain TEMPLATE template0"
        pg_restore -h 127.0.0.1 -p "$port" -U postgres --jobs 2 --exit-on-error -d "${db}_plain" "$work/$kind.dump"
        t1=$(now_ms)
        record "pg_restore_${kind}_ms" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
        drop_like "${db}_plain"
    done
    say "restore $rep done"
done

# Three decimals, and the target checked on the exact ratio: a ratio that only rounds to the
# target is a miss.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
ok_if() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }
b_ratio=$(ratio "$(med rg_backup_ms)" "$(med pg_dump_ms)")
r_ratio=$(ratio "$(med rg_restore_ms)" "$(med pg_restore_same_ms)")
r_ratio_plain=$(ratio "$(med rg_restore_ms)" "$(med pg_restore_plain_ms)")
res_b=$(ok_if "$(med rg_backup_ms) / $(med pg_dump_ms) <= $target")
res_r=$(ok_if "$(med rg_restore_ms) / $(med pg_restore_same_ms) <= $target")
row() { local s; s=$(stats "$2"); read -r m lo hi <<<"$s"; printf '| %s | %.1f s | %.1f–%.1f s |\n' "$1" "$(awk -v v="$m" 'BEGIN{print v/1000}')" "$(awk -v v="$lo" 'BEGIN{print v/1000}')" "$(awk -v v="$hi" 'BEGIN{print v/1000}')"; }
mb() { awk -v v="$(med "$1")" 'BEGIN { printf "%.0f MB", v / 1e6 }'; }

cat >"$work/section.md" <<EOF
$section

What: a generated database of $(awk -v v="$size" 'BEGIN { printf "%.2f GB", v / 1e9 }') (one table of $rows rows, text, numeric and time columns, primary key and one more index) on the local stack's PostgreSQL $(psqlc -d postgres -tAc "show server_version"), backed up and restored through rollgate and through the plain PostgreSQL tools in the same run, alternating, $reps runs each.

- backup: \`rollgate backup\` (pg_dump custom format without compression, streamed into a pax tar compressed with zstd, a sha256 per member and a manifest, fsync, rename, ledger row) vs \`pg_dump -Fc -f FILE\` (pg_dump's default compression). Target ≤ $target (ratio of medians).
- restore: \`rollgate restore --file ARCHIVE --yes --jobs 2\` (pass 1: verify the whole archive, the dump hashed on a second thread and not written; pass 2: read the dump again from the unchanged file and stream it: create a scratch database from template0, \`pg_restore --section=pre-data\` from a skeleton of the dump, the table's rows loaded by rollgate straight from the archive over 2 COPY connections, \`pg_restore --section=post-data --jobs 2\`, the verification query \`count(*) = $rows\`, block and end connections, rename live → kept and scratch → live) vs \`createdb\` + \`pg_restore --jobs 2\` of the same dump (extracted from rollgate's archive beforehand). Target ≤ $target. pg_restore of pg_dump's own file is shown for comparison: pg_dump wrote it to a seekable file, so its table of contents has data offsets, which the streamed dump lacks (each pg_restore worker then skims the file for its blocks). Before every timed run: \`sync\` and a \`CHECKPOINT\`, so that no run pays for the writes of the one before.

Run: $(date -u '+%Y-%m-%d %H:%M UTC') on $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online; $("$bin" --version 2>/dev/null || echo rollgate).  
Reproduce: \`$reproduce\`

| measure | median | min–max |
|---|---:|---:|
$(row "rollgate backup" rg_backup_ms)
$(row "pg_dump -Fc" pg_dump_ms)
$(row "rollgate restore (verify, extract, scratch, swap)" rg_restore_ms)
$(row "pg_restore --jobs 2, the same dump" pg_restore_same_ms)
$(row "pg_restore --jobs 2, pg_dump's own file (informational)" pg_restore_plain_ms)

Medians in ms: rollgate restore $(med rg_restore_ms), pg_restore of the same dump $(med pg_restore_same_ms).

Sizes: database $(awk -v v="$size" 'BEGIN { printf "%.0f MB", v / 1e6 }'), rollgate archive $(mb archive_bytes) (dump inside $(mb dump_bytes)), pg_dump -Fc file $(mb pgdump_bytes).

| target | value | result |
|---|---:|---|
| backup: rollgate / pg_dump -Fc ≤ $target | $b_ratio | $res_b |
| restore: rollgate / pg_restore of the same dump ≤ $target | $r_ratio | $res_r |
| restore: rollgate / pg_restore of pg_dump's file (informational) | $r_ratio_plain | — |

Where a rollgate restore's time goes (medians, ms, rollgate's own clock from \`-v\`): archive verified (pass 1) $(medr rg_extract_ms) (the raw limit of that extraction, for comparison, the same archive decompressed and its dump written by \`zstd -dc | tar -xO\` with no checks: $(medr write_floor_ms)); scratch database, schema and table data loaded over 2 connections in $(medr rg_load_ms); indexes, constraints and the verification query until $(medr rg_scratch_done_ms); the swap and the rest until $(medr rg_restore_ms). Pass 1 is what a restore that checks the whole archive before any of it reaches PostgreSQL must pay (see docs/backups.md); streaming pass 2 saves writing the dump to disk, and the parallel load of the table's rows pays for the rest: \`pg_restore --jobs\` loads each table over one connection, so one big table is parsed by one server process while the other core waits.
EOF
cat "$work/section.md"

if [[ -n $write ]]; then
    write_section "$section" "$work/section.md" "$write"
fi
[[ $res_b == met && $res_r == met ]] || exit 1
exit 0
