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

from pytest_postgresql.executors import PostgreSQLExecutor

PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
PG_CTL_WRAPPER = Path(__file__).with_name("pg_ctl_as_postgres")
SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "test-superuser-password"  # a throwaway cluster's password


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
            str(PG_BINDIR / "initdb"),
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
        if os.path.isdir(self.datadir):
            shutil.rmtree(self.datadir, ignore_errors=True)


def start_postgres(base: Path, port: int, max_connections: int = 300) -> UnprivilegedPostgreSQLExecutor:
    base.mkdir(parents=True, exist_ok=True)
    executable = str(PG_CTL_WRAPPER) if os.geteuid() == 0 else str(PG_BINDIR / "pg_ctl")
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
    executor.start()
    return executor
