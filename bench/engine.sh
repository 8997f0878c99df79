#!/usr/bin/env bash
# Engine benchmark: `sauvegarde backup --no-export` against Odoo's own backup algorithm
# (baseline A, bench/odoo_baseline.py) and the floor (`pg_dump --no-owner db > /dev/null`,
# then `tar cf - filestore | cat > /dev/null`), on the same generated Odoo-shaped workload
# (bench/workload.py), alternating, several rounds; prints medians of wall time, CPU time
# (user+sys of the process and its children: pg_dump included, the PostgreSQL backend not),
# peak RSS and archive size, and the ratios against the goals.
#
#   bench/engine.sh [SIZE=medium] [ROUNDS=3] [WHO=all]
#
# SIZE: small (256 MiB), medium (1 GiB), large (4 GiB), or a number of MiB; 40 % of it is
# database (as pg_dump text), 60 % filestore. WHO: `all`, or `engine` to run sauvegarde
# alone (the RSS comparison across sizes), or `encrypt` to run sauvegarde with and without
# `encrypt` (an age X25519 recipient made by age-keygen), alternating: the encryption
# overhead (goal <= 10 % wall time) and its peak RSS. Set BENCH_DIR=/some/dir to keep the cluster and
# workload there and reuse them on the next run (otherwise a temp dir, removed at the end).
# PERF=1 records `perf record -a -g` of each engine run into /tmp/sauvegarde-engine.perf.N
# (linux-perf package; timings then include perf's overhead).
# Needs root (or a user that can run initdb), PostgreSQL 15 in /usr/lib/postgresql/15/bin,
# python3, GNU time (/usr/bin/time). Builds the release binary.
set -euo pipefail

SIZE=${1:-medium}
ROUNDS=${2:-3}
WHO=${3:-all}
case $SIZE in
    small) MIB=256 ;; medium) MIB=1024 ;; large) MIB=4096 ;;
    *[!0-9]*|'') echo "SIZE: small, medium, large or a number of MiB" >&2; exit 2 ;;
    *) MIB=$SIZE ;;
esac
DB_MIB=$((MIB * 2 / 5))
FS_MIB=$((MIB - DB_MIB))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/pg.sh
. "$ROOT/bench/lib/pg.sh"
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }

cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p sauvegarde --bin sauvegarde
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/sauvegarde

if [ -n "${BENCH_DIR:-}" ]; then
    T=$BENCH_DIR/$MIB; mkdir -p "$T"; KEEP=1
else
    T=$(mktemp -d /tmp/sauvegarde-bench.XXXXXX); KEEP=
fi
chmod 755 "$T"
cleanup() { pg_stop "$T"; [ -n "$KEEP" ] || rm -rf "$T"; }
trap cleanup EXIT
pg_start "$T"

PERF_DATA=/tmp/sauvegarde-engine.perf
DB=odoo_bench
if [ ! -f "$T/workload.done" ]; then
    echo "generating the workload: database ~${DB_MIB} MiB, filestore ${FS_MIB} MiB"
    dropdb --if-exists "$DB"; createdb "$DB"; rm -rf "$T/filestore"
    python3 "$ROOT/bench/workload.py" "$DB_MIB" "$FS_MIB" "$DB" "$T/filestore"
    touch "$T/workload.done"
fi
echo "database: $(psql -X -At -d "$DB" -c "SELECT pg_size_pretty(pg_database_size('$DB'))") on disk;" \
     "filestore: $(du -sh "$T/filestore" | cut -f1), $(find "$T/filestore" -type f | wc -l) files"

