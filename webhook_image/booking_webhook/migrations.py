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
