#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests of the store's postgres backend and of
# high availability: initdb and pg_ctl (Debian's `postgresql`) in a fresh
# temporary folder, run as an unprivileged user (`postgres` when we are root:
# the server refuses to run as root), listening on a Unix socket in that
# folder and on a loopback port; fsync stays on (the durability rule is
# what is tested).
#   tests/pg_throwaway.sh start       prints the folder, then the conninfo, one per line
#   tests/pg_throwaway.sh stop DIR    stops that server and removes its folder
#   tests/pg_throwaway.sh run CMD...  runs CMD with LIMES_TEST_PG set to a fresh
#                                     server's conninfo (or the one already in
#                                     LIMES_TEST_PG), stopping it afterwards
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg_throwaway: PostgreSQL server binaries not found (Debian package postgresql; run deploy/setup.sh)" >&2
  exit 2
fi

as_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir port tries=0
  dir=$(mktemp -d /tmp/limes-pg-XXXXXX)
  chmod 0755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  as_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2; rm -rf "$dir"; return 1; }
  while :; do
    port=$((20000 + RANDOM % 20000))
    if as_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
         -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_buffers=32MB" \
         start >/dev/null 2>&1; then
      break
    fi
    tries=$((tries + 1))
    if [ $tries -ge 5 ]; then
      cat "$dir/server.log" >&2; rm -rf "$dir"; return 1
    fi
  done
  echo "$dir"
  echo "host=$dir port=$port user=postgres dbname=postgres"
}

stop() {
  local dir=$1
  [ -d "$dir/data" ] || { echo "pg_throwaway: $dir is not a throwaway server" >&2; return 1; }
  as_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "$2" ;;
run)
  shift
  if [ -n "${LIMES_TEST_PG:-}" ]; then
    exec "$@"
  fi
  out=$(start)
  dir=$(echo "$out" | sed -n 1p)
  trap 'stop "$dir"' EXIT
  rc=0
  LIMES_TEST_PG=$(echo "$out" | sed -n 2p) "$@" || rc=$?
  exit $rc
  ;;
*) echo "usage: $0 start | stop DIR | run CMD..." >&2; exit 2 ;;
esac
