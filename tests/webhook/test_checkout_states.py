"""A checkout's status never goes backwards, a retry never makes a second payment, and a paid
payment is never thrown away: the money-safety rules of the checkout, end to end."""

from __future__ import annotations

import contextlib
import uuid

import asyncpg

from booking_webhook.checkout import CheckoutError, create_payment
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer


async def _status(platform: Platform, checkout_id: uuid.UUID) -> str:
    stored = await platform.store.checkout(checkout_id)
    assert stored is not None
    return str(stored.status)


async def test_retrying_an_applied_checkout_leaves_it_applied(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"

    with contextlib.suppress(CheckoutError):  # what the sales bot's "retry" does
        await create_payment(platform.store, platform.yookassa_client, platform.settings, checkout)

    assert await _status(platform, checkout.id) == "applied"
    assert len(yookassa.payments) == 1


async def test_the_database_refuses_to_move_an_applied_checkout_back_to_pending(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)

    await platform.store.attach_payment(checkout.id, payment_id, "https://yoomoney.ru/again")

    assert await _status(platform, checkout.id) == "applied"


async def test_a_cancel_of_an_earlier_attempt_does_not_cancel_the_checkout(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, first = await platform.new_checkout()
    yookassa.cancel(first)
    await create_payment(platform.store, platform.yookassa_client, platform.settings, checkout)
    assert await _status(platform, checkout.id) == "pending"

    assert (await webhook.notify(yookassa, "payment.canceled", first))[1]["outcome"] == "canceled"

    assert await _status(platform, checkout.id) == "pending"


async def test_a_retry_after_the_24_hour_idempotence_window_reuses_the_pending_payment(
    platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, payment_id = await platform.new_checkout()
    first_url = yookassa.payments[payment_id]["confirmation"]["confirmation_url"]
    yookassa.advance(hours=25)  # YooKassa has forgotten the Idempotence-Key

    url = await create_payment(platform.store, platform.yookassa_client, platform.settings, checkout)

    assert url == first_url
    assert list(yookassa.payments) == [payment_id]


async def test_a_retry_after_the_payment_expired_makes_a_new_payment_with_a_new_key(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    checkout, expired = await platform.new_checkout()
    yookassa.cancel(expired, reason="expired_on_confirmation")
    await webhook.notify(yookassa, "payment.canceled", expired)
    assert await _status(platform, checkout.id) == "canceled"

    url = await create_payment(platform.store, platform.yookassa_client, platform.settings, checkout)

    [fresh] = [p for p in yookassa.payments if p != expired]
    assert url == yookassa.payments[fresh]["confirmation"]["confirmation_url"]
    assert len(set(yookassa.idempotence)) == 2  # two keys, one per attempt
    assert await _status(platform, checkout.id) == "pending"
    yookassa.succeed(fresh)
    assert (await webhook.notify(yookassa, "payment.succeeded", fresh))[1]["outcome"] == "created"
    assert await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)


async def test_a_paid_payment_of_an_earlier_attempt_is_applied_not_rejected(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    """The buyer paid a link the checkout no longer points at (an older attempt's)."""
    checkout, current = await platform.new_checkout()
    metadata = dict(yookassa.payments[current]["metadata"])
    older = yookassa.add_payment("299.00", metadata=metadata)  # made by an earlier attempt

    status, body = await webhook.notify(yookassa, "payment.succeeded", older)

    assert (status, body["outcome"]) == (200, "created")
    tenant = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [older]
    assert await _status(platform, checkout.id) == "applied"


async def test_two_paid_payments_of_one_checkout_both_count(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    checkout, first = await platform.new_checkout()
    yookassa.succeed(first)
    await webhook.notify(yookassa, "payment.succeeded", first)
    second = yookassa.add_payment("299.00", metadata=dict(yookassa.payments[first]["metadata"]))

    status, body = await webhook.notify(yookassa, "payment.succeeded", second)

    assert (status, body["outcome"]) == (200, "extended")
    tenant = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)
    assert [p["id"] for p in tenant["spec"]["payments"]] == [first, second]


async def test_cleanup_keeps_the_token_of_a_paid_checkout_whose_notification_was_lost(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    from booking_webhook.salesbot.deps import SalesDeps
    from booking_webhook.salesbot.notifier import remove_abandoned_tokens

    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)  # paid; the notification never arrives
    deps = SalesDeps(platform.settings, platform.store, platform.kube, platform.yookassa_client)

    await remove_abandoned_tokens(deps, older_than_seconds=0)

    assert checkout.token_secret_name is not None
    assert await kube.get("v1/secrets", platform.kube.token_namespace, checkout.token_secret_name)


async def test_cleanup_keeps_the_token_of_a_tenant_that_exists(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    """Even when the row says otherwise (a checkout the old code moved back to pending) and the
    payment cannot be looked up: the tenant's existence alone keeps its token."""
    from booking_webhook.salesbot.deps import SalesDeps
    from booking_webhook.salesbot.notifier import remove_abandoned_tokens

    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    conn = await asyncpg.connect(webhook_dsn)
    try:
        await conn.execute("UPDATE platform.checkouts SET status = 'pending' WHERE id = $1", checkout.id)
        if await conn.fetchval("SELECT to_regclass('platform.payments') IS NOT NULL"):  # the ledger too
            await conn.execute(
                "UPDATE platform.payments SET status = 'pending' WHERE checkout_id = $1", checkout.id
            )
    finally:
        await conn.close()
    del yookassa.payments[payment_id]
    deps = SalesDeps(platform.settings, platform.store, platform.kube, platform.yookassa_client)

    await remove_abandoned_tokens(deps, older_than_seconds=0)

    assert checkout.token_secret_name is not None
    assert await kube.get("v1/secrets", platform.kube.token_namespace, checkout.token_secret_name)


async def test_cleanup_still_removes_the_token_of_a_checkout_whose_payment_expired(
    platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    from booking_webhook.salesbot.deps import SalesDeps
    from booking_webhook.salesbot.notifier import remove_abandoned_tokens

    checkout, payment_id = await platform.new_checkout()
    yookassa.cancel(payment_id)
    deps = SalesDeps(platform.settings, platform.store, platform.kube, platform.yookassa_client)

    assert await remove_abandoned_tokens(deps, older_than_seconds=0) == 1

    assert checkout.token_secret_name is not None
    assert await kube.get("v1/secrets", platform.kube.token_namespace, checkout.token_secret_name) is None
