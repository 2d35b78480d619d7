"""The background passes of the webhook process: recovery of unfinished notifications survives
any failing row, gives up after bounded attempts with an alert, and a paid payment that cannot
be applied is an alert an operator sees."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from booking_webhook.metrics import Metrics
from booking_webhook.notifications import Clients
from booking_webhook.recovery import recover_once
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer, make_settings


async def wait_until(condition: Callable[[], Awaitable[object]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.05)


async def _poison_row(webhook: WebhookServer, yookassa: FakeYooKassa) -> str:
    """A recorded notification whose processing raises an error nobody expected (the API
    answers `metadata` as a list): it stays `retry` with a 503."""
    poison = yookassa.add_payment("299.00")
    yookassa.payments[poison]["metadata"] = ["not", "an", "object"]
    status, _ = await webhook.notify(yookassa, "payment.succeeded", poison)
    assert status == 503
    return poison


async def _deferred_genuine_payment(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> tuple[str, str]:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    yookassa.fail = True
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[0] == 503
    yookassa.fail = False  # ... and YooKassa never redelivers
    return checkout.tenant_name, payment_id


def _services(platform: Platform) -> Clients:
    clients = Clients(platform.store, platform.kube, platform.yookassa_client, Metrics())
    clients.test_shop = True  # the fake's payments are a test shop's
    return clients


async def test_a_row_that_raises_does_not_stop_the_recovery_pass(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    await _poison_row(webhook, yookassa)
    name, payment_id = await _deferred_genuine_payment(webhook, platform, yookassa)

    await recover_once(_services(platform), older_than_seconds=0)

    tenant = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [payment_id]


async def test_the_background_recovery_task_finishes_a_deferred_notification_past_a_failing_one(
    yookassa: FakeYooKassa,
    webhook_dsn: str,
    kubeconfig: Path,
    namespace: str,
    platform: Platform,
    kube: KubeClient,
) -> None:
    settings = make_settings(
        yookassa, webhook_dsn, kubeconfig, namespace, recovery_interval=0.2, recovery_min_age=0
    )
    server = await WebhookServer(settings).start()
    try:
        await _poison_row(server, yookassa)
        name, _ = await _deferred_genuine_payment(server, platform, yookassa)

        async def recovered() -> bool:
            _, metrics = await server.get("/metrics")
            recorded = (
                'booking_webhook_notifications_total{event="payment.succeeded",outcome="recovered_created"}'
            )
            return recorded in metrics

        await wait_until(recovered)
    finally:
        await server.stop()
    tenant = await kube.get(BOOKINGTENANTS, namespace, name)
    assert len(tenant["spec"]["payments"]) == 1


async def test_a_row_that_keeps_failing_is_given_up_with_an_alert(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    poison = await _poison_row(webhook, yookassa)
    clients = _services(platform)

    for _ in range(3):
        await recover_once(clients, older_than_seconds=0, max_attempts=3, backoff_base=0)

    conn = await asyncpg.connect(webhook_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT outcome, recovery_attempts, error FROM platform.notifications WHERE object_id = $1",
            poison,
        )
    finally:
        await conn.close()
    assert row is not None and (row["outcome"], row["recovery_attempts"]) == ("failed", 3)
    assert "AttributeError" in row["error"]
    alerts = clients.metrics.alerts.labels(reason="notification_given_up")._value.get()
    assert alerts == 1


async def test_a_row_that_fails_waits_behind_the_others(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    poison = await _poison_row(webhook, yookassa)
    clients = _services(platform)
    await recover_once(clients, older_than_seconds=0, backoff_base=60)

    due = [r["object_id"] for r in await platform.store.unfinished_notifications(0)]

    assert poison not in due


async def test_a_paid_renewal_of_a_deleted_tenant_raises_an_alert_and_stays_in_the_ledger(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    _, renewal = await platform.renewal_checkout(first)
    await kube.delete(BOOKINGTENANTS, webhook.settings.tenant_namespace, first.tenant_name)
    yookassa.succeed(renewal)

    status, body = await webhook.notify(yookassa, "payment.succeeded", renewal)

    assert (status, body["outcome"]) == (200, "rejected")
    _, metrics = await webhook.get("/metrics")
    assert 'booking_webhook_alerts_total{reason="paid_not_applied"} 1.0' in metrics
    conn = await asyncpg.connect(webhook_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT status, outcome, problem, amount FROM platform.payments WHERE payment_id = $1", renewal
        )
    finally:
        await conn.close()
    assert row is not None and (row["status"], row["outcome"]) == ("succeeded", "rejected")
    assert "does not exist" in row["problem"] and f"{row['amount']:.2f}" == "299.00"
