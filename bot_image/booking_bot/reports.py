"""Reports for the owner: bookings, revenue and no-show rate per period and per master, and
the CSV export (no aiogram here).

Revenue counts visits marked done, at the price they were booked with. The no-show rate is
no-shows over visits with an outcome (done + no-show): bookings nobody marked yet do not count.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

# The report's windows, in local dates of the tenant's zone (a day is midnight to midnight there,
# so a 23:30 visit on the 31st belongs to that month even where it is already the 1st in UTC).
WINDOWS = ("today", "week", "month", "last_month")
MAX_RANGE_DAYS = 366


def window(name: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last local date of a window: today, this (ISO) week, this month, last month."""
    if name == "today":
        return today, today
    if name == "week":
        monday = today - dt.timedelta(days=today.weekday())
        return monday, monday + dt.timedelta(days=6)
    first_of_month = today.replace(day=1)
    next_month = (first_of_month + dt.timedelta(days=32)).replace(day=1)
    if name == "month":
        return first_of_month, next_month - dt.timedelta(days=1)
    if name == "last_month":
        last = first_of_month - dt.timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown report window {name!r}")


def bounds(first: dt.date, last: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [start, end) of local dates ``first`` .. ``last`` (DST-proof: each
    midnight is resolved in the zone on its own date)."""
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass(frozen=True)
class Line:
    staff_id: int | None
    staff_name: str
    bookings: int
    done: int
    no_shows: int
    cancelled: int
    revenue: Decimal

    @property
    def no_show_rate(self) -> float | None:
        marked = self.done + self.no_shows
        return None if marked == 0 else self.no_shows / marked


_SUMMARY = """
SELECT b.staff_id, coalesce(st.name, '') AS staff_name,
       count(*) FILTER (WHERE b.status <> 'cancelled') AS bookings,
       count(*) FILTER (WHERE b.status = 'done') AS done,
       count(*) FILTER (WHERE b.status = 'no_show') AS no_shows,
       count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,
       coalesce(sum(coalesce(b.price, s.price, 0)) FILTER (WHERE b.status = 'done'), 0) AS revenue
FROM bookings b
LEFT JOIN staff st ON st.id = b.staff_id
LEFT JOIN services s ON s.id = b.service_id
WHERE b.kind = 'customer' AND b.starts_at >= $1 AND b.starts_at < $2
GROUP BY GROUPING SETS ((b.staff_id, st.name), ())
ORDER BY b.staff_id NULLS FIRST
"""


async def summary(pool: asyncpg.Pool, start: dt.datetime, end: dt.datetime) -> tuple[Line, list[Line]]:
    """The period's totals, and the same per master."""
    rows = await pool.fetch(_SUMMARY, start, end)
    lines = [
        Line(
            staff_id=r["staff_id"],
            staff_name=r["staff_name"],
            bookings=r["bookings"],
            done=r["done"],
            no_shows=r["no_shows"],
            cancelled=r["cancelled"],
            revenue=r["revenue"],
        )
        for r in rows
    ]
    # The grand total is the grouping set () : the row whose staff_id and name are NULL.
    total = next((line for line in lines if line.staff_id is None and line.staff_name == ""), None)
    per_staff = [line for line in lines if line is not total]
    return total or Line(None, "", 0, 0, 0, 0, Decimal(0)), per_staff


CSV_COLUMNS = (
    "booking_id",
    "date",
    "time",
    "duration_min",
    "service",
    "price",
    "master",
    "status",
    "customer",
    "phone",
    "telegram_id",
)


async def export_csv(
    pool: asyncpg.Pool, start: dt.datetime, end: dt.datetime, tz: zoneinfo.ZoneInfo
) -> bytes:
    """Every customer booking of the period as CSV (UTF-8 with BOM, so spreadsheets read it)."""
    rows = await pool.fetch(
        "SELECT b.id, b.starts_at, b.ends_at, coalesce(b.service_name, s.name, '') AS service,"
        " coalesce(b.price, s.price, 0) AS price, coalesce(st.name, '') AS master, b.status,"
        " trim(coalesce(u.first_name, '') || ' ' || coalesce(u.last_name, '')) AS customer,"
        " u.phone, b.user_id"
        " FROM bookings b LEFT JOIN services s ON s.id = b.service_id"
        " LEFT JOIN staff st ON st.id = b.staff_id"
        " LEFT JOIN users u ON u.telegram_id = b.user_id"
        " WHERE b.kind = 'customer' AND b.starts_at >= $1 AND b.starts_at < $2 ORDER BY b.starts_at, b.id",
        start,
        end,
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        local = r["starts_at"].astimezone(tz)
        writer.writerow(
            [
                r["id"],
                local.date().isoformat(),
                local.strftime("%H:%M"),
                int((r["ends_at"] - r["starts_at"]).total_seconds() // 60),
                _cell(r["service"]),
                r["price"],
                _cell(r["master"]),
                r["status"],
                _cell(r["customer"]),
                _cell(r["phone"] or ""),
                r["user_id"] if r["user_id"] and r["user_id"] > 0 else "",
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: str) -> str:
    """No formula injection: a spreadsheet must not run a customer's name as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
