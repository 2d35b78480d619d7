"""What the platform remembers about renewals: owners' auto-renewal opt-ins (the saved payment
method), the one charge checkout of each period, and the expiry reminders already sent.

A part of `Store` (a mixin over the same pool) kept in its own module so that the checkout and
notification tables stay readable in `store.py`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from booking_webhook.checkout_record import CHECKOUT_COLUMNS, Checkout


class RenewalRecords:
    async def ensure(self) -> asyncpg.Pool:
        raise NotImplementedError

    # --- expiry reminders ---
    async def claim_reminder(self, namespace: str, tenant_name: str, kind: str, paid_until: str) -> bool:
        """True once per (tenant, kind, paid-until): a renewal moves paid-until, so the next
        period's reminders are due again."""
        claimed = await (await self.ensure()).fetchval(
            "INSERT INTO platform.owner_reminders (namespace, tenant_name, kind, paid_until)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            namespace,
            tenant_name,
            kind,
            paid_until,
        )
        return bool(claimed)

    async def release_reminder(self, namespace: str, tenant_name: str, kind: str, paid_until: str) -> None:
        await (await self.ensure()).execute(
            "DELETE FROM platform.owner_reminders"
            " WHERE namespace = $1 AND tenant_name = $2 AND kind = $3 AND paid_until = $4",
            namespace,
            tenant_name,
            kind,
            paid_until,
        )

    # --- auto-renewal ---
    async def save_autorenewal(
        self, checkout: Checkout, payment_method_id: str, title: str | None, plan: str
    ) -> None:
        """The owner opted in and YooKassa saved the method: charge it before the next end."""
        await (await self.ensure()).execute(
            """
            INSERT INTO platform.autorenewals (namespace, tenant_name, telegram_user_id, checkout_id,
                payment_method_id, method_title, plan)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (namespace, tenant_name) DO UPDATE SET payment_method_id = EXCLUDED.payment_method_id,
                method_title = EXCLUDED.method_title, plan = EXCLUDED.plan, enabled = true,
                checkout_id = EXCLUDED.checkout_id, updated_at = now()
            """,
            checkout.namespace,
            checkout.tenant_name,
            checkout.telegram_user_id,
            checkout.id,
            payment_method_id,
            title,
            plan,
        )

    async def autorenewals(self, namespace: str, owner: int | None = None) -> list[asyncpg.Record]:
        return list(
            await (await self.ensure()).fetch(
                "SELECT a.tenant_name, a.telegram_user_id, a.checkout_id, a.payment_method_id,"
                " a.method_title, a.plan, c.company_name FROM platform.autorenewals a"
                " JOIN platform.checkouts c ON c.id = a.checkout_id"
                " WHERE a.namespace = $1 AND a.enabled AND ($2::bigint IS NULL OR a.telegram_user_id = $2)"
                " ORDER BY a.tenant_name",
                namespace,
                owner,
            )
        )

    async def disable_autorenewal(self, namespace: str, tenant_name: str, owner: int) -> bool:
        done = await (await self.ensure()).execute(
            "UPDATE platform.autorenewals SET enabled = false, updated_at = now()"
            " WHERE namespace = $1 AND tenant_name = $2 AND telegram_user_id = $3 AND enabled",
            namespace,
            tenant_name,
            owner,
        )
        return bool(done == "UPDATE 1")

    async def auto_checkout(self, namespace: str, tenant_name: str, paid_until: str) -> Checkout | None:
        row = await (await self.ensure()).fetchrow(
            f"SELECT {CHECKOUT_COLUMNS} FROM platform.checkouts"  # noqa: S608
            " WHERE namespace = $1 AND tenant_name = $2 AND auto_for_paid_until = $3",
            namespace,
            tenant_name,
            paid_until,
        )
        return Checkout.from_row(row) if row else None

    async def create_auto_checkout(self, **fields: Any) -> Checkout:
        """The one charge checkout of a period: a concurrent or repeated pass gets the same row."""
        columns = ", ".join(fields)
        placeholders = ", ".join(f"${i}" for i in range(1, len(fields) + 1))
        row = await (await self.ensure()).fetchrow(
            f"INSERT INTO platform.checkouts ({columns}) VALUES ({placeholders})"  # noqa: S608 - constant names
            " ON CONFLICT (namespace, tenant_name, auto_for_paid_until) WHERE auto_for_paid_until IS NOT NULL"
            f" DO NOTHING RETURNING {CHECKOUT_COLUMNS}",
            *fields.values(),
        )
        if row is not None:
            return Checkout.from_row(row)
        existing = await self.auto_checkout(
            fields["namespace"], fields["tenant_name"], fields["auto_for_paid_until"]
        )
        if existing is None:  # the conflicting row was deleted meanwhile: nobody deletes checkouts
            raise RuntimeError("the period's auto-renewal checkout vanished")
        return existing
