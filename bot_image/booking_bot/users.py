"""Telegram users who talked to the bot, and its admins (no aiogram here)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Person:
    telegram_id: int
    first_name: str = ""
    last_name: str = ""
    username: str | None = None
    language_code: str | None = None

    @property
    def display(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p) or str(self.telegram_id)
        return f"{name} (@{self.username})" if self.username else name


async def upsert_user(pool: asyncpg.Pool, person: Person) -> bool:
    """Record the user (and that they can be reached again); True when they are an added admin.

    One round trip per update: the admin lookup rides along with the upsert.
    """
    is_admin: bool = await pool.fetchval(
        "INSERT INTO users (telegram_id, first_name, last_name, username, language_code)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (telegram_id) DO UPDATE SET first_name = EXCLUDED.first_name,"
        " last_name = EXCLUDED.last_name, username = EXCLUDED.username,"
        " language_code = EXCLUDED.language_code, last_seen_at = now(), blocked_at = NULL"
        " RETURNING EXISTS (SELECT 1 FROM admins WHERE admins.telegram_id = $1)",
        person.telegram_id,
        person.first_name,
        person.last_name,
        person.username,
        person.language_code,
    )
    return is_admin


async def mark_blocked(pool: asyncpg.Pool, telegram_id: int) -> None:
    await pool.execute("UPDATE users SET blocked_at = now() WHERE telegram_id = $1", telegram_id)


async def ask_for_phone_once(pool: asyncpg.Pool, telegram_id: int) -> bool:
    """True exactly once per user without a phone: the moment to ask for it."""
    asked: bool | None = await pool.fetchval(
        "UPDATE users SET phone_asked_at = now()"
        " WHERE telegram_id = $1 AND phone IS NULL AND phone_asked_at IS NULL RETURNING true",
        telegram_id,
    )
    return bool(asked)


async def set_phone(pool: asyncpg.Pool, telegram_id: int, phone: str) -> None:
    cleaned = "".join(ch for ch in phone if ch.isdigit() or ch == "+")[:32]
    await pool.execute("UPDATE users SET phone = $2 WHERE telegram_id = $1", telegram_id, cleaned or None)


class Admins:
    """Admins = owner and ADMIN_TELEGRAM_IDS from the environment, plus those added in the bot."""

    def __init__(self, pool: asyncpg.Pool, from_env: frozenset[int]) -> None:
        self.pool = pool
        self.from_env = from_env

    async def all_ids(self) -> list[int]:
        rows = await self.pool.fetch("SELECT telegram_id FROM admins")
        return sorted(self.from_env | {int(r["telegram_id"]) for r in rows})

    async def added(self) -> list[int]:
        return [
            int(r["telegram_id"]) for r in await self.pool.fetch("SELECT telegram_id FROM admins ORDER BY 1")
        ]

    async def add(self, telegram_id: int, added_by: int) -> None:
        await self.pool.execute(
            "INSERT INTO admins (telegram_id, added_by) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            telegram_id,
            added_by,
        )

    async def remove(self, telegram_id: int) -> bool:
        status: str = await self.pool.execute("DELETE FROM admins WHERE telegram_id = $1", telegram_id)
        return status == "DELETE 1"
