"""One reconcile pass (reconcile.py), called in this process on the operator's real clients.

What kopf would call on every trigger, with the Platform the operator builds at startup: the
Kubernetes emulator (harness.kube, its own cluster: no operator watches it), the operator's
least-privilege PostgreSQL role, the admin Redis and the fake Bot API over HTTP. The tests look
at the outcome (status, conditions, events, when to retry) and at what a tenant can do with the
Secret the pass wrote. In-process so that mutation testing (`make mutation`) can switch a change
of reconcile.py on and see which test notices it; the operator process tests cover the same
passes end to end through kopf.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import port_for
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from booking_contract.kube import SECRETS, KubeConflict
from booking_contract.kube import KubeClient as OperatorKube
from booking_contract.kube.kubeconfig import ApiClientTransport
from booking_contract.telegram import TelegramClient
from booking_operator import manifests, passwords, reconcile, redis_acl
from booking_operator.config import OperatorSettings
from booking_operator.database import ensure_group
from booking_operator.platform import Platform
from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    BOT_IMAGE,
    OPERATOR_PASSWORD,
    OPERATOR_ROLE,
    PLATFORM_DB,
    TENANT_GROUP,
    create_token_secret,
    tenant_body,
)
from harness.operator_process import Platform as Services
from harness.telegram import FakeTelegram

TOKEN = "424242:VALID-test-token"
LOG = logging.getLogger("test-reconcile")

Pass = Callable[..., Awaitable[reconcile.ReconcileOutcome]]


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster() as emulated:
        yield emulated


@pytest.fixture()
async def api(cluster: EmulatedCluster) -> AsyncIterator[KubeClient]:
    async with KubeClient(cluster.url) as client:
        yield client


@pytest.fixture()
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        tg.add_bot(TOKEN, username="salon_booking_bot")
        yield tg


def settings_for(services: Services, telegram_url: str, **overrides: Any) -> OperatorSettings:
    values: dict[str, Any] = {
        "operator_database_url": SecretStr(services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD)),
        "operator_redis_url": SecretStr(services.redis.admin_url),
        "bot_image": BOT_IMAGE,
        "telegram_api_url": telegram_url,
        "telegram_check_tokens": True,
        "tenant_redis_max_bytes": 64 * 1024,
        "allow_createrole_before_pg16": True,
    }
    values.update(overrides)
    return OperatorSettings(**values)


@pytest.fixture()
async def platform_factory(
    platform_services: Services, cluster: EmulatedCluster, telegram: FakeTelegram, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Platform]]]:
    """The operator's Platform as handlers.start builds it; overrides change its settings."""
    made: list[Platform] = []

    async def make(**overrides: Any) -> Platform:
        cfg = settings_for(platform_services, telegram.url, **overrides)
        pg = await asyncpg.create_pool(cfg.operator_database_url.get_secret_value(), min_size=0, max_size=2)
        kubeconfig = cluster.write_kubeconfig(tmp_path / f"kubeconfig-{len(made)}")
        platform = Platform(
            settings=cfg,
            kube=await OperatorKube.connect(str(kubeconfig)),
            pg=pg,
            redis=aioredis.from_url(cfg.operator_redis_url.get_secret_value()),
            telegram=TelegramClient(cfg.telegram_api_url, cache_ttl=0),
        )
        made.append(platform)
        return platform

    yield make
    for platform in made:
        await platform.pg.close()
        await platform.redis.aclose()
        await platform.kube.close()


@pytest.fixture()
async def platform(
    platform_factory: Callable[..., Awaitable[Platform]], platform_services: Services
) -> Platform:
    made = await platform_factory()
    async with made.pg.acquire() as conn:
        await ensure_group(conn, TENANT_GROUP, PLATFORM_DB)
    return made


@pytest.fixture()
def namespace() -> str:
    return f"ns-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
