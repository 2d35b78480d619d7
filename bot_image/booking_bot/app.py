"""The dedicated runtime: one process, one tenant (services from ``booking_bot.tenant``), polling,
the reminder worker and the health endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from booking_bot import reminders, retries
from booking_bot.clock import Clock, utcnow
from booking_bot.config import Settings
from booking_bot.health import HealthServer
from booking_bot.middlewares import InFlight
from booking_bot.notify import Notifier
from booking_bot.response_types import KeepResponseTypes
from booking_bot.tenant import StartupError, include_handlers, open_pool, open_tenant

__all__ = ["BookingBot", "StartupError", "run", "utcnow"]

log = logging.getLogger("booking_bot")

# Updates handled at once (each waits for one of the pool's connections anyway).
MAX_CONCURRENT_UPDATES = 32
# On SIGTERM, how long updates already being handled may take to finish.
SHUTDOWN_GRACE_SECONDS = 10.0


class BookingBot:
    """One tenant's bot: ``await start()``, ``await serve()`` until ``stop()``, then ``close()``."""

    def __init__(self, settings: Settings, *, clock: Clock = utcnow, polling_timeout: int = 10) -> None:
        self.settings = settings
        self.clock = clock
        self.polling_timeout = polling_timeout
        self.pool: asyncpg.Pool | None = None
        self.bot: Bot | None = None
        self.dp: Dispatcher | None = None
        self.health: HealthServer | None = None
        self._stop = asyncio.Event()
        self._polling = False
        self._worker: asyncio.Task[None] | None = None
        self.in_flight = InFlight()
        self._notifier: Notifier | None = None

    async def start(self) -> None:
        s = self.settings
        self.pool = await open_pool(s)
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(s.telegram_api_url))
            if s.telegram_api_url
            else None
        )
        self.bot = Bot(s.token(), session=session)
        retries.install(self.bot)
        self.bot.session.middleware(KeepResponseTypes())
        services = await open_tenant(s, self.bot, clock=self.clock, pool=self.pool)
        dp = Dispatcher(
            storage=services.storage, events_isolation=services.isolation, **services.workflow_data()
        )
        dp.update.outer_middleware(self.in_flight)
        dp.update.outer_middleware(services.context)
        include_handlers(dp, services.i18n)
        self.dp = dp
        self._notifier = services.notifier

        if s.health_port:
            self.health = HealthServer(s.health_port, s.client_id, lambda: self._polling)
            try:
                await self.health.start()
            except OSError as exc:
                raise StartupError(f"cannot serve /healthz on port {s.health_port}: {exc.strerror}") from None

    @property
    def notifier(self) -> Notifier:
        """Outgoing messages (reminders, notices); available after ``start()``."""
        if self._notifier is None:
            raise RuntimeError("the bot has not started")
        return self._notifier

    async def serve(self, *, handle_signals: bool = False) -> None:
        if self.bot is None or self.dp is None or self.pool is None:
            raise RuntimeError("the bot has not started")
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._worker = asyncio.create_task(
            reminders.run_worker(
                self.pool,
                self.notifier.reminder,
                worker=worker_id,
                interval=self.settings.reminder_interval_seconds,
                stop=self._stop,
                clock=self.clock,
                also=self.notifier.release_held,
            ),
            name="reminders",
        )
        self._polling = True
        try:
            await self.dp.start_polling(
                self.bot,
                handle_signals=handle_signals,
                close_bot_session=False,
                polling_timeout=self.polling_timeout,
                allowed_updates=self.dp.resolve_used_update_types(),
                handle_as_tasks=True,
                tasks_concurrency_limit=MAX_CONCURRENT_UPDATES,
            )
        finally:
            self._polling = False
            # Polling has stopped taking updates; let the ones being handled finish.
            if not await self.in_flight.wait_idle(SHUTDOWN_GRACE_SECONDS):
                log.warning("updates still running at shutdown", extra={"event": "shutdown_unfinished"})
            await self.notifier.drain(SHUTDOWN_GRACE_SECONDS)
            self._stop.set()
            if self._worker is not None:
                await self._worker

    async def stop(self) -> None:
        self._stop.set()
        if self.dp is not None and self._polling:
            with contextlib.suppress(RuntimeError):
                await self.dp.stop_polling()

    async def close(self) -> None:
        self._stop.set()
        if self.health is not None:
            await self.health.stop()
        if self.dp is not None:
            await self.dp.storage.close()
            if self.dp.fsm.events_isolation is not None:
                await self.dp.fsm.events_isolation.close()
        if self.bot is not None:
            await self.bot.session.close()
        if self.pool is not None:
            await self.pool.close()


async def run(settings: Settings) -> int:
    """The process: start, poll until SIGTERM/SIGINT, shut down cleanly. Returns the exit code."""
    app = BookingBot(settings)
    try:
        await app.start()
    except StartupError as exc:
        await app.close()
        sys.stderr.write(f"booking_bot: startup error: {' '.join(str(exc).split())}\n")
        return exc.exit_code
    log.info("polling", extra={"event": "polling_started"})
    try:
        await app.serve(handle_signals=True)
    finally:
        await app.close()
        log.info("stopped", extra={"event": "stopped"})
    return 0
