"""The platform's own tables (schema `platform`): checkouts, accepted notifications, refunds.

Tenant roles cannot use this schema. Every statement is parameterised; the only identifiers
are constants of this module.

A checkout's status only moves forward, and the database enforces it: every status write is
an `UPDATE ... WHERE status = ANY(<the states it may come from>)`, so a late or replayed step
(a retry button tapped after the payment went through, a cancel notification of an older
attempt) changes nothing. `applied` is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg

from booking_webhook.checkout_record import CHECKOUT_COLUMNS, CHECKOUT_TRANSITIONS, Checkout
from booking_webhook.migrations import migrate
from booking_webhook.renewal_records import RenewalRecords

__all__ = ["CHECKOUT_COLUMNS", "CHECKOUT_TRANSITIONS", "Checkout", "Store"]


class Store(RenewalRecords):
    """The platform tables behind a lazily (re)connected pool: the service starts, and answers
    /health, while PostgreSQL is still coming up; until it is reachable every call raises."""

    def __init__(self, dsn: str, min_size: int = 1, max_size: int = 10) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, dsn: str, min_size: int = 1, max_size: int = 10) -> Store:
        """Connect and migrate now (raises if PostgreSQL is unreachable)."""
        store = cls(dsn, min_size, max_size)
        await store.ensure()
        return store

    async def ensure(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                pool = await asyncpg.create_pool(
                    self._dsn, min_size=self._min_size, max_size=self._max_size, command_timeout=10, timeout=5
                )
                try:
                    async with pool.acquire() as conn:
                        await migrate(conn)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def ping(self) -> None:
        await (await self.ensure()).fetchval("SELECT 1")

    # --- notifications ---
    async def record_notification(
        self, event: str, object_id: str, source_ip: str | None, body: dict[str, Any]
    ) -> tuple[int, str]:
        row = await (await self.ensure()).fetchrow(
            """
            INSERT INTO platform.notifications (event, object_id, source_ip, body)
            VALUES ($1, $2, $3::inet, $4::jsonb)
            ON CONFLICT (event, object_id) DO UPDATE
                SET deliveries = platform.notifications.deliveries + 1, last_received_at = now()
            RETURNING id, outcome
            """,
            event,
            object_id,
            source_ip,
            json.dumps(body),
        )
        if row is None:  # an upsert with RETURNING always returns its row
            raise RuntimeError("recording a notification returned no row")
        return int(row["id"]), str(row["outcome"])

    async def finish_notification(self, notification_id: int, outcome: str, error: str | None = None) -> None:
        await (await self.ensure()).execute(
            "UPDATE platform.notifications SET outcome = $2, error = $3, processed_at = now() WHERE id = $1",
            notification_id,
            outcome,
            error,
        )

    async def unfinished_notifications(
        self, older_than_seconds: float, limit: int = 50
    ) -> list[asyncpg.Record]:
        """Due rows, least-tried first: a row that keeps failing waits out its back-off and goes
        behind the others, so it can never starve them."""
        return list(
            await (await self.ensure()).fetch(
                """
                SELECT id, event, object_id, recovery_attempts FROM platform.notifications
                WHERE outcome IN ('received', 'retry')
                  AND last_received_at < now() - make_interval(secs => $1)
                  AND (next_attempt_at IS NULL OR next_attempt_at <= now())
                ORDER BY recovery_attempts, coalesce(next_attempt_at, last_received_at), id LIMIT $2
                """,
                older_than_seconds,
                limit,
            )
        )

    async def defer_notification(self, notification_id: int, error: str, delay_seconds: float) -> int:
        """Count one failed background attempt; returns how many there have been."""
        attempts = await (await self.ensure()).fetchval(
            """
            UPDATE platform.notifications
            SET recovery_attempts = recovery_attempts + 1, error = $2, outcome = 'retry',
                next_attempt_at = now() + make_interval(secs => $3)
            WHERE id = $1 RETURNING recovery_attempts
            """,
            notification_id,
            error[:300],
            delay_seconds,
        )
        return int(attempts or 0)

    @contextlib.asynccontextmanager
    async def try_lock(self, key: int) -> AsyncIterator[bool]:
        """A session advisory lock, not waited for: one replica runs a periodic pass at a time."""
        async with (await self.ensure()).acquire() as conn:
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            try:
                yield got
            finally:
                if got:
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)

    # --- checkouts ---
    async def create_checkout(self, **fields: Any) -> Checkout:
        columns = ", ".join(fields)
        placeholders = ", ".join(f"${i}" for i in range(1, len(fields) + 1))
        row = await (await self.ensure()).fetchrow(
            f"INSERT INTO platform.checkouts ({columns}) VALUES ({placeholders})"  # noqa: S608 - constant names
            f" RETURNING {CHECKOUT_COLUMNS}",
            *fields.values(),
        )
        if row is None:  # an INSERT with RETURNING always returns its row
            raise RuntimeError("creating a checkout returned no row")
        return Checkout.from_row(row)

    async def checkout(self, checkout_id: uuid.UUID) -> Checkout | None:
        row = await (await self.ensure()).fetchrow(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts WHERE id = $1",  # noqa: S608
            checkout_id,
        )
        return Checkout.from_row(row) if row else None

    async def checkout_by_return_token(self, token: str) -> Checkout | None:
        row = await (await self.ensure()).fetchrow(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts WHERE return_token = $1",  # noqa: S608
            token,
        )
        return Checkout.from_row(row) if row else None

    async def checkout_by_bot(self, bot_id: int, namespace: str) -> Checkout | None:
        """The newest new-bot checkout for this Telegram bot."""
        row = await (await self.ensure()).fetchrow(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts"  # noqa: S608
            " WHERE bot_id = $1 AND kind = 'new' AND namespace = $2 ORDER BY created_at DESC LIMIT 1",
            bot_id,
            namespace,
        )
        return Checkout.from_row(row) if row else None

    async def client_id_taken(self, client_id: str) -> bool:
        return bool(
            await (await self.ensure()).fetchval(
                "SELECT EXISTS (SELECT 1 FROM platform.checkouts WHERE client_id = $1)", client_id
            )
        )

    async def attach_payment(
        self, checkout_id: uuid.UUID, payment_id: str, confirmation_url: str | None
    ) -> bool:
        """Make a payment the checkout's current one (`pending`). Never from `applied`; from
        `canceled` only with a payment other than the canceled one (a new attempt)."""
        done = await (await self.ensure()).execute(
            """
            UPDATE platform.checkouts
            SET payment_id = $2, confirmation_url = $3, status = 'pending', status_message = NULL,
                updated_at = now()
            WHERE id = $1 AND status = ANY($4::text[])
              AND (status <> 'canceled' OR payment_id IS DISTINCT FROM $2)
            """,
            checkout_id,
            payment_id,
            confirmation_url,
            list(CHECKOUT_TRANSITIONS["pending"]),
        )
        return bool(done == "UPDATE 1")

    async def mark_applied(self, checkout_id: uuid.UUID, payment_id: str) -> bool:
        """A paid payment of this checkout was applied (the first one tied to it stays its id)."""
        done = await (await self.ensure()).execute(
            """
            UPDATE platform.checkouts
            SET status = 'applied', status_message = NULL, payment_id = coalesce(payment_id, $2),
                updated_at = now()
            WHERE id = $1 AND status = ANY($3::text[])
            """,
            checkout_id,
            payment_id,
            list(CHECKOUT_TRANSITIONS["applied"]),
        )
        return bool(done == "UPDATE 1")

    async def mark_canceled(self, checkout_id: uuid.UUID, payment_id: str, reason: str) -> bool:
        """Only the checkout's current payment can cancel it; an older attempt's cancel is history."""
        done = await (await self.ensure()).execute(
            """
            UPDATE platform.checkouts SET status = 'canceled', status_message = $3, updated_at = now()
            WHERE id = $1 AND status = ANY($4::text[]) AND (payment_id IS NULL OR payment_id = $2)
            """,
            checkout_id,
            payment_id,
            reason,
            list(CHECKOUT_TRANSITIONS["canceled"]),
        )
        return bool(done == "UPDATE 1")

    async def owner_tenants(self, telegram_user_id: int, namespace: str) -> list[Checkout]:
        """The owner's tenants in `namespace`: the applied 'new' checkout of each tenant."""
        rows = await (await self.ensure()).fetch(
            f"SELECT DISTINCT ON (tenant_name) {CHECKOUT_COLUMNS} FROM platform.checkouts"  # noqa: S608
            " WHERE telegram_user_id = $1 AND kind = 'new' AND status = 'applied' AND namespace = $2"
            " ORDER BY tenant_name, created_at DESC",
            telegram_user_id,
            namespace,
        )
        return [Checkout.from_row(r) for r in rows]

    async def tenants_sold(self, namespace: str) -> list[Checkout]:
        """The applied new-bot checkout of every tenant this platform sold in `namespace`."""
        rows = await (await self.ensure()).fetch(
            f"SELECT DISTINCT ON (tenant_name) {CHECKOUT_COLUMNS} FROM platform.checkouts"  # noqa: S608
            " WHERE kind = 'new' AND status = 'applied' AND namespace = $1"
            " ORDER BY tenant_name, created_at DESC",
            namespace,
        )
        return [Checkout.from_row(r) for r in rows]

    async def tenant_languages(self, namespace: str) -> dict[str, str]:
        """The owner's language at each tenant's latest applied checkout that recorded one: a
        renewal made from a Telegram client in another language speaks for the owner now."""
        rows = await (await self.ensure()).fetch(
            "SELECT DISTINCT ON (tenant_name) tenant_name, language FROM platform.checkouts"
            " WHERE status = 'applied' AND namespace = $1 AND language IS NOT NULL"
            " ORDER BY tenant_name, created_at DESC",
            namespace,
        )
        return {str(r["tenant_name"]): str(r["language"]) for r in rows}

    async def latest_checkout(self, telegram_user_id: int) -> Checkout | None:
        row = await (await self.ensure()).fetchrow(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts WHERE telegram_user_id = $1"  # noqa: S608
            " ORDER BY created_at DESC LIMIT 1",
            telegram_user_id,
        )
        return Checkout.from_row(row) if row else None

    async def checkouts_awaiting_ready_message(self, namespace: str, within_seconds: float) -> list[Checkout]:
        """Applied checkouts whose owner has not been told yet; after `within_seconds` the
        notifier gives up (a tenant that never gets Ready is an operator matter, see /status)."""
        rows = await (await self.ensure()).fetch(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts"  # noqa: S608
            " WHERE status = 'applied' AND ready_notified_at IS NULL AND namespace = $1"
            " AND updated_at > now() - make_interval(secs => $2) ORDER BY created_at LIMIT 100",
            namespace,
            within_seconds,
        )
        return [Checkout.from_row(r) for r in rows]

    async def checkouts_awaiting_cancel_message(self, namespace: str) -> list[Checkout]:
        rows = await (await self.ensure()).fetch(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts"  # noqa: S608
            " WHERE status = 'canceled' AND canceled_notified_at IS NULL AND namespace = $1"
            " ORDER BY created_at LIMIT 100",
            namespace,
        )
        return [Checkout.from_row(r) for r in rows]

    async def mark_ready_notified(self, checkout_id: uuid.UUID) -> bool:
        done = await (await self.ensure()).execute(
            "UPDATE platform.checkouts SET ready_notified_at = now()"
            " WHERE id = $1 AND ready_notified_at IS NULL",
            checkout_id,
        )
        return bool(done == "UPDATE 1")

    async def mark_cancel_notified(self, checkout_id: uuid.UUID) -> bool:
        done = await (await self.ensure()).execute(
            "UPDATE platform.checkouts SET canceled_notified_at = now()"
            " WHERE id = $1 AND canceled_notified_at IS NULL",
            checkout_id,
        )
        return bool(done == "UPDATE 1")

    async def refunded_total(self, tenant_name: str) -> Decimal:
        value = await (await self.ensure()).fetchval(
            "SELECT coalesce(sum(refunded_amount), 0) FROM platform.checkouts WHERE tenant_name = $1",
            tenant_name,
        )
        return Decimal(value)

    async def abandoned_token_secrets(self, namespace: str, older_than_seconds: float) -> list[Checkout]:
        """New-bot checkouts that look unpaid, old enough for their token Secret to go: candidates
        only. The caller still asks Kubernetes and YooKassa before deleting anything."""
        rows = await (await self.ensure()).fetch(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts c"  # noqa: S608 - constant names
            """
            WHERE kind = 'new' AND status IN ('created', 'pending', 'canceled')
              AND token_secret_name IS NOT NULL AND token_secret_removed_at IS NULL
              AND token_secret_kept_at IS NULL
              AND created_at < now() - make_interval(secs => $2) AND namespace = $1
              AND NOT EXISTS (SELECT 1 FROM platform.payments p
                              WHERE p.checkout_id = c.id AND p.status = 'succeeded')
            ORDER BY created_at LIMIT 100
            """,
            namespace,
            older_than_seconds,
        )
        return [Checkout.from_row(r) for r in rows]

    async def mark_token_secret_removed(self, checkout_id: uuid.UUID) -> None:
        await (await self.ensure()).execute(
            "UPDATE platform.checkouts SET token_secret_removed_at = now() WHERE id = $1", checkout_id
        )

    async def mark_token_secret_kept(self, checkout_id: uuid.UUID) -> None:
        """The token belongs to a tenant that exists: never a cleanup candidate again."""
        await (await self.ensure()).execute(
            "UPDATE platform.checkouts SET token_secret_kept_at = now() WHERE id = $1", checkout_id
        )

    # --- refunds ---
    async def record_refund(
        self,
        refund_id: str,
        payment_id: str,
        checkout_id: uuid.UUID | None,
        amount: Decimal,
        currency: str,
        tenant_name: str | None = None,
        created_at: datetime.datetime | None = None,
    ) -> bool:
        async with (await self.ensure()).acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO platform.refunds (id, payment_id, checkout_id, amount, currency, tenant_name,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING true",
                refund_id,
                payment_id,
                checkout_id,
                amount,
                currency,
                tenant_name,
                created_at,
            )
            if inserted and checkout_id is not None:
                await conn.execute(
                    "UPDATE platform.checkouts SET refunded_amount = refunded_amount + $2, updated_at = now()"
                    " WHERE id = $1",
                    checkout_id,
                    amount,
                )
            return bool(inserted)

    async def refund_applied(self, refund_id: str, days_removed: int | None) -> None:
        await (await self.ensure()).execute(
            "UPDATE platform.refunds SET days_removed = $2, applied_at = coalesce(applied_at, now())"
            " WHERE id = $1",
            refund_id,
            days_removed,
        )

    async def refund_is_applied(self, refund_id: str) -> bool:
        return bool(
            await (await self.ensure()).fetchval(
                "SELECT EXISTS (SELECT 1 FROM platform.refunds WHERE id = $1 AND applied_at IS NOT NULL)",
                refund_id,
            )
        )
