"""The operator asks Telegram (getMe) about each tenant's token: the owner sees @username or why not."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

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
from harness.telegram import FakeTelegram

TOKEN = "424242:VALID-test-token"


@pytest.fixture()
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        tg.add_bot(TOKEN, username="salon_booking_bot")
        yield tg


@pytest.fixture()
async def operator_with_telegram(
    platform_services: Platform, own_cluster: EmulatedCluster, tmp_path: Path, telegram: FakeTelegram
) -> AsyncIterator[KubeClient]:
    env = operator_env(
        platform_services, own_cluster, tmp_path, TELEGRAM_CHECK_TOKENS="true", TELEGRAM_API_URL=telegram.url
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
