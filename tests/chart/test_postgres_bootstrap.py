"""The in-cluster PostgreSQL bootstrap script (rendered by the chart) against a real PostgreSQL.

The script the chart mounts into /docker-entrypoint-initdb.d is run as the superuser, twice
(it must be idempotent); then each role is checked for what it can and cannot do.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from booking_operator import database, passwords
from harness.postgres import PgServer

from .conftest import Helm, by_kind


@dataclass(frozen=True)
class Bootstrapped:
    server: PgServer
    database: str
    operator: str
    webhook: str
    pgbouncer: str
    password: str
    group: str

    def dsn(self, user: str, password: str | None = None) -> str:
        return str(self.server.dsn(user=user, password=password or self.password, dbname=self.database))


def _run_script(script: str, server: PgServer, names: dict[str, str], password: str) -> None:
    env = {
        **os.environ,
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGPASSWORD": server.password,
        "POSTGRES_USER": server.superuser,
        "BOOKING_DATABASE": names["database"],
        "BOOKING_OPERATOR_USER": names["operator"],
        "BOOKING_OPERATOR_PASSWORD": password,
        "BOOKING_WEBHOOK_USER": names["webhook"],
        "BOOKING_WEBHOOK_PASSWORD": password,
        "BOOKING_PGBOUNCER_USER": names["pgbouncer"],
        "BOOKING_PGBOUNCER_PASSWORD": password,
    }
    result = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def bootstrapped(helm: Helm, pg_server: PgServer) -> Iterator[Bootstrapped]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        "database": f"chart_db_{suffix}",
        "operator": f"chart_op_{suffix}",
        "webhook": f"chart_wh_{suffix}",
        "pgbouncer": f"chart_pgb_{suffix}",
        "group": f"chart_tenants_{suffix}",
    }
    values = {
        "operator": {"tenantGroupRole": names["group"]},
        "postgresql": {
            "database": names["database"],
            "operatorUser": names["operator"],
            "webhookUser": names["webhook"],
            "pgbouncerAuthUser": names["pgbouncer"],
        },
    }
    (config,) = [
        c for c in by_kind(helm.render(values), "ConfigMap") if c["metadata"]["name"].endswith("bootstrap")
    ]
    script = config["data"]["10-booking-saas.sh"]
    _run_script(script, pg_server, names, "first-password")
    _run_script(script, pg_server, names, "second-password")  # a rerun converges, passwords follow
    yield Bootstrapped(
        pg_server,
        password="second-password",
        **{k: v for k, v in names.items() if k != "group"},
        group=names["group"],
    )
    asyncio.run(_drop(pg_server, names))


async def _drop(server: PgServer, names: dict[str, str]) -> None:
    conn = await asyncpg.connect(server.dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{names["database"]}" WITH (FORCE)')
        suffix = names["database"][-8:]
        for name in (f"chart_tenant_{suffix}", f"chart_pgb_tenant_{suffix}"):
            await conn.execute(f'DROP ROLE IF EXISTS "{name}"')
        for role in ("pgbouncer", "webhook", "group", "operator"):
            await conn.execute(f'DROP ROLE IF EXISTS "{names[role]}"')
    finally:
        await conn.close()


@pytest.fixture()
async def as_operator(bootstrapped: Bootstrapped) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(bootstrapped.dsn(bootstrapped.operator))
    yield conn
    await conn.close()


async def test_operator_role_is_not_a_superuser_but_may_create_roles(as_operator: asyncpg.Connection) -> None:
    row = await as_operator.fetchrow(
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    )
    assert dict(row) == {"rolsuper": False, "rolcreaterole": True, "rolcreatedb": False}


async def test_operator_can_provision_a_tenant_schema_and_role(
    bootstrapped: Bootstrapped, as_operator: asyncpg.Connection
) -> None:
    """The operator's own code on the bootstrapped server: the tenant logs in after one pass."""
    tenant = f"chart_tenant_{bootstrapped.database[-8:]}"
    await _provision(bootstrapped, as_operator, tenant)
    conn = await asyncpg.connect(bootstrapped.dsn(tenant, "tenant-password"))
    try:
        await conn.execute(f'CREATE TABLE "{tenant}".services (id int)')
    finally:
        await conn.close()


async def _provision(bootstrapped: Bootstrapped, as_operator: asyncpg.Connection, tenant: str) -> None:
    await database.ensure_group(as_operator, bootstrapped.group, bootstrapped.database)
    await database.ensure_tenant(
        as_operator,
        tenant,
        owner=database.owner_marker("ns", "salon"),
        password_verifier=passwords.scram_sha256_verifier("tenant-password"),
        limits=database.RoleLimits(),
        database=bootstrapped.database,
        group=bootstrapped.group,
    )


async def test_operator_owns_the_platform_database(as_operator: asyncpg.Connection) -> None:
    owner = await as_operator.fetchval(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
    )
    assert owner == await as_operator.fetchval("SELECT current_user")


async def test_webhook_role_owns_only_the_platform_schema(bootstrapped: Bootstrapped) -> None:
    conn = await asyncpg.connect(bootstrapped.dsn(bootstrapped.webhook))
    try:
        assert await conn.fetchval(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'platform'"
        ) == (bootstrapped.webhook)
        await conn.execute("CREATE SCHEMA IF NOT EXISTS platform")  # what the webhook's migrations run
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE ROLE chart_not_allowed")
    finally:
        await conn.close()


async def test_public_cannot_connect_to_the_platform_database(bootstrapped: Bootstrapped) -> None:
    admin = await asyncpg.connect(bootstrapped.server.dsn())
    stranger = f"chart_stranger_{uuid.uuid4().hex[:6]}"
    try:
        await admin.execute(f"CREATE ROLE {stranger} LOGIN PASSWORD 'stranger-password'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(bootstrapped.dsn(stranger, "stranger-password"))
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {stranger}")
        await admin.close()


async def test_pgbouncer_auth_query_answers_only_for_tenant_roles(
    bootstrapped: Bootstrapped, as_operator: asyncpg.Connection
) -> None:
    """Not the operator's, the webhook's or a superuser's verifier: only members of the group."""
    tenant = f"chart_pgb_tenant_{bootstrapped.database[-8:]}"
    await _provision(bootstrapped, as_operator, tenant)
    conn = await asyncpg.connect(bootstrapped.dsn(bootstrapped.pgbouncer))
    try:
        row = await conn.fetchrow("SELECT usename, passwd FROM pgbouncer.get_auth($1)", tenant)
        assert row["passwd"].startswith("SCRAM-SHA-256$")
        for privileged in (bootstrapped.operator, bootstrapped.webhook, bootstrapped.server.superuser):
            assert await conn.fetch("SELECT * FROM pgbouncer.get_auth($1)", privileged) == [], privileged
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT passwd FROM pg_shadow")
    finally:
        await conn.close()
