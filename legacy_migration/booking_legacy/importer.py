"""SQLite -> PostgreSQL: one legacy client's file into that client's schema, all or nothing.

Per client:

1. The SQLite file is checked (corruption, tables, columns) and every row validated while it
   is streamed into TEMP staging tables (``pg_temp``: session-private, never the tenant's
   schema). Anything wrong stops here, so a corrupt or unexpected file leaves the schema
   untouched.
2. Only then, with ``--create-schemas``, the schema and role are made through the operator's
   own code path (``booking_operator.database.ensure_tenant``), and the bot's migrations run
   (``booking_bot.migrate.migrate``, as the tenant role).
3. One transaction copies the staged rows into ``services``, ``users`` and ``bookings``
   (skipping every legacy id already there: a re-run writes nothing), occupies the grid cells
   of upcoming confirmed bookings (``booked_slots``) and plans their reminders, then counts
   the rows of this file present in the tables, compares them with the SQLite counts and
   only then commits.

Connections: either the tenant's own ``DATABASE_URL`` (its role owns the schema; one client)
or an admin DSN (the operator's ``OPERATOR_DATABASE_URL`` role: member of every tenant role)
for a whole tree; migrations then run ``SET ROLE <client_id>`` so the tables stay the tenant's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from booking_bot.db import connect, quote_ident
from booking_bot.migrate import MigrationError, load_migrations, migrate
from booking_contract.client_id import tenant_name
from booking_legacy.sqlite_source import Counts, SqliteSource
from booking_legacy.tree import DEFAULT_TIMEZONE, LegacyClient, LegacyError
from booking_operator import database, passwords

STAGING = """
CREATE TEMP TABLE legacy_stg_services (
    legacy_id bigint, name text, description text, duration integer, price numeric(12, 2),
    is_active boolean, placeholder boolean);
CREATE TEMP TABLE legacy_stg_users (
    telegram_id bigint, first_name text, last_name text, username text, language_code text,
    phone text, placeholder boolean);
CREATE TEMP TABLE legacy_stg_bookings (
    legacy_id bigint, user_id bigint, service_legacy_id bigint, starts_at timestamptz,
    ends_at timestamptz, status text, note text, created_at timestamptz);
