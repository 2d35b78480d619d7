"""The platform's own tables (schema `platform`): checkouts, accepted notifications, refunds.

Tenant roles cannot use this schema. Every statement is parameterised; the only identifiers
are constants of this module.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from booking_webhook.migrations import migrate

CHECKOUT_COLUMNS = (
    "id, kind, telegram_user_id, chat_id, plan, days, amount, currency, company_name, client_id, "
    "tenant_name, token_secret_name, receipt_email, idempotence_key, return_token, payment_id, "
    "confirmation_url, status, status_message, refunded_amount, created_at, namespace, bot_id"
)


@dataclass(frozen=True)
class Checkout:
    id: uuid.UUID
    kind: str
    telegram_user_id: int
    chat_id: int
    plan: str
    days: int
    amount: Decimal
    currency: str
    company_name: str
    client_id: str
    tenant_name: str
    token_secret_name: str | None
    receipt_email: str | None
    idempotence_key: uuid.UUID
    return_token: str
    payment_id: str | None
    confirmation_url: str | None
    status: str
    status_message: str | None
    refunded_amount: Decimal
    created_at: datetime.datetime
    namespace: str | None  # the TENANT_NAMESPACE the tenant lives in
    bot_id: int | None  # the owner's bot (Telegram user id), from getMe

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Checkout:
        return cls(**dict(row))


class Store:
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
        return list(
            await (await self.ensure()).fetch(
                """
                SELECT id, event, object_id FROM platform.notifications
                WHERE outcome IN ('received', 'retry')
                  AND last_received_at < now() - make_interval(secs => $1)
                ORDER BY id LIMIT $2
                """,
                older_than_seconds,
                limit,
            )
        )

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
    ) -> None:
        await (await self.ensure()).execute(
            """
            UPDATE platform.checkouts
            SET payment_id = $2, confirmation_url = $3, status = 'pending', updated_at = now()
            WHERE id = $1 AND (payment_id IS NULL OR payment_id = $2)
            """,
            checkout_id,
            payment_id,
            confirmation_url,
        )

    async def set_checkout_status(
        self, checkout_id: uuid.UUID, status: str, message: str | None = None
    ) -> None:
        await (await self.ensure()).execute(
            "UPDATE platform.checkouts SET status = $2, status_message = $3, updated_at = now()"
            " WHERE id = $1",
            checkout_id,
            status,
            message,
        )

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

    async def abandoned_token_secrets(
        self, namespace: str, older_than_seconds: float
    ) -> list[tuple[uuid.UUID, str]]:
        """Token Secrets of new-bot checkouts that were never paid (and now never will be)."""
        rows = await (await self.ensure()).fetch(
            """
            SELECT id, token_secret_name FROM platform.checkouts
            WHERE kind = 'new' AND status IN ('created', 'pending', 'canceled')
              AND token_secret_name IS NOT NULL AND token_secret_removed_at IS NULL
              AND created_at < now() - make_interval(secs => $2) AND namespace = $1
            ORDER BY created_at LIMIT 100
            """,
            namespace,
            older_than_seconds,
        )
        return [(r["id"], str(r["token_secret_name"])) for r in rows]

    async def mark_token_secret_removed(self, checkout_id: uuid.UUID) -> None:
        await (await self.ensure()).execute(
            "UPDATE platform.checkouts SET token_secret_removed_at = now() WHERE id = $1", checkout_id
        )

    # --- refunds ---
    async def record_refund(
        self, refund_id: str, payment_id: str, checkout_id: uuid.UUID | None, amount: Decimal, currency: str
    ) -> bool:
        async with (await self.ensure()).acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO platform.refunds (id, payment_id, checkout_id, amount, currency)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING true",
                refund_id,
                payment_id,
                checkout_id,
                amount,
                currency,
            )
            if inserted and checkout_id is not None:
                await conn.execute(
                    "UPDATE platform.checkouts SET refunded_amount = refunded_amount + $2, updated_at = now()"
                    " WHERE id = $1",
                    checkout_id,
                    amount,
                )
            return bool(inserted)
