"""The bot token step: what Telegram says of the token the owner's Secret holds; it never stops
the pass (reconcile.check_bot_token)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import port_for
import pytest

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.telegram import FakeTelegram
from operator_tests.reconcile.observe import (
    LOG,
    TOKEN,
    Pass,
    PlatformFactory,
    condition,
    deployment,
)


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
    assert (rejected["status"], rejected["reason"]) == ("False", "Rejected")
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
    assert (condition(outcome, "BotToken")["status"], condition(outcome, "BotToken")["reason"]) == (
        "False",
        "SecretNotFound",
    )
    assert condition(outcome, "BotToken")["message"] == outcome.status["message"]


async def test_a_missing_token_secret_fails_the_tenant(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.delete("v1/secrets", namespace, "bot-token")
    outcome = await run_pass(body)
    assert outcome.status["phase"] == "Failed"
    assert (condition(outcome, "BotToken")["status"], condition(outcome, "BotToken")["reason"]) == (
        "False",
        "SecretNotFound",
    )
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
    assert condition(outcome, "BotToken")["message"] == "TELEGRAM_CHECK_TOKENS is off"
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


async def test_telegram_unreachable_is_logged_with_the_cause(
    tenant: Any, run_pass: Pass, platform_factory: PlatformFactory, caplog: pytest.LogCaptureFixture
) -> None:
    offline = await platform_factory(telegram_api_url=f"http://127.0.0.1:{port_for.select_random()}")
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        outcome = await run_pass(await tenant(), on=offline)
    cause = condition(outcome, "BotToken")["message"]
    assert cause
    assert [r.getMessage() for r in caplog.records if r.name == LOG.name] == [
        f"could not check the bot token: {cause}"
    ]


async def test_a_token_secret_ref_without_a_key_reads_the_key_token(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"botTokenSecretRef": {"key": None}}})
    assert "key" not in (await api.get(BOOKINGTENANTS, namespace, "salon"))["spec"]["botTokenSecretRef"]
    outcome = await run_pass(body)
    assert condition(outcome, "BotToken")["reason"] == "Valid"


async def test_a_token_secret_ref_without_a_key_names_the_key_token_when_it_is_empty(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"botTokenSecretRef": {"key": None}}})
    assert "key" not in (await api.get(BOOKINGTENANTS, namespace, "salon"))["spec"]["botTokenSecretRef"]
    await api.patch("v1/secrets", namespace, "bot-token", {"data": {"token": None, "other": "eA=="}})
    outcome = await run_pass(body)
    assert outcome.status["message"] == "bot token Secret 'bot-token' (key 'token') not found or empty"


async def test_an_empty_token_secret_names_the_key_the_spec_gives(
    tenant: Any, run_pass: Pass, api: KubeClient, namespace: str
) -> None:
    body = await tenant()
    await api.patch(BOOKINGTENANTS, namespace, "salon", {"spec": {"botTokenSecretRef": {"key": "other"}}})
    outcome = await run_pass(body)
    assert outcome.status["message"] == "bot token Secret 'bot-token' (key 'other') not found or empty"
