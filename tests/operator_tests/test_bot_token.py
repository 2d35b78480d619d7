"""The operator asks Telegram (getMe) about each tenant's token: the owner sees @username or why not."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harness.kube import BOOKINGTENANTS, EmulatedCluster, KubeClient
from harness.operator_process import (
    OperatorProcess,
    Platform,
    create_token_secret,
    eventually,
    mark_bot_available,
    operator_env,
    tenant_body,
    wait_phase,
)
from harness.telegram import FakeTelegram

TOKEN = "424242:VALID-test-token"


@pytest.fixture()
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        tg.add_bot(TOKEN, username="salon_booking_bot")
        yield tg


# Revocation in BotFather tells the operator nothing: only asking Telegram again shows it, at a
# resync once the last answer is older than TOKEN_RECHECK_INTERVAL. These tests shorten both
# (defaults 300 s and 900 s) so that a revocation is seen in seconds; everything else they check
# (a changed Secret) happens at once whatever the intervals.
RECHECK = {"RESYNC_INTERVAL": "2", "TOKEN_RECHECK_INTERVAL": "1"}


@pytest.fixture()
async def operator_with_telegram(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path, telegram: FakeTelegram
) -> AsyncIterator[KubeClient]:
    env = operator_env(
        platform_services,
        own_cluster,
        tmp_path,
        TELEGRAM_CHECK_TOKENS="true",
        TELEGRAM_API_URL=telegram.url,
        **RECHECK,
    )
    op = OperatorProcess(env=env, log_path=tmp_path / "op.log")
    op.start()
    client = KubeClient(own_cluster.url)
    try:
        yield client
    finally:
        await client.close()
        op.stop()
        assert TOKEN not in op.logs()


async def test_a_valid_token_puts_the_bots_username_in_status(
    operator_with_telegram: KubeClient, namespace: str, client_id: str, telegram: FakeTelegram
) -> None:
    kube = operator_with_telegram
    await create_token_secret(kube, namespace, token=TOKEN)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    tenant = await wait_phase(kube, namespace, "salon", "Provisioning")
    assert tenant["status"]["botUsername"] == "salon_booking_bot"
    conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
    assert conditions["BotToken"]["status"] == "True"
    deployment = await kube.get("apps/v1/deployments", namespace, "salon-bot")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TELEGRAM_API_URL"] == telegram.url
    assert telegram.calls_of("getMe", TOKEN)


async def test_a_rejected_token_fails_the_tenant_until_the_secret_is_fixed(
    operator_with_telegram: KubeClient, namespace: str, client_id: str
) -> None:
    kube = operator_with_telegram
    await create_token_secret(kube, namespace, token="999:REVOKED")
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    tenant = await wait_phase(kube, namespace, "salon", "Failed")
    assert "rejected the bot token" in tenant["status"]["message"]
    assert "999:REVOKED" not in str(tenant)
    await kube.patch(
        "v1/secrets", namespace, "bot-token", {"data": {"token": base64.b64encode(TOKEN.encode()).decode()}}
    )

    async def fixed() -> bool:
        current = await kube.get(BOOKINGTENANTS, namespace, "salon")
        return bool(current["status"].get("botUsername") == "salon_booking_bot")

    await eventually(fixed, what="botUsername after fixing the token")


async def test_a_token_revoked_after_ready_fails_the_tenant_and_a_new_one_brings_it_back(
    operator_with_telegram: KubeClient, namespace: str, client_id: str, telegram: FakeTelegram
) -> None:
    kube = operator_with_telegram
    await create_token_secret(kube, namespace, token=TOKEN)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    await wait_phase(kube, namespace, "salon", "Provisioning")
    await mark_bot_available(kube, namespace, "salon")
    await wait_phase(kube, namespace, "salon", "Ready")
    telegram.remove_bot(TOKEN)  # the owner revoked it in BotFather
    failed = await wait_phase(kube, namespace, "salon", "Failed", timeout=15)
    conditions = {c["type"]: c for c in failed["status"]["conditions"]}
    assert conditions["BotToken"]["status"] == "False"
    assert conditions["BotToken"]["reason"] == "Rejected"
    new_token = "434343:NEW-token-from-botfather"
    telegram.add_bot(new_token, username="salon_booking_bot")
    await kube.patch(
        "v1/secrets",
        namespace,
        "bot-token",
        {"data": {"token": base64.b64encode(new_token.encode()).decode()}},
    )
    await wait_phase(kube, namespace, "salon", "Ready", timeout=10)


async def test_telegram_unreachable_leaves_the_token_unknown_not_failed(
    operator_with_telegram: KubeClient, namespace: str, client_id: str, telegram: FakeTelegram
) -> None:
    kube = operator_with_telegram
    await create_token_secret(kube, namespace, token=TOKEN)
    await kube.create(BOOKINGTENANTS, namespace, tenant_body("salon", client_id))
    await wait_phase(kube, namespace, "salon", "Provisioning")
    await mark_bot_available(kube, namespace, "salon")
    await wait_phase(kube, namespace, "salon", "Ready")
    await telegram.close()  # Telegram (or the Bot API server) goes away

    async def unknown() -> dict[str, Any] | None:
        tenant = await kube.get(BOOKINGTENANTS, namespace, "salon")
        conditions = {c["type"]: c for c in tenant["status"]["conditions"]}
        return tenant if conditions["BotToken"]["status"] == "Unknown" else None

    tenant = await eventually(unknown, timeout=15, what="BotToken Unknown")
    assert tenant["status"]["phase"] == "Ready"
