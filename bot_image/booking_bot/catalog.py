"""The services a business offers (no aiogram here)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import asyncpg

from booking_bot.slots import Performer

_COLUMNS = "id, name, description, duration_minutes, price, is_active, buffer_minutes"


@dataclass(frozen=True)
class Service:
    id: int
    name: str
    description: str
    duration_minutes: int
    price: Decimal
    is_active: bool
    buffer_minutes: int = 0


def _service(row: asyncpg.Record) -> Service:
    return Service(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        duration_minutes=row["duration_minutes"],
        price=row["price"],
        is_active=row["is_active"],
        buffer_minutes=row["buffer_minutes"],
    )


async def list_services(pool: asyncpg.Pool, *, include_hidden: bool = False) -> list[Service]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM services WHERE is_active OR $1 ORDER BY sort_order, id",  # noqa: S608
        include_hidden,
    )
    return [_service(r) for r in rows]


async def get_service(pool: asyncpg.Pool | asyncpg.Connection, service_id: int) -> Service | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM services WHERE id = $1", service_id)  # noqa: S608
    return None if row is None else _service(row)


async def add_service(
    pool: asyncpg.Pool, name: str, duration_minutes: int, price: Decimal, description: str = ""
) -> Service:
    row = await pool.fetchrow(
        "INSERT INTO services (name, duration_minutes, price, description, sort_order)"
        " VALUES ($1, $2, $3, $4, (SELECT coalesce(max(sort_order), 0) + 1 FROM services))"
        " RETURNING id, name, description, duration_minutes, price, is_active, buffer_minutes",
        name,
        duration_minutes,
        price,
        description,
    )
    if row is None:  # an INSERT with RETURNING always returns its row
        raise RuntimeError("adding a service returned no row")
    return _service(row)


async def update_service(
    pool: asyncpg.Pool,
    service_id: int,
    *,
    name: str | None = None,
    duration_minutes: int | None = None,
    price: Decimal | None = None,
    is_active: bool | None = None,
    buffer_minutes: int | None = None,
) -> Service | None:
    row = await pool.fetchrow(
        "UPDATE services SET name = coalesce($2, name), duration_minutes = coalesce($3, duration_minutes),"
        " price = coalesce($4, price), is_active = coalesce($5, is_active),"
        " buffer_minutes = coalesce($6, buffer_minutes), updated_at = now()"
        " WHERE id = $1 RETURNING id, name, description, duration_minutes, price, is_active, buffer_minutes",
        service_id,
        name,
        duration_minutes,
        price,
        is_active,
        buffer_minutes,
    )
    return None if row is None else _service(row)


async def service_performers(pool: asyncpg.Pool | asyncpg.Connection, service_id: int) -> list[Performer]:
    """Active staff who perform the service, each with their own duration and price if set."""
    rows = await pool.fetch(
        "SELECT st.id, coalesce(ss.duration_minutes, s.duration_minutes) AS minutes,"
        " coalesce(ss.price, s.price) AS price, s.buffer_minutes"
        " FROM services s CROSS JOIN staff st"
        " LEFT JOIN staff_services ss ON ss.staff_id = st.id AND ss.service_id = s.id"
        " WHERE s.id = $1 AND st.is_active AND (st.all_services OR ss.service_id IS NOT NULL)"
        " ORDER BY st.sort_order, st.id",
        service_id,
    )
    return [Performer(int(r["id"]), int(r["minutes"]), r["price"], int(r["buffer_minutes"])) for r in rows]


def parse_price(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value > Decimal("9999999999"):
        return None
    return value.quantize(Decimal("0.01"))


async def service_and_performers(
    pool: asyncpg.Pool, service_id: int
) -> tuple[Service | None, list[Performer]]:
    """The service and who performs it, in one round trip (every booking screen needs both).
    No performer at all: (None, []), as for a service that does not exist."""
    rows = await pool.fetch(
        "SELECT s.id, s.name, s.description, s.duration_minutes, s.price, s.is_active, s.buffer_minutes,"
        " st.id AS staff_id, coalesce(ss.duration_minutes, s.duration_minutes) AS minutes,"
        " coalesce(ss.price, s.price) AS staff_price"
        " FROM services s JOIN staff st ON st.is_active"
        " LEFT JOIN staff_services ss ON ss.staff_id = st.id AND ss.service_id = s.id"
        " WHERE s.id = $1 AND (st.all_services OR ss.service_id IS NOT NULL)"
        " ORDER BY st.sort_order, st.id",
        service_id,
    )
    if not rows:
        return None, []
    performers = [
        Performer(int(r["staff_id"]), int(r["minutes"]), r["staff_price"], int(r["buffer_minutes"]))
        for r in rows
    ]
    return _service(rows[0]), performers


def parse_buffer(text: str) -> int | None:
    """Minutes after the service, 0..240, a multiple of 5."""
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if 0 <= value <= 240 and value % 5 == 0 else None


def parse_duration(text: str) -> int | None:
    """Minutes, 5..720, a multiple of 5."""
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if 5 <= value <= 720 and value % 5 == 0 else None
