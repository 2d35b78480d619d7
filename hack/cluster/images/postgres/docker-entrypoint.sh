#!/bin/sh
# The part of the official postgres image's entrypoint the chart relies on: initialise PGDATA on
# first start (superuser POSTGRES_USER with POSTGRES_PASSWORD, POSTGRES_INITDB_ARGS), allow
# password logins from the network, run /docker-entrypoint-initdb.d/*.sh against a server that
# listens on the socket only, then exec the server with the container's arguments.
set -eu
[ "${1:-postgres}" = postgres ] || [ "${1#-}" != "$1" ] || exec "$@"
[ "${1:-}" != postgres ] || shift
: "${PGDATA:?}" "${POSTGRES_USER:=postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required on first start}"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start
  for f in /docker-entrypoint-initdb.d/*.sh; do
    [ -e "$f" ] || continue
    echo "docker-entrypoint.sh: running $f"
    sh "$f"
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -c listen_addresses='*' "$@"
