"""The credentials and Secret steps: passwords reused, rotated or re-applied, and the tenant Secret
written only after they work, restored when edited (reconcile.choose_credentials, write_secret,
_apply)."""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from booking_contract.kube import SECRETS, KubeConflict
from booking_operator import manifests, passwords, reconcile
from booking_operator.platform import Platform
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import Platform as Services
from operator_tests.reconcile.observe import (
    Pass,
    condition,
    credentials,
    deployment,
)


async def request_rotation(api: KubeClient, namespace: str, value: str) -> None:
    """What `kubectl annotate ... bookingsaas.dev/rotate-credentials=VALUE` does (docs/operator.md)."""
    await api.patch(
        BOOKINGTENANTS,
        namespace,
        "salon",
        {"metadata": {"annotations": {reconcile.ROTATE_ANNOTATION: value}}},
    )


async def test_the_secret_is_tagged_with_the_passwords_it_applied(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await run_pass(await tenant())
    data = await credentials(api, namespace)
    secret = await api.get("v1/secrets", namespace, "salon-credentials")
    assert secret is not None
    tag = secret["metadata"]["annotations"][manifests.APPLIED_ANNOTATION]
    assert tag == passwords.fingerprint(data[manifests.DB_PASSWORD_KEY], data[manifests.REDIS_PASSWORD_KEY])


async def test_a_second_pass_keeps_the_passwords(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    first = await credentials(api, namespace)
    await run_pass(body)
    assert await credentials(api, namespace) == first


async def test_a_rotation_request_issues_new_passwords_that_work(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    old = await credentials(api, namespace)
    await request_rotation(api, namespace, "r1")
    outcome = await run_pass(body)
    new = await credentials(api, namespace)
    assert new[manifests.DB_PASSWORD_KEY] != old[manifests.DB_PASSWORD_KEY]
    assert new[manifests.REDIS_PASSWORD_KEY] != old[manifests.REDIS_PASSWORD_KEY]
    conn = await asyncpg.connect(platform_services.dsn(client_id, new[manifests.DB_PASSWORD_KEY]))
    await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(platform_services.dsn(client_id, old[manifests.DB_PASSWORD_KEY]))
    assert outcome.events == [("Normal", "CredentialsRotated", "new Postgres and Redis passwords issued")]
    assert outcome.status["credentialsRotation"] == "r1"


async def test_a_rotation_already_done_is_not_repeated(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await request_rotation(api, namespace, "r1")
    await run_pass(body)
    rotated = await credentials(api, namespace)
    outcome = await run_pass(body)
    assert await credentials(api, namespace) == rotated
    assert outcome.status["credentialsRotation"] == "r1"


async def test_a_hand_edited_secret_is_restored_with_an_event(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    good = await credentials(api, namespace)
    forged = base64.b64encode(b"postgresql://someone:else@elsewhere/db").decode()
    await api.patch("v1/secrets", namespace, "salon-credentials", {"data": {"DATABASE_URL": forged}})
    outcome = await run_pass(body)
    assert await credentials(api, namespace) == good
    assert ("Normal", "SecretRestored", "tenant Secret edited by hand; restored") in outcome.events


async def test_a_deleted_secret_is_rewritten_with_working_passwords(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await api.delete("v1/secrets", namespace, "salon-credentials")
    outcome = await run_pass(body)
    data = await credentials(api, namespace)
    conn = await asyncpg.connect(platform_services.dsn(client_id, data[manifests.DB_PASSWORD_KEY]))
    await conn.close()
    assert not [e for e in outcome.events if e[1] in ("SecretRestored", "CredentialsRotated")]


async def test_a_secret_whose_passwords_were_never_applied_gets_them_applied(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    """The crash window: the Secret carries passwords PostgreSQL never got (no applied tag)."""
    body = await tenant()
    await run_pass(body)
    data = await credentials(api, namespace)
    admin = await asyncpg.connect(platform_services.admin_dsn)
    try:
        await admin.execute(f"ALTER ROLE \"{client_id}\" PASSWORD 'something-else'")
    finally:
        await admin.close()
    await api.patch(
        "v1/secrets",
        namespace,
        "salon-credentials",
        {"metadata": {"annotations": {manifests.APPLIED_ANNOTATION: None}}},
    )
    await run_pass(body)
    conn = await asyncpg.connect(platform_services.dsn(client_id, data[manifests.DB_PASSWORD_KEY]))
    await conn.close()


async def test_a_secret_of_that_name_not_ours_is_left_alone(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await api.create(
        "v1/secrets", namespace, {"metadata": {"name": "salon-credentials"}, "data": {"mine": "eA=="}}
    )
    outcome = await run_pass(await tenant())
    assert condition(outcome, "Secret")["reason"] == "NameTaken"
    assert outcome.status["phase"] == "Failed"
    assert (
        outcome.status["message"]
        == "Secret 'salon-credentials' exists and is not booking-operator's: not touched"
    )
    secret = await api.get("v1/secrets", namespace, "salon-credentials")
    assert secret is not None and secret["data"] == {"mine": "eA=="}


async def test_a_child_created_meanwhile_by_another_pass_is_patched(
    tenant: Any, run_pass: Pass, platform: Platform, api: KubeClient, namespace: str, client_id: str
) -> None:
    await run_pass(await tenant())
    live = await api.get("v1/secrets", namespace, "salon-credentials")
    assert live is not None
    wanted = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "salon-credentials", "labels": live["metadata"]["labels"]},
        "data": {"EXTRA": base64.b64encode(b"x").decode()},
    }
    written = await reconcile._apply(platform.kube, SECRETS, namespace, wanted, None)
    assert written is not None and "EXTRA" in written["data"]
    patched = await api.get("v1/secrets", namespace, "salon-credentials")
    assert patched is not None and "EXTRA" in patched["data"]


async def test_a_child_created_meanwhile_by_someone_else_is_not_touched(
    platform: Platform, api: KubeClient, namespace: str, client_id: str
) -> None:
    await api.create(
        "v1/secrets", namespace, {"metadata": {"name": "salon-credentials"}, "data": {"a": "eA=="}}
    )
    wanted = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "salon-credentials",
            "labels": {manifests.INSTANCE_LABEL: "salon", manifests.CLIENT_ID_LABEL: client_id},
        },
        "data": {"a": "eQ=="},
    }
    with pytest.raises(KubeConflict):
        await reconcile._apply(platform.kube, SECRETS, namespace, wanted, None)
    kept = await api.get("v1/secrets", namespace, "salon-credentials")
    assert kept is not None and kept["data"] == {"a": "eA=="}


async def test_without_redis_acls_a_second_pass_keeps_the_password(
    tenant: Any, run_pass: Pass, platform_factory: Any, api: KubeClient, namespace: str
) -> None:
    prefix_only = await platform_factory(redis_acl="off")
    body = await tenant()
    await run_pass(body, on=prefix_only)
    first = await credentials(api, namespace)
    outcome = await run_pass(body, on=prefix_only)
    assert await credentials(api, namespace) == first
    assert outcome.events == []


async def test_a_secret_that_lost_its_redis_password_gets_new_passwords_that_work(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    body = await tenant()
    outcome = await run_pass(body)
    old = await credentials(api, namespace)
    await api.patch(
        "v1/secrets", namespace, "salon-credentials", {"data": {manifests.REDIS_PASSWORD_KEY: None}}
    )
    await run_pass(body)
    new = await credentials(api, namespace)
    assert new[manifests.DB_PASSWORD_KEY] != old[manifests.DB_PASSWORD_KEY]
    conn = await asyncpg.connect(platform_services.dsn(client_id, new[manifests.DB_PASSWORD_KEY]))
    await conn.close()
    client = aioredis.Redis(
        host=platform_services.redis.host,
        port=platform_services.redis.port,
        username=outcome.status["redisUser"],
        password=new[manifests.REDIS_PASSWORD_KEY],
    )
    try:
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_rotation_restarts_the_bot_onto_the_new_passwords(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    before = (await deployment(api, namespace))["spec"]["template"]["metadata"]["annotations"]
    await request_rotation(api, namespace, "r1")
    await run_pass(body)
    after = (await deployment(api, namespace))["spec"]["template"]["metadata"]["annotations"]
    assert after[manifests.CONFIG_HASH_ANNOTATION] != before[manifests.CONFIG_HASH_ANNOTATION]


async def test_the_pass_remembers_the_secret_it_wrote_to_tell_hand_edits_apart(
    tenant: Any, run_pass: Pass, platform: Platform, api: KubeClient, namespace: str
) -> None:
    """The Secret watch (handlers.py) compares an event's Secret with the one last written."""
    body = await tenant()
    await run_pass(body)
    memory = platform.known(body["metadata"]["uid"])
    live = await api.get("v1/secrets", namespace, "salon-credentials")
    assert memory is not None and memory.secret is not None and live is not None
    assert memory.secret["data"] == live["data"]
    assert memory.secret["metadata"]["name"] == "salon-credentials"


async def test_turning_redis_acls_off_moves_a_tenant_to_its_prefix_only(
    tenant: Any, run_pass: Pass, platform_factory: Any, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    assert manifests.REDIS_PASSWORD_KEY in await credentials(api, namespace)
    prefix_only = await platform_factory(redis_acl="off")
    await run_pass(body, on=prefix_only)
    data = await credentials(api, namespace)
    assert data["REDIS_URL"] == manifests.redis_url(prefix_only.settings, data["CLIENT_ID"], None)


async def test_turning_redis_acls_off_removes_the_redis_password_from_the_secret(
    tenant: Any, run_pass: Pass, platform_factory: Any, api: KubeClient, namespace: str
) -> None:
    """A merge patch of the wanted keys removed none, so the password of the tenant's ACL user
    (which may still exist in Redis) stayed in the Secret, readable by whatever reads it."""
    body = await tenant()
    await run_pass(body)
    prefix_only = await platform_factory(redis_acl="off")
    outcome = await run_pass(body, on=prefix_only)
    assert manifests.REDIS_PASSWORD_KEY not in await credentials(api, namespace)
    assert [e for e in outcome.events if e[1] == "SecretKeysRemoved"]
    again = await run_pass(body, on=prefix_only)
    assert [e for e in again.events if e[1] == "SecretKeysRemoved"] == []


async def test_a_settled_tenants_pass_does_not_set_its_password_again(
    tenant: Any, run_pass: Pass, platform_services: Services, client_id: str
) -> None:
    """The Secret's applied tag says PostgreSQL has its password: no ALTER ROLE on a resync."""
    body = await tenant()
    await run_pass(body)
    admin = await asyncpg.connect(platform_services.admin_dsn)
    try:
        before = await admin.fetchval("SELECT xmin::text FROM pg_authid WHERE rolname = $1", client_id)
        await run_pass(body)
        after = await admin.fetchval("SELECT xmin::text FROM pg_authid WHERE rolname = $1", client_id)
    finally:
        await admin.close()
    assert after == before
