#!/usr/bin/env bash
# What the `psql` check costs `verify`: a generated Odoo-shaped database (bench/workload.py,
# DB_MIB of pg_dump text, no filestore) backed up by `sauvegarde backup`, then, alternating
# ROUNDS times, `sauvegarde verify ARCHIVE` (inflate, CRC, row counts, the psql check, the
# history's SHA-256) against the floor `unzip -p ARCHIVE dump.sql | sha256sum` (inflate and
# hash only). Prints medians of wall and CPU seconds and the check's throughput estimated
# from the difference.
#
#   bench/psql-guard-speed.sh [DB_MIB=400] [ROUNDS=3]
#
# Needs root (or a user that can run initdb), PostgreSQL 15 in /usr/lib/postgresql/15/bin,
# python3, unzip, GNU time. Builds the release binary.
set -euo pipefail

DB_MIB=${1:-400}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib/pg.sh"

cargo build --release --quiet -p sauvegarde --manifest-path "$ROOT/Cargo.toml"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/sauvegarde

T=$(mktemp -d /tmp/sauvegarde-guard-speed.XXXXXX)
trap 'pg_stop "$T"; rm -rf "$T"' EXIT
pg_start "$T"
createdb guard
python3 "$ROOT/bench/workload.py" "$DB_MIB" 0 guard "$T/filestore" >/dev/null
cat > "$T/config.toml" <<TOML
backup_dir = "$T/backups"
state_dir = "$T/state"
plugin_dirs = []
[jobs.guard]
database = "guard"
db_host = "127.0.0.1"
db_port = $PGPORT
db_user = "postgres"
filestore = "none"
TOML
ARCHIVE=$("$BIN" --config "$T/config.toml" backup guard --no-export 2>/dev/null | tail -1)
SQL_BYTES=$(unzip -p "$ARCHIVE" dump.sql | wc -c)

measure() { # prints "wall cpu" of the command
    /usr/bin/time -f "%e %U %S" -o "$T/time" "$@" >/dev/null 2>&1
    awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$T/time"
}
for _ in $(seq "$ROUNDS"); do
    measure "$BIN" --config "$T/config.toml" verify "$ARCHIVE" >> "$T/verify"
    measure sh -c "unzip -p '$ARCHIVE' dump.sql | sha256sum" >> "$T/floor"
done
median() { sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'; }
VW=$(median "$T/verify" 1); VC=$(median "$T/verify" 2)
FW=$(median "$T/floor" 1); FC=$(median "$T/floor" 2)
echo "dump.sql: $((SQL_BYTES / 1000000)) MB"
echo "verify:   wall $VW s, CPU $VC s"
echo "floor:    wall $FW s, CPU $FC s (unzip -p | sha256sum)"
awk -v b="$SQL_BYTES" -v v="$VC" -v f="$FC" \
    'BEGIN {d = v - f; if (d > 0) printf "the rest of verify (psql check, row counts): %.1f CPU s, %.0f MB/s\n", d, b / 1e6 / d}'
