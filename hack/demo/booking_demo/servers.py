"""Throwaway PostgreSQL and Redis for the demo, started the way the tests start theirs.

Reuses the test harness's PostgreSQL executor (initdb/pg_ctl as the `postgres` user when run as
root, SCRAM password auth) and pytest-redis's executor, so the demo needs nothing the test suite
does not already need.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mirakuru.exceptions import ExecutorError
from pytest_redis.executor import RedisExecutor

from harness.postgres import PG_BINDIR, PgServer, start_postgres
from harness.redis import RedisServer


class ServerUnavailable(Exception):
    """A server the demo needs is not installed or did not start; the message says what to do."""


# What starting a server can raise: the tool failing, or not answering in time.
START_ERRORS = (OSError, subprocess.CalledProcessError, ExecutorError)


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "no log"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PgServer]:
    if not (PG_BINDIR / "pg_ctl").exists():
        raise ServerUnavailable(
            f"PostgreSQL is not installed in {PG_BINDIR} (apt-get install postgresql, or set PG_BINDIR)"
        )
    base = Path(tempfile.mkdtemp(prefix="booking-demo-pg-"))
    os.chmod(base, 0o755)  # noqa: S103 - the `postgres` user must reach its data directory
    try:
        try:
            executor = start_postgres(base, free_port())
        except START_ERRORS as exc:
            log = _log_tail(base / "postgresql.log")
            raise ServerUnavailable(f"PostgreSQL did not start ({exc}); its log: {log}") from None
        try:
            yield PgServer(
                host="127.0.0.1",
                port=executor.port,
                superuser=executor.user,
                password=executor.password or "",
            )
        finally:
            executor.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def throwaway_redis() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server is not installed (apt-get install redis-server)")
    base = Path(tempfile.mkdtemp(prefix="booking-demo-redis-"))
    password = secrets.token_hex(16)
    executor = RedisExecutor(
        executable=binary,
        databases=1,
        redis_timeout=30,
        loglevel="warning",
        host="127.0.0.1",
        port=free_port(),
        password=password,
        datadir=base,
    )
    try:
        try:
            executor.start()
        except START_ERRORS as exc:
            raise ServerUnavailable(f"redis-server did not start ({exc})") from None
        try:
            yield RedisServer(host="127.0.0.1", port=executor.port, password=password)
        finally:
            executor.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
