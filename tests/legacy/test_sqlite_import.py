"""SQLite -> PostgreSQL: a generated tree of 16 clients into real PostgreSQL, as the operator's role."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from booking_contract.client_id import tenant_name as dns_name
from booking_legacy.importer import ClientResult, Target, import_all
from booking_legacy.tree import read_tree
from booking_operator.database import owner_marker
from harness.operator_process import Platform as OperatorPlatform
from legacy.conftest import NAMESPACE, operator_target
from legacy.legacy_tree import CORRUPT, INVALID_NAME, ODD, Tree

UTC = dt.UTC


def run_import(tree: Tree, target: Target, **kwargs: Any) -> dict[str, ClientResult]:
    legacy = read_tree(tree.root)
    results = asyncio.run(import_all(legacy.clients, target, **kwargs))
    return {r.client_id: r for r in results}


@pytest.fixture(scope="module")
def first_run(tree: Tree, platform_services: OperatorPlatform) -> dict[str, ClientResult]:
    return run_import(tree, operator_target(platform_services, create_schemas=True), jobs=2)


@pytest.fixture()
async def db(platform_services: OperatorPlatform) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(platform_services.admin_dsn)
    try:
        yield conn
    finally:
        await conn.close()


def test_every_valid_client_prints_the_legacy_summary_line(
    tree: Tree, first_run: dict[str, ClientResult]
) -> None:
    for client in tree.valid:
        assert first_run[client.client_id].summary() == client.summary
    assert first_run[tree.client(1).client_id].summary() == (
        f"Migrated {tree.stem}_001: 45 bookings, 5 services, 12 users"
    )


def test_corrupt_sqlite_file_fails_that_client_alone_with_a_reason(
    tree: Tree, first_run: dict[str, ClientResult]
) -> None:
    corrupt = first_run[tree.client(CORRUPT).client_id]
    assert not corrupt.ok
    assert "corrupt" in corrupt.reason and "bookings.db" in corrupt.reason
    assert [r.client_id for r in first_run.values() if not r.ok] == [corrupt.client_id]


async def test_corrupt_client_leaves_no_schema_behind(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    client_id = tree.client(CORRUPT).client_id
    assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", client_id) == 0
    assert await db.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", client_id) == 0


def test_invalid_directory_name_is_never_a_client(tree: Tree) -> None:
    legacy = read_tree(tree.root)
    assert INVALID_NAME not in [c.client_id for c in legacy.clients]
    assert [name for name, _ in legacy.invalid] == [INVALID_NAME]


async def test_row_counts_in_each_schema_match_its_sqlite_file(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    for client in tree.valid:
        q = f'"{client.client_id}"'
        bookings = await db.fetchval(f"SELECT count(*) FROM {q}.bookings WHERE legacy_id IS NOT NULL")
        users = await db.fetchval(f"SELECT count(*) FROM {q}.legacy_users")
        services = await db.fetchval(f"SELECT count(*) FROM {q}.services WHERE legacy_id IS NOT NULL")
        placeholders = first_run[client.client_id].placeholders
        assert bookings == client.bookings
        assert services == client.services + placeholders
        assert placeholders == (3 if client.index == ODD else 0)  # #0 (none), #3 (deleted), #99
        assert users == client.users + (1 if client.index == ODD else 0)  # + the placeholder customer


async def test_legacy_local_date_and_time_become_a_utc_instant(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    row = await db.fetchrow(
        f"SELECT b.user_id, b.starts_at, b.ends_at, b.status, s.legacy_id AS service, s.duration_minutes"
        f' FROM "{tree.client(1).client_id}".bookings b JOIN "{tree.client(1).client_id}".services s'
        f" ON s.id = b.service_id WHERE b.legacy_id = 1"
    )
    assert row["user_id"] == 123456789
    assert row["starts_at"] == dt.datetime(2026, 2, 20, 11, 0, tzinfo=UTC)  # 14:00 Moscow (UTC+3)
    assert row["ends_at"] - row["starts_at"] == dt.timedelta(minutes=row["duration_minutes"])
    assert (row["status"], row["service"]) == ("confirmed", 1)


async def test_booking_of_a_vanished_service_keeps_a_hidden_placeholder_service(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    q = f'"{tree.client(ODD).client_id}"'
    row = await db.fetchrow(
        f"SELECT s.name, s.is_active, s.legacy_id FROM {q}.bookings b"
        f" JOIN {q}.services s ON s.id = b.service_id WHERE b.legacy_id = 1001"
    )
    assert (row["name"], row["is_active"], row["legacy_id"]) == ("legacy service #99", False, 99)
    none = await db.fetchval(
        f"SELECT s.name FROM {q}.bookings b JOIN {q}.services s ON s.id = b.service_id"
        " WHERE b.legacy_id = 1004"
    )
    assert none == "legacy service (none)"


async def test_odd_rows_are_mapped_and_reported_not_refused(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    result = first_run[tree.client(ODD).client_id]
    assert result.ok
    notes = " ".join(result.notes)
    assert "#99" in notes and "placeholder user" in notes and "#50" in notes
    q = f'"{tree.client(ODD).client_id}"'
    rows = {
        r["legacy_id"]: r
        for r in await db.fetch(
            f"SELECT legacy_id, status, starts_at FROM {q}.bookings WHERE legacy_id > 1000"
        )
    }
    assert rows[1003]["status"] == "cancelled"  # 'canceled'
    assert rows[1003]["starts_at"] == dt.datetime(2030, 3, 5, 6, 30, tzinfo=UTC)  # '05.03.2030' '9:30' MSK
    assert rows[1004]["status"] == "confirmed"  # 'done'
    ghost = await db.fetchval(
        f"SELECT first_name FROM {q}.users WHERE telegram_id = $1", ODD * 1_000_000 + 999
    )
    assert ghost == ""
    free = await db.fetchrow(f"SELECT duration_minutes, price FROM {q}.services WHERE legacy_id = 50")
    assert (free["duration_minutes"], free["price"]) == (5, 0)


async def test_upcoming_confirmed_bookings_hold_their_slots_and_reminders(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    q = f'"{tree.client(12).client_id}"'
    upcoming = await db.fetchval(
        f"SELECT count(*) FROM {q}.bookings WHERE status = 'confirmed' AND ends_at > now()"
    )
    holding = await db.fetchval(f"SELECT count(DISTINCT booking_id) FROM {q}.booked_slots")
    past_holders = await db.fetchval(
        f"SELECT count(*) FROM {q}.booked_slots s JOIN {q}.bookings b ON b.id = s.booking_id"
        " WHERE b.ends_at <= now() OR b.status <> 'confirmed'"
    )
    assert upcoming > 0 and 0 < holding <= upcoming and past_holders == 0
    assert await db.fetchval(f"SELECT count(*) FROM {q}.reminders WHERE due_at > now()") > 0


async def test_tables_belong_to_the_tenant_role_and_the_schema_to_its_bookingtenant(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    client_id = tree.client(4).client_id
    owners = await db.fetch("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = $1", client_id)
    assert [r["tableowner"] for r in owners] == [client_id]
    comment = await db.fetchval(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1", client_id
    )
    assert comment == owner_marker(NAMESPACE, dns_name(client_id))


async def test_each_clients_rows_are_only_in_its_own_schema(
    tree: Tree, first_run: dict[str, ClientResult], db: asyncpg.Connection
) -> None:
    for client in tree.valid:
        q = f'"{client.client_id}"'
        ids = {r[0] for r in await db.fetch(f"SELECT user_id FROM {q}.bookings")}
        owners = {uid // 1_000_000 for uid in ids if uid != 123456789}
        assert owners <= {client.index}
        users = {r[0] for r in await db.fetch(f"SELECT telegram_id FROM {q}.users")}
        assert {uid // 1_000_000 for uid in users if uid != 123456789} <= {client.index}
    public = await db.fetchval(
        "SELECT count(*) FROM pg_tables WHERE tablename = 'legacy_users' AND schemaname = 'public'"
    )
    assert public == 0


async def test_rerun_writes_nothing_and_prints_the_same_summary(
    tree: Tree,
    first_run: dict[str, ClientResult],
    platform_services: OperatorPlatform,
    db: asyncpg.Connection,
) -> None:
    q = f'"{tree.client(12).client_id}"'
    before = await db.fetchval(f"SELECT count(*) FROM {q}.bookings")
    legacy = read_tree(tree.root)
    results = await import_all(
        legacy.clients, operator_target(platform_services, create_schemas=True), jobs=2
    )
    second = {r.client_id: r for r in results}
    for client in tree.valid:
        result = second[client.client_id]
        assert result.summary() == client.summary
        assert result.new is not None and (result.new.bookings, result.new.services, result.new.users) == (
            0,
            0,
            0,
        )
    assert not second[tree.client(CORRUPT).client_id].ok
    assert await db.fetchval(f"SELECT count(*) FROM {q}.bookings") == before
    assert await db.fetchval(f"SELECT count(*) FROM {q}.legacy_imports") == 1


async def test_dry_run_reports_the_counts_and_creates_nothing(
    small_tree: Tree, platform_services: OperatorPlatform, db: asyncpg.Connection
) -> None:
    target = operator_target(platform_services, create_schemas=True)
    legacy = read_tree(small_tree.root, [small_tree.client(5).client_id])
    (result,) = await import_all(legacy.clients, target, dry_run=True)
    assert result.summary() == small_tree.client(5).summary.replace("Migrated", "Would migrate")
    assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", result.client_id) == 0


async def test_dry_run_on_a_migrated_schema_counts_only_new_rows(
    tree: Tree, first_run: dict[str, ClientResult], platform_services: OperatorPlatform
) -> None:
    legacy = read_tree(tree.root, [tree.client(8).client_id])
    (result,) = await import_all(legacy.clients, operator_target(platform_services), dry_run=True)
    assert result.ok and result.new is not None
    assert (result.new.bookings, result.new.services, result.new.users) == (0, 0, 0)


async def test_missing_schema_without_create_schemas_fails_with_a_clear_reason(
    small_tree: Tree, platform_services: OperatorPlatform
) -> None:
    legacy = read_tree(small_tree.root, [small_tree.client(3).client_id])
    (result,) = await import_all(legacy.clients, operator_target(platform_services))
    assert not result.ok
    assert "does not exist" in result.reason and "BookingTenant" in result.reason


async def test_unexpected_sqlite_shape_fails_with_the_missing_column(
    small_tree: Tree, platform_services: OperatorPlatform, db: asyncpg.Connection
) -> None:
    import sqlite3

    client = small_tree.client(4)
    assert client.sqlite is not None
    conn = sqlite3.connect(client.sqlite)
    conn.execute("ALTER TABLE bookings RENAME COLUMN date TO day")
    conn.commit()
    conn.close()
    legacy = read_tree(small_tree.root, [client.client_id])
    (result,) = await import_all(legacy.clients, operator_target(platform_services, create_schemas=True))
    assert not result.ok
    assert "unexpected SQLite file" in result.reason and "'bookings' has no column date" in result.reason
    assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", client.client_id) == 0


async def test_unknown_booking_status_fails_the_client_naming_the_row(
    small_tree: Tree, platform_services: OperatorPlatform
) -> None:
    import sqlite3

    client = small_tree.client(4)
    assert client.sqlite is not None
    conn = sqlite3.connect(client.sqlite)
    conn.execute("UPDATE bookings SET status = 'weird' WHERE id = 3")
    conn.commit()
    conn.close()
    legacy = read_tree(small_tree.root, [client.client_id])
    (result,) = await import_all(legacy.clients, operator_target(platform_services, create_schemas=True))
    assert result.reason == "booking 3: unknown status 'weird'"


async def test_bulk_path_restores_every_foreign_key_of_the_bot_schema(
    small_tree: Tree,
    platform_services: OperatorPlatform,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from booking_legacy import importer

    bulk, rows = small_tree.client(8), small_tree.client(6)
    target = operator_target(platform_services, create_schemas=True)
    (normal,) = await import_all(read_tree(small_tree.root, [rows.client_id]).clients, target)
    monkeypatch.setattr(importer, "BULK_THRESHOLD", 1)
    (dropped,) = await import_all(read_tree(small_tree.root, [bulk.client_id]).clients, target)
    assert normal.ok and dropped.ok and dropped.summary() == bulk.summary

    async def foreign_keys(schema: str) -> list[tuple[str, str, str]]:
        found = await db.fetch(
            "SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS d FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = $1::regnamespace ORDER BY 2",
            schema,
        )
        return [(r["t"].split(".")[-1], r["conname"], r["d"].replace(schema, "S")) for r in found]

    assert await foreign_keys(bulk.client_id) == await foreign_keys(rows.client_id)
    assert len(await foreign_keys(bulk.client_id)) >= 4


async def test_a_count_mismatch_rolls_the_whole_client_back(
    small_tree: Tree,
    platform_services: OperatorPlatform,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from booking_legacy import importer

    client = small_tree.client(5)
    monkeypatch.setattr(importer, "VERIFY", "SELECT 0 AS services, 0 AS users, 0 AS bookings")
    legacy = read_tree(small_tree.root, [client.client_id])
    (result,) = await import_all(legacy.clients, operator_target(platform_services, create_schemas=True))
    assert not result.ok and result.reason.startswith("verification failed, nothing written")
    q = f'"{client.client_id}"'
    for table in ("bookings", "services", "users", "booked_slots", "reminders", "legacy_imports"):
        assert await db.fetchval(f"SELECT count(*) FROM {q}.{table}") == 0, table


async def test_a_schema_the_operator_does_not_own_fails_that_client_and_stays_untouched(
    small_tree: Tree, platform_services: OperatorPlatform, db: asyncpg.Connection
) -> None:
    foreign, fine = small_tree.client(9), small_tree.client(10)
    await db.execute(f'CREATE SCHEMA "{foreign.client_id}"')
    await db.execute(f'CREATE TABLE "{foreign.client_id}".precious (x int)')
    ids = [foreign.client_id, fine.client_id]
    results = await import_all(
        read_tree(small_tree.root, ids).clients, operator_target(platform_services, create_schemas=True)
    )
    assert [r.ok for r in results] == [False, True]
    assert "owned by" in results[0].reason or "not managed by booking-operator" in results[0].reason
    tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", foreign.client_id)
    assert [r["tablename"] for r in tables] == ["precious"]


async def test_schema_made_by_the_operator_is_migrated_and_filled_without_create_schemas(
    small_tree: Tree, platform_services: OperatorPlatform, db: asyncpg.Connection
) -> None:
    from booking_operator import passwords
    from booking_operator.database import RoleLimits, ensure_group, ensure_tenant
    from harness.operator_process import OPERATOR_PASSWORD, OPERATOR_ROLE, PLATFORM_DB, TENANT_GROUP

    client = small_tree.client(13)
    operator = await asyncpg.connect(platform_services.dsn(OPERATOR_ROLE, OPERATOR_PASSWORD))
    try:  # what the operator's reconcile does for the applied BookingTenant (runbook step 2)
        await ensure_group(operator, TENANT_GROUP, PLATFORM_DB)
        await ensure_tenant(
            operator,
            client.client_id,
            owner=owner_marker(NAMESPACE, dns_name(client.client_id)),
            password_verifier=passwords.scram_sha256_verifier(passwords.generate()),
            limits=RoleLimits(),
            database=PLATFORM_DB,
            group=TENANT_GROUP,
        )
    finally:
        await operator.close()
    (result,) = await import_all(
        read_tree(small_tree.root, [client.client_id]).clients, operator_target(platform_services)
    )
    assert result.summary() == client.summary
    owners = await db.fetch(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = $1", client.client_id
    )
    assert [r["tableowner"] for r in owners] == [client.client_id]


async def test_rerun_after_the_legacy_file_changed_adds_new_rows_and_carries_cancellations(
    small_tree: Tree, platform_services: OperatorPlatform, db: asyncpg.Connection
) -> None:
    import sqlite3

    client = small_tree.client(6)
    assert client.sqlite is not None
    target = operator_target(platform_services, create_schemas=True)
    legacy = read_tree(small_tree.root, [client.client_id])
    (first,) = await import_all(legacy.clients, target)
    q = f'"{client.client_id}"'
    upcoming = await db.fetch(
        f"SELECT legacy_id FROM {q}.bookings b WHERE status = 'confirmed' AND starts_at > now()"
        f" AND EXISTS (SELECT 1 FROM {q}.booked_slots s WHERE s.booking_id = b.id) ORDER BY legacy_id LIMIT 2"
    )
    gone, moved = upcoming[0]["legacy_id"], upcoming[1]["legacy_id"]
    conn = sqlite3.connect(client.sqlite)
    conn.execute("UPDATE bookings SET status = 'cancelled' WHERE id = ?", (gone,))
    conn.execute("UPDATE bookings SET time = '23:45' WHERE id = ?", (moved,))
    conn.execute(
        "INSERT INTO bookings (id, user_id, date, time, service_id, status)"
        " VALUES (9001, ?, '2030-01-02', '10:00', 1, 'active')",
        (client.user_ids[0],),
    )
    conn.commit()
    conn.close()
    (second,) = await import_all(legacy.clients, target)
    assert second.summary() == client.summary.replace(
        f"{client.bookings} bookings", f"{client.bookings + 1} bookings"
    )
    assert second.new is not None and second.new.bookings == 1
    assert any("1 booking(s) cancelled" in n for n in second.notes)
    assert any("1 booking(s) have another time" in n for n in second.notes)
    row = await db.fetchrow(f"SELECT id, status FROM {q}.bookings WHERE legacy_id = $1", gone)
    assert row["status"] == "cancelled"
    assert await db.fetchval(f"SELECT count(*) FROM {q}.booked_slots WHERE booking_id = $1", row["id"]) == 0
    assert await db.fetchval(f"SELECT count(*) FROM {q}.reminders WHERE booking_id = $1", row["id"]) == 0
    assert first.ok
