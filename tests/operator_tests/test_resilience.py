"""The operator converges from outages and crashes: Postgres down for a while, the operator killed midway.

These tests run their own operator against their own emulated cluster, so that stopping
things here never disturbs the session-wide operator the other tests share.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    mark_bot_available,
    own_operator,
    tenant_body,
    wait_phase,
)
from harness.postgres import UnprivilegedPostgreSQLExecutor

SECRETS = "v1/secrets"
DEPLOYMENTS = "apps/v1/deployments"


@pytest.fixture(name="own_operator")
def own_operator_fixture(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with own_operator(platform_services, own_cluster, tmp_path, start=False) as op:
        yield op


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


async def test_an_operator_killed_after_setting_passwords_but_before_writing_the_secret_converges(
    own_operator: OperatorProcess,
    own_cluster: EmulatedCluster,
    own_kube: KubeClient,
    admin_db: asyncpg.Connection,
    redis_admin: aioredis.Redis,
    namespace: str,
    client_id: str,
) -> None:
    """The dangerous window of a crash: the passwords are set in PostgreSQL and Redis, the Secret
    that would carry them is never written. The emulator holds the Secret's write, so the kill
    lands exactly there on every run; the next operator must issue credentials that work."""
    secret_writes = own_cluster.hold_writes(SECRETS, namespace, "salon-credentials")
    own_operator.start()
    await create_token_secret(own_kube, namespace)
    await own_kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))

    async def secret_write_held() -> bool:
        return secret_writes.arrived == 1

    await eventually(secret_write_held, what="the first operator's Secret write, held")
    orphaned_verifier = await _verifier(admin_db, client_id)
    orphaned_redis_passwords = await _acl_passwords(redis_admin, client_id)
    assert orphaned_verifier is not None and len(orphaned_redis_passwords) == 1  # set before the Secret
    own_operator.kill()

    async def write_dropped() -> bool:
        return secret_writes.dropped == 1

    await eventually(write_dropped, what="the dead operator's held write dropped")
    assert await own_kube.get(SECRETS, namespace, "salon-credentials") is None
    secret_writes.release()
    assert own_cluster.emulator is not None
    since = len(own_cluster.emulator.served)
    own_operator.start()
    await wait_phase(own_kube, namespace, "salon", "Provisioning", timeout=30)
    creds = await _credentials(own_kube, namespace)

    conn = await asyncpg.connect(creds["DATABASE_URL"])
    try:
        assert await conn.fetchval("SELECT current_user") == client_id
    finally:
        await conn.close()
    tenant_redis = aioredis.from_url(creds["REDIS_URL"])
    try:
        await tenant_redis.execute_command("SETEX", f"{client_id}:probe", 60, "v")  # type: ignore[no-untyped-call]
        assert await tenant_redis.get(f"{client_id}:probe") == b"v"
    finally:
        await tenant_redis.aclose()
    # The dead operator's passwords, known to nobody, no longer open anything.
    assert await _verifier(admin_db, client_id) != orphaned_verifier
    redis_passwords = await _acl_passwords(redis_admin, client_id)
    assert len(redis_passwords) == 1 and redis_passwords != orphaned_redis_passwords

    # Another full pass (the bot becoming available) keeps those credentials: not applied again,
    # not rotated, the Secret and the Deployment each written once, by their one owner.
    verifier = await _verifier(admin_db, client_id)
    await mark_bot_available(own_kube, namespace, "salon")
    tenant = await wait_phase(own_kube, namespace, "salon", "Ready")
    assert await _verifier(admin_db, client_id) == verifier
    assert await _acl_passwords(redis_admin, client_id) == redis_passwords
    assert await _credentials(own_kube, namespace) == creds
    operator_writes = Counter(
        (w.method, w.resource, w.name)
        for w in own_cluster.emulator.writes(since)
        if not w.by_tests and w.resource in (SECRETS, DEPLOYMENTS)
    )
    assert operator_writes == {
        ("POST", SECRETS, "salon-credentials"): 1,
        ("POST", DEPLOYMENTS, "salon-bot"): 1,
    }
    reasons = [e.get("reason") for e in await own_kube.list("v1/events", namespace)]
    assert "CredentialsRotated" not in reasons and "SecretRestored" not in reasons
    for resource, name in ((SECRETS, "salon-credentials"), (DEPLOYMENTS, "salon-bot")):
        child = await own_kube.get(resource, namespace, name)
        owners = child["metadata"]["ownerReferences"]
        assert [(o["kind"], o["uid"], o.get("controller")) for o in owners] == [
            ("BookingTenant", tenant["metadata"]["uid"], True)
        ]


async def _verifier(admin_db: asyncpg.Connection, client_id: str) -> str | None:
    """The role's SCRAM verifier: it changes (new salt) whenever a password is set."""
    verifier: str | None = await admin_db.fetchval(
        "SELECT rolpassword FROM pg_authid WHERE rolname = $1", client_id
    )
    return verifier


async def _acl_passwords(redis_admin: aioredis.Redis, client_id: str) -> list[str]:
    """The password hashes of the tenant's Redis ACL user (every one of them logs in)."""
    user = await redis_admin.acl_getuser(f"tenant_{client_id}")
    hashes = [] if user is None else user["passwords"]
    assert isinstance(hashes, list)
    return [str(h) for h in hashes]


async def _credentials(kube: KubeClient, namespace: str) -> dict[str, str]:
    secret = await kube.get(SECRETS, namespace, "salon-credentials")
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


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
