"""PostgreSQL access: one small asyncpg pool per bot, always inside the tenant schema.

Pool arithmetic (docs/scaling.md): an idle bot holds ``DB_POOL_MIN`` (default 0) connections and
closes idle ones after ``DB_IDLE_SECONDS``; a busy bot holds at most ``DB_POOL_MAX`` (default 2).

Behind PgBouncer in transaction pooling, consecutive transactions may run on different server
connections, so asyncpg's named prepared statements only work where PgBouncer tracks them
(1.21+ with ``max_prepared_statements``). ``DB_STATEMENT_CACHE_SIZE=0`` makes the pool use
unnamed statements, which work through any PgBouncer; one-shot connections never cache.
"""

from __future__ import annotations

import asyncpg

from booking_bot.config import Settings
from booking_contract.client_id import CLIENT_ID_RE

# One source for the idle timeout: the settings' default (DB_IDLE_SECONDS).
DEFAULT_IDLE_SECONDS: float = Settings.model_fields["db_idle_seconds"].default


def quote_ident(name: str) -> str:
    """Quote an identifier that has already passed the CLIENT_ID pattern."""
    if not CLIENT_ID_RE.fullmatch(name):
        raise ValueError(f"refusing to quote unexpected identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _server_settings(schema: str | None) -> dict[str, str]:
    settings = {"application_name": "booking_bot", "timezone": "UTC"}
    if schema is not None:
        settings["search_path"] = quote_ident(schema)
    return settings


async def connect(dsn: str, schema: str | None) -> asyncpg.Connection:
    """One connection (migrations, start-up checks); search_path is the tenant schema when given.

    A handful of queries has nothing to reuse from a statement cache, and without one the
    connection works through any PgBouncer.
    """
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, server_settings=_server_settings(schema), timeout=10, statement_cache_size=0
    )
    return conn


async def create_pool(
    dsn: str,
    schema: str,
    *,
    min_size: int = 0,
    max_size: int = 2,
    idle_seconds: float = DEFAULT_IDLE_SECONDS,
    statement_cache_size: int = 100,
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_inactive_connection_lifetime=idle_seconds,
        server_settings=_server_settings(schema),
        command_timeout=30,
        statement_cache_size=statement_cache_size,
        timeout=10,
    )
    if pool is None:  # asyncpg types the pool as optional; a created pool is never None
        raise RuntimeError("asyncpg created no pool")
    return pool


def close_idle_connections(pool: asyncpg.Pool) -> int:
    """Close the pool's connections that nothing holds, now; returns how many it closed.

    asyncpg closes each by itself ``max_inactive_connection_lifetime`` after its last release;
    a shard closes them sooner where it knows better (a tenant that started but never talked
    would keep its start-up connection for the whole idle time, and a shard starts hundreds).
    asyncpg has no public call for it, so this runs asyncpg's own inactivity callback early, on
    holders nobody has acquired (asyncpg is pinned; tests/bot/test_db_idle.py fails when its
    internals change). Synchronous: no acquire can slip in between the check and
    the close, and an acquire already past the queue reconnects instead of failing.
    """
    closed = 0
    for holder in pool._holders:
        connection = holder._con
        if holder._in_use is not None or connection is None or connection.is_closed():
            continue
        if pool.get_size() <= pool.get_min_size():
            break  # DB_POOL_MIN connections stay, as asyncpg's own callback keeps them
        holder._maybe_cancel_inactive_callback()
        holder._deactivate_inactive_connection()
        closed += 1
    return closed