CREATE TEMP TABLE legacy_stg_new (id bigint, starts_at timestamptz, ends_at timestamptz, status text);
"""
SERVICE_COLS = ["legacy_id", "name", "description", "duration", "price", "is_active", "placeholder"]
USER_COLS = ["telegram_id", "first_name", "last_name", "username", "language_code", "phone", "placeholder"]
BOOKING_COLS = [
    "legacy_id",
    "user_id",
    "service_legacy_id",
    "starts_at",
    "ends_at",
    "status",
    "note",
    "created_at",
]

INSERT_SERVICES = """
INSERT INTO services (name, description, duration_minutes, price, is_active, legacy_id)
SELECT s.name, s.description, s.duration, s.price, s.is_active, s.legacy_id
FROM pg_temp.legacy_stg_services s
WHERE NOT EXISTS (SELECT 1 FROM services x WHERE x.legacy_id = s.legacy_id)
ORDER BY s.legacy_id
"""
INSERT_USERS = """
INSERT INTO users (telegram_id, first_name, last_name, username, language_code, phone)
SELECT telegram_id, first_name, last_name, username, language_code, phone
FROM pg_temp.legacy_stg_users ORDER BY telegram_id
ON CONFLICT (telegram_id) DO NOTHING
"""
MARK_USERS = """
INSERT INTO legacy_users (telegram_id) SELECT telegram_id FROM pg_temp.legacy_stg_users
ON CONFLICT DO NOTHING
"""
INSERT_BOOKINGS = """
WITH ins AS (
    INSERT INTO bookings (kind, service_id, user_id, starts_at, ends_at, status, note,
                          created_at, updated_at, legacy_id)
    SELECT 'customer', sv.id, b.user_id, b.starts_at, b.ends_at, b.status, b.note,
           coalesce(b.created_at, now()), now(), b.legacy_id
    FROM pg_temp.legacy_stg_bookings b
    JOIN services sv ON sv.legacy_id = b.service_legacy_id
    WHERE NOT EXISTS (SELECT 1 FROM bookings x WHERE x.legacy_id = b.legacy_id)
    ORDER BY b.legacy_id
    RETURNING id, starts_at, ends_at, status
)
INSERT INTO pg_temp.legacy_stg_new SELECT id, starts_at, ends_at, status FROM ins
"""
# Upcoming confirmed bookings hold their 5-minute UTC grid cells, as the bot's own do (an
# off-grid legacy time holds every cell it touches). Two legacy bookings on the same cell:
# the earlier one holds it, both bookings are kept, the overlap is reported.
OCCUPY = """
WITH cells AS (
    SELECT g AS slot_start, n.id, n.starts_at FROM pg_temp.legacy_stg_new n
    CROSS JOIN LATERAL generate_series(
        to_timestamp(floor(extract(epoch FROM n.starts_at) / 300) * 300),
        n.ends_at - interval '1 microsecond', interval '5 minutes') AS g
    WHERE n.status = 'confirmed' AND n.ends_at > now()
), held AS (
    INSERT INTO booked_slots (slot_start, booking_id)
    SELECT slot_start, id FROM cells ORDER BY starts_at, id
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM cells) AS wanted, (SELECT count(*) FROM held) AS held
"""
PLAN_REMINDERS = """
INSERT INTO reminders (booking_id, offset_minutes, due_at)
SELECT n.id, o.minutes, n.starts_at - make_interval(mins => o.minutes)
FROM pg_temp.legacy_stg_new n
CROSS JOIN (SELECT unnest(reminder_offsets_minutes) AS minutes FROM settings WHERE id) o
WHERE n.status = 'confirmed' AND n.starts_at - make_interval(mins => o.minutes) > now()
ON CONFLICT DO NOTHING
"""
# A re-run after the legacy file changed (a rehearsal import, then the final one): bookings
# cancelled in the legacy bot since are cancelled here too (their cells freed, reminders not yet
# sent dropped); nothing is ever un-cancelled, and changed times are only reported.
SYNC_CANCELLED = """
WITH changed AS (
    UPDATE bookings b SET status = 'cancelled', cancelled_at = now(), updated_at = now()
    FROM pg_temp.legacy_stg_bookings s
    WHERE b.legacy_id = s.legacy_id AND s.status = 'cancelled' AND b.status = 'confirmed'
    RETURNING b.id
), freed AS (
    DELETE FROM booked_slots WHERE booking_id IN (SELECT id FROM changed)
), dropped AS (
    DELETE FROM reminders WHERE booking_id IN (SELECT id FROM changed) AND claimed_at IS NULL
)
SELECT count(*) FROM changed
"""
MOVED = """
SELECT count(*) FROM pg_temp.legacy_stg_bookings s JOIN bookings b ON b.legacy_id = s.legacy_id
WHERE b.starts_at <> s.starts_at AND s.status = 'confirmed' AND b.status = 'confirmed'
"""
VERIFY = """
SELECT
  (SELECT count(*) FROM pg_temp.legacy_stg_services s JOIN services x ON x.legacy_id = s.legacy_id
    WHERE NOT s.placeholder) AS services,
  (SELECT count(*) FROM pg_temp.legacy_stg_users s JOIN users u ON u.telegram_id = s.telegram_id
    WHERE NOT s.placeholder) AS users,
  (SELECT count(*) FROM pg_temp.legacy_stg_bookings s JOIN bookings b ON b.legacy_id = s.legacy_id)
    AS bookings
