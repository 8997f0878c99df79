#!/usr/bin/env bash
# Restore benchmark: `sauvegarde restore --jobs 2` of a ZIP archive against `psql -f` of the
# same dump.sql (extracted beforehand, as Odoo's restore does) and against `pg_restore -j 2`
# of the same database dumped in custom format, alternating, ROUNDS rounds; then how each
# scales with 1, 2 and 4 connections. Every contender starts from `CREATE DATABASE …
# TEMPLATE template0` (included in its time) after a CHECKPOINT, on one throwaway cluster
# tuned the same way for all (as a production server would be: fsync and
# synchronous_commit on, shared_buffers=512MB, maintenance_work_mem=256MB,
# max_wal_size=2GB, checkpoint_timeout=30min). Prints every run, medians and ratios.
#
#   bench/restore.sh [WORKLOAD=many] [DB_MIB=400] [ROUNDS=3] [SWEEP="1 2 4"]
#
# WORKLOAD: `many` (bench/many_tables.py: 36 mid-sized Odoo-shaped tables with their
# indexes and foreign keys) or `odoo` (bench/workload.py: the engine benchmark's database).
# `sauvegarde restore` is timed whole, its verification of the archive included (the
# default). Set BENCH_DIR=/some/dir to keep the cluster and data there between runs.
# Needs root (or a user that can run initdb), PostgreSQL 15, python3, unzip, GNU time.
# Builds the release binary.
set -euo pipefail

WORKLOAD=${1:-many}
DB_MIB=${2:-400}
ROUNDS=${3:-3}
SWEEP=${4:-1 2 4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PG_SETTINGS="-c fsync=on -c synchronous_commit=on -c shared_buffers=512MB \
-c maintenance_work_mem=256MB -c max_wal_size=2GB -c checkpoint_timeout=30min"
# shellcheck source=bench/lib/pg.sh
. "$ROOT/bench/lib/pg.sh"
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }

cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p sauvegarde --bin sauvegarde
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/sauvegarde

if [ -n "${BENCH_DIR:-}" ]; then
    T=$BENCH_DIR; mkdir -p "$T"; KEEP=1
else
    T=$(mktemp -d /tmp/sauvegarde-restore.XXXXXX); KEEP=0
fi
cleanup() { pg_stop "$T"; [ "$KEEP" = 1 ] || rm -rf "$T"; }
trap cleanup EXIT
pg_start "$T"
DB=bench_$WORKLOAD
if ! psql -X -Atq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    createdb "$DB"
    case $WORKLOAD in
        many) python3 "$ROOT/bench/many_tables.py" "$DB_MIB" "$DB" 6 ;;
        odoo) python3 "$ROOT/bench/workload.py" "$DB_MIB" 0 "$DB" "$T/filestore" >/dev/null ;;
        *) echo "WORKLOAD: many or odoo" >&2; exit 2 ;;
    esac
fi
mkdir -p "$T/backups" "$T/state"
cat > "$T/config.toml" <<TOML
backup_dir = "$T/backups"
state_dir = "$T/state"
plugin_dirs = []
[jobs.$DB]
database = "$DB"
db_host = "127.0.0.1"
db_port = $PGPORT
db_user = "postgres"
filestore = "none"
TOML
ARCHIVE=$(ls "$T/backups/${DB}_"*.zip 2>/dev/null | tail -1 || true)
if [ -z "$ARCHIVE" ]; then
    ARCHIVE=$("$BIN" --config "$T/config.toml" backup "$DB" --no-export 2>/dev/null | tail -1)
fi
[ -f "$T/$DB.sql" ] || unzip -p "$ARCHIVE" dump.sql > "$T/$DB.sql"
[ -f "$T/$DB.custom" ] || pg_dump --no-owner --format=c -f "$T/$DB.custom" "$DB"
echo "workload $WORKLOAD: dump.sql $(($(stat -c %s "$T/$DB.sql") / 1000000)) MB, archive $(($(stat -c %s "$ARCHIVE") / 1000000)) MB, custom dump $(($(stat -c %s "$T/$DB.custom") / 1000000)) MB"
psql -X -Atq -d "$DB" -c "SELECT count(*) || ' tables, ' || pg_size_pretty(pg_database_size('$DB')) FROM pg_tables WHERE schemaname = 'public'"

