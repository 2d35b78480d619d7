"""The FastAPI application: wiring only. Domain logic lives in plain modules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from booking_webhook.api.routes import health, orders, webhook
from booking_webhook.core.config import Settings, get_settings
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.metrics import Metrics
from booking_webhook.notifications import Clients, recover_once
from booking_webhook.ratelimit import RateLimiter
from booking_webhook.store import Store
from booking_webhook.yookassa_api import YooKassaClient

log = logging.getLogger(__name__)


async def _recover_forever(clients: Clients, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await recover_once(clients, older_than_seconds=max(interval, 60.0))
        except Exception as exc:  # the database may be down for a while; try again next round
            log_event(log, "recovery pass failed", logging.WARNING, error=type(exc).__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` (tests) overrides the environment everywhere."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = settings or get_settings()
        store = Store(current.database_url.get_secret_value())
        try:
            await asyncio.wait_for(store.ensure(), 10)
        except Exception as exc:  # not fatal: /ready says so, notifications get 503 until it is back
            log_event(log, "database not reachable at startup", logging.WARNING, error=type(exc).__name__)
        kube = await Kube.connect(current.tenant_namespace, current.kubeconfig)
        yookassa = YooKassaClient(
            current.yookassa_api_url,
            current.yookassa_shop_id,
            current.yookassa_secret_key.get_secret_value(),
            current.yookassa_timeout,
        )
        app.state.clients = Clients(store=store, kube=kube, yookassa=yookassa, metrics=Metrics())
        app.state.rate_limiter = RateLimiter(current.rate_limit_per_second, current.rate_limit_burst)
        app.state.reconciled = {}
        recovery = None
        if current.recovery_interval > 0:
            recovery = asyncio.create_task(_recover_forever(app.state.clients, current.recovery_interval))
        try:
            yield
        finally:
            if recovery is not None:
                recovery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recovery
            await yookassa.close()
            await kube.close()
            await store.close()

    app = FastAPI(title="booking-webhook", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    if settings is not None:
        app.dependency_overrides[get_settings] = lambda: settings
    app.include_router(webhook.router)
    app.include_router(health.router)
    app.include_router(orders.router)
    return app
