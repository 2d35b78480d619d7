"""Legacy SQLite -> PostgreSQL: rows/s for a large client, against PostgreSQL COPY as the floor.

Run with `make bench` (BENCH_LEGACY_BOOKINGS=1000000 by default). One legacy client with N
bookings (2 000 users, 20 services, dates spread over two years, a third of them upcoming) is
migrated by the real tool (``import_client``: checks, validation, staging with binary COPY,
migrations, the one verified transaction with slots and reminders) as the operator's admin
role. The floor is PostgreSQL's binary ``COPY`` (``copy_records_to_table``) of the same N rows,
already mapped in memory, into a table of the same columns without indexes or keys, and into a
copy of ``bookings`` with its indexes (what any tool must at least pay).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import time
from pathlib import Path

import asyncpg
import pytest
from legacy.conftest import drop_clients, new_stem, operator_target
from legacy.legacy_tree import LEGACY_SCHEMA

from booking_legacy.importer import STAGING, import_client
from booking_legacy.sqlite_source import SqliteSource
from booking_legacy.tree import LegacyClient
from harness.operator_process import Platform

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]
BOOKINGS = int(os.environ.get("BENCH_LEGACY_BOOKINGS", "1000000"))


def large_sqlite(path: Path, bookings: int) -> None:
    today = dt.datetime.now(dt.UTC).date()
    db = sqlite3.connect(path)
    db.executescript(LEGACY_SCHEMA)
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)"
        " INSERT INTO services (id, name, duration, price)"
        " SELECT i, 'Service ' || i, 30 + (i % 4) * 15, 1000 FROM n"
    )
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
        " INSERT INTO users (user_id, username, first_name)"
        " SELECT 500000000 + i, 'u' || i, 'Name' || i FROM n"
    )
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO bookings (id, user_id, date, time, service_id, status)"
        " SELECT i, 500000001 + (i % 2000), date(?, '-' || (i % 730) || ' days', '+240 days'),"
        " printf('%02d:%02d', 10 + (i % 9), (i / 9 % 4) * 15), 1 + (i % 20),"
        " CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'active' END FROM n",
        (bookings, today.isoformat()),
    )
    db.commit()
    db.close()


def mapped_rows(path: Path) -> list[tuple[object, ...]]:
    import zoneinfo

    source = SqliteSource(path, zoneinfo.ZoneInfo("Europe/Moscow"))
    try:
        source.check()
        source.read_services()
        source.read_users()
        return [row for chunk in source.iter_bookings() for row in chunk]
    finally:
        source.close()


async def copy_floor(dsn: str, rows: list[tuple[object, ...]]) -> tuple[float, float]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(STAGING)
        start = time.perf_counter()
        await conn.copy_records_to_table(
            "legacy_stg_bookings",
            records=rows,
            columns=[
                "legacy_id",
                "user_id",
                "service_legacy_id",
                "starts_at",
                "ends_at",
                "status",
                "note",
                "created_at",
            ],
        )
        plain = time.perf_counter() - start
        await conn.execute(
            "CREATE TEMP TABLE floor_bookings (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " kind text NOT NULL DEFAULT 'customer', service_id bigint, user_id bigint,"
            " starts_at timestamptz NOT NULL,"
            " ends_at timestamptz NOT NULL, status text NOT NULL, note text NOT NULL DEFAULT '',"
            " legacy_id bigint)"
        )
        await conn.execute("CREATE INDEX ON floor_bookings (starts_at) WHERE status = 'confirmed'")
        await conn.execute("CREATE INDEX ON floor_bookings (user_id, starts_at) WHERE status = 'confirmed'")
        await conn.execute("CREATE UNIQUE INDEX ON floor_bookings (legacy_id) WHERE legacy_id IS NOT NULL")
        start = time.perf_counter()
        await conn.copy_records_to_table(
            "floor_bookings",
            records=[(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows],
            columns=["legacy_id", "user_id", "service_id", "starts_at", "ends_at", "status"],
        )
        indexed = time.perf_counter() - start
        return plain, indexed
    finally:
        await conn.close()


def test_sqlite_to_postgres_rows_per_second_against_copy(tmp_path: Path, platform_services: Platform) -> None:
    stem = new_stem()
    client_id = f"{stem}_big"
    folder = tmp_path / client_id
    folder.mkdir()
    large_sqlite(folder / "bookings.db", BOOKINGS)
    client = LegacyClient(client_id, folder, {})
    target = operator_target(platform_services, create_schemas=True)
    try:
        start = time.perf_counter()
        result = asyncio.run(import_client(client, target))
        tool = time.perf_counter() - start
        assert result.ok, result.reason
        assert result.counts is not None and result.counts.bookings == BOOKINGS
        start = time.perf_counter()
        rerun = asyncio.run(import_client(client, target))
        rerun_s = time.perf_counter() - start
        assert rerun.new is not None and rerun.new.bookings == 0
        start = time.perf_counter()
        rows = mapped_rows(folder / "bookings.db")
        read_s = time.perf_counter() - start
        plain, indexed = asyncio.run(copy_floor(platform_services.admin_dsn, rows))
    finally:
        asyncio.run(drop_clients(platform_services.admin_dsn, [client_id]))

    def row(label: str, seconds: float) -> str:
        return f"{label:<58}{seconds:>9.2f}{BOOKINGS / seconds:>12,.0f}"

    lines = [
        f"legacy SQLite -> PostgreSQL, {BOOKINGS} bookings (2000 users, 20 services)",
        f"{'step':<58}{'seconds':>9}{'rows/s':>12}",
        row("import-sqlite (whole tool: check, stage, migrate, verify)", tool),
        row("  re-run (no-op: stage + verify, 0 rows written)", rerun_s),
        row("  SQLite read + validate + map only (no database)", read_s),
        row("floor: COPY into a table without indexes", plain),
        row("floor: COPY into a bookings copy with its indexes", indexed),
        f"tool / indexed COPY floor: {tool / indexed:.1f}x",
    ]
    print("\n" + "\n".join(lines))
