"""Report windows: local dates of the tenant's zone, whatever the UTC date, and across DST."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import reports

VLADIVOSTOK = zoneinfo.ZoneInfo("Asia/Vladivostok")  # UTC+10: its midnight is 14:00 UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("name", "today", "first", "last"),
    [
        ("today", dt.date(2030, 3, 6), dt.date(2030, 3, 6), dt.date(2030, 3, 6)),
        ("week", dt.date(2030, 3, 6), dt.date(2030, 3, 4), dt.date(2030, 3, 10)),  # Monday to Sunday
        ("week", dt.date(2030, 3, 10), dt.date(2030, 3, 4), dt.date(2030, 3, 10)),
        ("month", dt.date(2032, 2, 10), dt.date(2032, 2, 1), dt.date(2032, 2, 29)),  # a leap year
        ("month", dt.date(2030, 12, 31), dt.date(2030, 12, 1), dt.date(2030, 12, 31)),
        ("last_month", dt.date(2031, 1, 15), dt.date(2030, 12, 1), dt.date(2030, 12, 31)),
        ("last_month", dt.date(2030, 3, 31), dt.date(2030, 2, 1), dt.date(2030, 2, 28)),
    ],
)
def test_a_window_is_a_span_of_local_dates(name: str, today: dt.date, first: dt.date, last: dt.date) -> None:
    assert reports.window(name, today) == (first, last)


def test_a_window_ends_at_the_zones_midnight_not_utcs() -> None:
    start, end = reports.bounds(dt.date(2030, 3, 1), dt.date(2030, 3, 31), VLADIVOSTOK)
    assert start == dt.datetime(2030, 2, 28, 14, 0, tzinfo=dt.UTC)
    assert end == dt.datetime(2030, 3, 31, 14, 0, tzinfo=dt.UTC)


def test_a_day_across_a_dst_change_is_23_hours_long() -> None:
    start, end = reports.bounds(dt.date(2030, 3, 31), dt.date(2030, 3, 31), BERLIN)  # clocks go forward
    assert end - start == dt.timedelta(hours=23)


async def _visit(pool: asyncpg.Pool, user: int, local: dt.datetime) -> None:
    at = local.replace(tzinfo=VLADIVOSTOK).astimezone(dt.UTC)
    await pool.execute(
        "INSERT INTO bookings (service_id, user_id, starts_at, ends_at, status, staff_id, service_name,"
        " duration_minutes, price) VALUES (1, $1, $2, $3, 'done', 1, 'Haircut', 60, 1500)",
        user,
        at,
        at + dt.timedelta(hours=1),
    )


async def test_a_late_visit_on_the_last_day_counts_in_its_local_month(users_pool: asyncpg.Pool) -> None:
    await _visit(users_pool, 1, dt.datetime(2030, 3, 31, 23, 30))  # 13:30 UTC, still March there
    await _visit(users_pool, 2, dt.datetime(2030, 4, 1, 0, 30))  # 14:30 UTC on 31 March, April there
    today = dt.date(2030, 4, 10)
    march, _ = await reports.summary(
        users_pool, *reports.bounds(*reports.window("last_month", today), VLADIVOSTOK)
    )
    april, _ = await reports.summary(
        users_pool, *reports.bounds(*reports.window("month", today), VLADIVOSTOK)
    )
    assert (march.bookings, march.done, april.bookings, april.done) == (1, 1, 1, 1)
    first_of_april, _ = await reports.summary(
        users_pool, *reports.bounds(dt.date(2030, 4, 1), dt.date(2030, 4, 1), VLADIVOSTOK)
    )
    assert first_of_april.bookings == 1
    csv_text = (
        await reports.export_csv(
            users_pool, *reports.bounds(*reports.window("last_month", today), VLADIVOSTOK), VLADIVOSTOK
        )
    ).decode("utf-8-sig")
    assert "2030-03-31,23:30" in csv_text and "2030-04-01" not in csv_text