"""


@dataclass
class ClientResult:
    client_id: str
    ok: bool = False
    dry_run: bool = False
    counts: Counts | None = None
    new: Counts | None = None
    placeholders: int = 0
    notes: list[str] = field(default_factory=list)
    reason: str = ""

    def summary(self) -> str:
        """The legacy tool's line: ``Migrated client_001: 45 bookings, 5 services, 12 users``."""
        if not self.ok or self.counts is None:
            return f"Failed {self.client_id}: {self.reason}"
        c = self.counts
        verb = "Would migrate" if self.dry_run else "Migrated"
        return f"{verb} {self.client_id}: {c.bookings} bookings, {c.services} services, {c.users} users"

    def details(self) -> list[str]:
        lines = []
        if self.ok and self.new is not None:
            n = self.new
            what = "would write" if self.dry_run else "written"
            lines.append(
                f"{self.client_id}: {what}: {n.bookings} new bookings, {n.services} new services, "
                f"{n.users} new users"
                + ("" if any((n.bookings, n.services, n.users)) else " (nothing to do)")
            )
        lines.extend(f"{self.client_id}: note: {note}" for note in self.notes)
        return lines


@dataclass(frozen=True)
class Target:
    """Where to write: ``tenant_dsn`` (one client, its own role) or ``admin_dsn`` (any client)."""

    admin_dsn: str | None = None
    tenant_dsn: str | None = None
    create_schemas: bool = False
    namespace: str = "default"
    connection_limit: int = 4
    tenant_group: str = "booking_tenants"  # the operator's TENANT_GROUP_ROLE

    def dsn(self) -> str:
        dsn = self.admin_dsn or self.tenant_dsn
        if not dsn:
            raise LegacyError("no database URL (ADMIN_DATABASE_URL or DATABASE_URL)")
        return dsn


def with_role(dsn: str, role: str) -> str:
    """The DSN whose sessions start as ``SET ROLE role`` (a startup parameter, no SQL)."""
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "role"] + [("role", role)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""


async def import_client(
    client: LegacyClient, target: Target, *, dry_run: bool = False, default_timezone: str = DEFAULT_TIMEZONE
) -> ClientResult:
    """Migrate one client; never raises for the client's own problems (they go to the result)."""
    result = ClientResult(client.client_id, dry_run=dry_run)
    try:
        await _import(client, target, result, dry_run, default_timezone)
        result.ok = True
    except LegacyError as exc:
        result.reason = str(exc)
    except MigrationError as exc:
        result.reason = f"migration failed: {exc}"
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        result.reason = f"database error: {type(exc).__name__}: {exc}"
    except Exception as exc:  # e.g. the operator's ClientIdConflict: this client fails, the others go on
        result.reason = f"{type(exc).__name__}: {exc}"
    return result


async def _import(
    client: LegacyClient, target: Target, result: ClientResult, dry_run: bool, default_timezone: str
) -> None:
    schema = client.client_id
    source = SqliteSource(client.sqlite_file(), client.timezone(default_timezone))
    try:
        counts = await asyncio.to_thread(source.check)
        result.counts = counts
        conn = await connect(target.dsn(), schema=schema)
        try:
            state = await _schema_state(conn, schema, admin=target.admin_dsn is not None)
            if state == "missing" and not (target.create_schemas or dry_run):
                raise LegacyError(
                    f"schema {schema!r} does not exist: apply the client's BookingTenant first "
                    "(the operator creates it) or pass --create-schemas with an admin URL"
                )
            placeholders = await _stage(conn, source)
            result.placeholders = placeholders
            result.notes = source.notes.lines()
            if dry_run and state != "migrated":
                result.new = Counts(counts.bookings, counts.services + placeholders, counts.users)
                result.notes.append(
                    "schema not created yet: would create it"
                    if state == "missing"
                    else "would migrate it first"
                )
                return
            if not dry_run:
                if state == "missing":
                    await _create_schema(conn, target, schema)
                migrate_dsn = with_role(target.dsn(), schema) if target.admin_dsn else target.dsn()
                await migrate(migrate_dsn, schema)
            await _copy(
                conn,
                schema,
                source,
                counts,
                result,
                dry_run,
                await asyncio.to_thread(file_sha256, source.path),
            )
        finally:
            await conn.close()
    finally:
        source.close()


async def _schema_state(conn: asyncpg.Connection, schema: str, *, admin: bool) -> str:
    """``missing``, ``empty`` (no current migrations) or ``migrated``."""
    row = await conn.fetchrow(
        "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1", schema
    )
    if row is None:
        return "missing"
    if admin and row["owner"] != schema:
        raise LegacyError(f"schema {schema!r} is owned by {row['owner']!r}, not by the tenant role")
    latest = max(m.version for m in load_migrations())
    has_table = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f"{quote_ident(schema)}.schema_migrations"
    )
    if not has_table:
        return "empty"
    applied = await conn.fetchval(
        f"SELECT coalesce(max(version), 0) FROM {quote_ident(schema)}.schema_migrations"  # noqa: S608
    )
    return "migrated" if applied >= latest else "empty"


