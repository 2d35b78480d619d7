"""A role that cannot be dropped (it owns an object in another database, which DROP OWNED does
not reach): the deletion is retried with a DeletionDelayed event each time, the role is locked
out from the first attempt, and after the last attempt it is left NOLOGIN and the finalizer goes
(docs/operator.md "Deletion"): the resource never stays stuck in deletion.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from booking_operator.retire import GIVE_UP_AFTER
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    PLATFORM_DB,
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    own_operator,
    parse_log_lines,
    tenant_body,
    wait_phase,
)
from harness.postgres import PgServer


@pytest.fixture()
def quick_retry_operator(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    # Attempts half a second apart instead of 30 s: all of them within seconds.
    with own_operator(platform_services, own_cluster, tmp_path, DELETION_RETRY_INTERVAL="0.5") as op:
        yield op


class OtherDatabase:
    """A superuser session on another database of the server (`postgres`): what a role owns
    there blocks DROP ROLE, since DROP OWNED reaches only the database it runs in."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.owners: list[str] = []

    async def give_a_table_to(self, role: str) -> str:
        table = f"{role}_elsewhere"
        self.owners.append(role)
        await self.conn.execute(f'CREATE TABLE "{table}" (id int)')
        await self.conn.execute(f'ALTER TABLE "{table}" OWNER TO "{role}"')
        return table


@pytest.fixture()
async def other_database(pg_server: PgServer) -> AsyncIterator[OtherDatabase]:
    other = OtherDatabase(await asyncpg.connect(pg_server.dsn()))
    try:
        yield other
    finally:
        platform_db = await asyncpg.connect(pg_server.dsn(dbname=PLATFORM_DB))
        try:
            for role in other.owners:
                await other.conn.execute(f'DROP OWNED BY "{role}"')
                await platform_db.execute(f'DROP SCHEMA IF EXISTS "{role}" CASCADE')
                await platform_db.execute(f'DROP OWNED BY "{role}"')
                await platform_db.execute(f'DROP ROLE "{role}"')
        finally:
            await platform_db.close()
            await other.conn.close()


async def _events(kube: KubeClient, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in await kube.list("v1/events", namespace) if e.get("reason") == reason]


async def test_a_role_that_cannot_be_dropped_is_retried_then_left_nologin_and_the_tenant_goes(
    quick_retry_operator: OperatorProcess,
    own_kube: KubeClient,
    other_database: OtherDatabase,
    admin_db: asyncpg.Connection,
    redis_admin: aioredis.Redis,
    namespace: str,
    client_id: str,
) -> None:
    await create_token_secret(own_kube, namespace)
    await own_kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id, deletionPolicy="Delete"))
    await wait_phase(own_kube, namespace, "salon", "Provisioning")
    secret = await own_kube.get("v1/secrets", namespace, "salon-credentials")
    dsn = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    await other_database.give_a_table_to(client_id)
    session = await asyncpg.connect(dsn)
    await own_kube.delete(BOOKINGTENANTS, namespace, "salon")

    async def retried() -> list[dict[str, Any]] | None:
        events = await _events(own_kube, namespace, "DeletionDelayed")
        return events if len(events) >= 2 else None

    events = await eventually(retried, what="two DeletionDelayed events")
    tenant = await own_kube.get(BOOKINGTENANTS, namespace, "salon")
    assert "still owns objects" in tenant["status"]["message"]  # and says why in its status
    assert "still owns objects" in events[0]["message"]
    assert "database postgres" in events[0]["message"]  # PostgreSQL's own explanation
    # Locked out from the first attempt on: no login, no session left, the schema already gone.
    assert await admin_db.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", client_id) is False
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(dsn)
    with pytest.raises(
        (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            ConnectionError,
        )
    ):
        await session.fetchval("SELECT 1")
    assert await admin_db.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", client_id) is None

    async def gone() -> bool:
        return await own_kube.get(BOOKINGTENANTS, namespace, "salon") is None

    await eventually(gone, timeout=60, what="the tenant gone after the last attempt")
    assert len(await _events(own_kube, namespace, "DeletionDelayed")) == GIVE_UP_AFTER
    deleted = await _events(own_kube, namespace, "Deleted")
    assert len(deleted) == 1 and "left NOLOGIN" in deleted[0]["message"], deleted
    assert await admin_db.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", client_id) is False
    assert await redis_admin.acl_getuser(f"tenant_{client_id}") is None
    errors = [
        line
        for line in parse_log_lines(quick_retry_operator.logs())
        if line.get("severity") == "error" and "left as NOLOGIN" in str(line.get("message"))
    ]
    assert len(errors) == 1
