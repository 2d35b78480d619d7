"""Checks before the heavy imports: is the database reachable and the schema migrated?

Runs before aiogram is imported (that import alone takes seconds on a small CPU), so a pod
with a wrong DATABASE_URL or an unmigrated schema fails fast with one clear line.
"""

from __future__ import annotations

import asyncpg

from booking_bot.db import connect


class PreflightError(Exception):
    """One line for humans."""


async def check_database(dsn: str, schema: str) -> int:
    """The latest applied migration version; raises PreflightError when the bot cannot run."""
    try:
        conn = await connect(dsn, schema)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise PreflightError(f"cannot reach the database: {type(exc).__name__}: {exc}") from None
    try:
        version = await conn.fetchval("SELECT max(version) FROM schema_migrations")
    except asyncpg.UndefinedTableError:
        raise PreflightError(
            "the schema is not migrated: run `python -m booking_bot migrate` first"
        ) from None
    finally:
        await conn.close()
    return int(version or 0)
