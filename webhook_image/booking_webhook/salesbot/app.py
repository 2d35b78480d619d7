"""The sales bot's wiring: routers, dependencies, the notifier, long polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher, Router
from aiogram.fsm.storage.memory import MemoryStorage

from booking_contract.settings import ConfigError
from booking_webhook.core.config import Settings
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.handlers import autorenewal, managed, purchase, status
from booking_webhook.salesbot.notifier import run_notifier
from booking_webhook.salesbot.tokens import session
from booking_webhook.store import Store
from booking_webhook.yookassa_api import YooKassaClient

log = logging.getLogger(__name__)


def get_routers() -> list[Router]:
    """Fresh routers each call: a router can be attached to one dispatcher only."""
    return [status.router(), autorenewal.router(), managed.router(), purchase.router()]


def build_dispatcher(deps: SalesDeps) -> Dispatcher:
    # In-memory FSM: the sales bot runs as one replica (one poller per token); a half-finished
    # conversation lost to a restart is simply started again with /start.
    dp = Dispatcher(storage=MemoryStorage())
    dp.include_routers(*get_routers())
    dp["deps"] = deps
    return dp


def build_bot(settings: Settings) -> Bot:
    if settings.sales_bot_token is None:
        raise ConfigError("SALES_BOT_TOKEN is not set (it is required for the sales bot)")
    return Bot(settings.sales_bot_token.get_secret_value(), session=session(settings.telegram_api_url))


async def run_sales_bot(settings: Settings) -> None:
    store = await Store.connect(settings.database_url.get_secret_value(), max_size=5)
    kube = await Kube.connect(settings.tenant_namespace, settings.kubeconfig, settings.token_namespace)
    yookassa = YooKassaClient(
        settings.yookassa_api_url,
        settings.yookassa_shop_id,
        settings.yookassa_secret_key.get_secret_value(),
        settings.yookassa_timeout,
    )
    deps = SalesDeps(settings=settings, store=store, kube=kube, yookassa=yookassa)
    log_event(
        log,
        "sales bot starting",
        logging.WARNING if settings.yookassa_test_shop else logging.INFO,
        test_shop=settings.yookassa_test_shop,
        namespace=settings.tenant_namespace,
        receipts=settings.yookassa_receipt_enabled,
        autorenewal=settings.sales_autorenewal,
    )
    bot = build_bot(settings)
    notifier = asyncio.create_task(run_notifier(bot, deps, settings.ready_poll_interval))
    try:
        await build_dispatcher(deps).start_polling(bot, polling_timeout=settings.polling_timeout)
    finally:
        notifier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await notifier
        await bot.session.close()
        await yookassa.close()
        await kube.close()
        await store.close()
