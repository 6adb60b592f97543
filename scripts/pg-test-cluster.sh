#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests.
# Usage: scripts/pg-test-cluster.sh start DIR PORT   # prints the connection URL
#        scripts/pg-test-cluster.sh stop  DIR PORT
# Listens on 127.0.0.1:PORT only, trust authentication on loopback, user "postgres".
# As root, initdb and pg_ctl run as the `postgres` system user, which owns DIR.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"; port="${3:-}"
if [ -z "$cmd" ] || [ -z "$dir" ] || [ -z "$port" ]; then
  echo "usage: $0 start|stop DIR PORT" >&2; exit 2
fi
bin=/usr/lib/postgresql/15/bin

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_pg() {
  [ -x "$bin/initdb" ] && return 0
  echo "installing postgresql" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  # Do not let the package start its default cluster where a service manager exists.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-15 >&2 \
    || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    $SUDO pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
  fi
}

case "$cmd" in
  start)
    install_pg
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
    data="$dir/data"
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
      # Loopback only, trust only on loopback.
      as_pg sh -c "cat > '$data/pg_hba.conf'" <<'HBA'
local all all trust
host  all all 127.0.0.1/32 trust
HBA
    fi
    as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    data="$dir/data"
    [ -f "$data/postmaster.pid" ] || exit 0
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
  *) echo "usage: $0 start|stop DIR PORT" >&2; exit 2 ;;
esac
