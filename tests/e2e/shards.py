"""The Shared runtime on a real cluster: shard pods, their reports, and the owner talking to a bot.

A shard is the operator's Deployment ``booking-shard-<n>`` in the tenant namespace (one pod of
the bot image running ``python -m booking_bot.shard``); it reports each tenant into its
ConfigMap ``booking-shard-<n>-status``. The fake Telegram records the address of every call,
which tells a shard pod's answer from a dedicated bot pod's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from e2e.cluster import Kubectl, TenantNames, Tenants, phase, wait_for
from e2e.telegram import ReachableTelegram
from harness.telegram import SentMessage

OWNER = 123456789  # tenant_manifest's ownerTelegramId: the bot's admin
OWNER_USER = {"id": OWNER, "is_bot": False, "first_name": "Owner", "language_code": "en"}


@dataclass(frozen=True)
class Live:
    names: TenantNames
    token: str


def shard_pods(kubectl: Kubectl, namespace: str, shard: str) -> list[dict[str, Any]]:
    selector = f"bookingsaas.dev/shard={shard},app.kubernetes.io/component=shard"
    pods: list[dict[str, Any]] = kubectl.json("-n", namespace, "get", "pods", "-l", selector)["items"]
    return pods


def running_pod(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    running = [
        p
        for p in pods
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    return running[0] if len(running) == 1 else None


def report(kubectl: Kubectl, namespace: str, shard: str, client_id: str) -> dict[str, Any] | None:
    """The shard's report of one tenant (its status ConfigMap), or None."""
    configmap = kubectl.get("configmap", f"{shard}-status", namespace)
    raw = ((configmap or {}).get("data") or {}).get(client_id)
    return json.loads(raw) if raw else None


def wait_runtime(tenants: Tenants, names: TenantNames, runtime: str, timeout: float = 300) -> dict[str, Any]:
    """Ready in the wanted runtime (after a switch the old Ready lingers for a moment)."""

    def reached() -> dict[str, Any] | None:
        obj = tenants.get(names)
        status = (obj or {}).get("status") or {}
        return obj if status.get("runtime") == runtime and phase(obj) == "Ready" else None

    return wait_for(
        f"{names.name} Ready in the {runtime} runtime",
        reached,
        timeout=timeout,
        describe=lambda: tenants.describe(names),
    )


class Owner:
    """The business owner in a chat with a tenant's bot, through the fake Telegram."""

    def __init__(self, telegram: ReachableTelegram, token: str) -> None:
        self.telegram = telegram
        self.token = token

    def say(self, text: str, timeout: float = 30) -> SentMessage:
        fake = self.telegram.fake
        self.telegram.call(fake.drain, self.token, OWNER)
        self.telegram.call(fake.push_message, self.token, OWNER_USER, text)
        return self.telegram.next_message(self.token, OWNER, timeout=timeout)

    def press(self, message: SentMessage, label: str, timeout: float = 30) -> SentMessage:
        fake = self.telegram.fake
        self.telegram.call(fake.drain, self.token, OWNER)
        self.telegram.call(fake.push_callback, self.token, OWNER_USER, message, message.button_data(label))
        return self.telegram.next_message(self.token, OWNER, timeout=timeout)

    def last_answer_from(self) -> str:
        """The address the bot's last sendMessage/editMessageText came from (the pod that answered)."""
        fake = self.telegram.fake

        def peers() -> list[str]:
            return [c.peer for c in fake.calls if c.token == self.token and c.method in ANSWERS]

        return self.telegram.call(peers)[-1]


ANSWERS = {"sendMessage", "editMessageText", "answerCallbackQuery"}


def pollers(telegram: ReachableTelegram, token: str) -> list[tuple[float, str]]:
    """(time, caller) of every getUpdates of a token: who polled when, for a failure message."""

    def calls() -> list[tuple[float, str]]:
        return [
            (round(c.at, 2), c.peer)
            for c in telegram.fake.calls
            if c.token == token and c.method == "getUpdates"
        ]

    return telegram.call(calls)
