"""Versioned, idempotent migrations of the tenant schema.

``python -m booking_bot migrate`` connects as the tenant's own role, makes sure the schema
named CLIENT_ID exists, and applies each pending ``migrations/NNNN_name.sql`` in its own
transaction under a transaction-level advisory lock on the schema (two pods never migrate at
once: the second waits, re-checks, and finds nothing to do), recording it in
``schema_migrations``. A re-run is a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources

import asyncpg

from booking_bot.db import connect, quote_ident

log = logging.getLogger("booking_bot.migrate")

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Advisory lock keys are (int4, int4): a fixed class id plus a per-schema hash.
LOCK_CLASS = 0x0B0C


class MigrationError(Exception):
    """Migrations cannot run; the message is one line for humans."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """All migration files shipped in the package, ordered by version."""
    found = []
    for entry in resources.files("booking_bot.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return found


async def ensure_schema(conn: asyncpg.Connection, schema: str) -> None:
    exists = await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", schema)
    if exists:
        return
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    except asyncpg.InsufficientPrivilegeError:
        raise MigrationError(
            f"schema {schema!r} does not exist and this role may not create it (the operator creates it)"
        ) from None
    log.info("schema created", extra={"event": "schema_created"})


async def migrate(dsn: str, schema: str, *, up_to: int | None = None) -> list[int]:
    """Apply pending migrations in ``schema``; return the versions applied by this call.

    ``up_to`` stops after that version (tests build a schema as an older bot left it).

    Every step is one transaction that first takes a transaction-level advisory lock on the
    schema and sets ``search_path`` locally, so this works the same through PgBouncer in
    transaction-pooling mode (where a session lock or a session ``SET`` could land on another
    server connection) and directly against PostgreSQL.
    """
    migrations = [m for m in load_migrations() if up_to is None or m.version <= up_to]
    conn = await connect(dsn, schema=None)
    try:
        await ensure_schema(conn, schema)
        lock_key = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big", signed=True)
        async with _locked(conn, schema, lock_key):
            await conn.execute(_SCHEMA_MIGRATIONS)
            rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {int(r["version"]): str(r["checksum"]) for r in rows}
        done: list[int] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    log.warning(
                        "applied migration differs from the shipped file",
                        extra={"event": "migration_checksum_mismatch", "version": migration.version},
                    )
                continue
            async with _locked(conn, schema, lock_key):
                # Another pod may have applied it while we waited for the lock.
                if await conn.fetchval(
                    "SELECT true FROM schema_migrations WHERE version = $1", migration.version
                ):
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration applied", extra={"event": "migration_applied", "version": migration.version})
            done.append(migration.version)
        return done
    finally:
        await conn.close()


_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@contextlib.asynccontextmanager
async def _locked(conn: asyncpg.Connection, schema: str, lock_key: int) -> AsyncIterator[None]:
    """A transaction holding the schema's migration lock, with search_path set inside it."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_CLASS, lock_key)
        await conn.execute(f"SET LOCAL search_path TO {quote_ident(schema)}")
        yield
