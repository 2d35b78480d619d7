"""The operator converges from outages and crashes: Postgres down for a while, the operator killed midway.

These tests run their own operator against their own emulated cluster, so that stopping
things here never disturbs the session-wide operator the other tests share.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    operator_env,
    tenant_body,
    wait_phase,
)
from harness.postgres import UnprivilegedPostgreSQLExecutor


@pytest.fixture()
def own_operator(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    op = OperatorProcess(
        env=operator_env(platform_services, own_cluster, tmp_path), log_path=tmp_path / "op.log"
    )
    yield op
    op.stop()


async def test_postgres_down_during_provisioning_is_reported_and_then_converges(
    own_operator: OperatorProcess,
    own_kube: KubeClient,
    pg_executor: UnprivilegedPostgreSQLExecutor,
    namespace: str,
    client_id: str,
) -> None:
    own_operator.start()
    await create_token_secret(own_kube, namespace)
    pg_executor.stop()
    try:
        await own_kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))

        async def reported() -> dict[str, str] | None:
            tenant = await own_kube.get(BOOKINGTENANTS, namespace, "salon")
            conditions = {c["type"]: c for c in (tenant.get("status") or {}).get("conditions", [])}
            database = conditions.get("Database")
            return database if database and database["reason"] == "Unavailable" else None

        condition = await eventually(reported, what="Database=Unavailable in status")
        assert condition["status"] == "False"
        assert await own_kube.get("v1/secrets", namespace, "salon-credentials") is None
    finally:
        pg_executor.start()

    async def converged() -> bool:
        tenant = await own_kube.get(BOOKINGTENANTS, namespace, "salon")
        conditions = {c["type"]: c["status"] for c in tenant["status"]["conditions"]}
        return conditions.get("Database") == conditions.get("Secret") == "True"

    await eventually(converged, timeout=40, what="Database and Secret conditions True")
    secret = await own_kube.get("v1/secrets", namespace, "salon-credentials")
    dsn = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    (await asyncpg.connect(dsn)).terminate()


async def test_operator_killed_midway_converges_without_duplicates_and_with_working_credentials(
    own_operator: OperatorProcess,
    own_kube: KubeClient,
    admin_db: asyncpg.Connection,
    namespace: str,
    client_id: str,
) -> None:
    own_operator.start()
    await create_token_secret(own_kube, namespace)
    await own_kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))

    async def role_created() -> bool:
        return bool(await admin_db.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", client_id))

    await eventually(role_created, interval=0.01, what="the tenant role")
    own_operator.kill()
    own_operator.start()
    await wait_phase(own_kube, namespace, "salon", "Provisioning", timeout=30)
    assert await admin_db.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", client_id) == 1
    deployments = [
        d
        for d in await own_kube.list("apps/v1/deployments", namespace)
        if d["metadata"]["labels"].get("bookingsaas.dev/client-id") == client_id
    ]
    assert len(deployments) == 1
    secret = await own_kube.get("v1/secrets", namespace, "salon-credentials")
    dsn = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    (await asyncpg.connect(dsn)).terminate()


async def test_deletion_while_postgres_is_down_is_reported_and_finishes_once_it_is_back(
    own_operator: OperatorProcess,
    own_kube: KubeClient,
    pg_executor: UnprivilegedPostgreSQLExecutor,
    platform_services: Platform,
    namespace: str,
    client_id: str,
) -> None:
    own_operator.start()
    await create_token_secret(own_kube, namespace)
    await own_kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id, deletionPolicy="Delete"))
    await wait_phase(own_kube, namespace, "salon", "Provisioning")
    pg_executor.stop()
    try:
        await own_kube.delete(BOOKINGTENANTS, namespace, "salon")

        async def reported() -> str | None:
            tenant = await own_kube.get(BOOKINGTENANTS, namespace, "salon")
            message = str((tenant.get("status") or {}).get("message", ""))
            return message if "PostgreSQL is unreachable" in message else None

        await eventually(reported, what="the deletion's failure in status.message")
    finally:
        pg_executor.start()

    async def gone() -> bool:
        return await own_kube.get(BOOKINGTENANTS, namespace, "salon") is None

    await eventually(gone, timeout=60, what="the tenant deleted once PostgreSQL is back")
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        assert await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", client_id) is None
    finally:
        await conn.close()
