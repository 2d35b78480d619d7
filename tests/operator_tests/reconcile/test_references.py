"""The references step: the image and the token Secret a spec names are checked before anything
is provisioned, mounted or sent to Telegram (reconcile.check_references, references.py)."""

from __future__ import annotations

from typing import Any

import asyncpg

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.operator_process import Platform as Services
from harness.operator_process import create_token_secret
from operator_tests.reconcile.observe import (
    Pass,
    condition,
)


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
