"""A refused notification says why, where an operator looks (docs/payments.md, "What the webhook
answers" and "Alerts"): the notification row keeps the reason, and money taken but not applied
is in the ledger as `rejected` with that reason as its `problem`, plus one ERROR alert naming
the payment, the tenant and the amount. Nothing is created or changed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer


async def _row(dsn: str, sql: str, key: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow(sql, key)
    finally:
        await conn.close()


async def _stored_reason(dsn: str, object_id: str) -> tuple[str, str | None]:
    row = await _row(dsn, "SELECT outcome, error FROM platform.notifications WHERE object_id = $1", object_id)
    assert row is not None, f"no notification row for {object_id}"
    return str(row["outcome"]), row["error"]


async def _ledger(dsn: str, payment_id: str) -> asyncpg.Record:
    row = await _row(
        dsn,
        "SELECT status, outcome, problem, tenant_name, checkout_id, amount FROM platform.payments"
        " WHERE payment_id = $1",
        payment_id,
    )
    assert row is not None, f"{payment_id} is not in the ledger"
    return row


def _alerts(caplog: pytest.LogCaptureFixture, payment_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.getMessage() == "paid payment not applied" and getattr(r, "payment_id", None) == payment_id
    ]


async def _tenants(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    tenants: list[dict[str, Any]] = await kube.list(BOOKINGTENANTS, namespace)
    return [t for t in tenants if t["metadata"].get("namespace") == namespace]


# --- the API does not confirm the notification: acknowledged, nothing stored as money ---


async def test_a_payment_unknown_to_the_api_is_refused_as_unknown(
    webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    forged = str(uuid.uuid4())
    body = {
        "type": "notification",
        "event": "payment.succeeded",
        "object": {"id": forged, "status": "succeeded"},
    }

    status, answer = await webhook.post(body)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, forged) == ("rejected", "payment unknown to the YooKassa API")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_a_refused_notification_is_logged_as_a_warning_with_its_reason(
    webhook: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    forged = str(uuid.uuid4())
    caplog.set_level(logging.WARNING)

    await webhook.post({"type": "notification", "event": "payment.canceled", "object": {"id": forged}})

    [record] = [r for r in caplog.records if r.getMessage() == "notification rejected"]
    fields = vars(record)
    assert record.levelno == logging.WARNING
    assert (fields["notification_event"], fields["object_id"], fields["reason"]) == (
        "payment.canceled",
        forged,
        "payment unknown to the YooKassa API",
    )


async def test_an_api_answer_about_another_payment_is_refused(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    body = yookassa.notification("payment.succeeded", payment_id)
    yookassa.payments[payment_id]["id"] = str(uuid.uuid4())  # the API's answer names another payment

    status, answer = await webhook.post(body)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, payment_id) == (
        "rejected",
        "the API answered about another payment",
    )
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_a_payment_the_api_has_as_pending_is_refused_naming_its_status(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    _, payment_id = await platform.new_checkout()
    body = yookassa.notification("payment.succeeded", payment_id)
    body["object"]["status"] = "succeeded"  # the body says so; the API does not

    status, answer = await webhook.post(body)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, payment_id) == (
        "rejected",
        "payment status is 'pending', not 'succeeded'",
    )
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_a_succeeded_payment_the_api_reports_as_unpaid_creates_nothing(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    yookassa.payments[payment_id]["paid"] = False

    status, answer = await webhook.notify(yookassa, "payment.succeeded", payment_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


# --- paid, but it cannot be applied: the ledger and an alert say why ---


@dataclass
class Refused:
    payment_id: str
    tenant: str | None  # the tenant the alert and the ledger name (None: not one of our checkouts)
    reason: str
    alert: str = "paid_not_applied"


async def _no_checkout_of_ours(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> Refused:
    payment_id = yookassa.add_payment("299.00", metadata={"plan": "1m"})
    return Refused(payment_id, None, "payment has no checkout of ours")


async def _an_unknown_checkout(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> Refused:
    payment_id = yookassa.add_payment("299.00", metadata={"plan": "1m", "checkout_id": str(uuid.uuid4())})
    return Refused(payment_id, None, "payment names an unknown checkout")


async def _another_plan(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> Refused:
    checkout, payment_id = await platform.new_checkout(plan="1m")
    yookassa.payments[payment_id]["metadata"]["plan"] = "12m"
    yookassa.succeed(payment_id)
    return Refused(payment_id, checkout.tenant_name, "payment plan differs from its checkout")


async def _another_amount(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> Refused:
    checkout, payment_id = await platform.new_checkout(plan="1m")
    yookassa.payments[payment_id]["amount"] = {"value": "298.99", "currency": "RUB"}
    yookassa.succeed(payment_id)
    return Refused(
        payment_id, checkout.tenant_name, "payment amount or currency differs from the plan's price"
    )


async def _another_currency(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> Refused:
    checkout, payment_id = await platform.new_checkout(plan="1m")
    yookassa.payments[payment_id]["amount"] = {"value": "299.00", "currency": "USD"}
    yookassa.succeed(payment_id)
    return Refused(
        payment_id, checkout.tenant_name, "payment amount or currency differs from the plan's price"
    )


async def _a_renewal_of_another_owners_tenant(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> Refused:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    assert (await webhook.notify(yookassa, "payment.succeeded", first_payment))[1]["outcome"] == "created"
    _, renewal = await platform.renewal_checkout(first)
    await kube.patch(
        BOOKINGTENANTS,
        platform.settings.tenant_namespace,
        first.tenant_name,
        {"spec": {"ownerTelegramId": first.telegram_user_id + 1}},
    )
    yookassa.succeed(renewal)
    return Refused(renewal, first.tenant_name, f"tenant {first.tenant_name} belongs to another owner")


async def _a_renewal_of_a_deleted_tenant(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> Refused:
    first, first_payment = await platform.new_checkout()
    yookassa.succeed(first_payment)
    assert (await webhook.notify(yookassa, "payment.succeeded", first_payment))[1]["outcome"] == "created"
    _, renewal = await platform.renewal_checkout(first)
    await kube.delete(BOOKINGTENANTS, platform.settings.tenant_namespace, first.tenant_name)
    yookassa.succeed(renewal)
    return Refused(renewal, first.tenant_name, f"tenant {first.tenant_name} does not exist")


Case = Callable[[WebhookServer, Platform, FakeYooKassa, KubeClient], Awaitable[Refused]]


@pytest.mark.parametrize(
    "case",
    [
        _no_checkout_of_ours,
        _an_unknown_checkout,
        _another_plan,
        _another_amount,
        _another_currency,
        _a_renewal_of_another_owners_tenant,
        _a_renewal_of_a_deleted_tenant,
    ],
    ids=lambda case: case.__name__.strip("_"),
)
async def test_a_paid_payment_that_cannot_be_applied_is_in_the_ledger_and_alerted_with_its_reason(
    case: Case,
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    webhook_dsn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = await case(webhook, platform, yookassa, kube)
    tenants_before = await _tenants(kube, webhook.settings.tenant_namespace)
    caplog.set_level(logging.ERROR)

    status, answer = await webhook.notify(yookassa, "payment.succeeded", refused.payment_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, refused.payment_id) == ("rejected", refused.reason)
    ledger = await _ledger(webhook_dsn, refused.payment_id)
    assert (ledger["status"], ledger["outcome"], ledger["problem"]) == (
        "succeeded",
        "rejected",
        refused.reason,
    )
    assert ledger["tenant_name"] == refused.tenant
    [alert] = _alerts(caplog, refused.payment_id)
    assert alert.levelno == logging.ERROR
    fields = vars(alert)
    assert (fields["alert"], fields["tenant"], fields["reason"]) == (
        refused.alert,
        refused.tenant,
        refused.reason,
    )
    assert fields["amount"] == yookassa.payments[refused.payment_id]["amount"]["value"]
    _, metrics = await webhook.get("/metrics")
    assert f'booking_webhook_alerts_total{{reason="{refused.alert}"}} 1.0' in metrics
    assert await _tenants(kube, webhook.settings.tenant_namespace) == tenants_before


async def test_a_test_payment_in_a_live_shop_is_in_the_ledger_and_alerted_as_a_test_payment(
    live_webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    webhook_dsn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    caplog.set_level(logging.ERROR)

    status, answer = await live_webhook.notify(yookassa, "payment.succeeded", payment_id)

    reason = "a test payment, and YOOKASSA_TEST_SHOP is off"
    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, payment_id) == ("rejected", reason)
    ledger = await _ledger(webhook_dsn, payment_id)
    assert (ledger["outcome"], ledger["problem"], ledger["tenant_name"]) == (
        "rejected",
        reason,
        checkout.tenant_name,
    )
    [alert] = _alerts(caplog, payment_id)
    fields = vars(alert)
    assert (fields["alert"], fields["tenant"]) == (
        "test_payment_refused",
        checkout.tenant_name,
    )
    _, metrics = await live_webhook.get("/metrics")
    assert 'booking_webhook_alerts_total{reason="paid_not_applied"}' not in metrics
    assert await _tenants(kube, live_webhook.settings.tenant_namespace) == []


# --- cancellations ---


async def test_a_cancel_the_api_does_not_confirm_is_refused_and_the_checkout_stays_pending(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    checkout, payment_id = await platform.new_checkout()

    status, answer = await webhook.notify(yookassa, "payment.canceled", payment_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, payment_id) == (
        "rejected",
        "payment status is 'pending', not 'canceled'",
    )
    stored = await platform.store.checkout(checkout.id)
    assert stored is not None and stored.status == "pending"


async def test_a_canceled_payment_is_in_the_ledger_with_yookassas_reason(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.cancel(payment_id, reason="card_expired")

    status, answer = await webhook.notify(yookassa, "payment.canceled", payment_id)

    assert (status, answer["outcome"]) == (200, "canceled")
    ledger = await _ledger(webhook_dsn, payment_id)
    assert (ledger["status"], ledger["problem"], ledger["checkout_id"]) == (
        "canceled",
        "card_expired",
        checkout.id,
    )


async def test_a_cancel_without_details_is_recorded_as_canceled(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    checkout, payment_id = await platform.new_checkout()
    yookassa.cancel(payment_id)
    del yookassa.payments[payment_id]["cancellation_details"]

    assert (await webhook.notify(yookassa, "payment.canceled", payment_id))[1]["outcome"] == "canceled"

    stored = await platform.store.checkout(checkout.id)
    assert stored is not None and (stored.status, stored.status_message) == ("canceled", "canceled")
    assert (await _ledger(webhook_dsn, payment_id))["problem"] == "canceled"


async def test_a_long_cancellation_reason_is_kept_to_its_first_100_characters(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa
) -> None:
    checkout, payment_id = await platform.new_checkout()
    reason = "r" * 99 + "!" + "tail that is never shown"
    yookassa.cancel(payment_id, reason=reason)

    await webhook.notify(yookassa, "payment.canceled", payment_id)

    stored = await platform.store.checkout(checkout.id)
    assert stored is not None and stored.status_message == reason[:100]


# --- refunds ---


async def test_a_refund_unknown_to_the_api_is_refused_as_unknown(
    webhook: WebhookServer, webhook_dsn: str
) -> None:
    refund_id = str(uuid.uuid4())
    body = {
        "type": "notification",
        "event": "refund.succeeded",
        "object": {"id": refund_id, "status": "succeeded"},
    }

    status, answer = await webhook.post(body)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, refund_id) == ("rejected", "refund unknown to the YooKassa API")


async def _paid_tenant(webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa) -> tuple[Any, str]:
    checkout, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"
    return checkout, payment_id


async def test_a_refund_not_yet_succeeded_is_refused_and_changes_nothing(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    checkout, payment_id = await _paid_tenant(webhook, platform, yookassa)
    refund_id = yookassa.refund(payment_id, "100.00")
    yookassa.refunds[refund_id]["status"] = "pending"
    before = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)

    status, answer = await webhook.notify(yookassa, "refund.succeeded", refund_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, refund_id) == ("rejected", "refund status is 'pending'")
    after = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)
    assert after["spec"]["paidUntil"] == before["spec"]["paidUntil"] and "refunds" not in after["spec"]
    assert await _row(webhook_dsn, "SELECT 1 FROM platform.refunds WHERE id = $1", refund_id) is None


async def test_a_refund_without_an_amount_is_refused_and_changes_nothing(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    checkout, payment_id = await _paid_tenant(webhook, platform, yookassa)
    refund_id = yookassa.refund(payment_id, "100.00")
    del yookassa.refunds[refund_id]["amount"]

    status, answer = await webhook.notify(yookassa, "refund.succeeded", refund_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, refund_id) == ("rejected", "refund has no amount")
    after = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)
    assert "refunds" not in after["spec"]
    assert await _row(webhook_dsn, "SELECT 1 FROM platform.refunds WHERE id = $1", refund_id) is None


async def test_a_refund_of_a_payment_that_is_not_ours_is_refused(
    webhook: WebhookServer, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    payment_id = yookassa.add_payment("299.00", metadata={"plan": "1m"})
    refund_id = yookassa.refund(payment_id, "299.00")

    status, answer = await webhook.notify(yookassa, "refund.succeeded", refund_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, refund_id) == ("rejected", "payment has no checkout of ours")
    assert await _row(webhook_dsn, "SELECT 1 FROM platform.refunds WHERE id = $1", refund_id) is None


async def test_a_paid_payment_with_a_malformed_amount_is_refused_not_retried(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    yookassa.payments[payment_id]["amount"] = "299.00"  # not the API's {"value", "currency"} object

    status, answer = await webhook.notify(yookassa, "payment.succeeded", payment_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    reason = "payment amount or currency differs from the plan's price"
    assert await _stored_reason(webhook_dsn, payment_id) == ("rejected", reason)
    assert await _tenants(kube, webhook.settings.tenant_namespace) == []


async def test_a_refund_with_a_malformed_amount_is_refused_as_having_none(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    checkout, payment_id = await _paid_tenant(webhook, platform, yookassa)
    refund_id = yookassa.refund(payment_id, "100.00")
    yookassa.refunds[refund_id]["amount"] = "100.00"  # not the API's {"value", "currency"} object

    status, answer = await webhook.notify(yookassa, "refund.succeeded", refund_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    assert await _stored_reason(webhook_dsn, refund_id) == ("rejected", "refund has no amount")
    after = await kube.get(BOOKINGTENANTS, webhook.settings.tenant_namespace, checkout.tenant_name)
    assert "refunds" not in after["spec"]


@pytest.mark.parametrize(
    "taken",
    [{"value": "298.99", "currency": "RUB"}, {"value": "299.00", "currency": "USD"}],
    ids=["another amount", "another currency"],
)
async def test_the_ledger_keeps_the_money_yookassa_took_not_the_plans_price(
    taken: dict[str, str],
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    webhook_dsn: str,
) -> None:
    # The accountant reconciles the ledger against YooKassa's statement: a payment refused for
    # its amount was still taken, and the refund it is owed is of what was taken.
    _, payment_id = await platform.new_checkout(plan="1m")
    yookassa.payments[payment_id]["amount"] = taken
    yookassa.succeed(payment_id)

    status, answer = await webhook.notify(yookassa, "payment.succeeded", payment_id)

    assert (status, answer["outcome"]) == (200, "rejected")
    row = await _row(
        webhook_dsn, "SELECT amount, currency FROM platform.payments WHERE payment_id = $1", payment_id
    )
    assert row is not None
    assert (str(row["amount"]), row["currency"]) == (taken["value"], taken["currency"])
