"""Reconciliation: a payment whose notification never arrives is found in YooKassa's payment
list and applied through the same exactly-once path, by the webhook's own background task."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

import asyncpg

from booking_webhook.metrics import Metrics
from booking_webhook.notifications import Clients
from booking_webhook.reconciliation import reconcile_once
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer, make_settings
from .test_background import wait_until

LOOKBACK = datetime.timedelta(hours=72)
CREATED_METRIC = 'booking_webhook_reconciled_total{outcome="created"} 1.0'


def _services(platform: Platform) -> Clients:
    clients = Clients(platform.store, platform.kube, platform.yookassa_client, Metrics())
    clients.test_shop = True
    return clients


async def test_a_lost_notification_still_creates_the_tenant_from_the_background_task(
    yookassa: FakeYooKassa,
    webhook_dsn: str,
    kubeconfig: Path,
    namespace: str,
    platform: Platform,
    kube: KubeClient,
) -> None:
    settings = make_settings(yookassa, webhook_dsn, kubeconfig, namespace, reconcile_interval=0.2)
    server = await WebhookServer(settings).start()
    try:
        checkout, payment_id = await platform.new_checkout()
        yookassa.succeed(payment_id)  # ... and no notification is ever sent

        async def delivered() -> bool:
            """The background task is done with the payment: the tenant exists *and* the task
            counted it (it counts after the tenant is written; reading the metric as soon as the
            tenant appeared failed once under load)."""
            if await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name) is None:
                return False
            _, text = await server.get("/metrics")
            return CREATED_METRIC in text

        await wait_until(delivered)
        tenant = await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name)
        assert [p["id"] for p in tenant["spec"]["payments"]] == [payment_id]
        # the notification YooKassa would have sent is a duplicate now
        status, body = await server.notify(yookassa, "payment.succeeded", payment_id)
        assert (status, body["outcome"]) == (200, "duplicate")
        _, metrics = await server.get("/metrics")
    finally:
        await server.stop()
    assert CREATED_METRIC in metrics  # once: the duplicate notification did not count again
    assert any(q.get("status") == "succeeded" and "created_at.gte" in q for q in yookassa.list_requests)


async def test_reconciliation_records_what_it_delivered_as_a_notification(
    platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)

    assert await reconcile_once(_services(platform), LOOKBACK) == 1

    conn = await asyncpg.connect(webhook_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT outcome, source_ip FROM platform.notifications WHERE object_id = $1", payment_id
        )
    finally:
        await conn.close()
    assert row is not None and (row["outcome"], row["source_ip"]) == ("created", None)


async def test_reconciliation_follows_the_cursor_through_every_page(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    for _ in range(230):  # newer payments of the same shop, not made by this platform
        yookassa.add_payment("10.00", metadata={"order": "elsewhere"})

    assert await reconcile_once(_services(platform), LOOKBACK) == 1

    assert len([q for q in yookassa.list_requests if q.get("status") == "succeeded"]) == 3
    assert await kube.get(BOOKINGTENANTS, platform.settings.tenant_namespace, checkout.tenant_name)


async def test_an_applied_payment_is_not_delivered_again(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)

    assert await reconcile_once(_services(platform), LOOKBACK) == 0


async def test_reconciliation_racing_concurrent_deliveries_applies_once(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    _, renewal = await platform.renewal_checkout(first)
    yookassa.succeed(renewal)

    results = await asyncio.gather(
        reconcile_once(_services(platform), LOOKBACK),
        *(webhook.notify(yookassa, "payment.succeeded", renewal) for _ in range(5)),
    )

    assert all(status == 200 for status, _ in results[1:])
    tenant = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, first.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [first_payment, renewal]


async def test_a_restart_while_a_notification_hangs_ends_with_one_tenant(
    yookassa: FakeYooKassa,
    webhook_dsn: str,
    kubeconfig: Path,
    namespace: str,
    platform: Platform,
    kube: KubeClient,
) -> None:
    """The webhook dies while the API call of a delivery hangs; the next process (with the
    notification never redelivered) applies the payment by itself, once."""
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    first = await WebhookServer(make_settings(yookassa, webhook_dsn, kubeconfig, namespace)).start()
    yookassa.hang = True
    delivery = asyncio.create_task(first.notify(yookassa, "payment.succeeded", payment_id))
    await wait_until(lambda: _answered(yookassa, payment_id))
    await first.stop()
    delivery.cancel()
    yookassa.hang = False
    settings = make_settings(
        yookassa,
        webhook_dsn,
        kubeconfig,
        namespace,
        reconcile_interval=0.2,
        recovery_interval=0.2,
        recovery_min_age=0,
    )
    second = await WebhookServer(settings).start()
    try:

        async def created() -> bool:
            return await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name) is not None

        await wait_until(created)

        async def passed_again() -> bool:  # later passes of the background task change nothing
            _, metrics = await second.get("/metrics")
            return 'booking_webhook_reconcile_passes_total{result="ok"} 3.0' in metrics

        await wait_until(passed_again)
    finally:
        await second.stop()
    tenant = await kube.get(BOOKINGTENANTS, namespace, checkout.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [payment_id]


async def _answered(yookassa: FakeYooKassa, payment_id: str) -> bool:
    return ("GET", f"/v3/payments/{payment_id}") in yookassa.requests


async def test_one_payment_that_fails_does_not_stop_the_reconciliation_pass(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    broken, broken_payment = await platform.new_checkout()
    fine, fine_payment = await platform.new_checkout()
    for payment_id in (broken_payment, fine_payment):
        yookassa.succeed(payment_id)
    yookassa.failing_ids.add(broken_payment)

    assert await reconcile_once(_services(platform), LOOKBACK) == 1

    ns = platform.settings.tenant_namespace
    assert await kube.get(BOOKINGTENANTS, ns, fine.tenant_name) is not None
    assert await kube.get(BOOKINGTENANTS, ns, broken.tenant_name) is None
    conn = await asyncpg.connect(webhook_dsn)
    try:
        outcome = await conn.fetchval(
            "SELECT outcome FROM platform.notifications WHERE object_id = $1", broken_payment
        )
    finally:
        await conn.close()
    assert outcome == "retry"  # the recovery pass takes it from here
