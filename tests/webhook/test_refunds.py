"""Refunds change the service: a refund takes its share of the paid days off paidUntil, once;
an admin command issues refunds through YooKassa with an Idempotence-Key of its own."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from booking_contract.times import parse_time
from booking_webhook.admin import parse_refund, refund_command
from booking_webhook.refunds import RefundRequest
from booking_webhook.tenants import refund_days
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer
from .test_reconciliation import LOOKBACK, _services


async def _paid_tenant(webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa) -> tuple[str, str]:
    checkout, payment_id = await platform.new_checkout(plan="1m")  # 30 days for 299.00
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"
    return checkout.tenant_name, payment_id


async def _paid_until(kube: KubeClient, namespace: str, name: str) -> datetime.datetime:
    tenant = await kube.get(BOOKINGTENANTS, namespace, name)
    moment: datetime.datetime | None = parse_time(tenant["spec"]["paidUntil"])
    assert moment is not None
    return moment


def test_a_refund_takes_back_its_share_of_the_days_rounded_down() -> None:
    assert refund_days(Decimal("100.00"), Decimal("299.00"), 30) == 10  # 10.03 days
    assert refund_days(Decimal("299.00"), Decimal("299.00"), 30) == 30
    assert refund_days(Decimal("5.00"), Decimal("299.00"), 30) == 0
    assert refund_days(Decimal("400.00"), Decimal("299.00"), 30) == 30


async def test_a_partial_refund_shortens_paid_until_by_its_share(
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    crd_errors: Callable[..., list[str]],
) -> None:
    name, payment_id = await _paid_tenant(webhook, platform, yookassa)
    ns = webhook.settings.tenant_namespace
    before = await kube.get(BOOKINGTENANTS, ns, name)
    refund_id = yookassa.refund(payment_id, "100.00")

    status, body = await webhook.notify(yookassa, "refund.succeeded", refund_id)

    assert (status, body["outcome"]) == (200, "refunded")
    after = await kube.get(BOOKINGTENANTS, ns, name)
    old_end, new_end = parse_time(before["spec"]["paidUntil"]), parse_time(after["spec"]["paidUntil"])
    assert old_end is not None and new_end is not None and old_end - new_end == datetime.timedelta(days=10)
    assert [(r["id"], r["paymentId"], r["days"], r["amount"]) for r in after["spec"]["refunds"]] == [
        (refund_id, payment_id, 10, "100.00")
    ]
    assert crd_errors(after, before) == []


async def test_a_refund_delivered_many_times_at_once_shortens_once(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    name, payment_id = await _paid_tenant(webhook, platform, yookassa)
    ns = webhook.settings.tenant_namespace
    before = await _paid_until(kube, ns, name)
    refund_id = yookassa.refund(payment_id, "299.00")

    results = await asyncio.gather(
        *(webhook.notify(yookassa, "refund.succeeded", refund_id) for _ in range(8))
    )

    assert {status for status, _ in results} == {200}
    assert before - await _paid_until(kube, ns, name) == datetime.timedelta(days=30)


async def test_a_lost_refund_notification_is_found_by_reconciliation(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    name, payment_id = await _paid_tenant(webhook, platform, yookassa)
    ns = webhook.settings.tenant_namespace
    before = await _paid_until(kube, ns, name)
    yookassa.refund(payment_id, "149.50")  # made in the dashboard; the notification is lost

    assert await reconcile_once_delivered(platform) == 1

    assert before - await _paid_until(kube, ns, name) == datetime.timedelta(days=15)


async def reconcile_once_delivered(platform: Platform) -> int:
    from booking_webhook.reconciliation import reconcile_once

    return int(await reconcile_once(_services(platform), LOOKBACK))


async def test_the_refund_command_refunds_through_yookassa_and_shortens_the_period(
    webhook: WebhookServer,
    platform: Platform,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, payment_id = await _paid_tenant(webhook, platform, yookassa)
    ns = webhook.settings.tenant_namespace
    before = await _paid_until(kube, ns, name)

    code = await refund_command(
        webhook.settings, RefundRequest(payment_id, Decimal("100.00"), "the owner asked to stop early")
    )

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["status"], printed["applied"]) == ("succeeded", "refunded")
    [request] = yookassa.created_refund_requests
    assert request["payment_id"] == payment_id and request["amount"] == {"value": "100.00", "currency": "RUB"}
    assert before - await _paid_until(kube, ns, name) == datetime.timedelta(days=10)
    # YooKassa's own notification of the same refund changes nothing more
    _, answer = await webhook.notify(yookassa, "refund.succeeded", printed["refund_id"])
    assert answer["outcome"] == "duplicate"
    assert before - await _paid_until(kube, ns, name) == datetime.timedelta(days=10)


async def test_the_refund_command_run_again_after_a_lost_answer_refunds_once(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, capsys: pytest.CaptureFixture[str]
) -> None:
    _, payment_id = await _paid_tenant(webhook, platform, yookassa)
    request = RefundRequest(payment_id, Decimal("50.00"), "goodwill")
    yookassa.fail_after_refund = True  # YooKassa refunds, then the answer is lost
    assert await refund_command(webhook.settings, request) == 1
    yookassa.fail_after_refund = False

    assert await refund_command(webhook.settings, request) == 0

    assert len(yookassa.refunds) == 1
    assert len(set(yookassa.refund_idempotence)) == 1


async def test_a_refund_of_more_than_was_paid_is_refused_with_a_clear_error(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, capsys: pytest.CaptureFixture[str]
) -> None:
    _, payment_id = await _paid_tenant(webhook, platform, yookassa)

    code = await refund_command(webhook.settings, RefundRequest(payment_id, Decimal("300.00"), "too much"))

    assert code == 1
    assert "0.01..299.00" in capsys.readouterr().err
    assert yookassa.refunds == {}


def test_the_refund_command_needs_a_reason() -> None:
    with pytest.raises(SystemExit):
        parse_refund(["2f0c7e59-000f-5000-9000-1b68e7b15f3f", "10.00"])
    request = parse_refund(["2f0c7e59-000f-5000-9000-1b68e7b15f3f", "10.00", "--reason", "why"])
    assert (request.amount, request.reason) == (Decimal("10.00"), "why")


async def test_with_receipts_on_a_refund_carries_a_receipt_to_the_buyer(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, capsys: pytest.CaptureFixture[str]
) -> None:
    from booking_webhook.checkout import Buyer, create_payment, start_new

    receipts = webhook.settings.model_copy(update={"yookassa_receipt_enabled": True})
    buyer = Buyer(telegram_user_id=5151, chat_id=5151, company_name="Чек", receipt_email="owner@example.com")
    checkout = await start_new(
        platform.store, platform.kube, receipts, buyer, "1m", "5151:TEST-token-receipt-abc"
    )
    await create_payment(platform.store, platform.yookassa_client, receipts, checkout)
    payment_id = yookassa.payment_for_checkout(str(checkout.id))["id"]
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)

    assert await refund_command(receipts, RefundRequest(payment_id, Decimal("99.00"), "partial")) == 0

    [request] = yookassa.created_refund_requests
    assert request["receipt"]["customer"] == {"email": "owner@example.com"}
    [item] = request["receipt"]["items"]
    assert item["amount"] == {"value": "99.00", "currency": "RUB"} and item["payment_subject"] == "service"


async def test_the_refund_command_as_a_process_refuses_an_unknown_payment_in_one_line(
    yookassa: FakeYooKassa, webhook_dsn: str, kubeconfig: Path, namespace: str
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "YOOKASSA_SHOP_ID": yookassa.shop_id,
        "YOOKASSA_SECRET_KEY": yookassa.secret_key,
        "YOOKASSA_API_URL": yookassa.url,
        "WEBHOOK_DATABASE_URL": webhook_dsn,
        "KUBECONFIG": str(kubeconfig),
        "TENANT_NAMESPACE": namespace,
    }
    unknown = "2f0c7e59-000f-5000-9000-1b68e7b15f3f"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "booking_webhook",
        "refund",
        unknown,
        "--reason",
        "test",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 1 and stdout == b""
    refused = [line for line in stderr.decode().splitlines() if line.startswith("booking-webhook:")]
    assert refused == [f"booking-webhook: refund refused: payment {unknown} is not in the ledger"]
    assert yookassa.secret_key not in stderr.decode()


async def test_a_refund_processed_twice_is_logged_and_counted_once(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, caplog: pytest.LogCaptureFixture
) -> None:
    from booking_webhook.notifications import REFUND_SUCCEEDED, process

    name, payment_id = await _paid_tenant(webhook, platform, yookassa)
    refund_id = yookassa.refund(payment_id, "100.00")
    clients = _services(platform)  # as the reconciliation pass and the refund command call it
    caplog.set_level(logging.INFO)

    for _ in range(2):
        assert await process(clients, REFUND_SUCCEEDED, refund_id) == ("refunded", None)

    [recorded] = [r for r in caplog.records if r.getMessage() == "refund recorded"]
    fields = vars(recorded)
    assert (fields["refund_id"], fields["payment_id"], fields["amount"], fields["tenant"]) == (
        refund_id,
        payment_id,
        "100.00",
        name,
    )
    assert clients.metrics.refunds._value.get() == 1


async def test_a_refund_of_a_deleted_tenant_is_recorded_with_no_days_removed(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    name, payment_id = await _paid_tenant(webhook, platform, yookassa)
    await kube.delete(BOOKINGTENANTS, webhook.settings.tenant_namespace, name)
    refund_id = yookassa.refund(payment_id, "299.00")

    status, body = await webhook.notify(yookassa, "refund.succeeded", refund_id)

    assert (status, body["outcome"]) == (200, "refunded")
    conn = await asyncpg.connect(webhook_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT amount, tenant_name, days_removed, applied_at IS NOT NULL AS applied"
            " FROM platform.refunds WHERE id = $1",
            refund_id,
        )
    finally:
        await conn.close()
    assert row is not None
    assert (f"{row['amount']:.2f}", row["tenant_name"], row["days_removed"], row["applied"]) == (
        "299.00",
        name,
        None,
        True,
    )


async def test_a_refund_records_when_yookassa_made_it(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    _, payment_id = await _paid_tenant(webhook, platform, yookassa)
    refund_id = yookassa.refund(payment_id, "100.00")
    yookassa.refunds[refund_id]["created_at"] = "2026-02-03T04:05:06.000Z"

    await webhook.notify(yookassa, "refund.succeeded", refund_id)

    conn = await asyncpg.connect(webhook_dsn)
    try:
        created = await conn.fetchval("SELECT created_at FROM platform.refunds WHERE id = $1", refund_id)
    finally:
        await conn.close()
    assert created == datetime.datetime(2026, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)


async def test_a_refund_of_a_payment_that_was_never_applied_takes_no_days_off_the_tenant(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, kube: KubeClient, webhook_dsn: str
) -> None:
    """docs/payments.md: a paid payment that cannot be applied is refunded by hand. Its refund
    must not shorten the tenant it never extended (here: one that now belongs to another owner)."""
    checkout, payment_id = await platform.new_checkout(plan="1m")
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    _, renewal = await platform.renewal_checkout(checkout, plan="1m")
    ns = webhook.settings.tenant_namespace
    await kube.patch(BOOKINGTENANTS, ns, checkout.tenant_name, {"spec": {"ownerTelegramId": 1}})
    yookassa.succeed(renewal)
    assert (await webhook.notify(yookassa, "payment.succeeded", renewal))[1]["outcome"] == "rejected"
    before = await _paid_until(kube, ns, checkout.tenant_name)
    refund_id = yookassa.refund(renewal)  # the whole renewal back, as the alert asks

    status, body = await webhook.notify(yookassa, "refund.succeeded", refund_id)

    assert (status, body["outcome"]) == (200, "refunded")
    assert await _paid_until(kube, ns, checkout.tenant_name) == before
    conn = await asyncpg.connect(webhook_dsn)
    try:
        days = await conn.fetchval("SELECT days_removed FROM platform.refunds WHERE id = $1", refund_id)
    finally:
        await conn.close()
    assert days == 0
