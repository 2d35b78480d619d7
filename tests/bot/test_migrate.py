"""Migrations: versioned, idempotent, serialised by an advisory lock, inside the tenant schema."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from booking_bot.migrate import MigrationError, load_migrations, migrate
from harness.postgres import PgServer

from .conftest import Tenant, create_tenant, drop_tenant

CORE_TABLES = {"services", "users", "bookings", "booked_slots", "schema_migrations"}


async def _tables(dsn: str, schema: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_migrate_creates_the_tables_in_the_tenant_schema_owned_by_the_tenant(tenant: Tenant) -> None:
    applied = await migrate(tenant.dsn, tenant.client_id)
    assert applied == [m.version for m in load_migrations()]
    assert await _tables(tenant.dsn, tenant.client_id) >= CORE_TABLES
    conn = await asyncpg.connect(tenant.dsn)
    try:
        owners = await conn.fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = $1", tenant.client_id
        )
        assert [r["tableowner"] for r in owners] == [tenant.client_id]
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    finally:
        await conn.close()


async def test_migrate_twice_is_a_no_op(tenant: Tenant) -> None:
    await migrate(tenant.dsn, tenant.client_id)
    assert await migrate(tenant.dsn, tenant.client_id) == []


async def test_concurrent_migrations_apply_each_version_once(tenant: Tenant) -> None:
    results = await asyncio.gather(*(migrate(tenant.dsn, tenant.client_id) for _ in range(3)))
    applied = sorted(v for result in results for v in result)
    assert applied == [m.version for m in load_migrations()]


def test_concurrent_migrate_processes_are_safe(tenant: Tenant) -> None:
    env = {**os.environ, "CLIENT_ID": tenant.client_id, "DATABASE_URL": tenant.dsn}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "booking_bot", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    assert asyncio.run(migrate(tenant.dsn, tenant.client_id)) == []


async def test_missing_schema_is_created_when_the_role_may(pg_server: PgServer) -> None:
    tenant = await create_tenant(pg_server)
    admin = await asyncpg.connect(pg_server.dsn())
    try:
        await admin.execute(f'DROP SCHEMA "{tenant.client_id}"')
        await admin.execute(f'GRANT CREATE ON DATABASE postgres TO "{tenant.client_id}"')
        await migrate(tenant.dsn, tenant.client_id)
        assert "bookings" in await _tables(tenant.dsn, tenant.client_id)
    finally:
        await admin.execute(f'REVOKE CREATE ON DATABASE postgres FROM "{tenant.client_id}"')
        await admin.close()
        await drop_tenant(pg_server, tenant.client_id)


async def test_missing_schema_without_privilege_fails_clearly(pg_server: PgServer) -> None:
    tenant = await create_tenant(pg_server)
    admin = await asyncpg.connect(pg_server.dsn())
    try:
        await admin.execute(f'DROP SCHEMA "{tenant.client_id}"')
        with pytest.raises(MigrationError, match="does not exist"):
            await migrate(tenant.dsn, tenant.client_id)
    finally:
        await admin.close()
        await drop_tenant(pg_server, tenant.client_id)


async def test_tenant_role_cannot_read_another_tenants_schema(pg_server: PgServer) -> None:
    one, two = await create_tenant(pg_server), await create_tenant(pg_server)
    try:
        await migrate(one.dsn, one.client_id)
        await migrate(two.dsn, two.client_id)
        conn = await asyncpg.connect(one.dsn)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f'SELECT * FROM "{two.client_id}".bookings')
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    f"INSERT INTO \"{two.client_id}\".services (name, duration_minutes) VALUES ('x', 30)"
                )
        finally:
            await conn.close()
    finally:
        await drop_tenant(pg_server, one.client_id)
        await drop_tenant(pg_server, two.client_id)
