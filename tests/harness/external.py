"""PostgreSQL and Redis started once outside pytest, for runs that start pytest many times.

mutmut (hack/mutation.sh) forks a fresh pytest session per mutant; with the session fixtures
starting their own servers, every mutant would pay an initdb and a Redis start. Instead
`python -m harness.external start DIR` starts one of each (the same SCRAM-authenticated,
password-protected servers the fixtures start) and prints the environment that points the
fixtures at them:

    BOOKING_TEST_POSTGRES_PORT  a server started by `start_postgres` (superuser as in harness.postgres)
    BOOKING_TEST_REDIS_PORT     a redis-server whose default user has harness.redis.ADMIN_PASSWORD

Tests stay isolated as they are on the session servers: every test makes its own client id,
schema, role and Redis user, and the platform database setup is idempotent.
`python -m harness.external stop DIR` stops both.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mirakuru.base
import port_for

from harness.postgres import SUPERUSER, SUPERUSER_PASSWORD, PgServer, start_postgres
from harness.redis import ADMIN_PASSWORD, RedisServer

POSTGRES_PORT_ENV = "BOOKING_TEST_POSTGRES_PORT"
REDIS_PORT_ENV = "BOOKING_TEST_REDIS_PORT"
HOST = "127.0.0.1"


def postgres() -> PgServer | None:
    """The already-running PostgreSQL the environment names, if any."""
    port = os.environ.get(POSTGRES_PORT_ENV)
    if not port:
        return None
    return PgServer(host=HOST, port=int(port), superuser=SUPERUSER, password=SUPERUSER_PASSWORD)


def redis() -> RedisServer | None:
    """The already-running Redis the environment names, if any."""
    port = os.environ.get(REDIS_PORT_ENV)
    if not port:
        return None
    return RedisServer(host=HOST, port=int(port), password=ADMIN_PASSWORD)


def _wait_redis(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["redis-cli", "-h", HOST, "-p", str(port), "--no-auth-warning", "-a", ADMIN_PASSWORD, "PING"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise RuntimeError(f"redis-server on port {port} did not answer")


def start(base: Path) -> dict[str, str]:
    """Start both servers under ``base``; returns the environment naming them."""
    if base.exists():  # what a killed run left: stop it, start afresh
        stop(base)
    base.mkdir(parents=True)
    os.chmod(base, 0o755)  # noqa: S103 - the `postgres` user must reach its data directory
    pg_port = port_for.select_random()
    executor = start_postgres(base / "postgres", pg_port)
    # mirakuru kills every process carrying its marker when the executor is collected and at
    # exit, and pytest-postgresql removes the data directory: this server must outlive the
    # command that started it (`stop` ends it).
    executor.process = None
    executor.keep_directory = True
    atexit.unregister(mirakuru.base.cleanup_subprocesses)
    redis_port = port_for.select_random()
    redis_dir = base / "redis"
    redis_dir.mkdir()
    subprocess.run(
        [
            "redis-server",
            "--port", str(redis_port),
            "--bind", HOST,
            "--requirepass", ADMIN_PASSWORD,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(redis_dir),
            "--pidfile", str(redis_dir / "redis.pid"),
            "--logfile", str(redis_dir / "redis.log"),
            "--daemonize", "yes",
        ],
        check=True,
    )  # fmt: skip
    _wait_redis(redis_port, time.monotonic() + 10)
    return {POSTGRES_PORT_ENV: str(pg_port), REDIS_PORT_ENV: str(redis_port)}


def stop(base: Path) -> None:
    """Stop what `start` started under ``base`` and remove it; what is already gone is fine."""
    pgdata = base / "postgres" / "data"
    if (pgdata / "postmaster.pid").exists():
        pg_ctl = base / "postgres" / "pg_ctl_as_postgres"
        if not pg_ctl.exists():
            from harness.postgres import PG_BINDIR

            pg_ctl = PG_BINDIR / "pg_ctl"
        subprocess.run([str(pg_ctl), "stop", "-D", str(pgdata), "-m", "fast", "-w"], check=False)
    pidfile = base / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m harness.external start|stop DIR", file=sys.stderr)  # noqa: T201
        return 2
    base = Path(argv[1]).resolve()
    if argv[0] == "start":
        for key, value in start(base).items():
            print(f"export {key}={value}")  # noqa: T201
    else:
        stop(base)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
