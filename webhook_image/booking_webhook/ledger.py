"""The payments ledger (`platform.payments`, `platform.refund_requests`): the record of money.

Every payment attempt gets a row *before* YooKassa is asked to create it (its Idempotence-Key is
the row's key), so a crash between the two cannot lose the key; every payment YooKassa reports
for one of our checkouts - including one created by an older attempt, or found by the
reconciliation pass - is upserted by its payment id. `spec.payments` on the BookingTenant stays
the exactly-once guard of the effect (capped, and lost with the resource); this table is what
an accountant queries. docs/payments.md shows example SQL.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from booking_webhook.store import Checkout, Store

# YooKassa forgets an Idempotence-Key after 24 hours; past this age a key is not reused, so a
# retry near the boundary cannot be taken for a new request and create a second payment.
IDEMPOTENCE_KEY_REUSE_FOR = datetime.timedelta(hours=23)


@dataclass(frozen=True)
class Attempt:
    idempotence_key: uuid.UUID | None
    payment_id: str | None
    status: str
    created_at: datetime.datetime


def money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def api_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _pool(self) -> asyncpg.Pool:
        return await self.store.ensure()

    # --- payment attempts (the sales bot) ---
    async def open_attempt(self, checkout: Checkout, key: uuid.UUID) -> None:
        await (await self._pool()).execute(
            """
            INSERT INTO platform.payments (idempotence_key, checkout_id, kind, namespace, tenant_name,
                client_id, telegram_user_id, plan, days, amount, currency)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (idempotence_key) DO NOTHING
            """,
            key,
            checkout.id,
            checkout.kind,
            checkout.namespace,
            checkout.tenant_name,
            checkout.client_id,
            checkout.telegram_user_id,
            checkout.plan,
            checkout.days,
            checkout.amount,
            checkout.currency,
        )

    async def current_attempt(self, checkout: Checkout) -> Attempt | None:
        row = await (await self._pool()).fetchrow(
            "SELECT idempotence_key, payment_id, status, created_at FROM platform.payments"
            " WHERE checkout_id = $1 ORDER BY id DESC LIMIT 1",
            checkout.id,
        )
        if row is not None:
            return Attempt(row["idempotence_key"], row["payment_id"], str(row["status"]), row["created_at"])
        return None

    async def attempt_count(self, checkout: Checkout) -> int:
        return int(
            await (await self._pool()).fetchval(
                "SELECT count(*) FROM platform.payments WHERE checkout_id = $1", checkout.id
            )
            or 0
        )

    async def attempt_created(self, key: uuid.UUID, payment: dict[str, Any]) -> None:
        await (await self._pool()).execute(
            """
            UPDATE platform.payments
            SET payment_id = $2, status = $3, test = $4, updated_at = now()
            WHERE idempotence_key = $1 AND payment_id IS NULL
            """,
            key,
            str(payment["id"]),
            _status(payment),
            bool(payment.get("test")),
        )

    async def checkout_payment_ids(self, checkout: Checkout) -> list[str]:
        rows = await (await self._pool()).fetch(
            "SELECT payment_id FROM platform.payments WHERE checkout_id = $1 AND payment_id IS NOT NULL",
            checkout.id,
        )
        ids = {str(r["payment_id"]) for r in rows}
        if checkout.payment_id:
            ids.add(checkout.payment_id)
        return sorted(ids)

    # --- what YooKassa says (the webhook) ---
    async def seen(
        self,
        payment: dict[str, Any],
        checkout: Checkout | None,
        applied: tuple[datetime.datetime | None, datetime.datetime | None] | None = None,
    ) -> None:
        """Upsert the payment as the API reported it (amount and currency taken, status, income,
        test flag, paid time: the attempt row holds the plan's price until then, and the
        accountant reconciles against what YooKassa took);
        `applied` (the period it bought) marks it applied in the same statement."""
        amount = payment.get("amount") if isinstance(payment.get("amount"), dict) else {}
        income = payment.get("income_amount") if isinstance(payment.get("income_amount"), dict) else {}
        value = money((amount or {}).get("value"))
        if value is None:
            return
        await (await self._pool()).execute(
            """
            INSERT INTO platform.payments (payment_id, checkout_id, kind, namespace, tenant_name, client_id,
                telegram_user_id, plan, days, amount, currency, income_amount, status, test, paid_at,
                outcome, applied_at, period_start, period_end)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                CASE WHEN $16 THEN 'applied' END, CASE WHEN $16 THEN now() END, $17, $18)
            ON CONFLICT (payment_id) DO UPDATE SET
                status = CASE WHEN platform.payments.status IN ('succeeded', 'canceled')
                              THEN platform.payments.status ELSE EXCLUDED.status END,
                amount = EXCLUDED.amount,
                currency = coalesce(nullif(EXCLUDED.currency, ''), platform.payments.currency),
                income_amount = coalesce(EXCLUDED.income_amount, platform.payments.income_amount),
                test = EXCLUDED.test,
                paid_at = coalesce(platform.payments.paid_at, EXCLUDED.paid_at),
                outcome = CASE WHEN $16 THEN 'applied' ELSE platform.payments.outcome END,
                problem = CASE WHEN $16 THEN NULL ELSE platform.payments.problem END,
                applied_at = CASE WHEN $16 THEN coalesce(platform.payments.applied_at, now())
                                  ELSE platform.payments.applied_at END,
                period_start = coalesce(platform.payments.period_start, EXCLUDED.period_start),
                period_end = coalesce(platform.payments.period_end, EXCLUDED.period_end),
                updated_at = now()
            """,
            str(payment["id"]),
            checkout.id if checkout else None,
            checkout.kind if checkout else "unknown",
            checkout.namespace if checkout else None,
            checkout.tenant_name if checkout else None,
            checkout.client_id if checkout else None,
            checkout.telegram_user_id if checkout else None,
            checkout.plan if checkout else None,
            checkout.days if checkout else None,
            value,
            str((amount or {}).get("currency") or ""),
            money((income or {}).get("value")),
            _status(payment),
            bool(payment.get("test")),
            api_time(payment.get("captured_at")) if payment.get("status") == "succeeded" else None,
            applied is not None,
            applied[0] if applied else None,
            applied[1] if applied else None,
        )

    async def rejected(self, payment_id: str, problem: str) -> None:
        """A paid payment we could not apply: it waits for a human (see the alert)."""
        await (await self._pool()).execute(
            "UPDATE platform.payments SET outcome = 'rejected', problem = $2, updated_at = now()"
            " WHERE payment_id = $1 AND outcome IS DISTINCT FROM 'applied'",
            payment_id,
            problem[:300],
        )

    async def canceled(self, payment_id: str, reason: str) -> None:
        await (await self._pool()).execute(
            "UPDATE platform.payments SET status = 'canceled', problem = $2,"
            " canceled_at = coalesce(canceled_at, now()), updated_at = now()"
            " WHERE payment_id = $1 AND status <> 'succeeded'",
            payment_id,
            reason[:300],
        )

    async def is_settled(self, payment_id: str) -> bool:
        """Applied, or refused and waiting for a human (who resets `outcome` to NULL to retry)."""
        return bool(
            await (await self._pool()).fetchval(
                "SELECT EXISTS (SELECT 1 FROM platform.payments"
                " WHERE payment_id = $1 AND outcome IS NOT NULL)",
                payment_id,
            )
        )

    async def needing_attention(self) -> int:
        return int(
            await (await self._pool()).fetchval(
                "SELECT count(*) FROM platform.payments WHERE status = 'succeeded' AND outcome = 'rejected'"
            )
            or 0
        )

    async def payment(self, payment_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await (await self._pool()).fetchrow(
            "SELECT payment_id, checkout_id, tenant_name, amount, currency, days, outcome, status"
            " FROM platform.payments WHERE payment_id = $1",
            payment_id,
        )
        return row

    # --- refunds we ask for (the admin command) ---
    async def open_refund_request(
        self, payment_id: str, amount: Decimal, currency: str, reason: str
    ) -> uuid.UUID:
        """The Idempotence-Key for this refund: an unfinished identical request's (a retry of the
        same command), else a new one stored before YooKassa is asked."""
        pool = await self._pool()
        key = await pool.fetchval(
            """
            SELECT idempotence_key FROM platform.refund_requests
            WHERE payment_id = $1 AND amount = $2 AND refund_id IS NULL
              AND created_at > now() - make_interval(secs => $3)
            ORDER BY created_at DESC LIMIT 1
            """,
            payment_id,
            amount,
            IDEMPOTENCE_KEY_REUSE_FOR.total_seconds(),
        )
        if key is not None:
            return uuid.UUID(str(key))
        new_key = uuid.uuid4()
        await pool.execute(
            "INSERT INTO platform.refund_requests (idempotence_key, payment_id, amount, currency, reason)"
            " VALUES ($1, $2, $3, $4, $5)",
            new_key,
            payment_id,
            amount,
            currency,
            reason[:250],
        )
        return new_key

    async def refund_request_done(self, key: uuid.UUID, refund: dict[str, Any]) -> None:
        await (await self._pool()).execute(
            "UPDATE platform.refund_requests SET refund_id = $2, status = $3, updated_at = now()"
            " WHERE idempotence_key = $1",
            key,
            str(refund["id"]),
            str(refund.get("status") or "pending"),
        )


def _status(payment: dict[str, Any]) -> str:
    status = str(payment.get("status") or "pending")
    return status if status in ("pending", "waiting_for_capture", "succeeded", "canceled") else "pending"
