"""Attack matrix, PostgreSQL: what a tenant's own role (from its Secret) tries, and what the
operator's role could do on each major version.

The test server revokes CONNECT from PUBLIC as the chart's bootstrap does (tests/conftest.py),
and a real operator (tests/security/conftest.py) provisions the tenants with short limits.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import port_for
import pytest

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import (
    OPERATOR_PASSWORD,
    OPERATOR_ROLE,
    Platform,
    create_token_secret,
    eventually,
    tenant_body,
)
from harness.postgres import DEBIAN_PG15_BINDIR, UnprivilegedPostgreSQLExecutor, start_postgres

from .conftest import IDLE_IN_TRANSACTION_TIMEOUT_MS, LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS

SHIPPED_MAJOR = 16  # charts/booking-saas values.yaml postgresql.image.tag


async def _tenant_dsn(kube: KubeClient, namespace: str, client_id: str) -> str:
    """The tenant's DATABASE_URL, the moment the operator's first pass has written its Secret."""
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))

    async def written() -> str | None:
        secret = await kube.get("v1/secrets", namespace, "salon-credentials")
        return base64.b64decode(secret["data"]["DATABASE_URL"]).decode() if secret else None

    dsn: str = await eventually(written, timeout=30, interval=0.05, what="tenant Secret")
    return dsn


@pytest.fixture()
def client_id() -> str:
    return f"sec_{os.urandom(5).hex()}"


async def test_new_tenant_logs_in_right_after_its_first_provisioning_pass(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    """CONNECT comes with the role (its group), not from a later resync."""
    dsn = await _tenant_dsn(kube, namespace, client_id)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        assert await conn.fetchval("SELECT current_user") == client_id
    finally:
        await conn.close()


async def test_tenant_role_carries_its_time_limits(kube: KubeClient, namespace: str, client_id: str) -> None:
    dsn = await _tenant_dsn(kube, namespace, client_id)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        settings = dict(
            await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('statement_timeout', 'idle_in_transaction_session_timeout', 'lock_timeout')"
            )
        )
        assert settings == {
            "statement_timeout": str(STATEMENT_TIMEOUT_MS),
            "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS),
            "lock_timeout": str(LOCK_TIMEOUT_MS),
        }
    finally:
        await conn.close()


async def test_tenant_cannot_escape_its_statement_timeout_with_set(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    """`SET statement_timeout = 0` and a long query: the operator's watchdog cancels it anyway."""
    dsn = await _tenant_dsn(kube, namespace, client_id)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute("SET statement_timeout = 0")
        with pytest.raises(asyncpg.QueryCanceledError):
            await asyncio.wait_for(conn.execute("SELECT pg_sleep(60)"), timeout=25)
    finally:
        await conn.close()


async def test_tenant_cannot_hold_a_transaction_open_for_ever(
    kube: KubeClient, namespace: str, client_id: str, platform_services: Platform
) -> None:
    """`SET idle_in_transaction_session_timeout = 0`, BEGIN, then nothing: the session is ended."""
    dsn = await _tenant_dsn(kube, namespace, client_id)
    conn = await asyncpg.connect(dsn, timeout=5)
    admin = await asyncpg.connect(platform_services.admin_dsn)
    try:
        await conn.execute("SET idle_in_transaction_session_timeout = 0")
        await conn.execute("BEGIN")
        await conn.execute("SELECT 1")
        pid = conn.get_server_pid()

        async def ended() -> bool:  # watched from outside: a query on `conn` would reset its idle clock
            return not await admin.fetchval("SELECT 1 FROM pg_stat_activity WHERE pid = $1", pid)

        await eventually(ended, timeout=25, interval=0.5, what="idle transaction ended")
        with pytest.raises(
            (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.AdminShutdownError)
        ):
            await conn.fetchval("SELECT 1")
    finally:
        await admin.close()
        await conn.close()


async def test_tenant_cannot_open_more_connections_than_its_limit(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    dsn = await _tenant_dsn(kube, namespace, client_id)
    conns = [await asyncpg.connect(dsn, timeout=5) for _ in range(4)]  # TENANT_CONNECTION_LIMIT
    try:
        with pytest.raises(asyncpg.TooManyConnectionsError):
            await asyncpg.connect(dsn, timeout=5)
    finally:
        for conn in conns:
            await conn.close()


async def test_operator_role_cannot_grant_itself_server_programs_on_the_shipped_version(
    platform_services: Platform,
) -> None:
    """On PostgreSQL 16 CREATEROLE no longer reaches roles the operator did not create."""
    conn = await asyncpg.connect(platform_services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD))
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
        if major < SHIPPED_MAJOR:
            pytest.skip(
                f"the test server is PostgreSQL {major}: run hack/install-postgres.sh for {SHIPPED_MAJOR}"
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("GRANT pg_execute_server_program TO CURRENT_USER")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def postgres15(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnprivilegedPostgreSQLExecutor]:
    """A second server on Debian's PostgreSQL 15, where CREATEROLE is nearly superuser."""
    if not (DEBIAN_PG15_BINDIR / "postgres").exists():
        pytest.skip("PostgreSQL 15 is not installed (apt-get install postgresql-15)")
    base = Path(tempfile.mkdtemp(prefix="booking-pg15-"))
    os.chmod(base, 0o755)  # noqa: S103 - the `postgres` user must reach its data directory
    executor = start_postgres(base, port_for.select_random(), bindir=DEBIAN_PG15_BINDIR)
    try:
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_operator_refuses_to_start_with_createrole_on_postgresql_15(
    postgres15: UnprivilegedPostgreSQLExecutor, platform_services: Platform, tmp_path: Path
) -> None:
    executor = postgres15
    dsn_admin = f"postgresql://postgres:{executor.password}@127.0.0.1:{executor.port}/postgres"

    async def setup() -> None:
        for _ in range(100):
            try:
                conn = await asyncpg.connect(dsn_admin)
                break
            except asyncpg.CannotConnectNowError:
                await asyncio.sleep(0.1)
        try:
            await conn.execute(f"CREATE ROLE {OPERATOR_ROLE} LOGIN CREATEROLE PASSWORD '{OPERATOR_PASSWORD}'")
        finally:
            await conn.close()

    asyncio.run(setup())
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "OPERATOR_", "TENANT_", "ALLOW_"))
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
    )
    env.update(
        KUBECONFIG=str(kubeconfig),
        OPERATOR_DATABASE_URL=(
            f"postgresql://{OPERATOR_ROLE}:{OPERATOR_PASSWORD}@127.0.0.1:{executor.port}/postgres"
        ),
        OPERATOR_REDIS_URL=platform_services.redis.admin_url,
        BOT_IMAGE="registry.example/booking-bot:test",
        LIVENESS_PORT="0",
        METRICS_PORT="0",
        LOG_FORMAT="plain",
    )
    result = subprocess.run(
        [sys.executable, "-m", "booking_operator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "CREATEROLE" in output and "ALLOW_CREATEROLE_BEFORE_PG16" in output, output[-2000:]
