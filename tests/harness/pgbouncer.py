"""A real PgBouncer (Debian's package) in transaction pooling, in front of the test PostgreSQL.

Configured like the chart's (charts/booking-saas/templates/pgbouncer-configmap.yaml): SCRAM
towards clients, tenant passwords looked up through the SECURITY DEFINER function
``pgbouncer.get_auth`` by an auth user that may do nothing else, ``search_path`` dropped from
the startup packet (the tenant role's default applies), no TLS on this loopback hop. Two
differences, both forced by Debian bookworm's PgBouncer 1.18: no ``auth_dbname`` (the lookup
runs in the database being connected to, so the function lives there) and no
``max_prepared_statements`` (1.21+), so clients must not keep named prepared statements
across transactions (the bot's ``DB_STATEMENT_CACHE_SIZE=0``).

PgBouncer refuses to run as root, so on CI it runs as the ``postgres`` user, like the server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from harness.postgres import PgServer
from harness.processes import end

PGBOUNCER = Path(os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer"))
AUTH_USER = "pgbouncer_auth"
AUTH_PASSWORD = "test-pgbouncer-auth-password"  # a throwaway cluster's password

# Tracked by PgBouncer itself or dropped (docs/bot.md, "Connections").
SETTINGS = {
    "pool_mode": "transaction",
    "auth_type": "scram-sha-256",
    "auth_user": AUTH_USER,
    "auth_query": "SELECT usename, passwd FROM pgbouncer.get_auth($1)",
    "ignore_startup_parameters": "extra_float_digits,search_path",
    "default_pool_size": "2",
    "min_pool_size": "0",
    "reserve_pool_size": "0",
    "server_idle_timeout": "60",
}


@dataclass(frozen=True)
class PgBouncer:
    host: str
    port: int
    pg: PgServer

    def dsn(self, user: str, password: str, dbname: str = "postgres") -> str:
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{dbname}"


async def install_auth_lookup(pg: PgServer, dbname: str = "postgres") -> None:
    """The auth user and its one function, as the chart's bootstrap script creates them."""
    conn = await asyncpg.connect(pg.dsn(dbname=dbname))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", AUTH_USER):
            await conn.execute(f"CREATE ROLE {AUTH_USER} LOGIN PASSWORD '{AUTH_PASSWORD}'")
        await conn.execute("CREATE SCHEMA IF NOT EXISTS pgbouncer")
        await conn.execute("REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC")
        await conn.execute(
            """
            CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text)
              RETURNS TABLE (usename name, passwd text)
              LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
              $$ SELECT usename, passwd FROM pg_catalog.pg_shadow
                 WHERE usename = p_usename AND NOT usesuper $$
            """
        )
        await conn.execute("REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC")
        await conn.execute(f"GRANT USAGE ON SCHEMA pgbouncer TO {AUTH_USER}")
        await conn.execute(f"GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO {AUTH_USER}")
    finally:
        await conn.close()


class PgBouncerProcess:
    """One PgBouncer process with its config, auth file and log in ``base``."""

    def __init__(self, base: Path, pg: PgServer, port: int) -> None:
        self.base = base
        self.server = PgBouncer(host="127.0.0.1", port=port, pg=pg)
        self.logfile = base / "pgbouncer.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> PgBouncer:
        if not PGBOUNCER.exists():
            raise RuntimeError(f"{PGBOUNCER} is missing: install Debian's pgbouncer (.ci/run does)")
        self.base.mkdir(parents=True, exist_ok=True)
        userlist = self.base / "userlist.txt"
        userlist.write_text(f'"{AUTH_USER}" "{AUTH_PASSWORD}"\n')
        ini = self.base / "pgbouncer.ini"
        lines = [
            "[databases]",
            f"* = host={self.server.pg.host} port={self.server.pg.port}",
            "[pgbouncer]",
            f"listen_addr = {self.server.host}",
            f"listen_port = {self.server.port}",
            "unix_socket_dir =",
            f"auth_file = {userlist}",
            f"logfile = {self.logfile}",
            *(f"{key} = {value}" for key, value in SETTINGS.items()),
        ]
        ini.write_text("\n".join(lines) + "\n")
        command = [str(PGBOUNCER), str(ini)]
        if os.geteuid() == 0:
            pg_user = pwd.getpwnam("postgres")
            for path in (self.base, userlist, ini):
                os.chown(path, pg_user.pw_uid, pg_user.pw_gid)
            os.chmod(userlist, 0o600)
            command = ["runuser", "-u", "postgres", "--", *command]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"pgbouncer exited with {self._proc.returncode}: {err}{self.log()}")
            with socket.socket() as probe:
                if probe.connect_ex((self.server.host, self.server.port)) == 0:
                    return self.server
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen within {timeout}s: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def stop(self) -> None:
        end(self._proc)
        shutil.rmtree(self.base, ignore_errors=True)
