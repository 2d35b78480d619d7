"""Versioned migrations of the schema `platform`, applied in order under an advisory lock."""

from __future__ import annotations

import asyncpg

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE SCHEMA IF NOT EXISTS platform;
    REVOKE ALL ON SCHEMA platform FROM PUBLIC;
    CREATE TABLE IF NOT EXISTS platform.checkouts (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('new', 'renewal')),
        telegram_user_id bigint NOT NULL,
        chat_id bigint NOT NULL,
        plan text NOT NULL,
        days integer NOT NULL CHECK (days BETWEEN 1 AND 3660),
        amount numeric(12, 2) NOT NULL,
        currency text NOT NULL,
        company_name text NOT NULL,
        client_id text NOT NULL,
        tenant_name text NOT NULL,
        token_secret_name text,
        receipt_email text,
        idempotence_key uuid NOT NULL UNIQUE,
        return_token text NOT NULL UNIQUE,
        payment_id text UNIQUE,
        confirmation_url text,
        status text NOT NULL DEFAULT 'created',
        status_message text,
        refunded_amount numeric(12, 2) NOT NULL DEFAULT 0,
        ready_notified_at timestamptz,
        canceled_notified_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX IF NOT EXISTS checkouts_new_client_id ON platform.checkouts (client_id)
        WHERE kind = 'new';
    CREATE INDEX IF NOT EXISTS checkouts_owner ON platform.checkouts (telegram_user_id, created_at);
    CREATE TABLE IF NOT EXISTS platform.notifications (
        id bigserial PRIMARY KEY,
        event text NOT NULL,
        object_id text NOT NULL,
        source_ip inet,
        body jsonb NOT NULL,
        deliveries integer NOT NULL DEFAULT 1,
        outcome text NOT NULL DEFAULT 'received',
        error text,
        first_received_at timestamptz NOT NULL DEFAULT now(),
        last_received_at timestamptz NOT NULL DEFAULT now(),
        processed_at timestamptz,
        UNIQUE (event, object_id)
    );
    CREATE TABLE IF NOT EXISTS platform.refunds (
        id text PRIMARY KEY,
        payment_id text NOT NULL,
        checkout_id uuid REFERENCES platform.checkouts (id),
        amount numeric(12, 2) NOT NULL,
        currency text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    """
    ALTER TABLE platform.checkouts ADD COLUMN IF NOT EXISTS token_secret_removed_at timestamptz;
    ALTER TABLE platform.checkouts ADD COLUMN IF NOT EXISTS namespace text;
    CREATE INDEX IF NOT EXISTS checkouts_open ON platform.checkouts (namespace, status)
        WHERE ready_notified_at IS NULL OR canceled_notified_at IS NULL;
    """,
    """
    ALTER TABLE platform.checkouts ADD COLUMN IF NOT EXISTS bot_id bigint;
    CREATE INDEX IF NOT EXISTS checkouts_bot ON platform.checkouts (bot_id) WHERE bot_id IS NOT NULL;
    """,
    # 4: the payments ledger (every payment attempt and what became of it), refund requests,
    # bounded background retries of notifications, token Secrets kept for a paid checkout.
    """
    CREATE TABLE platform.payments (
        id bigserial PRIMARY KEY,
        idempotence_key uuid UNIQUE,
        payment_id text UNIQUE,
        checkout_id uuid REFERENCES platform.checkouts (id),
        kind text NOT NULL,
        namespace text,
        tenant_name text,
        client_id text,
        telegram_user_id bigint,
        plan text,
        days integer,
        amount numeric(12, 2) NOT NULL,
        currency text NOT NULL,
        income_amount numeric(12, 2),
        status text NOT NULL DEFAULT 'creating'
            CHECK (status IN ('creating', 'pending', 'waiting_for_capture', 'succeeded', 'canceled')),
        outcome text CHECK (outcome IN ('applied', 'rejected')),
        problem text,
        test boolean,
        period_start timestamptz,
        period_end timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        paid_at timestamptz,
        applied_at timestamptz,
        canceled_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX payments_checkout ON platform.payments (checkout_id, id);
    CREATE INDEX payments_tenant ON platform.payments (tenant_name, created_at);
    CREATE INDEX payments_attention ON platform.payments (updated_at)
        WHERE status = 'succeeded' AND outcome IS DISTINCT FROM 'applied';
    INSERT INTO platform.payments (idempotence_key, payment_id, checkout_id, kind, namespace, tenant_name,
        client_id, telegram_user_id, plan, days, amount, currency, status, outcome, created_at)
    SELECT idempotence_key, payment_id, id, kind, namespace, tenant_name, client_id, telegram_user_id, plan,
        days, amount, currency,
        CASE status WHEN 'applied' THEN 'succeeded' WHEN 'canceled' THEN 'canceled'
            WHEN 'pending' THEN 'pending' ELSE 'creating' END,
        CASE WHEN status = 'applied' THEN 'applied' END, created_at
    FROM platform.checkouts;
    ALTER TABLE platform.refunds
        ADD COLUMN tenant_name text,
        ADD COLUMN days_removed integer,
        ADD COLUMN applied_at timestamptz,
        ADD COLUMN created_at timestamptz;
    CREATE TABLE platform.refund_requests (
        idempotence_key uuid PRIMARY KEY,
        payment_id text NOT NULL,
        amount numeric(12, 2) NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        reason text NOT NULL,
        refund_id text UNIQUE,
        status text NOT NULL DEFAULT 'creating',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE platform.notifications
        ADD COLUMN recovery_attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN next_attempt_at timestamptz;
    ALTER TABLE platform.checkouts
        ADD COLUMN token_secret_kept_at timestamptz,
        ADD COLUMN receipt_phone text;
    """,
    # 5: reminders told to owners, once per tenant, kind and paid-until value.
    """
    CREATE TABLE platform.owner_reminders (
        tenant_name text NOT NULL,
        namespace text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('expires_in_3_days', 'expires_in_1_day', 'suspended')),
        paid_until text NOT NULL,
        sent_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, tenant_name, kind, paid_until)
    );
    """,
    # 6: auto-renewal: the owner's opt-in, the saved payment method, one charge checkout per period.
    """
    ALTER TABLE platform.checkouts
        ADD COLUMN save_payment_method boolean NOT NULL DEFAULT false,
        ADD COLUMN payment_method_id text,
        ADD COLUMN auto_for_paid_until text;
    CREATE UNIQUE INDEX checkouts_auto_period
        ON platform.checkouts (namespace, tenant_name, auto_for_paid_until)
        WHERE auto_for_paid_until IS NOT NULL;
    CREATE TABLE platform.autorenewals (
        namespace text NOT NULL,
        tenant_name text NOT NULL,
        telegram_user_id bigint NOT NULL,
        checkout_id uuid NOT NULL REFERENCES platform.checkouts (id),
        payment_method_id text NOT NULL,
        method_title text,
        plan text NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, tenant_name)
    );
    """,
    # 7: the business's time zone, asked by the sales bot, written into the new tenant's spec.
    """
    ALTER TABLE platform.checkouts ADD COLUMN time_zone text;
    """,
    # 8: the owner's Telegram language at checkout, for the notices sent outside a conversation.
    """
    ALTER TABLE platform.checkouts ADD COLUMN language text;
    """,
)

MIGRATION_LOCK = 0x426F6F6B  # pg_advisory_lock key: one migrator at a time


async def migrate(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE SCHEMA IF NOT EXISTS platform;"
            "CREATE TABLE IF NOT EXISTS platform.schema_migrations"
            " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM platform.schema_migrations")}
        for version, sql in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO platform.schema_migrations (version) VALUES ($1)", version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
