"""Migration 0007 on a schema an older bot filled with real bookings: everything moves into
one default staff member, the cells move onto the 5-minute grid, and running it again changes
nothing."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import bookings
from booking_bot.catalog import get_service
from booking_bot.db import create_pool
from booking_bot.migrate import load_migrations, migrate

from .conftest import NOW, Tenant

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)


async def _old_schema_with_bookings(tenant: Tenant) -> None:
    """What a bot before 0007 left: 15-minute cells keyed by the instant alone."""
    await migrate(tenant.dsn, tenant.client_id, up_to=6)
    conn = await asyncpg.connect(tenant.dsn)
    try:
        await conn.execute(
            "INSERT INTO services (name, duration_minutes, price)"
            " VALUES ('Haircut', 50, 1500), ('Nails', 90, 2000)"
        )
        await conn.execute("INSERT INTO users (telegram_id, first_name) VALUES (1, 'Ann'), (2, 'Bob')")
        rows = [
            (1, 1, TUESDAY_11, TUESDAY_11 + dt.timedelta(minutes=50), "confirmed"),
            (
                2,
                2,
                TUESDAY_11 + dt.timedelta(hours=2),
                TUESDAY_11 + dt.timedelta(hours=3, minutes=30),
                "confirmed",
            ),
            (
                1,
                1,
                TUESDAY_11 + dt.timedelta(days=1),
                TUESDAY_11 + dt.timedelta(days=1, minutes=50),
                "cancelled",
            ),
        ]
        for service_id, user_id, start, end, status in rows:
            booking_id = await conn.fetchval(
                "INSERT INTO bookings (service_id, user_id, starts_at, ends_at, status)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                service_id,
                user_id,
                start,
                end,
                status,
            )
            if status == "confirmed":
                quarters = -(-int((end - start).total_seconds()) // 900)
                await conn.executemany(
                    "INSERT INTO booked_slots (slot_start, booking_id) VALUES ($1, $2)",
                    [(start + dt.timedelta(minutes=15 * i), booking_id) for i in range(quarters)],
                )
        block = await conn.fetchval(
            "INSERT INTO bookings (kind, starts_at, ends_at, note) VALUES ('block', $1, $2, 'supplier')"
            " RETURNING id",
            TUESDAY_11 + dt.timedelta(hours=6),
            TUESDAY_11 + dt.timedelta(hours=7),
        )
        await conn.executemany(
            "INSERT INTO booked_slots (slot_start, booking_id) VALUES ($1, $2)",
            [(TUESDAY_11 + dt.timedelta(hours=6, minutes=15 * i), block) for i in range(4)],
        )
    finally:
        await conn.close()


async def _state(conn: asyncpg.Connection) -> tuple[list[tuple[object, ...]], ...]:
    cells = await conn.fetch("SELECT staff_id, slot_start, booking_id FROM booked_slots ORDER BY 1, 2")
    rows = await conn.fetch(
        "SELECT id, staff_id, service_name, duration_minutes, price, status FROM bookings ORDER BY id"
    )
    staff = await conn.fetch("SELECT id, name, all_services, own_hours FROM staff ORDER BY id")
    return ([tuple(r) for r in cells], [tuple(r) for r in rows], [tuple(r) for r in staff])


async def test_existing_bookings_move_into_one_default_master_on_the_new_grid(tenant: Tenant) -> None:
    await _old_schema_with_bookings(tenant)
    assert 7 in await migrate(tenant.dsn, tenant.client_id)
    conn = await asyncpg.connect(tenant.dsn)
    try:
        cells, rows, staff = await _state(conn)
        assert staff == [(1, "", True, False)]
        assert {r[1] for r in rows} == {1}  # every booking (and the block) in master 1's calendar
        assert [(r[2], r[3], str(r[4]), r[5]) for r in rows[:3]] == [
            ("Haircut", 50, "1500.00", "confirmed"),
            ("Nails", 90, "2000.00", "confirmed"),
            ("Haircut", 50, "1500.00", "cancelled"),
        ]
        by_booking: dict[object, int] = {}
        for staff_id, slot_start, booking_id in cells:
            assert staff_id == 1
            assert isinstance(slot_start, dt.datetime) and int(slot_start.timestamp()) % 300 == 0
            by_booking[booking_id] = by_booking.get(booking_id, 0) + 1
        # 50 minutes now hold 10 cells (not 4 quarters = 60 min), 90 minutes 18, the block 12;
        # the cancelled booking none.
        assert sorted(by_booking.values()) == [10, 12, 18]
        assert rows[2][0] not in by_booking
    finally:
        await conn.close()


async def test_running_migration_0007_again_changes_nothing(tenant: Tenant) -> None:
    await _old_schema_with_bookings(tenant)
    await migrate(tenant.dsn, tenant.client_id)
    sql = next(m.sql for m in load_migrations() if m.version == 7)
    conn = await asyncpg.connect(tenant.dsn)
    try:
        before = await _state(conn)
        async with conn.transaction():
            await conn.execute(sql)
        assert await _state(conn) == before
    finally:
        await conn.close()


async def test_the_migrated_calendar_still_refuses_double_booking(tenant: Tenant) -> None:
    await _old_schema_with_bookings(tenant)
    await migrate(tenant.dsn, tenant.client_id)
    pool = await create_pool(tenant.dsn, tenant.client_id)
    try:
        await pool.execute("UPDATE services SET duration_minutes = 60")
        service = await get_service(pool, 1)
        assert service is not None
        with pytest.raises(bookings.SlotTaken):  # 11:30 overlaps Ann's 11:00-11:50
            await bookings.create_booking(
                pool,
                user_id=2,
                service=service,
                starts_at=TUESDAY_11 + dt.timedelta(minutes=30),
                now=NOW,
                tz=MOSCOW,
            )
        # 11:50 is Ann's end: offered and bookable now that 50 minutes hold 50 minutes.
        booking = await bookings.create_booking(
            pool,
            user_id=2,
            service=service,
            starts_at=TUESDAY_11 + dt.timedelta(minutes=50),
            now=NOW,
            tz=MOSCOW,
        )
        assert booking.staff_id == 1
    finally:
        await pool.close()
