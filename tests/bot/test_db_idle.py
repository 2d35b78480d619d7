"""Closing a tenant pool's idle connections before asyncpg would (the shard's janitor)."""

from __future__ import annotations

import asyncio

from booking_bot.db import close_idle_connections, create_pool
from harness.postgres import PgServer, role_connections

from .conftest import Tenant


async def test_an_idle_connection_is_closed_on_the_server_at_once(
    tenant: Tenant, pg_server: PgServer
) -> None:
    pool = await create_pool(tenant.dsn, tenant.client_id, idle_seconds=3600)
    try:
        await pool.fetchval("SELECT 1")
        assert await role_connections(pg_server, tenant.client_id) == 1
        assert close_idle_connections(pool) == 1
        for _ in range(50):  # the backend exits once it reads the termination message
            if not await role_connections(pg_server, tenant.client_id):
                break
            await asyncio.sleep(0.05)
        assert await role_connections(pg_server, tenant.client_id) == 0
    finally:
        await pool.close()


async def test_a_connection_a_query_holds_is_not_closed(tenant: Tenant) -> None:
    pool = await create_pool(tenant.dsn, tenant.client_id, idle_seconds=3600)
    try:
        async with pool.acquire() as conn:
            assert close_idle_connections(pool) == 0
            assert await conn.fetchval("SELECT 41 + 1") == 42
    finally:
        await pool.close()


async def test_the_pool_reconnects_after_its_idle_connections_were_closed(tenant: Tenant) -> None:
    pool = await create_pool(tenant.dsn, tenant.client_id, idle_seconds=3600)
    try:
        await pool.fetchval("SELECT 1")
        close_idle_connections(pool)
        assert await pool.fetchval("SELECT current_user") == tenant.client_id
    finally:
        await pool.close()


async def test_an_acquire_waiting_in_the_queue_gets_a_working_connection(tenant: Tenant) -> None:
    """Closing between an acquire taking a holder off the queue and using it: it reconnects."""
    pool = await create_pool(tenant.dsn, tenant.client_id, max_size=1, idle_seconds=3600)
    try:
        await pool.fetchval("SELECT 1")
        for head_start in range(6):
            query = asyncio.create_task(pool.fetchval("SELECT 7"))
            for _ in range(head_start):
                await asyncio.sleep(0)
            close_idle_connections(pool)
            assert await query == 7
    finally:
        await pool.close()


async def test_the_pools_minimum_connections_stay_open(tenant: Tenant) -> None:
    pool = await create_pool(tenant.dsn, tenant.client_id, min_size=1, idle_seconds=3600)
    try:
        assert close_idle_connections(pool) == 0
        assert pool.get_size() == 1
    finally:
        await pool.close()
