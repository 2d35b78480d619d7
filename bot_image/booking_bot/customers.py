"""The owner's view of a customer: the client card, the block list, and customers who phoned
(no aiogram here).

A customer who phoned has no Telegram account; they get a ``users`` row with a negative id
from the ``offline_customer_ids`` sequence (Telegram user ids are positive), so bookings keep
one foreign key and every report counts them alike. Messages to them are never sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Card:
    user_id: int
    name: str
    username: str | None
    phone: str | None
    note: str
    refused: bool
    visits: int
    no_shows: int
    cancelled: int
    upcoming: int

    @property
    def offline(self) -> bool:
        return self.user_id < 0


def clean_phone(text: str) -> str | None:
    cleaned = "".join(ch for ch in text if ch.isdigit() or ch == "+")[:32]
    return cleaned if sum(ch.isdigit() for ch in cleaned) >= 5 else None


_NAME_PHONE = re.compile(r"^(?P<name>.*?[^\d\s+()-])\s*(?P<phone>\+?[\d\s()-]{5,})$")


def parse_name_and_phone(text: str) -> tuple[str, str] | None:
    """``"Maria Ivanova +7 900 123-45-67"`` -> (name, phone): the phone is the trailing digits."""
    match = _NAME_PHONE.match(text.strip())
    if match is None:
        return None
    name, phone = match.group("name").strip(), clean_phone(match.group("phone"))
    if not name or len(name) > 100 or phone is None:
        return None
    return name, phone


async def add_offline(pool: asyncpg.Pool, name: str, phone: str) -> int:
    """The offline customer with this phone (the same person phoning again), or a new one."""
    async with pool.acquire() as conn, conn.transaction():
        found: int | None = await conn.fetchval(
            "SELECT telegram_id FROM users WHERE telegram_id < 0 AND phone = $1"
            " ORDER BY telegram_id DESC LIMIT 1",
            phone,
        )
        if found is not None:
            await conn.execute("UPDATE users SET first_name = $2 WHERE telegram_id = $1", found, name)
            return found
        new_id: int = await conn.fetchval(
            "INSERT INTO users (telegram_id, first_name, phone, phone_asked_at)"
            " VALUES (nextval('offline_customer_ids'), $1, $2, now()) RETURNING telegram_id",
            name,
            phone,
        )
        return new_id


async def card(pool: asyncpg.Pool, user_id: int, now: object) -> Card | None:
    row = await pool.fetchrow(
        "SELECT u.telegram_id, coalesce(nullif(trim(u.first_name || ' ' || u.last_name), ''), '') AS name,"
        " u.username, u.phone, u.note, u.refused_at IS NOT NULL AS refused,"
        " count(*) FILTER (WHERE b.status = 'done') AS visits,"
        " count(*) FILTER (WHERE b.status = 'no_show') AS no_shows,"
        " count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,"
        " count(*) FILTER (WHERE b.status = 'confirmed' AND b.starts_at > $2) AS upcoming"
        " FROM users u LEFT JOIN bookings b ON b.user_id = u.telegram_id AND b.kind = 'customer'"
        " WHERE u.telegram_id = $1 GROUP BY u.telegram_id",
        user_id,
        now,
    )
    if row is None:
        return None
    return Card(
        user_id=row["telegram_id"],
        name=row["name"],
        username=row["username"],
        phone=row["phone"],
        note=row["note"],
        refused=row["refused"],
        visits=row["visits"],
        no_shows=row["no_shows"],
        cancelled=row["cancelled"],
        upcoming=row["upcoming"],
    )


async def set_note(pool: asyncpg.Pool, user_id: int, note: str) -> None:
    await pool.execute("UPDATE users SET note = $2 WHERE telegram_id = $1", user_id, note[:1000])


async def set_refused(pool: asyncpg.Pool, user_id: int, refused: bool) -> None:
    """Put the customer on (or take them off) the block list: new bookings are refused."""
    await pool.execute(
        "UPDATE users SET refused_at = CASE WHEN $2 THEN coalesce(refused_at, now()) END"
        " WHERE telegram_id = $1",
        user_id,
        refused,
    )
