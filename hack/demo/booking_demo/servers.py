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
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pytest_redis.executor import RedisExecutor

from harness.postgres import PG_BINDIR, PgServer, start_postgres
from harness.redis import RedisServer


class MissingTool(Exception):
    """A server binary the demo needs is not installed; the message says how to get it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PgServer]:
    if not (PG_BINDIR / "pg_ctl").exists():
        raise MissingTool(
            f"PostgreSQL is not installed in {PG_BINDIR} (apt-get install postgresql, or set PG_BINDIR)"
        )
    base = Path(tempfile.mkdtemp(prefix="booking-demo-pg-"))
    os.chmod(base, 0o755)  # noqa: S103 - the `postgres` user must reach its data directory
    try:
        executor = start_postgres(base, free_port())
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
        raise MissingTool("redis-server is not installed (apt-get install redis-server)")
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
        with executor:
            yield RedisServer(host="127.0.0.1", port=executor.port, password=password)
    finally:
        shutil.rmtree(base, ignore_errors=True)
