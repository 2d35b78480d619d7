"""One tenant inside a shard: migrate, start, poll, fail and recover alone.

A runner owns its tenant's only poller. ``stop()`` returns once that poller's request is gone,
the updates being handled have finished (within a grace period) and the tenant's connections
are closed; the registry starts a replacement for the same token only after that, so one
token never has two pollers in a shard (Telegram would answer the second with 409).

Everything that can go wrong for one tenant ends in this tenant's state and nowhere else:
a bad entry, failing migrations, an unreachable database, a revoked token (401), a second
poller elsewhere (409), flood control (429, on the tenant's own requests only), handlers that
raise (answered by the bot's error router, then the next update). Startup failures are
retried with a doubling delay; a revoked token is retried slowly, in case it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.methods import GetUpdates
from aiogram.types import TelegramObject, Update

from booking_bot.db import close_idle_connections as close_postgres_connections
from booking_bot.middlewares import InFlight
from booking_bot.migrate import MigrationError, migrate
from booking_bot.shard.config import TenantEntry
from booking_bot.shard.logs import CURRENT_TENANT
from booking_bot.shard.reminders import run_reminders
from booking_bot.shard.routing import Handler, UnknownTenant
from booking_bot.shard.webhook import webhook_secret
from booking_bot.storage import TenantConnectionPool
from booking_bot.tenant import Clock, StartupError, TenantServices, TokenRejected, open_pool, open_tenant

log = logging.getLogger("booking_bot.shard")

RETRY_FIRST = 2.0
RETRY_MAX = 300.0
CONFLICT_BACKOFF = 5.0
NETWORK_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
SHUTDOWN_GRACE_SECONDS = 10.0
WEBHOOK_CHECK_SECONDS = 300.0  # webhook mode: how often getWebhookInfo confirms the webhook is ours


class State(StrEnum):
    STARTING = "Starting"
    SERVING = "Serving"
    CONFLICT = "Conflict"  # another poller holds the token (409)
    FAILED = "Failed"


@dataclass(frozen=True)
class Report:
    """What the shard says about one tenant: no secret, safe for a ConfigMap."""

    state: State
    reason: str
    since: dt.datetime
    config: str
    username: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "reason": self.reason,
            "since": self.since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "config": self.config,
            "username": self.username,
        }


@dataclass
class ShardContext:
    """What every runner of a shard shares."""

    name: str
    dp: Dispatcher
    session: BaseSession
    clock: Clock
    polling_timeout: int
    start_gate: asyncio.Semaphore
    reminder_gate: asyncio.Semaphore
    reminder_idle: float
    tenant_concurrency: int
    report: Callable[[str, Report | None], None]
    # Public base URL of this shard's webhook endpoint; None = long polling.
    webhook_url: str | None
    serving: dict[int, TenantRunner]  # bot id -> runner, for the dispatcher's lookups


class TenantRunner:
    """One tenant's lifecycle in a background task; ``stop()`` ends it for good."""

    def __init__(self, entry: TenantEntry, shard: ShardContext) -> None:
        self.entry = entry
        self.shard = shard
        self.services: TenantServices | None = None
        self.in_flight = InFlight()
        self.activity = asyncio.Event()
        self.last_update = 0.0  # loop time of the tenant's last update (the janitor reads it)
        self.report: Report | None = None
        self._slots = asyncio.Semaphore(shard.tenant_concurrency)
        self._handling: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._context: contextvars.Context | None = None

    @property
    def client_id(self) -> str:
        return self.entry.client_id

    def start(self, after: asyncio.Task[None] | None = None) -> None:
        """Run in the background, once ``after`` (the previous runner's stop) has finished."""
        context = contextvars.copy_context()
        context.run(CURRENT_TENANT.set, self.client_id)
        self._context = context
        self._task = asyncio.create_task(
            self._lifecycle(after), name=f"tenant:{self.client_id}", context=context
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.shard.report(self.client_id, None)

    # ---- the dispatcher's side ---------------------------------------------------------------------
    async def handle(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Called by the shard's middleware for every update of this tenant."""
        self.activity.set()
        self.last_update = asyncio.get_running_loop().time()
        return await self.in_flight(handler, event, data)

    async def close_idle_connections(self, *, postgres: float, redis: float) -> bool:
        """Close the PostgreSQL connections of a tenant idle for ``postgres`` seconds and its Redis
        ones after ``redis``; a tenant that has not handled an update since it started is idle
        already (its start-up queries' connection is not kept for a conversation that has not
        begun). Returns True when it closed something."""
        services = self.services
        if services is None or self.in_flight.count:
            return False
        idle_for = asyncio.get_running_loop().time() - self.last_update if self.last_update else math.inf
        closed = close_postgres_connections(services.pool) if idle_for >= postgres else 0
        storage = services.storage
        if idle_for >= redis and isinstance(storage, RedisStorage):
            pool = storage.redis.connection_pool
            if isinstance(pool, TenantConnectionPool):
                closed += await pool.close_idle()
        return closed > 0

    # ---- lifecycle ------------------------------------------------------------------------------
    def _set(self, state: State, reason: str = "") -> None:
        if self.report is not None and self.report.state == state and self.report.reason == reason:
            return
        username = self.services.me.username if self.services is not None else None
        self.report = Report(state, reason, self.shard.clock(), self.entry.fingerprint, username)
        self.shard.report(self.client_id, self.report)
        level = logging.WARNING if state in (State.FAILED, State.CONFLICT) else logging.INFO
        log.log(level, "tenant state", extra={"event": "tenant_state", "state": str(state), "reason": reason})

    async def _lifecycle(self, after: asyncio.Task[None] | None) -> None:
        self._set(State.STARTING, "waiting for the previous poller" if after else "")
        if after is not None:
            await asyncio.shield(after)
        if self.entry.error is not None:
            self._set(State.FAILED, f"configuration: {self.entry.error}")
            await asyncio.Event().wait()  # until the entry changes (a new runner) or is removed
        delay = RETRY_FIRST
        while True:
            try:
                await self._run_once()
                reason = "the token was rejected by Telegram (401)"
                delay = RETRY_MAX
            except TokenRejected as exc:
                reason, delay = str(exc), RETRY_MAX
            except (StartupError, MigrationError) as exc:
                reason = " ".join(str(exc).split())
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                reason = f"database: {type(exc).__name__}"
            self._set(State.FAILED, reason)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    async def _run_once(self) -> None:
        """Start the tenant and poll; returns when Telegram rejects the token, raises on failures."""
        entry = self.entry
        settings = entry.settings
        if settings is None:
            raise RuntimeError("a tenant without valid settings cannot start")
        async with self.shard.start_gate:
            try:
                await migrate(settings.database_url.get_secret_value(), settings.client_id)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise MigrationError(f"migrations failed: {type(exc).__name__}: {exc}") from None
            pool = await open_pool(settings, check_schema=False)
            bot = Bot(settings.token(), session=self.shard.session)
            try:
                self.services = await open_tenant(settings, bot, clock=self.shard.clock, pool=pool)
            except BaseException:
                await pool.close()
                raise
        services = self.services
        reminders = asyncio.create_task(
            run_reminders(
                services,
                worker=f"{self.shard.name}:{settings.client_id}",
                interval=settings.reminder_interval_seconds,
                idle=self.shard.reminder_idle,
                activity=self.activity,
                gate=self.shard.reminder_gate,
            ),
            name=f"reminders:{settings.client_id}",
        )
        self.shard.serving[bot.id] = self
        try:
            if self.shard.webhook_url:
                await self._receive_by_webhook(services.bot)
            else:
                await self._poll(services.bot)
        finally:
            reminders.cancel()
            if not await self.in_flight.wait_idle(SHUTDOWN_GRACE_SECONDS):
                log.warning("updates still running at stop", extra={"event": "shutdown_unfinished"})
            await asyncio.gather(*self._handling, return_exceptions=True)
            await services.notifier.drain(SHUTDOWN_GRACE_SECONDS)
            with contextlib.suppress(asyncio.CancelledError):
                await reminders
            if self.shard.serving.get(bot.id) is self:
                del self.shard.serving[bot.id]
            self.services = None
            await services.close(close_session=False)

    async def _poll(self, bot: Bot) -> None:
        """The tenant's one getUpdates loop; returns when the token is rejected."""
        allowed = self.shard.dp.resolve_used_update_types()
        offset: int | None = None
        failures = 0
        timeout = 0  # the first call returns at once: Serving means Telegram accepted this poller
        while True:
            request = GetUpdates(offset=offset, timeout=timeout, allowed_updates=allowed)
            try:
                updates = await bot(request, request_timeout=int(bot.session.timeout + timeout))
            except TelegramUnauthorizedError:
                return
            except TelegramConflictError:
                self._set(State.CONFLICT, "another poller uses this token (409)")
                await asyncio.sleep(CONFLICT_BACKOFF)
                continue
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
                continue
            except (TelegramNetworkError, TelegramAPIError) as exc:
                pause = NETWORK_BACKOFF[min(failures, len(NETWORK_BACKOFF) - 1)]
                failures += 1
                log.warning(
                    "getUpdates failed", extra={"event": "polling_failed", "error": type(exc).__name__}
                )
                await asyncio.sleep(pause)
                continue
            failures = 0
            timeout = self.shard.polling_timeout
            self._set(State.SERVING)
            for update in updates:
                offset = update.update_id + 1
                await self._slots.acquire()
                task = asyncio.create_task(self._feed(bot, update))
                self._handling.add(task)
                task.add_done_callback(self._handling.discard)

    # ---- webhook mode -------------------------------------------------------------------------
    @property
    def webhook_secret(self) -> str:
        """Telegram's ``secret_token`` for this tenant: derived from its bot token, so it is
        known only to Telegram and us, needs no storage, and changes when the token does."""
        settings = self.entry.settings
        if settings is None:
            raise RuntimeError("a tenant without valid settings cannot start")
        return webhook_secret(settings.token())

    def webhook_url(self, bot: Bot) -> str:
        if self.shard.webhook_url is None:
            raise RuntimeError("the shard has no webhook URL")
        return f"{self.shard.webhook_url.rstrip('/')}/telegram/{bot.id}"

    async def _receive_by_webhook(self, bot: Bot) -> None:
        """Updates arrive at the shard's endpoint; returns when Telegram rejects the token."""
        url = self.webhook_url(bot)
        failures = 0
        while True:
            try:
                await bot.set_webhook(
                    url,
                    secret_token=self.webhook_secret,
                    allowed_updates=self.shard.dp.resolve_used_update_types(),
                    drop_pending_updates=False,
                )
                break
            except TelegramUnauthorizedError:
                return
            except (TelegramNetworkError, TelegramAPIError) as exc:
                pause = NETWORK_BACKOFF[min(failures, len(NETWORK_BACKOFF) - 1)]
                failures += 1
                log.warning(
                    "setWebhook failed", extra={"event": "webhook_failed", "error": type(exc).__name__}
                )
                await asyncio.sleep(pause)
        self._set(State.SERVING)
        try:
            # No request of ours fails when the token is revoked or someone else takes the
            # updates (a poller's deleteWebhook, another setWebhook): look now and then.
            while True:
                await asyncio.sleep(WEBHOOK_CHECK_SECONDS)
                try:
                    info = await bot.get_webhook_info()
                except TelegramUnauthorizedError:
                    return
                except (TelegramNetworkError, TelegramAPIError):
                    continue
                if info.url == url:
                    self._set(State.SERVING)
                else:
                    self._set(State.CONFLICT, "the webhook was replaced or deleted by another receiver")
        finally:
            # Only our own webhook: a successor (another shard) may have set its own already.
            with contextlib.suppress(TelegramAPIError, TelegramNetworkError):
                info = await bot.get_webhook_info()
                if info.url == url:
                    await bot.delete_webhook(drop_pending_updates=False)

    def accept(self, update: Update) -> None:
        """An update delivered to the shard's webhook endpoint for this tenant."""
        if self.services is None:
            raise UnknownTenant(f"{self.client_id} is not serving")
        bot = self.services.bot

        async def when_free() -> None:
            await self._slots.acquire()
            await self._feed(bot, update)

        task = asyncio.create_task(when_free(), context=self._context)
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _feed(self, bot: Bot, update: Update) -> None:
        services = self.services
        try:
            if services is None:
                raise UnknownTenant(f"{self.client_id} stopped before its update was handled")
            # The tenant's names from the very first middleware on: the error handler needs
            # ``i18n`` even when the failure comes before the shard's own middleware (Redis down).
            await self.shard.dp.feed_update(bot, update, **services.workflow_data())
        except Exception as exc:  # the error router answered what it could; never the shard's problem
            log.warning(
                "update failed",
                extra={"event": "update_failed", "update_id": update.update_id, "error": type(exc).__name__},
            )
        finally:
            self._slots.release()
