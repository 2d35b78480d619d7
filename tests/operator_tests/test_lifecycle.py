"""A tenant over its life: suspension, expiry, renewal, hand edits, rotation, deletion, conflicts."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import (
    Platform,
    create_token_secret,
    eventually,
    mark_bot_available,
    tenant_body,
    wait_phase,
)

pytestmark = pytest.mark.usefixtures("running_operator")
DEPLOYMENTS = "apps/v1/deployments"


def rfc3339(delta: datetime.timedelta) -> str:
    return (datetime.datetime.now(tz=datetime.UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


async def ready_tenant(
    kube: KubeClient, namespace: str, name: str, client_id: str, **spec: Any
) -> dict[str, Any]:
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body(name, client_id, **spec))
    await wait_phase(kube, namespace, name, "Provisioning")
    await mark_bot_available(kube, namespace, name)
    return await wait_phase(kube, namespace, name, "Ready")


async def replicas(kube: KubeClient, namespace: str, name: str) -> int | None:
    deployment = await kube.get(DEPLOYMENTS, namespace, f"{name}-bot")
    return None if deployment is None else int(deployment["spec"]["replicas"])


async def credentials(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    secret = await kube.get("v1/secrets", namespace, f"{name}-credentials")
    assert secret is not None
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def write_row(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS bookings (id int)")
        await conn.execute("INSERT INTO bookings VALUES (1)")
    finally:
        await conn.close()


async def test_suspending_scales_the_bot_to_zero_and_keeps_its_data(
    kube: KubeClient, namespace: str, client_id: str, admin_db: asyncpg.Connection
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    await write_row((await credentials(kube, namespace, "salon"))["DATABASE_URL"])
    await kube.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"suspended": True}})
    await wait_phase(kube, namespace, "salon", "Suspended")
    assert await replicas(kube, namespace, "salon") == 0
    assert await admin_db.fetchval(f'SELECT count(*) FROM "{client_id}".bookings') == 1


async def test_a_paid_period_that_has_ended_scales_the_bot_to_zero_and_keeps_its_data(
    kube: KubeClient, namespace: str, client_id: str, admin_db: asyncpg.Connection
) -> None:
    """Expiry by the clock alone (nobody touching the resource) is test_user_actions.py's; here
    the period ends by an edit, so nothing depends on how fast the machine reaches Ready."""
    await ready_tenant(kube, namespace, "salon", client_id, paidUntil=rfc3339(datetime.timedelta(days=30)))
    assert await replicas(kube, namespace, "salon") == 1
    await write_row((await credentials(kube, namespace, "salon"))["DATABASE_URL"])
    ended = rfc3339(-datetime.timedelta(minutes=1))
    await kube.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"paidUntil": ended}})
    tenant = await wait_phase(kube, namespace, "salon", "Expired")
    assert await replicas(kube, namespace, "salon") == 0
    assert tenant["status"]["paidUntil"] == ended
    assert await admin_db.fetchval(f'SELECT count(*) FROM "{client_id}".bookings') == 1


async def test_extending_the_paid_period_brings_an_expired_bot_back(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id, paidUntil=rfc3339(datetime.timedelta(days=30)))
    await kube.patch(
        BOOKINGTENANTS, namespace, "salon", {"spec": {"paidUntil": rfc3339(-datetime.timedelta(minutes=1))}}
    )
    await wait_phase(kube, namespace, "salon", "Expired")
    await mark_bot_available(kube, namespace, "salon", replicas=0)  # the pod is gone
    await kube.patch(
        BOOKINGTENANTS, namespace, "salon", {"spec": {"paidUntil": rfc3339(datetime.timedelta(days=30))}}
    )
    await wait_phase(kube, namespace, "salon", "Provisioning")
    assert await replicas(kube, namespace, "salon") == 1
    await mark_bot_available(kube, namespace, "salon")  # a new pod started
    await wait_phase(kube, namespace, "salon", "Ready")


async def test_a_bot_deployment_deleted_by_hand_is_restored(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    await kube.delete(DEPLOYMENTS, namespace, "salon-bot")
    await eventually(lambda: kube.get(DEPLOYMENTS, namespace, "salon-bot"), what="the Deployment back")


async def test_a_bot_deployment_edited_by_hand_is_put_back(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    await kube.patch(
        DEPLOYMENTS, namespace, "salon-bot", {"spec": {"replicas": 3, "strategy": {"type": "RollingUpdate"}}}
    )

    async def restored() -> bool:
        deployment = await kube.get(DEPLOYMENTS, namespace, "salon-bot")
        return bool(
            deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
        )

    await eventually(restored, what="replicas 1 and Recreate again")


async def test_a_deleted_secret_comes_back_with_new_working_credentials(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    old = await credentials(kube, namespace, "salon")
    await kube.delete("v1/secrets", namespace, "salon-credentials")

    async def recreated() -> dict[str, str] | None:
        secret = await kube.get("v1/secrets", namespace, "salon-credentials")
        return await credentials(kube, namespace, "salon") if secret else None

    new = await eventually(recreated, what="the Secret back")
    assert new["DATABASE_PASSWORD"] != old["DATABASE_PASSWORD"]
    conn = await asyncpg.connect(new["DATABASE_URL"])
    await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(old["DATABASE_URL"])


async def test_rotation_annotation_issues_new_passwords_and_restarts_the_bot(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    old = await credentials(kube, namespace, "salon")
    old_hash = (await kube.get(DEPLOYMENTS, namespace, "salon-bot"))["spec"]["template"]["metadata"][
        "annotations"
    ]
    await kube.patch(
        BOOKINGTENANTS,
        namespace,
        "salon",
        {"metadata": {"annotations": {"bookingsaas.dev/rotate-credentials": "1"}}},
    )

    async def rotated() -> dict[str, Any] | None:
        tenant = await kube.get(BOOKINGTENANTS, namespace, "salon")
        return tenant if tenant["status"].get("credentialsRotation") == "1" else None

    await eventually(rotated, what="status.credentialsRotation = 1")
    new = await credentials(kube, namespace, "salon")
    assert new["DATABASE_PASSWORD"] != old["DATABASE_PASSWORD"]
    assert new["REDIS_PASSWORD"] != old["REDIS_PASSWORD"]
    new_hash = (await kube.get(DEPLOYMENTS, namespace, "salon-bot"))["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert new_hash != old_hash
    (await asyncpg.connect(new["DATABASE_URL"])).terminate()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(old["DATABASE_URL"])
    redis = aioredis.from_url(new["REDIS_URL"])
    assert await redis.ping()
    await redis.aclose()


async def test_retain_policy_keeps_schema_role_and_redis_keys(
    kube: KubeClient,
    namespace: str,
    client_id: str,
    admin_db: asyncpg.Connection,
    platform_services: Platform,
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id, deletionPolicy="Retain")
    creds = await credentials(kube, namespace, "salon")
    await write_row(creds["DATABASE_URL"])
    tenant_redis = aioredis.from_url(creds["REDIS_URL"])
    await tenant_redis.execute_command("SETEX", f"{client_id}:fsm:state", 3600, "x")  # type: ignore[no-untyped-call]
    await tenant_redis.aclose()
    await kube.delete(BOOKINGTENANTS, namespace, "salon")
    await eventually(
        lambda: _gone(kube, namespace, "salon"), what="the BookingTenant gone (finalizer released)"
    )
    assert await admin_db.fetchval(f'SELECT count(*) FROM "{client_id}".bookings') == 1
    assert await admin_db.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", client_id) is False
    admin = aioredis.from_url(platform_services.redis.admin_url)
    assert await admin.get(f"{client_id}:fsm:state") == b"x"
    await admin.aclose()
    assert await kube.get(DEPLOYMENTS, namespace, "salon-bot") is None


async def test_retained_data_is_taken_over_by_a_new_tenant_with_the_same_client_id(
    kube: KubeClient, namespace: str, client_id: str, admin_db: asyncpg.Connection
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)
    await write_row((await credentials(kube, namespace, "salon"))["DATABASE_URL"])
    await kube.delete(BOOKINGTENANTS, namespace, "salon")
    await eventually(lambda: _gone(kube, namespace, "salon"), what="salon gone")
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon-again", client_id))
    await wait_phase(kube, namespace, "salon-again", "Provisioning")
    conn = await asyncpg.connect((await credentials(kube, namespace, "salon-again"))["DATABASE_URL"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 1
    finally:
        await conn.close()


async def test_delete_policy_drops_schema_role_and_keys_even_with_a_session_open(
    kube: KubeClient,
    namespace: str,
    client_id: str,
    admin_db: asyncpg.Connection,
    platform_services: Platform,
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id, deletionPolicy="Delete")
    creds = await credentials(kube, namespace, "salon")
    await write_row(creds["DATABASE_URL"])
    tenant_redis = aioredis.from_url(creds["REDIS_URL"])
    for i in range(1200):  # more than one SCAN page and one UNLINK batch
        await tenant_redis.execute_command("SETEX", f"{client_id}:k:{i}", 3600, "v")  # type: ignore[no-untyped-call]
    await tenant_redis.aclose()
    admin = aioredis.from_url(platform_services.redis.admin_url)
    await admin.set("bystander:k", "v")
    open_session = await asyncpg.connect(creds["DATABASE_URL"])
    try:
        await kube.delete(BOOKINGTENANTS, namespace, "salon")
        await eventually(lambda: _gone(kube, namespace, "salon"), what="salon gone")
        assert await admin_db.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", client_id) is None
        assert await admin_db.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", client_id) is None
        assert [k async for k in admin.scan_iter(match=f"{client_id}:*")] == []
        assert await admin.get("bystander:k") == b"v"
        assert await admin.acl_getuser(f"tenant_{client_id}") is None
    finally:
        open_session.terminate()
        await admin.aclose()


async def test_a_second_tenant_claiming_the_same_client_id_fails_and_touches_nothing(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "first", client_id)
    first_creds = await credentials(kube, namespace, "first")
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("second", client_id, deletionPolicy="Delete"))
    second = await wait_phase(kube, namespace, "second", "Failed")
    assert "already used by BookingTenant" in second["status"]["message"]
    assert f"{namespace}/first" in second["status"]["message"]
    assert await kube.get("v1/secrets", namespace, "second-credentials") is None
    assert await kube.get(DEPLOYMENTS, namespace, "second-bot") is None
    await kube.delete(BOOKINGTENANTS, namespace, "second")
    await eventually(lambda: _gone(kube, namespace, "second"), what="second gone")
    conn = await asyncpg.connect(first_creds["DATABASE_URL"])  # the first tenant's role and schema survive
    await conn.close()


async def test_an_existing_role_not_made_by_the_operator_is_never_adopted(
    kube: KubeClient, namespace: str, client_id: str, admin_db: asyncpg.Connection
) -> None:
    await admin_db.execute(f"CREATE ROLE \"{client_id}\" LOGIN PASSWORD 'someone-elses'")
    await create_token_secret(kube, namespace)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    tenant = await wait_phase(kube, namespace, "salon", "Failed")
    assert "not managed by booking-operator" in tenant["status"]["message"]
    assert await admin_db.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", client_id) is None


async def test_a_missing_bot_token_secret_fails_the_tenant_with_a_clear_message(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id, token_secret="nowhere"))
    tenant = await wait_phase(kube, namespace, "salon", "Failed")
    assert "'nowhere'" in tenant["status"]["message"]
    conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
    assert conditions["BotToken"]["reason"] == "SecretNotFound"
    await create_token_secret(kube, namespace, name="nowhere")
    await wait_phase(kube, namespace, "salon", "Provisioning")


async def _gone(kube: KubeClient, namespace: str, name: str) -> bool:
    return await kube.get(BOOKINGTENANTS, namespace, name) is None


async def test_a_new_token_in_the_owners_secret_restarts_the_bot(
    kube: KubeClient, namespace: str, client_id: str
) -> None:
    await ready_tenant(kube, namespace, "salon", client_id)

    async def template_hash() -> str:
        deployment = await kube.get(DEPLOYMENTS, namespace, "salon-bot")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["bookingsaas.dev/config-hash"])

    before = await template_hash()
    new_token = base64.b64encode(b"123:rotated-by-botfather").decode()
    await kube.patch("v1/secrets", namespace, "bot-token", {"data": {"token": new_token}})

    async def restarted() -> bool:
        return await template_hash() != before

    await eventually(restarted, what="a new pod-template hash after the token changed")