CREATE="CREATE DATABASE t ENCODING 'UTF8' LC_COLLATE 'C' TEMPLATE template0"
run() { # NAME CMD…: one timed run into database t, dropped afterwards; appends "wall cpu"
    local name=$1; shift
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS t" -c CHECKPOINT
    /usr/bin/time -f "%e %U %S" -o "$T/time" bash -c '"$@"' _ "$@" > "$T/out" 2>&1 || { cat "$T/out"; exit 1; }
    awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$T/time" >> "$T/$name"
    echo "  $name: $(tail -1 "$T/$name")"
    case $name in ours_*) # the load alone: from CREATE DATABASE to the end (log times)
        grep -E 'database created|restore done' "$T/out" | cut -c12-26 \
            | awk -F: '{t[NR] = $1 * 3600 + $2 * 60 + $3} END {printf "%.2f 0\n", t[2] - t[1]}' \
            >> "$T/${name}_load"
        echo "    load alone (after verification): $(tail -1 "$T/${name}_load" | cut -d' ' -f1) s" ;;
    esac
}
psql_f() { psql -X -q -d postgres -c "$CREATE" && psql -X -q -v ON_ERROR_STOP=1 -d t -f "$T/$DB.sql"; }
pg_restore_j() { psql -X -q -d postgres -c "$CREATE" && pg_restore --no-owner --exit-on-error -j "$1" -d t "$T/$DB.custom"; }
ours() { "$BIN" --config "$T/config.toml" restore "$ARCHIVE" --database t --no-filestore --job "$DB" --jobs "$1"; }
export -f psql_f pg_restore_j ours
export T DB CREATE BIN ARCHIVE

rm -f "$T"/psql_f "$T"/ours_* "$T"/pg_restore_*
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    case $((round % 3)) in
        1) run psql_f psql_f; run ours_2 ours 2; run pg_restore_2 pg_restore_j 2 ;;
        2) run ours_2 ours 2; run pg_restore_2 pg_restore_j 2; run psql_f psql_f ;;
        0) run pg_restore_2 pg_restore_j 2; run psql_f psql_f; run ours_2 ours 2 ;;
    esac
done
for jobs in $SWEEP; do
    [ "$jobs" = 2 ] && continue
    echo "jobs $jobs"
    run "ours_$jobs" ours "$jobs"
    run "pg_restore_$jobs" pg_restore_j "$jobs"
done
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS t"

median() { sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'; }
echo
echo "medians (wall s, CPU s of the client processes):"
for f in psql_f ours_2 pg_restore_2; do echo "  $f: $(median "$T/$f" 1) $(median "$T/$f" 2)"; done
echo "  ours_2, load alone: $(median "$T/ours_2_load" 1)"
P=$(median "$T/psql_f" 1); O=$(median "$T/ours_2" 1); R=$(median "$T/pg_restore_2" 1)
L=$(median "$T/ours_2_load" 1)
awk -v o="$O" -v p="$P" -v r="$R" -v l="$L" 'BEGIN {
    printf "restore --jobs 2 / psql -f:         %.2f (goal <= 0.65); load alone %.2f\n", o / p, l / p
    printf "restore --jobs 2 / pg_restore -j 2: %.2f (goal <= 1.1); load alone %.2f\n", o / r, l / r }'
for jobs in $SWEEP; do
    echo "  jobs $jobs: restore $(median "$T/ours_$jobs" 1) s (load alone $(median "$T/ours_${jobs}_load" 1) s), pg_restore $(median "$T/pg_restore_$jobs" 1) s"
done