async def client_id(platform_services: Services) -> AsyncIterator[str]:
    """A fresh clientId; its role, schema and Redis user are removed afterwards."""
    cid = f"t_{uuid.uuid4().hex[:10]}"
    yield cid
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{cid}" CASCADE')
        if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", cid):
            await conn.execute(f'DROP OWNED BY "{cid}" CASCADE')
            await conn.execute(f'DROP ROLE "{cid}"')
    finally:
        await conn.close()
    admin = aioredis.from_url(platform_services.redis.admin_url)
    try:
        for user in await admin.acl_users():
            name = user.decode() if isinstance(user, bytes) else str(user)
            if cid in name:
                await admin.acl_deluser(name)
    finally:
        await admin.aclose()


@pytest.fixture()
async def tenant(api: KubeClient, namespace: str, client_id: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create the tenant's token Secret (once) and the BookingTenant; returns it as stored."""

    async def create(name: str = "salon", *, token: str = TOKEN, **spec: Any) -> dict[str, Any]:
        if await api.get("v1/secrets", namespace, "bot-token") is None:
            await create_token_secret(api, namespace, token=token)
        spec.setdefault("paidUntil", "2099-01-01T00:00:00Z")
        created: dict[str, Any] = await api.create(
            BOOKINGTENANTS, namespace, tenant_body(name, client_id, **spec)
        )
        return created

    return create


@pytest.fixture()
def run_pass(platform: Platform, api: KubeClient) -> Pass:
    """One pass over the tenant as stored now; the status it computes is written back, as kopf does."""

    async def run(body: dict[str, Any], on: Platform | None = None) -> reconcile.ReconcileOutcome:
        meta = body["metadata"]
        current = await api.get(BOOKINGTENANTS, meta["namespace"], meta["name"])
        assert current is not None
        outcome = await reconcile.reconcile(on or platform, current, LOG)
        await api.patch(
            BOOKINGTENANTS, meta["namespace"], meta["name"], {"status": outcome.status}, sub="status"
        )
        return outcome

    return run


def condition(outcome: reconcile.ReconcileOutcome, type_: str) -> dict[str, Any]:
    for cond in outcome.status["conditions"]:
        if cond["type"] == type_:
            found: dict[str, Any] = cond
            return found
    raise AssertionError(f"no {type_} condition in {outcome.status['conditions']}")


async def credentials(api: KubeClient, namespace: str, name: str = "salon") -> dict[str, str]:
    secret = await api.get("v1/secrets", namespace, f"{name}-credentials")
    assert secret is not None, "no tenant Secret"
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


async def deployment(api: KubeClient, namespace: str, name: str = "salon") -> dict[str, Any]:
    found = await api.get("apps/v1/deployments", namespace, f"{name}-bot")
    assert found is not None, "no bot Deployment"
    result: dict[str, Any] = found
    return result


async def mark_available(api: KubeClient, namespace: str, name: str = "salon") -> None:
    await api.patch(
        "apps/v1/deployments",
        namespace,
        f"{name}-bot",
        {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}},
    )


# ---- a new tenant ------------------------------------------------------------------------------------


async def test_a_new_tenant_waits_for_its_bot_pod(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant())
    assert outcome.status["phase"] == "Provisioning"
    assert outcome.status["message"] == "waiting for the bot pod to become available"
    assert condition(outcome, "Deployment")["reason"] == "Starting"
    assert condition(outcome, "Ready")["status"] == "False"


async def test_the_first_pass_reports_each_child(tenant: Any, run_pass: Pass, client_id: str) -> None:
    outcome = await run_pass(await tenant())
    assert {t: condition(outcome, t)["status"] for t in ("References", "Database", "Redis", "Secret")} == {
        "References": "True",
        "Database": "True",
        "Redis": "True",
        "Secret": "True",
    }
    assert condition(outcome, "Database")["message"] == f"schema and role {client_id!r}"
    assert condition(outcome, "Secret")["message"] == "salon-credentials"


