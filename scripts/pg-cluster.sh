#!/usr/bin/env bash
# A throwaway PostgreSQL cluster: scripts/pg-cluster.sh start|stop DIR PORT
# Uses the PostgreSQL 15 server binaries in /usr/local/bin (or PG_BIN). initdb refuses to
# run as root, so as root the server runs as the `postgres` user.
set -euo pipefail
action=${1:?usage: pg-cluster.sh start|stop DIR PORT}
dir=$(realpath -m "${2:?cluster directory}")
port=${3:-5432}
bin=${PG_BIN:-/usr/local/bin}
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_wal_size=4GB -c shared_buffers=256MB" start >/dev/null \
      || { tail -20 "$dir/server.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
    ;;
  *) echo "usage: pg-cluster.sh start|stop DIR PORT" >&2; exit 2 ;;
esac