mkdir -p "$T/out" "$T/state" "$T/times"
rm -rf "$T/out"/* "$T/times"/*
cat > "$T/sauvegarde.toml" <<TOML
backup_dir = "$T/out/sauvegarde"
state_dir = "$T/state"
plugin_dirs = []
[jobs.bench]
database = "$DB"
db_host = "127.0.0.1"
db_port = $PGPORT
db_user = "postgres"
pg_dump = "$PG/pg_dump"
filestore = "$T/filestore"
TOML

if [ "$WHO" = encrypt ]; then
    command -v age-keygen >/dev/null || { echo "needs age-keygen: apt-get install age" >&2; exit 1; }
    rm -f "$T/age-key.txt"; age-keygen -o "$T/age-key.txt" 2>/dev/null
    sed -e "s|^backup_dir = .*|backup_dir = \"$T/out/encrypted\"|" \
        -e "s|^state_dir = .*|state_dir = \"$T/state-encrypted\"|" "$T/sauvegarde.toml" > "$T/encrypted.toml"
    echo "encrypt = { recipients = [\"$(age-keygen -y "$T/age-key.txt")\"] }" >> "$T/encrypted.toml"
fi

run() {  # run NAME ROUND COMMAND...: times one run, records the archive size, cleans up
    local name=$1 round=$2; shift 2
    rm -rf "$T/out/$name"; mkdir -p "$T/out/$name"
    sync
    /usr/bin/time -v -o "$T/times/$name.$round" "$@" >/dev/null 2>>"$T/runs.log"
    local size
    size=$(find "$T/out/$name" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
    echo "archive_bytes: $size" >> "$T/times/$name.$round"
    rm -rf "$T/out/$name"
}
engine() {
    local profile=()
    # PERF=1: profile the whole machine during the engine runs (perf report -i <file>).
    [ -z "${PERF:-}" ] || profile=(perf record -q -a -g -o "$PERF_DATA.$1" --)
    run sauvegarde "$1" "${profile[@]}" "$BIN" --config "$T/sauvegarde.toml" backup --no-export bench
}
encrypted() { run encrypted "$1" "$BIN" --config "$T/encrypted.toml" backup --no-export bench; }
odoo() { run odoo "$1" python3 "$ROOT/bench/odoo_baseline.py" "$DB" "$T/filestore" "$T/out/odoo/$DB.zip"; }
floor() {
    run floor "$1" bash -c 'pg_dump --no-owner "$1" > /dev/null && tar cf - -C "$2" . | cat > /dev/null' \
        floor "$DB" "$T/filestore"
}

if [ "$WHO" = engine ]; then
    ORDER=(engine)
elif [ "$WHO" = encrypt ]; then
    ORDER=(engine encrypted)
else
    ORDER=(odoo floor engine)
fi
for round in $(seq "$ROUNDS"); do
    for i in "${!ORDER[@]}"; do
        who=${ORDER[$(( (i + round - 1) % ${#ORDER[@]} ))]}
        "$who" "$round"
        echo "round $round: $who done"
    done
done

python3 - "$T/times" "$MIB" <<'PY'
import os, re, statistics, sys
times, mib = sys.argv[1], sys.argv[2]
runs = {}
for f in sorted(os.listdir(times)):
    name, _ = f.rsplit(".", 1)
    text = open(os.path.join(times, f)).read()
    def field(label):
        return re.search(re.escape(label) + r":\s*(\S+)", text).group(1)
    h_m_s = [float(x) for x in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(v * 60 ** i for i, v in enumerate(reversed(h_m_s)))
    if field("Exit status") != "0":
        sys.exit(f"{f}: exit status {field('Exit status')}")
    runs.setdefault(name, []).append({
        "wall": wall,
        "cpu": float(field("User time (seconds)")) + float(field("System time (seconds)")),
        "rss": int(field("Maximum resident set size (kbytes)")) / 1024,
        "size": int(field("archive_bytes")) / 2**20,
    })
med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
print(f"\nworkload {mib} MiB, medians of {len(next(iter(runs.values())))} rounds:")
print(f"{'':12} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13} {'archive MiB':>12}")
for n in ("odoo", "floor", "sauvegarde", "encrypted"):
    if n in med:
        m = med[n]
        print(f"{n:12} {m['wall']:8.2f} {m['cpu']:8.2f} {m['rss']:13.1f} {m['size']:12.1f}")
s = med["sauvegarde"]
if "odoo" in med:
    a, f = med["odoo"], med["floor"]
    print(f"\nwall vs Odoo (goal <= 0.50): {s['wall'] / a['wall']:.2f}")
    print(f"wall vs floor (goal <= 1.30): {s['wall'] / f['wall']:.2f}")
    print(f"archive vs Odoo (goal <= 1.02): {s['size'] / a['size']:.3f}")
print(f"peak RSS (goal <= 64 MiB): {s['rss']:.1f} MiB")
if "encrypted" in med:
    e = med["encrypted"]
    print(f"encrypted wall vs plain (goal <= 1.10): {e['wall'] / s['wall']:.3f}")
    print(f"encrypted cpu vs plain: {e['cpu'] / s['cpu']:.3f}")
    print(f"encrypted peak RSS (goal <= 64 MiB): {e['rss']:.1f} MiB")
PY
