"""The shard process: one dispatcher, one Bot API session, the registry, the status, the source."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import zoneinfo
from collections.abc import Mapping

from aiogram import Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from booking_bot import retries
from booking_bot.i18n import I18n
from booking_bot.response_types import KeepResponseTypes
from booking_bot.shard.config import ShardSettings, TenantEntry, parse_entry
from booking_bot.shard.heap import Heap, Schedule
from booking_bot.shard.registry import Registry
from booking_bot.shard.routing import ServingTenant, ShardIsolation, ShardStorage, TenantMiddleware
from booking_bot.shard.runner import ShardContext, TenantRunner
from booking_bot.shard.sources import DirectorySource, SecretSource, TenantSource
from booking_bot.shard.status import StatusBoard, StatusServer, publish
from booking_bot.shard.webhook import WebhookServer
from booking_bot.tenant import Clock, include_handlers
from booking_contract.kube import KubeClient
from booking_contract.settings import ConfigError

log = logging.getLogger("booking_bot.shard")

JANITOR_SECONDS = 5.0
# Redis connections idle this long are closed even when the tenant keeps its PostgreSQL ones
# longer: well below the idle timeouts servers are configured with (0 = never by default, 300 s
# in many setups), so the server does not cut one first.
REDIS_IDLE_SECONDS = 60.0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Shard:
    """``await start()``, then ``apply()`` tenant lists (or ``serve()`` a source), then ``close()``."""

    def __init__(
        self,
        settings: ShardSettings,
        *,
        clock: Clock = utcnow,
        polling_timeout: int | None = None,
        own_process: bool = False,
    ) -> None:
        """``own_process``: only the shard's own process freezes its heap and runs its collector
        on the shard's schedule (heap.py)."""
        self.settings = settings
        self.clock = clock
        self.board = StatusBoard()
        # No connection limit: every tenant holds one long poll at all times.
        self.session = AiohttpSession(
            api=TelegramAPIServer.from_base(settings.telegram_api_url) if settings.telegram_api_url else None,
            limit=0,
        )
        self.session.middleware(retries.RetryMiddleware())
        self.session.middleware(KeepResponseTypes())
        self.serving: dict[int, TenantRunner] = {}
        self.dp = Dispatcher(
            storage=ShardStorage(self._lookup), events_isolation=ShardIsolation(self._lookup)
        )
        self.middleware = TenantMiddleware(self._lookup)
        self.dp.update.outer_middleware(self.middleware)
        # Routers once for the whole shard; the texts they carry are the same for every tenant.
        include_handlers(self.dp, I18n("ru", zoneinfo.ZoneInfo("UTC")))
        self.registry = Registry(
            ShardContext(
                name=settings.shard_name,
                dp=self.dp,
                session=self.session,
                clock=clock,
                polling_timeout=polling_timeout or settings.shard_polling_timeout,
                start_gate=asyncio.Semaphore(settings.shard_start_concurrency),
                reminder_gate=asyncio.Semaphore(settings.shard_reminder_concurrency),
                reminder_idle=settings.shard_reminder_idle_seconds,
                tenant_concurrency=settings.shard_tenant_concurrency,
                report=self.board.report,
                serving=self.serving,
                webhook_url=settings.shard_webhook_url,
            )
        )
        self.kube: KubeClient | None = None
        self.http: StatusServer | None = None
        self.webhook: WebhookServer | None = None
        self._background: list[asyncio.Task[None]] = []
        self.heap = Heap(
            own_process=own_process,
            schedule=Schedule(
                full_seconds=settings.shard_gc_full_seconds, growth_bytes=settings.shard_gc_growth_mb << 20
            ),
            busy=lambda: self.middleware.in_flight > 0,
        )
        self._settled = (0, 0)  # the registry's (changes, removals) at the last settle

    def _lookup(self, bot_id: int) -> ServingTenant | None:
        return self.serving.get(bot_id)

    async def start(self) -> None:
        s = self.settings
        if s.shard_tenants_secret or s.shard_status_configmap:
            self.kube = KubeClient(s.shard_kube_api_url) if s.shard_kube_api_url else KubeClient.in_cluster()
        if s.health_port:
            self.http = StatusServer(self.board, s.health_port, s.shard_name)
            await self.http.start()
        if s.shard_webhook_url:
            self.webhook = WebhookServer(self.dp, self.serving.get, s.shard_webhook_url, s.shard_webhook_port)
            await self.webhook.start()
        self.heap.watch()
        self._background.append(asyncio.create_task(self._janitor(), name="janitor"))
        if self.heap.own_process:
            self._background.append(asyncio.create_task(self.heap.run(), name="collector"))
        if s.shard_status_configmap and self.kube is not None:
            self._background.append(
                asyncio.create_task(publish(self.board, self.kube, s.namespace(), s.shard_status_configmap))
            )

    def _settle_heap(self) -> None:
        """Once a batch of tenant changes has finished starting, freeze what the tenants keep."""
        registry = self.registry
        if registry.changes == self._settled[0] or registry.starting():
            return
        if registry.removals != self._settled[1]:
            self.heap.tenants_removed()
        self.heap.settle()
        self._settled = (registry.changes, registry.removals)

    async def _janitor(self) -> None:
        """Idle tenants hold no connection: PostgreSQL's after ``DB_IDLE_SECONDS`` (asyncpg does
        that too; here also a tenant's start-up connection at once), Redis's as well but after at
        most ``REDIS_IDLE_SECONDS`` (a server's client ``timeout`` would otherwise cut them).
        And the heap is settled after tenants started or stopped (heap.py)."""
        while True:
            await asyncio.sleep(JANITOR_SECONDS)
            self.heap.report_pauses()
            self._settle_heap()
            for runner in list(self.serving.values()):
                settings = runner.entry.settings
                idle = settings.db_idle_seconds if settings else REDIS_IDLE_SECONDS
                with contextlib.suppress(Exception):  # a tenant's trouble is not the janitor's
                    await runner.close_idle_connections(postgres=idle, redis=min(idle, REDIS_IDLE_SECONDS))

    def source(self) -> TenantSource:
        s = self.settings
        if s.shard_tenants_secret and self.kube is not None:
            return SecretSource(self.kube, s.namespace(), s.shard_tenants_secret)
        if s.shard_tenants_dir is None:
            raise ConfigError("set exactly one of SHARD_TENANTS_SECRET and SHARD_TENANTS_DIR")
        return DirectorySource(s.shard_tenants_dir)

    def apply(self, entries: Mapping[str, str]) -> None:
        """The complete tenant list (client id -> JSON entry): tenants not in it are stopped."""
        parsed: dict[str, TenantEntry] = {
            cid: parse_entry(
                cid,
                raw,
                self.settings.telegram_api_url,
                db_idle_seconds=self.settings.shard_db_idle_seconds,
            )
            for cid, raw in entries.items()
        }
        self.registry.apply(parsed)
        self.board.synced = True

    async def serve(self, source: TenantSource | None = None) -> None:
        """Follow the tenant list until cancelled."""
        async for snapshot in (source or self.source()).snapshots():
            log.info("tenant list", extra={"event": "tenant_list", "tenants": len(snapshot)})
            self.apply(snapshot)

    async def close(self) -> None:
        self.heap.close()
        await self.registry.close()
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.webhook is not None:
            await self.webhook.stop()
        if self.http is not None:
            await self.http.stop()
        if self.kube is not None:
            await self.kube.close()
        await self.session.close()
