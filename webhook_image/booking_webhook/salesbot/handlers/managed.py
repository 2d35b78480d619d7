"""Managed bots (Bot API 9.6): when Telegram reports a new token for a bot this sales bot
manages, the tenant's token Secret gets it, so a rotated token does not silence the bot.

The token goes into the token namespace (kube.py) and the tenant is pointed at it: a tenant made
before the token namespace existed moves over at its first refresh."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ManagedBotUpdated

from booking_contract.kube import KubeError
from booking_webhook.core.logging import log_event
from booking_webhook.salesbot.deps import SalesDeps

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="managed")
    r.managed_bot.register(managed_bot_updated)
    return r


async def managed_bot_updated(managed_bot: ManagedBotUpdated, bot: Bot, deps: SalesDeps) -> None:
    bot_id = managed_bot.bot_user.id
    checkout = await deps.store.checkout_by_bot(bot_id, deps.settings.tenant_namespace)
    if checkout is None or not checkout.token_secret_name:
        return  # a bot we do not sell (yet): its token is taken when the owner buys
    if checkout.telegram_user_id != managed_bot.user.id:
        log_event(log, "managed bot update from another owner ignored", logging.WARNING, bot_id=bot_id)
        return
    try:
        token = await bot.get_managed_bot_token(user_id=bot_id)
        await deps.kube.create_token_secret(
            checkout.token_secret_name, token, checkout.tenant_name, checkout.client_id
        )
        await deps.kube.point_at_token(checkout.tenant_name, checkout.token_secret_name)
    except (TelegramAPIError, KubeError) as exc:
        log_event(
            log, "managed bot token not refreshed", logging.WARNING, bot_id=bot_id, error=type(exc).__name__
        )
        return
    log_event(log, "managed bot token refreshed", bot_id=bot_id, secret=checkout.token_secret_name)
