# Sourced by the bench scripts: a throwaway PostgreSQL 15 cluster on loopback.
#   pg_start DIR    initdb (unless DIR/data exists) and start; exports PGHOST/PGPORT/PGUSER
#                   (server settings: $PG_SETTINGS, default `-c fsync=off -c shared_buffers=256MB`)
#   pg_stop DIR     immediate stop
# Run as root (the server runs as `postgres`) or as a user that can run initdb.
PG=${PG:-/usr/lib/postgresql/15/bin}
if [ "$(id -u)" = 0 ]; then PG_AS="runuser -u postgres --"; else PG_AS=""; fi

pg_start() {
    local dir=$1
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    if [ ! -d "$dir/data" ]; then
        $PG_AS "$PG/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    fi
    PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    $PG_AS "$PG/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $PGPORT -k $dir -c listen_addresses=127.0.0.1 ${PG_SETTINGS:--c fsync=off -c shared_buffers=256MB}" start >/dev/null
    export PGHOST=127.0.0.1 PGPORT PGUSER=postgres
    export PATH="$PG:$PATH"
}

pg_stop() {
    $PG_AS "$PG/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null 2>&1 || true
}