def _prefetched(chunks: Iterator[list[tuple[Any, ...]]]) -> Any:
    """Read the next SQLite chunk in a thread while the previous one is being copied."""

    async def gen() -> Any:
        pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
        try:
            while True:
                chunk = await pending
                if chunk is None:
                    return
                pending = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
                yield chunk
        finally:
            # The copy failed or stopped: let the read in flight finish before the file is closed.
            with contextlib.suppress(Exception):
                await pending

    return gen()


async def _stage(conn: asyncpg.Connection, source: SqliteSource) -> int:
    """Validate every row into the session's temp tables; returns the number of placeholder services."""
    await conn.execute(STAGING)
    services = await asyncio.to_thread(source.read_services)
    users = await asyncio.to_thread(source.read_users)
    gen = _prefetched(source.iter_bookings())
    try:
        async for chunk in gen:
            await conn.copy_records_to_table("legacy_stg_bookings", records=chunk, columns=BOOKING_COLS)
    finally:
        await gen.aclose()
    placeholders = source.placeholder_services()
    await conn.copy_records_to_table(
        "legacy_stg_services", records=[s.record() for s in services + placeholders], columns=SERVICE_COLS
    )
    await conn.copy_records_to_table(
        "legacy_stg_users", records=users + source.placeholder_users(), columns=USER_COLS
    )
    duplicate = await conn.fetchval(
        "SELECT legacy_id FROM pg_temp.legacy_stg_bookings GROUP BY 1 HAVING count(*) > 1 LIMIT 1"
    )
    if duplicate is not None:
        raise LegacyError(f"bookings: id {duplicate} appears twice")
    return len(placeholders)


async def _create_schema(conn: asyncpg.Connection, target: Target, client_id: str) -> None:
    """The operator's code path: same role, schema, ownership marker as its reconcile."""
    if target.admin_dsn is None:
        raise LegacyError("--create-schemas needs an admin database URL")
    # The operator replaces this throw-away password with its own when it writes the tenant Secret.
    verifier = passwords.scram_sha256_verifier(passwords.generate())
    current_database = await conn.fetchval("SELECT current_database()")
    await database.ensure_group(conn, target.tenant_group, current_database)
    await database.ensure_tenant(
        conn,
        client_id,
        owner=database.owner_marker(target.namespace, tenant_name(client_id)),
        password_verifier=verifier,
        limits=database.RoleLimits(connection_limit=target.connection_limit),
        database=current_database,
        group=target.tenant_group,
    )


