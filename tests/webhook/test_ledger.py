"""The payments ledger: every payment with its money, period and state, and the accountant's
queries of docs/payments.md give the right numbers."""

from __future__ import annotations

import contextlib
import datetime
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from harness.yookassa import FakeYooKassa

from .conftest import Platform, WebhookServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "payments.md"


def _accountant_queries() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## The ledger", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


async def _run(dsn: str, sql: str, **variables: Any) -> list[asyncpg.Record]:
    """Bind psql's `:'name'` variables as parameters, the way `\\set` would fill them."""
    names = list(dict.fromkeys(re.findall(r":'(\w+)'", sql)))
    for i, name in enumerate(names, start=1):
        sql = sql.replace(f":'{name}'", f"${i}")
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *(variables[name] for name in names)))
    finally:
        await conn.close()


async def test_a_purchase_a_renewal_and_a_refund_are_in_the_ledger_as_the_accountant_queries_them(
    webhook: WebhookServer, platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    yookassa.test_mode = False  # live money
    window = {  # from this moment: rows of tests run before this one on the same server stay out
        "from": datetime.datetime.now(tz=datetime.UTC),
        "to": datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(hours=1),
    }
    first, first_payment = await platform.new_checkout(plan="1m")
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    _, renewal = await platform.renewal_checkout(first, plan="3m")
    yookassa.succeed(renewal)
    await webhook.notify(yookassa, "payment.succeeded", renewal)
    refund_id = yookassa.refund(first_payment, "100.00")
    await webhook.notify(yookassa, "refund.succeeded", refund_id)
    month, history, attention, refunds = _accountant_queries()
    incomes = [Decimal(yookassa.payments[p]["income_amount"]["value"]) for p in (first_payment, renewal)]

    [total] = await _run(webhook_dsn, month, **window)
    assert (total["payments"], total["gross"], total["currency"]) == (2, Decimal("1098.00"), "RUB")
    assert total["income"] == sum(incomes) and total["refunded"] == Decimal("100.00")
    assert total["net"] == sum(incomes) - Decimal("100.00")

    rows = await _run(webhook_dsn, history, tenant=first.tenant_name)
    assert [(r["payment_id"], r["plan"], r["status"], r["outcome"]) for r in rows] == [
        (first_payment, "1m", "succeeded", "applied"),
        (renewal, "3m", "succeeded", "applied"),
    ]
    assert rows[0]["period_end"] - rows[0]["period_start"] == datetime.timedelta(days=30)
    assert rows[1]["period_start"] == rows[0]["period_end"]  # a renewal continues the period
    assert rows[1]["period_end"] - rows[1]["period_start"] == datetime.timedelta(days=90)

    assert first_payment not in {r["payment_id"] for r in await _run(webhook_dsn, attention)}

    [refund] = await _run(webhook_dsn, refunds, **window)
    assert (refund["id"], refund["payment_id"], refund["days_removed"]) == (refund_id, first_payment, 10)
    assert refund["tenant_name"] == first.tenant_name


async def test_an_attempt_is_in_the_ledger_before_its_payment_exists(
    platform: Platform, yookassa: FakeYooKassa, webhook_dsn: str
) -> None:
    """The Idempotence-Key is stored first: a crash while YooKassa is asked loses nothing."""
    from booking_webhook.checkout import Buyer, create_payment, start_new
    from booking_webhook.yookassa_api import YooKassaUnavailable

    buyer = Buyer(telegram_user_id=4242, chat_id=4242, company_name="Ledger Co")
    checkout = await start_new(
        platform.store, platform.kube, platform.settings, buyer, "1m", "4242:TEST-token-ledger-abcdef"
    )
    yookassa.fail = True
    with contextlib.suppress(YooKassaUnavailable):
        await create_payment(platform.store, platform.yookassa_client, platform.settings, checkout)
    yookassa.fail = False
    rows = await _run(
        webhook_dsn,
        "SELECT idempotence_key, status, payment_id FROM platform.payments WHERE checkout_id = :'c'",
        c=checkout.id,
    )
    assert [(r["idempotence_key"], r["status"], r["payment_id"]) for r in rows] == [
        (checkout.idempotence_key, "creating", None)
    ]

    await create_payment(platform.store, platform.yookassa_client, platform.settings, checkout)

    [key] = list(yookassa.idempotence)
    assert key == str(checkout.idempotence_key)
