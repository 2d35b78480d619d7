"""One tenant's services, opened the same way by both runtimes.

The dedicated runtime (``booking_bot.app``: one process, one tenant) and the shared runtime
(``booking_bot.shard``: one process, many tenants) differ only in how updates reach the
handlers. What a tenant *is* - its own pool under its own PostgreSQL role, its bot, its FSM
storage under its own Redis user and key prefix, its admins, texts and notifier - is built
here, once, so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import User

from booking_bot import commands
from booking_bot.clock import Clock as Clock  # re-exported: the shard runtime imports it from here
from booking_bot.config import Settings
from booking_bot.db import create_pool
from booking_bot.handlers import get_routers
from booking_bot.i18n import I18n
from booking_bot.middlewares import ContextMiddleware
from booking_bot.notify import Notifier
from booking_bot.profile import TenantZone, load_profile
from booking_bot.storage import create_storage
from booking_bot.users import Admins

log = logging.getLogger("booking_bot")


class StartupError(Exception):
    """The bot cannot start; one line for humans, ``exit_code`` for the process."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TokenRejected(StartupError):
    """Telegram answered 401: the token is wrong or was revoked."""

    def __init__(self) -> None:
        super().__init__("BOT_TOKEN was rejected by Telegram (401 Unauthorized)", exit_code=2)


@dataclass
class TenantServices:
    """Everything one tenant's handlers are given, and what must be closed with it."""

    settings: Settings
    clock: Clock
    pool: asyncpg.Pool
    bot: Bot
    me: User
    i18n: I18n
    admins: Admins
    notifier: Notifier
    zone: TenantZone
    storage: BaseStorage
    isolation: BaseEventIsolation
    context: ContextMiddleware

    def workflow_data(self) -> dict[str, Any]:
        """The names handlers ask for (``pool``, ``settings``, ``i18n``...)."""
        return {
            "pool": self.pool,
            "settings": self.settings,
            "i18n": self.i18n,
            "clock": self.clock,
            "admins": self.admins,
            "notifier": self.notifier,
            "zone": self.zone,
        }

    async def close(self, *, close_session: bool = True) -> None:
        """Release the tenant's connections; the shared runtime keeps its one HTTP session open."""
        with contextlib.suppress(Exception):
            await self.storage.close()
        with contextlib.suppress(Exception):
            await self.isolation.close()
        if close_session:
            await self.bot.session.close()
        await self.pool.close()


async def open_pool(settings: Settings, *, check_schema: bool = True) -> asyncpg.Pool:
    """The tenant's pool under its own role (``DB_POOL_MIN`` connections while idle, 0 by default)."""
    pool: asyncpg.Pool | None = None
    try:
        pool = await create_pool(
            settings.database_url.get_secret_value(),
            settings.client_id,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            idle_seconds=settings.db_idle_seconds,
            statement_cache_size=settings.db_statement_cache_size,
        )
        if check_schema:
            await pool.fetchval("SELECT max(version) FROM schema_migrations")
    except asyncpg.UndefinedTableError:
        if pool is not None:
            await pool.close()
        raise StartupError("the schema is not migrated: run `python -m booking_bot migrate` first") from None
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        if pool is not None:
            await pool.close()
        raise StartupError(f"cannot reach the database: {type(exc).__name__}: {exc}") from None
    return pool


async def identify(bot: Bot) -> User:
    """``getMe``: proves the token works and gives the bot's @username."""
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError:
        raise TokenRejected() from None
    except (TelegramNetworkError, TelegramAPIError) as exc:
        raise StartupError(f"cannot reach the Telegram Bot API: {type(exc).__name__}") from None
    log.info("bot identity", extra={"event": "bot_identity", "bot_id": me.id, "username": me.username})
    return me


def create_isolation(storage: BaseStorage) -> BaseEventIsolation:
    """One update at a time per user (a double tap must not run two confirmations at once):
    an in-process lock, since one process serves a tenant's token in either runtime
    (storage.py says why not aiogram's Redis locks)."""
    return SimpleEventIsolation()


async def open_tenant(
    settings: Settings, bot: Bot, *, clock: Clock, pool: asyncpg.Pool | None = None
) -> TenantServices:
    """Identify the bot and build the tenant's services; closes what it opened when it fails."""
    own_pool = pool is None
    pool = pool if pool is not None else await open_pool(settings)
    storage: BaseStorage | None = None
    try:
        me = await identify(bot)
        i18n = I18n(settings.default_language, settings.timezone)
        # The owner's time zone (stored in the schema) overrides TENANT_TIMEZONE.
        zone = TenantZone(settings, i18n)
        zone.apply((await load_profile(pool)).timezone)
        admins = Admins(pool, settings.admin_ids)
        notifier = Notifier(bot, pool, admins, i18n)
        storage = create_storage(
            settings.redis_url.get_secret_value() if settings.redis_url else None, settings.redis_key_prefix
        )
        services = TenantServices(
            settings=settings,
            clock=clock,
            pool=pool,
            bot=bot,
            me=me,
            i18n=i18n,
            admins=admins,
            notifier=notifier,
            zone=zone,
            storage=storage,
            isolation=create_isolation(storage),
            context=ContextMiddleware(i18n, admins),
        )
        await set_commands(services)
        with contextlib.suppress(TelegramAPIError, TelegramNetworkError):
            await bot.delete_webhook(drop_pending_updates=False)
    except BaseException:
        if storage is not None:
            with contextlib.suppress(Exception):
                await storage.close()
        if own_pool:
            await pool.close()
        raise
    return services


async def set_commands(services: TenantServices) -> None:
    await commands.set_default_commands(services.bot, services.i18n)
    for admin_id in await services.admins.all_ids():
        await commands.set_admin_commands(services.bot, services.i18n, admin_id)


def include_handlers(dp: Dispatcher | Router, i18n: I18n) -> None:
    """The bot's routers; ``i18n`` only supplies texts common to every tenant (button labels)."""
    dp.include_routers(*get_routers(i18n))
