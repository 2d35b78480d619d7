"""The FastAPI application: wiring only. Domain logic lives in plain modules."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from booking_webhook.api.routes import health, orders, webhook
from booking_webhook.core.config import Settings, get_settings
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.metrics import Metrics
from booking_webhook.notifications import Clients
from booking_webhook.ratelimit import RateLimiter
from booking_webhook.reconciliation import reconcile_once
from booking_webhook.recovery import recover_once
from booking_webhook.store import Store
from booking_webhook.yookassa_api import YooKassaClient

log = logging.getLogger(__name__)


async def _every(interval: float, name: str, one_pass: Callable[[], Awaitable[object]]) -> None:
    """Run a background pass every `interval` seconds for the life of the process."""
    while True:
        await asyncio.sleep(interval)
        try:
            await one_pass()
        except Exception as exc:  # the database or an API may be down for a while; next round
            log_event(log, f"{name} pass failed", logging.WARNING, error=f"{type(exc).__name__}: {exc}"[:300])


def _background(clients: Clients, settings: Settings) -> list[asyncio.Task[None]]:
    tasks = []
    if settings.recovery_interval > 0:
        tasks.append(
            asyncio.create_task(
                _every(
                    settings.recovery_interval,
                    "recovery",
                    lambda: recover_once(
                        clients,
                        older_than_seconds=settings.recovery_min_age,
                        max_attempts=settings.recovery_max_attempts,
                        row_timeout=settings.processing_timeout,
                    ),
                )
            )
        )
    if settings.reconcile_interval > 0:
        lookback = datetime.timedelta(hours=settings.reconcile_lookback_hours)
        reconcile = lambda: reconcile_once(clients, lookback)  # noqa: E731
        tasks.append(asyncio.create_task(_every(settings.reconcile_interval, "reconciliation", reconcile)))
    return tasks


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
        kube = await Kube.connect(current.tenant_namespace, current.kubeconfig, current.token_namespace)
        yookassa = YooKassaClient(
            current.yookassa_api_url,
            current.yookassa_shop_id,
            current.yookassa_secret_key.get_secret_value(),
            current.yookassa_timeout,
        )
        metrics = Metrics()
        metrics.test_shop.set(1 if current.yookassa_test_shop else 0)
        app.state.clients = Clients(
            store=store, kube=kube, yookassa=yookassa, metrics=metrics, test_shop=current.yookassa_test_shop
        )
        app.state.rate_limiter = RateLimiter(current.rate_limit_per_second, current.rate_limit_burst)
        app.state.reconciled = {}
        log_event(
            log,
            "webhook starting",
            logging.WARNING if current.yookassa_test_shop else logging.INFO,
            test_shop=current.yookassa_test_shop,
            shop_id=current.yookassa_shop_id,
            namespace=current.tenant_namespace,
            receipts=current.yookassa_receipt_enabled,
            reconcile_interval=current.reconcile_interval,
        )
        tasks = _background(app.state.clients, current)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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
