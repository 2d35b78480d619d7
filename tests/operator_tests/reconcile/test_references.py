"""The references step: the image and the token Secret a spec names are checked before anything
is provisioned, mounted or sent to Telegram (reconcile.check_references, references.py)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from booking_contract import crd
from booking_operator import manifests
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import Platform as Services
from harness.operator_process import create_token_secret
from operator_tests.reconcile.observe import (
    TOKEN,
    Pass,
    condition,
    credentials,
)


async def test_an_image_not_allowed_fails_the_tenant_and_provisions_nothing(
    tenant: Any, run_pass: Pass, platform_services: Services, client_id: str
) -> None:
    outcome = await run_pass(await tenant(bot={"image": "evil.example/miner:1"}))
    assert outcome.status["phase"] == "Failed"
    refused = condition(outcome, "References")
    assert refused["reason"] == "ImageNotAllowed"
    assert refused["message"] == outcome.status["message"]
    assert "'evil.example/miner:1'" in refused["message"]
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


async def owned_by(api: KubeClient, namespace: str, tenant_name: str, uid: str) -> None:
    """The token Secret `bot-token` made a child of BookingTenant `tenant_name`."""
    api_version = f"{crd.GROUP}/{crd.VERSION}"
    owner = {"apiVersion": api_version, "kind": "BookingTenant", "name": tenant_name, "uid": uid}
    await api.patch("v1/secrets", namespace, "bot-token", {"metadata": {"ownerReferences": [owner]}})


async def test_a_token_secret_owned_by_the_tenant_itself_is_accepted(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await owned_by(api, namespace, "salon", body["metadata"]["uid"])
    outcome = await run_pass(body)
    assert condition(outcome, "References")["status"] == "True"


async def test_a_token_secret_owned_by_another_tenant_is_refused(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await owned_by(api, namespace, "rival", "other-uid")
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


def webhook_token_labels(client_id: str, tenant_namespace: str, tenant_name: str = "salon") -> dict[str, str]:
    """The labels the webhook gives a token it keeps in the platform's token namespace."""
    return {
        crd.BOT_TOKEN_LABEL: crd.BOT_TOKEN_LABEL_VALUE,
        crd.MANAGED_BY_LABEL: crd.MANAGED_BY_WEBHOOK,
        crd.TOKEN_TENANT_LABEL: tenant_name,
        crd.TOKEN_TENANT_NAMESPACE_LABEL: tenant_namespace,
        crd.CLIENT_ID_LABEL: client_id,
    }


async def keep_token_in(api: KubeClient, namespace: str, where: str, labels: dict[str, str]) -> None:
    """The tenant's token in Secret `salon-token` of namespace `where`, and its spec pointing there."""
    await create_token_secret(api, where, name="salon-token", token=TOKEN, labels=labels)
    ref = {"name": "salon-token", "key": "token", "namespace": where}
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"botTokenSecretRef": ref}})


async def kept_by_the_webhook(
    tenant: Any, api: KubeClient, namespace: str, client_id: str, platform_factory: Any
) -> tuple[dict[str, Any], Any]:
    """A tenant whose token the webhook keeps in a token namespace, and the operator's platform
    configured with that namespace."""
    tokens = f"tokens-{uuid.uuid4().hex[:6]}"
    on = await platform_factory(token_namespace=tokens)
    body = await tenant()
    await keep_token_in(api, namespace, tokens, webhook_token_labels(client_id, namespace))
    return body, on


async def test_a_token_the_webhook_keeps_for_the_tenant_reaches_the_bot_through_its_secret(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str, platform_factory: Any
) -> None:
    body, on = await kept_by_the_webhook(tenant, api, namespace, client_id, platform_factory)
    outcome = await run_pass(body, on=on)
    assert condition(outcome, "References")["status"] == "True"
    assert condition(outcome, "BotToken")["reason"] == "Valid"
    assert (await credentials(api, namespace))[manifests.BOT_TOKEN_KEY] == TOKEN


async def test_a_token_moved_back_to_the_tenants_namespace_leaves_no_copy_in_its_secret(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str, platform_factory: Any
) -> None:
    body, on = await kept_by_the_webhook(tenant, api, namespace, client_id, platform_factory)
    own_ref = {"namespace": None, **body["spec"]["botTokenSecretRef"]}  # a merge patch keeps keys not given
    await run_pass(body, on=on)
    assert manifests.BOT_TOKEN_KEY in await credentials(api, namespace)
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"botTokenSecretRef": own_ref}})
    outcome = await run_pass(body, on=on)
    assert condition(outcome, "BotToken")["reason"] == "Valid"
    assert manifests.BOT_TOKEN_KEY not in await credentials(api, namespace)


async def test_a_token_of_the_tenants_own_namespace_is_not_copied_into_its_secret(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    await run_pass(await tenant())
    assert manifests.BOT_TOKEN_KEY not in await credentials(api, namespace)


async def test_a_token_in_a_namespace_other_than_the_token_namespace_is_refused(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, client_id: str, platform_factory: Any
) -> None:
    on = await platform_factory(token_namespace="booking-tokens")
    body = await tenant()
    elsewhere = f"other-{uuid.uuid4().hex[:6]}"
    await keep_token_in(api, namespace, elsewhere, webhook_token_labels(client_id, namespace))
    outcome = await run_pass(body, on=on)
    refused = condition(outcome, "References")
    assert refused["reason"] == "ForbiddenSecret"
    assert outcome.status["message"] == (
        f"spec.botTokenSecretRef.namespace {elsewhere!r} is not the platform's token namespace "
        "(TOKEN_NAMESPACE='booking-tokens')"
    )
    assert outcome.status["phase"] == "Failed"


async def test_a_token_the_webhook_keeps_for_another_tenant_is_refused(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str, platform_factory: Any
) -> None:
    tokens = f"tokens-{uuid.uuid4().hex[:6]}"
    on = await platform_factory(token_namespace=tokens)
    body = await tenant()
    await keep_token_in(api, namespace, tokens, webhook_token_labels("t_someone", namespace))
    outcome = await run_pass(body, on=on)
    assert condition(outcome, "References")["reason"] == "ForbiddenSecret"
    assert outcome.status["message"] == (
        "Secret 'salon-token' of the token namespace was not written for this tenant"
    )
