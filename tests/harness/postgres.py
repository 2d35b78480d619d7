"""A throwaway PostgreSQL server for the test session, started through pytest-postgresql.

pytest-postgresql's executor drives pg_ctl; initdb and pg_ctl refuse to run as root
(which is what CI runs as), so this subclass runs both as the `postgres` user and
initialises the cluster with SCRAM password authentication over TCP: a wrong
tenant password must fail to log in, which `trust` would hide.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from pytest_postgresql.executors import PostgreSQLExecutor

ROOT = Path(__file__).resolve().parents[2]
# The major version the chart ships (hack/install-postgres.sh), else Debian's 15 for a quick local run.
SHIPPED_PG_BINDIR = ROOT / ".tools" / "postgresql-16" / "bin"
DEBIAN_PG15_BINDIR = Path("/usr/lib/postgresql/15/bin")
PG_BINDIR = Path(
    os.environ.get("PG_BINDIR")
    or (SHIPPED_PG_BINDIR if (SHIPPED_PG_BINDIR / "postgres").exists() else DEBIAN_PG15_BINDIR)
)
# The suite needs the shipped major: on 15 the operator's group role cannot be granted as it
# is on 16 (GRANT ... WITH ADMIN OPTION under CREATEROLE, docs/operator.md "Security"), and the
# tests then failed with errors that did not name the cause.
REQUIRED_MAJOR = 16
SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "test-superuser-password"  # a throwaway cluster's password


def server_major(bindir: Path) -> int:
    """The major version of the server binaries in ``bindir`` (``postgres --version``)."""
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1].split(".")[0])


def version_problem(bindir: Path) -> str | None:
    """Why the session's server cannot be started from ``bindir``, or None when it can."""
    if not (bindir / "postgres").exists():
        return f"no PostgreSQL server in {bindir}: run hack/install-postgres.sh (or set PG_BINDIR)"
    major = server_major(bindir)
    if major < REQUIRED_MAJOR:
        return (
            f"the tests need PostgreSQL {REQUIRED_MAJOR} (the chart's version); {bindir} has {major}:"
            " run hack/install-postgres.sh (installs 16 into .tools/), or set PG_BINDIR"
        )
    return None


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    superuser: str
    password: str

    def dsn(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        return (
            f"postgresql://{user or self.superuser}:{password or self.password}"
            f"@{self.host}:{self.port}/{dbname}"
        )


class UnprivilegedPostgreSQLExecutor(PostgreSQLExecutor):
    """pytest-postgresql's executor, with initdb run as `postgres` and SCRAM auth."""

    bindir: Path = PG_BINDIR
    # Set by harness.external for a server that outlives this object: pytest-postgresql's
    # __del__ would otherwise delete the data directory of the still-running server.
    keep_directory: bool = False

    def _run_as_postgres(self) -> bool:
        return os.geteuid() == 0

    def init_directory(self) -> None:
        if self._directory_initialised:
            return
        self.clean_directory()
        datadir = Path(self.datadir)
        datadir.mkdir(parents=True, exist_ok=True)
        pwfile = datadir.parent / "pwfile"
        pwfile.write_text(self.password or SUPERUSER_PASSWORD)
        socketdir = Path(self.unixsocketdir)
        socketdir.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.bindir / "initdb"),
            f"--pgdata={datadir}",
            f"--username={self.user}",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        ]
        if self._run_as_postgres():
            pg = pwd.getpwnam("postgres")
            for path in (datadir.parent, datadir, pwfile, socketdir, Path(self.logfile).parent):
                os.chown(path, pg.pw_uid, pg.pw_gid)
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, env=self._initdb_env())
        pwfile.unlink()
        self._directory_initialised = True

    def clean_directory(self) -> None:
        if self.keep_directory:
            return
        if os.path.isdir(self.datadir):
            shutil.rmtree(self.datadir, ignore_errors=True)


def start_postgres(
    base: Path, port: int, bindir: Path = PG_BINDIR, max_connections: int = 300
) -> UnprivilegedPostgreSQLExecutor:
    base.mkdir(parents=True, exist_ok=True)
    executable = str(bindir / "pg_ctl")
    if os.geteuid() == 0:
        # pg_ctl refuses to run as root (as tests and CI do): run it as the unprivileged
        # `postgres` user the Debian package creates, through a wrapper naming this server's bindir.
        wrapper = base / "pg_ctl_as_postgres"
        wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{bindir}/pg_ctl" "$@"\n')
        wrapper.chmod(0o755)
        executable = str(wrapper)
    executor = UnprivilegedPostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=port,
        datadir=str(base / "data"),
        unixsocketdir=str(base / "sock"),
        logfile=str(base / "postgresql.log"),
        startparams="-w",
        dbname="postgres",
        user=SUPERUSER,
        password=SUPERUSER_PASSWORD,
        # fsync off: a test cluster that dies is thrown away anyway.
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        f"-c max_connections={int(max_connections)} -c password_encryption=scram-sha-256",
    )
    executor.bindir = bindir
    executor.start()
    return executor


async def create_tenant_schema(admin: asyncpg.Connection, client_id: str, password: str) -> None:
    """What the operator does for a tenant, by hand: a LOGIN role, the schema it owns, its search_path.

    ``client_id`` must already match the CLIENT_ID pattern (callers choose it); it is quoted anyway.
    """
    await admin.execute(f"CREATE ROLE \"{client_id}\" LOGIN PASSWORD '{password}'")
    await admin.execute(f'CREATE SCHEMA "{client_id}" AUTHORIZATION "{client_id}"')
    await admin.execute(f'ALTER ROLE "{client_id}" SET search_path = "{client_id}"')


async def role_connections(pg: PgServer, role: str) -> int:
    """How many server connections ``role`` has open now (one superuser connection to ask)."""
    admin = await asyncpg.connect(pg.dsn())
    try:
        count: int = await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role)
    finally:
        await admin.close()
    return count
