"""Live bots for the e2e tests: tokens the fake Telegram accepts, and a user talking to them."""

from __future__ import annotations

import secrets
from typing import Any

from e2e.cluster import Kubectl, TenantNames, Tenants
from e2e.telegram import ReachableTelegram
from harness.telegram import FakeTelegram

USER_ID = 700_000_001


def live_token(telegram: ReachableTelegram) -> str:
    """A bot token the fake Telegram accepts (getMe answers, getUpdates serves updates)."""
    token = FakeTelegram.make_token(secrets.randbelow(10**9) + 10**9, secret=f"E2E-{secrets.token_hex(8)}")
    telegram.call(telegram.fake.add_bot, token)
    return token


def bot_pods(kubectl: Kubectl, tenants: Tenants, names: TenantNames) -> list[dict[str, Any]]:
    deployment = kubectl.get("deployment", f"{names.name}-bot", tenants.namespace)
    assert deployment is not None, f"Deployment {names.name}-bot is missing"
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    pods: list[dict[str, Any]] = kubectl.json("-n", tenants.namespace, "get", "pods", "-l", selector)["items"]
    return pods


def answers_start(telegram: ReachableTelegram, token: str, timeout: float) -> str:
    """Send /start as a user; the text of the bot's answer (raises TimeoutError without one)."""
    telegram.call(telegram.fake.drain, token, USER_ID)
    telegram.call(telegram.fake.push_message, token, USER_ID, "/start")
    return telegram.next_message(token, USER_ID, timeout=timeout).text