async def test_the_status_names_the_tenants_children(tenant: Any, run_pass: Pass, client_id: str) -> None:
    outcome = await run_pass(await tenant(paidUntil="2099-02-03T04:05:06Z"))
    status = outcome.status
    assert status["secretName"] == "salon-credentials"
    assert status["deploymentName"] == "salon-bot"
    assert status["schema"] == status["databaseRole"] == client_id
    assert status["paidUntil"] == "2099-02-03T04:05:06Z"
    assert status["observedGeneration"] == 1
    assert status["runtime"] == "Dedicated"


async def test_the_secrets_database_password_logs_in_as_the_tenant(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    await run_pass(await tenant())
    data = await credentials(api, namespace)
    conn = await asyncpg.connect(platform_services.dsn(client_id, data[manifests.DB_PASSWORD_KEY]))
    try:
        assert await conn.fetchval("SELECT current_schema()") == client_id
    finally:
        await conn.close()


async def test_the_secrets_redis_password_logs_in_to_the_tenants_prefix_only(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    outcome = await run_pass(await tenant())
    data = await credentials(api, namespace)
    user = outcome.status["redisUser"]
    client = aioredis.Redis(
        host=platform_services.redis.host,
        port=platform_services.redis.port,
        username=user,
        password=data[manifests.REDIS_PASSWORD_KEY],
    )
    try:
        await client.execute_command("SETEX", f"{redis_acl.key_prefix(client_id)}k", 60, "v")  # type: ignore[no-untyped-call]
        with pytest.raises(aioredis.ResponseError, match="no permissions to access one of the keys"):
            await client.execute_command("SETEX", "someone_else:k", 60, "v")  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()
    assert condition(outcome, "Redis")["reason"] == "AclUser"


async def test_the_secret_is_tagged_with_the_passwords_it_applied(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await run_pass(await tenant())
    data = await credentials(api, namespace)
    secret = await api.get("v1/secrets", namespace, "salon-credentials")
    assert secret is not None
    tag = secret["metadata"]["annotations"][manifests.APPLIED_ANNOTATION]
    assert tag == passwords.fingerprint(data[manifests.DB_PASSWORD_KEY], data[manifests.REDIS_PASSWORD_KEY])


async def test_the_children_are_owned_by_the_tenant(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    for child in (
        await api.get("v1/secrets", namespace, "salon-credentials"),
        await deployment(api, namespace),
    ):
        assert child is not None
        owners = child["metadata"]["ownerReferences"]
        assert [(o["kind"], o["uid"]) for o in owners] == [("BookingTenant", body["metadata"]["uid"])]


async def test_a_paid_tenant_runs_one_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await run_pass(await tenant())
    assert (await deployment(api, namespace))["spec"]["replicas"] == 1


async def test_a_tenant_whose_bot_is_available_is_ready(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await mark_available(api, namespace)
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Ready"
    assert outcome.status["message"] == "the bot is running"
    assert condition(outcome, "Deployment")["status"] == "True"
    assert condition(outcome, "Deployment")["message"] == "the bot is running"
    assert condition(outcome, "Ready")["status"] == "True"
    assert outcome.retry_after is None


async def test_the_ready_condition_says_what_the_phase_says(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant(suspended=True))
    ready = condition(outcome, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "Suspended",
        "suspended by spec.suspended; data kept",
    )


async def test_a_failed_tenant_is_a_warning_event(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant(bot={"image": "evil.example/miner:1"}))
    assert [(kind, reason) for kind, reason, _ in outcome.events] == [("Warning", "Failed")]


async def test_a_condition_that_does_not_change_keeps_its_transition_time(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    first = await run_pass(body)
    await api.patch(
        BOOKINGTENANTS,
        namespace,
        "salon",
        {
            "status": {
                "conditions": [
                    dict(c, lastTransitionTime="2001-01-01T00:00:00Z") for c in first.status["conditions"]
                ]
            }
        },
        sub="status",
    )
    again = await run_pass(body)
    assert condition(again, "Database")["lastTransitionTime"] == "2001-01-01T00:00:00Z"


async def test_a_phase_change_is_an_event_and_a_repeat_is_not(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    first = await run_pass(body)
    assert ("Normal", "Provisioning", "waiting for the bot pod to become available") in first.events
    again = await run_pass(body)
    assert again.events == []


async def test_a_settled_tenant_writes_nothing(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await mark_available(api, namespace)
    await run_pass(body)
    before = [
        (await api.get("v1/secrets", namespace, "salon-credentials"))["metadata"]["resourceVersion"],
        (await deployment(api, namespace))["metadata"]["resourceVersion"],
    ]
    outcome = await run_pass(body)
    after = [
        (await api.get("v1/secrets", namespace, "salon-credentials"))["metadata"]["resourceVersion"],
        (await deployment(api, namespace))["metadata"]["resourceVersion"],
    ]
    assert after == before
    assert outcome.events == []


async def test_a_second_pass_keeps_the_passwords(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    first = await credentials(api, namespace)
    await run_pass(body)
    assert await credentials(api, namespace) == first


# ---- what the owner or an admin did ----------------------------------------------------------------


async def test_a_suspended_tenant_keeps_its_data_and_runs_no_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    outcome = await run_pass(await tenant(suspended=True))
    assert outcome.status["phase"] == "Suspended"
    assert outcome.status["message"] == "suspended by spec.suspended; data kept"
    assert condition(outcome, "Deployment")["reason"] == "Suspended"
    assert condition(outcome, "Deployment")["message"] == "scaled to zero: spec.suspended is true"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0


async def test_an_unpaid_tenant_is_expired_and_runs_no_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    outcome = await run_pass(await tenant(paidUntil="2020-01-01T00:00:00Z"))
    assert outcome.status["phase"] == "Expired"
    assert outcome.status["message"] == "paid period ended at 2020-01-01T00:00:00Z; data kept"
    assert condition(outcome, "Deployment")["reason"] == "Expired"
    assert condition(outcome, "Deployment")["message"] == "scaled to zero: paid until 2020-01-01T00:00:00Z"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0


async def test_a_rotation_request_issues_new_passwords_that_work(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_services: Services, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    old = await credentials(api, namespace)
    await api.patch(
        BOOKINGTENANTS, namespace, "salon", {"metadata": {"annotations": {reconcile.ROTATE_ANNOTATION: "r1"}}}
    )
    outcome = await run_pass(body)
    new = await credentials(api, namespace)
    assert new[manifests.DB_PASSWORD_KEY] != old[manifests.DB_PASSWORD_KEY]
    assert new[manifests.REDIS_PASSWORD_KEY] != old[manifests.REDIS_PASSWORD_KEY]
    conn = await asyncpg.connect(platform_services.dsn(client_id, new[manifests.DB_PASSWORD_KEY]))
    await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(platform_services.dsn(client_id, old[manifests.DB_PASSWORD_KEY]))
    assert ("Normal", "CredentialsRotated", "new Postgres and Redis passwords issued") in outcome.events
    assert outcome.status["credentialsRotation"] == "r1"


async def test_a_rotation_already_done_is_not_repeated(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await api.patch(
        BOOKINGTENANTS, namespace, "salon", {"metadata": {"annotations": {reconcile.ROTATE_ANNOTATION: "r1"}}}
    )
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


async def test_a_scaled_down_bot_is_scaled_up_again(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await api.patch("apps/v1/deployments", namespace, "salon-bot", {"spec": {"replicas": 0}})
    await run_pass(body)
    assert (await deployment(api, namespace))["spec"]["replicas"] == 1


async def test_a_new_token_restarts_the_bot(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await run_pass(body)
    template = (await deployment(api, namespace))["spec"]["template"]["metadata"]["annotations"]
    new_token = base64.b64encode(b"424242:ANOTHER-token").decode()
    await api.patch("v1/secrets", namespace, "bot-token", {"data": {"token": new_token}})
    await run_pass(body)
    after = (await deployment(api, namespace))["spec"]["template"]["metadata"]["annotations"]
    assert after[manifests.CONFIG_HASH_ANNOTATION] != template[manifests.CONFIG_HASH_ANNOTATION]


# ---- the bot token ---------------------------------------------------------------------------------


async def test_a_token_telegram_knows_shows_the_bots_username(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant())
    assert outcome.status["botUsername"] == "salon_booking_bot"
    assert (condition(outcome, "BotToken")["status"], condition(outcome, "BotToken")["message"]) == (
        "True",
        "@salon_booking_bot",
    )


async def test_a_token_telegram_rejects_fails_the_tenant(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    outcome = await run_pass(await tenant(token="999:UNKNOWN-token"))
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["message"].endswith("update Secret 'bot-token'")
    rejected = condition(outcome, "BotToken")
    assert rejected["reason"] == "Rejected"
    assert (
        rejected["message"]
        and outcome.status["message"] == f"{rejected['message']}: update Secret 'bot-token'"
    )
    assert "botUsername" not in outcome.status
    assert (await deployment(api, namespace))["spec"]["replicas"] == 1  # written; the owner must act


async def test_an_empty_token_secret_fails_the_tenant_naming_the_key(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.patch(
        "v1/secrets", namespace, "bot-token", {"data": {"token": base64.b64encode(b"  ").decode()}}
    )
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["message"] == "bot token Secret 'bot-token' (key 'token') not found or empty"
    assert condition(outcome, "BotToken")["reason"] == "SecretNotFound"
    assert condition(outcome, "BotToken")["message"] == outcome.status["message"]


async def test_a_missing_token_secret_fails_the_tenant(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.delete("v1/secrets", namespace, "bot-token")
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Failed"
    assert condition(outcome, "BotToken")["reason"] == "SecretNotFound"
    assert outcome.retry_after is None


async def test_telegram_unreachable_leaves_the_token_unknown_not_failed(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    offline = await platform_factory(telegram_api_url=f"http://127.0.0.1:{port_for.select_random()}")
    outcome = await run_pass(await tenant(), on=offline)
    assert condition(outcome, "BotToken")["status"] == "Unknown"
    assert condition(outcome, "BotToken")["reason"] == "TelegramUnavailable"
    assert outcome.status["phase"] == "Provisioning"


async def test_with_token_checks_off_the_token_is_not_checked(
    tenant: Any, run_pass: Pass, platform_factory: Any, telegram: FakeTelegram
) -> None:
    unchecked = await platform_factory(telegram_check_tokens=False)
    outcome = await run_pass(await tenant(token="999:UNKNOWN-token"), on=unchecked)
    assert condition(outcome, "BotToken")["reason"] == "NotChecked"
    assert condition(outcome, "BotToken")["status"] == "Unknown"
    assert outcome.status["phase"] == "Provisioning"
    assert telegram.calls_of("getMe") == []


async def test_a_token_key_named_in_the_spec_is_the_one_read(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.patch(
        "v1/secrets",
        namespace,
        "bot-token",
        {
            "data": {
                "other": base64.b64encode(TOKEN.encode()).decode(),
                "token": base64.b64encode(b"999:WRONG").decode(),
            }
        },
    )
    await api.patch(
        BOOKINGTENANTS,
        namespace,
        "salon",
        {"spec": {"botTokenSecretRef": {"name": "bot-token", "key": "other"}}},
    )
    outcome = await run_pass(body)
    assert condition(outcome, "BotToken")["status"] == "True"


# ---- what the operator refuses ---------------------------------------------------------------------


async def test_an_invalid_client_id_fails_the_tenant_before_anything_is_made(
    api: KubeClient, namespace: str, run_pass: Pass
) -> None:
    await create_token_secret(api, namespace)
    body = await api.create(BOOKINGTENANTS, namespace, tenant_body("bad", "Not-Valid!"))
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["message"].startswith("invalid spec: ")
    assert await api.get("v1/secrets", namespace, "bad-credentials") is None


async def test_a_spec_without_a_token_secret_ref_fails_the_tenant(
    api: KubeClient, namespace: str, run_pass: Pass, client_id: str
) -> None:
    manifest = tenant_body("noref", client_id)
    del manifest["spec"]["botTokenSecretRef"]
    body = await api.create(BOOKINGTENANTS, namespace, manifest)
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Failed"
    assert outcome.status["message"] == "invalid spec: 'botTokenSecretRef'"


async def test_an_image_not_allowed_fails_the_tenant_and_provisions_nothing(
    tenant: Any, run_pass: Pass, platform_services: Services, client_id: str
) -> None:
    outcome = await run_pass(await tenant(bot={"image": "evil.example/miner:1"}))
    assert outcome.status["phase"] == "Failed"
    assert condition(outcome, "References")["reason"] == "ImageNotAllowed"
    assert outcome.retry_after is None
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        assert await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", client_id) is None
    finally:
        await conn.close()


async def test_an_allowlisted_image_is_accepted(tenant: Any, run_pass: Pass, platform_factory: Any) -> None:
    allowing = await platform_factory(bot_image_allowlist="registry.example/booking-bot:*")
    outcome = await run_pass(await tenant(bot={"image": "registry.example/booking-bot:v2"}), on=allowing)
    assert condition(outcome, "References")["status"] == "True"


async def test_a_credentials_secret_named_as_the_token_is_refused(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.patch(
        BOOKINGTENANTS,
        namespace,
        "salon",
        {"spec": {"botTokenSecretRef": {"name": "x-credentials", "key": "t"}}},
    )
    outcome = await run_pass(body)
    assert condition(outcome, "References")["reason"] == "ForbiddenSecret"
    assert outcome.status["phase"] == "Failed"


async def test_a_token_secret_owned_by_the_tenant_itself_is_accepted(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    owner = {
        "apiVersion": "bookingsaas.dev/v1alpha1",
        "kind": "BookingTenant",
        "name": "salon",
        "uid": body["metadata"]["uid"],
    }
    await api.patch("v1/secrets", namespace, "bot-token", {"metadata": {"ownerReferences": [owner]}})
    outcome = await run_pass(body)
    assert condition(outcome, "References")["status"] == "True"


async def test_a_token_secret_owned_by_another_tenant_is_refused(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    owner = {
        "apiVersion": "bookingsaas.dev/v1alpha1",
        "kind": "BookingTenant",
        "name": "rival",
        "uid": "other-uid",
    }
    await api.patch("v1/secrets", namespace, "bot-token", {"metadata": {"ownerReferences": [owner]}})
    outcome = await run_pass(body)
    assert condition(outcome, "References")["reason"] == "ForbiddenSecret"
    assert outcome.status["message"] == "Secret 'bot-token' is the bot token of BookingTenant 'rival'"


async def test_an_unlabelled_token_secret_is_refused(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await create_token_secret(api, namespace, name="plain", labels={})
    body = await tenant()
    await api.patch(
        BOOKINGTENANTS, namespace, "salon", {"spec": {"botTokenSecretRef": {"name": "plain", "key": "token"}}}
    )
    outcome = await run_pass(body)
    assert condition(outcome, "References")["reason"] == "SecretNotLabelled"


async def test_a_client_id_of_another_tenant_fails_without_retry(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str
) -> None:
    await run_pass(await tenant("first"))
    outcome = await run_pass(await tenant("second"))
    assert outcome.status["phase"] == "Failed"
    assert condition(outcome, "Database")["reason"] == "ClientIdConflict"
    assert (
        outcome.status["message"]
        == f"clientId {client_id!r} is already used by BookingTenant {namespace}/first"
    )
    assert condition(outcome, "Database")["message"] == outcome.status["message"]
    assert outcome.retry_after is None
    assert await api.get("v1/secrets", namespace, "second-credentials") is None


async def test_a_secret_of_that_name_not_ours_is_left_alone(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await api.create(
        "v1/secrets", namespace, {"metadata": {"name": "salon-credentials"}, "data": {"mine": "eA=="}}
    )
    outcome = await run_pass(await tenant())
    assert condition(outcome, "Secret")["reason"] == "NameTaken"
    assert outcome.status["phase"] == "Failed"
    secret = await api.get("v1/secrets", namespace, "salon-credentials")
    assert secret is not None and secret["data"] == {"mine": "eA=="}


async def test_a_deployment_of_that_name_not_ours_is_left_alone(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await api.create(
        "apps/v1/deployments",
        namespace,
        {
            "metadata": {"name": "salon-bot", "labels": {"app": "other"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "other"}},
                "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": []}},
            },
        },
    )
    outcome = await run_pass(await tenant())
    assert condition(outcome, "Deployment")["reason"] == "NameTaken"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 3


# ---- trouble outside the tenant --------------------------------------------------------------------


async def test_postgresql_unreachable_is_retried_later_not_failed(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    down = await platform_factory(
        operator_database_url=SecretStr(f"postgresql://x:y@127.0.0.1:{port_for.select_random()}/db")
    )
    outcome = await run_pass(await tenant(), on=down)
    assert outcome.status["phase"] == "Provisioning"
    assert condition(outcome, "Database")["reason"] == "Unavailable"
    assert outcome.status["message"].startswith("PostgreSQL is unreachable: ")
    detail = condition(outcome, "Database")["message"]
    assert detail and outcome.status["message"] == f"PostgreSQL is unreachable: {detail}"
    assert outcome.retry_after == reconcile.RETRY_UNAVAILABLE


async def test_redis_unreachable_is_retried_later_not_failed(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    down = await platform_factory(
        operator_redis_url=SecretStr(f"redis://127.0.0.1:{port_for.select_random()}/0")
    )
    outcome = await run_pass(await tenant(), on=down)
    assert outcome.status["phase"] == "Provisioning"
    assert condition(outcome, "Redis")["reason"] == "Unavailable"
    assert outcome.status["message"].startswith("Redis is unreachable: ")
    assert outcome.retry_after == reconcile.RETRY_UNAVAILABLE


async def test_redis_lost_after_the_acl_check_is_retried_later(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    down = await platform_factory(
        operator_redis_url=SecretStr(f"redis://127.0.0.1:{port_for.select_random()}/0")
    )
    down._acl = True  # as a running operator remembers it from an earlier pass
    outcome = await run_pass(await tenant(), on=down)
    assert condition(outcome, "Redis")["reason"] == "Unavailable"
    assert outcome.status["message"].startswith("Redis is unreachable: ")
    assert outcome.retry_after == reconcile.RETRY_UNAVAILABLE


async def test_a_tenant_exactly_at_its_redis_quota_may_still_write(
    tenant: Any, run_pass: Pass, platform: Platform, platform_factory: Any, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    await platform.redis.set(f"{redis_acl.key_prefix(client_id)}big", "x" * 4096)
    used = await redis_acl.usage(platform.redis, client_id)
    at_quota = await platform_factory(tenant_redis_max_bytes=used.bytes)
    outcome = await run_pass(body, on=at_quota)
    assert condition(outcome, "RedisQuota")["reason"] == "WithinQuota"


async def test_without_redis_acls_isolation_is_by_prefix_only(
    tenant: Any, run_pass: Pass, platform_factory: Any, api: KubeClient, namespace: str
) -> None:
    prefix_only = await platform_factory(redis_acl="off")
    outcome = await run_pass(await tenant(), on=prefix_only)
    assert condition(outcome, "Redis")["reason"] == "PrefixOnly"
    assert "redisUser" not in outcome.status
    assert manifests.REDIS_PASSWORD_KEY not in await credentials(api, namespace)


async def test_postgresql_refusing_provisioning_is_retried_later(
    tenant: Any, run_pass: Pass, platform_factory: Any
) -> None:
    """A group role that does not exist: PostgreSQL refuses the GRANT (not a conflict, not down)."""
    refusing = await platform_factory(tenant_group_role="no_such_group")
    outcome = await run_pass(await tenant(), on=refusing)
    assert condition(outcome, "Database")["reason"] == "ProvisioningFailed"
    assert outcome.status["message"].startswith("PostgreSQL refused provisioning: ")
    assert outcome.status["phase"] == "Provisioning"
    assert outcome.retry_after == reconcile.RETRY_REFUSED


async def test_a_tenant_over_its_redis_quota_is_reported(
    tenant: Any, run_pass: Pass, platform_services: Services, client_id: str
) -> None:
    body = await tenant()
    await run_pass(body)
    admin = aioredis.from_url(platform_services.redis.admin_url)
    try:
        await admin.set(f"{redis_acl.key_prefix(client_id)}big", "x" * (100 * 1024))
    finally:
        await admin.aclose()
    outcome = await run_pass(body)
    quota = condition(outcome, "RedisQuota")
    assert (quota["status"], quota["reason"]) == ("False", "OverQuota")
    assert outcome.status["redisBytes"] > 64 * 1024


async def test_a_tenant_within_its_redis_quota_is_reported(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant())
    quota = condition(outcome, "RedisQuota")
    assert (quota["status"], quota["reason"]) == ("True", "WithinQuota")
    assert outcome.status["redisKeys"] == 0


async def test_the_api_server_unreachable_is_retried_later(
    tenant: Any, run_pass: Pass, platform: Platform
) -> None:
    body = await tenant()
    transport = platform.kube.transport
    assert isinstance(transport, ApiClientTransport)
    transport.api.configuration.host = f"http://127.0.0.1:{port_for.select_random()}"
    current_body = dict(body)
    outcome = await reconcile.reconcile(platform, current_body, LOG)
    assert outcome.retry_after == reconcile.RETRY_KUBERNETES
    assert condition(outcome, "BotToken")["reason"] == "KubernetesError"


# ---- writing a child another pass created meanwhile -----------------------------------------------


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


# ---- the shared runtime ----------------------------------------------------------------------------


async def test_a_shared_tenant_is_placed_on_a_shard_and_its_own_deployment_stays_at_zero(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str
) -> None:
    outcome = await run_pass(await tenant(runtime="Shared"))
    assert outcome.status["shard"] == "booking-shard-0"
    assert outcome.status["runtime"] == "Shared"
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0
    assert condition(outcome, "Deployment")["reason"] == "Shared"
    shard_secret = await api.get("v1/secrets", namespace, "booking-shard-0-tenants")
    assert shard_secret is not None and client_id in shard_secret["data"]


async def test_a_shared_tenant_waits_until_its_shard_serves_it(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant(runtime="Shared"))
    assert outcome.status["phase"] == "Provisioning"
    assert (condition(outcome, "Shard")["status"], condition(outcome, "Shard")["reason"]) == (
        "False",
        "Waiting",
    )
    assert outcome.retry_after == reconcile.RETRY_SHARD


async def test_a_placed_shared_tenant_keeps_its_shard(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant(runtime="Shared")
    await api.patch(
        BOOKINGTENANTS, namespace, "salon", {"status": {"shard": "booking-shard-3"}}, sub="status"
    )
    outcome = await run_pass(body)
    assert outcome.status["shard"] == "booking-shard-3"


async def test_a_dedicated_tenant_has_no_shard(tenant: Any, run_pass: Pass) -> None:
    outcome = await run_pass(await tenant())
    assert outcome.status["shard"] is None


async def test_a_tenant_leaving_its_shard_waits_for_the_shard_to_let_go(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str
) -> None:
    body = await tenant(runtime="Shared")
    await run_pass(body)
    await api.patch(
        "v1/configmaps", namespace, "booking-shard-0-status", {"data": {client_id: '{"state": "Serving"}'}}
    )
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"runtime": "Dedicated"}})
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Provisioning"
    assert condition(outcome, "Shard")["reason"] == "Releasing"
    assert outcome.retry_after == reconcile.RETRY_SHARD
    assert (await deployment(api, namespace))["spec"]["replicas"] == 0