async def _copy(
    conn: asyncpg.Connection,
    schema: str,
    source: SqliteSource,
    counts: Counts,
    result: ClientResult,
    dry_run: bool,
    sha256: str,
) -> None:
    try:
        async with conn.transaction():
            # Temp tables are never auto-analysed; without statistics the anti-joins go nested-loop.
            await conn.execute(
                "ANALYZE pg_temp.legacy_stg_bookings, pg_temp.legacy_stg_services, pg_temp.legacy_stg_users"
            )
            await conn.execute("SET LOCAL work_mem = '64MB'")
            new_services = _affected(await conn.execute(INSERT_SERVICES))
            new_users = _affected(await conn.execute(INSERT_USERS))
            await conn.execute(MARK_USERS)
            restore: list[str] = []
            if counts.bookings >= BULK_THRESHOLD:
                restore = await _drop_foreign_keys(conn, schema)
            cancelled = await conn.fetchval(SYNC_CANCELLED)
            moved = await conn.fetchval(MOVED)
            new_bookings = _affected(await conn.execute(INSERT_BOOKINGS))
            await conn.execute("ANALYZE pg_temp.legacy_stg_new")
            cells = await conn.fetchrow(OCCUPY)
            wanted, held = cells["wanted"], cells["held"]
            await conn.execute(PLAN_REMINDERS)
            for statement in restore:  # validates every row in one pass; a violation rolls back
                await conn.execute(statement)
            row = await conn.fetchrow(VERIFY)
            found = Counts(bookings=row["bookings"], services=row["services"], users=row["users"])
            if found != counts:
                raise LegacyError(
                    f"verification failed, nothing written: the file has {counts.bookings} bookings, "
                    f"{counts.services} services, {counts.users} users; the schema would hold "
                    f"{found.bookings}, {found.services}, {found.users}"
                )
            result.new = Counts(new_bookings, new_services, new_users)
            if cancelled:
                result.notes.append(
                    f"{cancelled} booking(s) cancelled in the legacy file since the last run: cancelled"
                )
            if moved:
                result.notes.append(
                    f"{moved} booking(s) have another time in the legacy file than here: left as they are"
                )
            if wanted > held:
                result.notes.append(
                    f"{wanted - held} grid cell(s) of upcoming bookings were already held by an overlapping "
                    "booking (all bookings kept)"
                )
            if dry_run:
                raise _DryRun
            if new_services or new_users or new_bookings:
                await conn.execute(
                    "INSERT INTO legacy_imports (source_sha256, bookings, services, users, new_bookings,"
                    " new_services, new_users, placeholder_services) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    sha256,
                    counts.bookings,
                    counts.services,
                    counts.users,
                    new_bookings,
                    new_services,
                    new_users,
                    result.placeholders,
                )
    except _DryRun:
        pass


# Above this many staged bookings, the foreign keys touching ``bookings`` are dropped and re-added
# (same names, same definitions from the catalog) inside the import transaction: one validating
# join instead of a trigger call per row. It locks those tables until commit, which is fine
# while the tenant's bot is suspended (the runbook's order); small imports keep the row checks.
BULK_THRESHOLD = 20_000
FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace = to_regnamespace($1)
  AND (c.conrelid = to_regclass($2) OR c.confrelid = to_regclass($2))
ORDER BY c.conname
"""


async def _drop_foreign_keys(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Drop the foreign keys from and to ``bookings``; returns the statements that restore them."""
    rows = await conn.fetch(FOREIGN_KEYS, quote_ident(schema), f"{quote_ident(schema)}.bookings")
    restore = []
    for row in rows:
        table = f"{quote_ident(schema)}.{_ident(row['tbl'].rsplit('.', 1)[-1])}"
        name = _ident(row["conname"])
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        restore.append(f"ALTER TABLE {table} ADD CONSTRAINT {name} {row['def']}")
    return restore


def _ident(name: str) -> str:
    """Quote a catalog name (table or constraint of the bot's own migrations)."""
    return '"' + name.strip('"').replace('"', '""') + '"'


def _affected(status: str) -> int:
    """Rows touched, from a command tag such as ``INSERT 0 45``."""
    return int(status.rsplit(" ", 1)[-1])


async def import_all(
    clients: list[LegacyClient],
    target: Target,
    *,
    dry_run: bool = False,
    jobs: int = 2,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> list[ClientResult]:
    """Every client, ``jobs`` at a time; results in the clients' order."""
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(client: LegacyClient) -> ClientResult:
        async with gate:
            return await import_client(client, target, dry_run=dry_run, default_timezone=default_timezone)

    return list(await asyncio.gather(*(one(c) for c in clients)))
