#!/bin/bash
# Peak RSS of `sauvegarde backup` on a >= 1 GiB archive (PostgreSQL 15 throwaway cluster,
# small database, 1 GiB incompressible filestore made with AES-CTR of zeros; plus SIZE_MB
# of table data). Usage: bench/engine-rss.sh [path/to/sauvegarde] [FILESTORE_MB]
# Run as root (uses runuser postgres) or as a user that can run initdb.
set -euo pipefail
BIN=${1:-target/debug/sauvegarde}
MB=${2:-1024}
PG=/usr/lib/postgresql/15/bin
T=$(mktemp -d /tmp/engine-rss.XXXXXX)
cleanup() { $AS "$PG/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$T"; }
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$T"; AS="runuser -u postgres --"; else AS=""; fi
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$AS "$PG/initdb" -D "$T/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
$AS "$PG/pg_ctl" -D "$T/data" -l "$T/server.log" -w -t 30 -o "-p $PORT -k $T -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
"$PG/createdb" bench
"$PG/psql" -X -q -d bench -c "CREATE TABLE t AS SELECT i, md5(i::text) AS h, repeat('x', 200) AS pad FROM generate_series(1, 500000) i"
mkdir -p "$T/fs/ab" "$T/out" "$T/state"
head -c "${MB}M" /dev/zero | openssl enc -aes-128-ctr -nosalt -pass pass:bench -pbkdf2 > "$T/fs/ab/big.bin"
cat > "$T/cfg.toml" <<TOML
backup_dir = "$T/out"
state_dir = "$T/state"
plugin_dirs = []
[jobs.bench]
database = "bench"
db_host = "127.0.0.1"
db_port = $PORT
db_user = "postgres"
filestore = "$T/fs"
TOML
/usr/bin/time -v "$BIN" --config "$T/cfg.toml" backup bench 2> "$T/time.txt" >/dev/null
grep -E "Maximum resident set size|Elapsed|Exit status" "$T/time.txt"
ls -l "$T/out"
