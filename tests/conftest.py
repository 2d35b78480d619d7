"""Fixtures shared by every component's tests.

Session-scoped real servers (PostgreSQL, Redis) and the emulated Kubernetes API;
each test isolates itself with its own client ids, schemas and namespaces.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import port_for
import pytest
from pytest_redis import factories as redis_factories
from redis.asyncio import Redis

from harness import external
from harness.kube import EmulatedCluster, KubeClient
from harness.operator_process import OPERATOR_PASSWORD, OPERATOR_ROLE, PLATFORM_DB
from harness.operator_process import Platform as OperatorPlatform
from harness.pgbouncer import PgBouncer, PgBouncerProcess, install_auth_lookup
from harness.postgres import (
    PG_BINDIR,
    PgServer,
    UnprivilegedPostgreSQLExecutor,
    start_postgres,
    version_problem,
)
from harness.redis import ADMIN_PASSWORD, RedisServer

pytest_plugins = ["harness.skip_policy", "pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-bench", action="store_true", help="run the benchmarks under tests/bench")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_bench = config.getoption("--run-bench")
    skip_bench = pytest.mark.skip(reason="benchmark: run with `make bench`")
    for item in items:
        if "bench" in item.keywords and not run_bench:
            item.add_marker(skip_bench)


@pytest.fixture(scope="session")
def pg_executor() -> Iterator[UnprivilegedPostgreSQLExecutor]:
    """The PostgreSQL process itself, for tests that stop and start it."""
    if external.postgres() is not None:
        pytest.fail(f"stops and starts PostgreSQL: not with {external.POSTGRES_PORT_ENV} (a shared server)")
    if problem := version_problem(PG_BINDIR):
        pytest.fail(problem, pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="booking-pg-"))
    os.chmod(base, 0o755)  # noqa: S103 - the `postgres` user must reach its data directory
    executor = start_postgres(base, port_for.select_random())
    try:
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> PgServer:
    """The session's PostgreSQL, or the running one BOOKING_TEST_POSTGRES_PORT names (harness/external.py)."""
    running = external.postgres()
    if running is not None:
        return running
    pg_executor: UnprivilegedPostgreSQLExecutor = request.getfixturevalue("pg_executor")
    return PgServer(
        host="127.0.0.1",
        port=pg_executor.port,
        superuser=pg_executor.user,
        password=pg_executor.password or "",
    )


@pytest.fixture(scope="session")
def pgbouncer(pg_server: PgServer) -> Iterator[PgBouncer]:
    """A real PgBouncer in transaction pooling in front of ``pg_server`` (harness/pgbouncer.py)."""
    asyncio.run(install_auth_lookup(pg_server))
    base = Path(tempfile.mkdtemp(prefix="booking-pgbouncer-"))
    os.chmod(base, 0o755)  # noqa: S103 - the `postgres` user runs PgBouncer
    process = PgBouncerProcess(base, pg_server, port_for.select_random())
    try:
        yield process.start()
    finally:
        process.stop()


redis_proc = redis_factories.redis_proc(password=ADMIN_PASSWORD, port=None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> RedisServer:
    """The session's Redis, or the running one BOOKING_TEST_REDIS_PORT names (harness/external.py)."""
    running = external.redis()
    if running is not None:
        return running
    proc = request.getfixturevalue("redis_proc")
    return RedisServer(host=proc.host, port=proc.port, password=ADMIN_PASSWORD)


@pytest.fixture()
async def redis_admin(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """The admin (default user) of the session's Redis, for assertions and for making ACL users."""
    client = Redis.from_url(redis_server.admin_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def platform_services(pg_server: PgServer, redis_server: RedisServer) -> OperatorPlatform:
    """The platform database and the operator's least-privilege role (CREATEROLE, no superuser),
    owner of the database, which PUBLIC may not connect to (as the chart sets it up)."""

    async def setup() -> None:
        conn = await asyncpg.connect(pg_server.dsn())
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", OPERATOR_ROLE):
                await conn.execute(
                    f"CREATE ROLE {OPERATOR_ROLE} LOGIN CREATEROLE NOSUPERUSER PASSWORD '{OPERATOR_PASSWORD}'"
                )
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PLATFORM_DB):
                await conn.execute(f"CREATE DATABASE {PLATFORM_DB} OWNER {OPERATOR_ROLE}")
            # As the chart's bootstrap does: nobody connects unless granted (tenants via their group).
            await conn.execute(f"REVOKE ALL ON DATABASE {PLATFORM_DB} FROM PUBLIC")
            await conn.execute(f"GRANT CONNECT, CREATE ON DATABASE {PLATFORM_DB} TO {OPERATOR_ROLE}")
            # As the chart's bootstrap leaves it (templates/postgresql-configmap.yaml): the operator
            # owns the database and PUBLIC may not even connect, so every tenant role needs its
            # own CONNECT grant.
            await conn.execute(f"ALTER DATABASE {PLATFORM_DB} OWNER TO {OPERATOR_ROLE}")
            await conn.execute(f"REVOKE ALL ON DATABASE {PLATFORM_DB} FROM PUBLIC")
        finally:
            await conn.close()

    asyncio.run(setup())
    return OperatorPlatform(pg=pg_server, redis=redis_server, admin_dsn=pg_server.dsn(dbname=PLATFORM_DB))


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster() as cluster:
        yield cluster


@pytest.fixture()
async def kube(kube_cluster: EmulatedCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(kube_cluster.url) as client:
        yield client
