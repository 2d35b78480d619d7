"""Webhook mode: one HTTP endpoint of the shard receives the updates of all its tenants.

Telegram POSTs each update to the URL the tenant registered with ``setWebhook``:
``<SHARD_WEBHOOK_URL>/telegram/<bot id>``, with the tenant's ``secret_token`` in the
``X-Telegram-Bot-Api-Secret-Token`` header. The frame is aiogram's own
``BaseRequestHandler`` (``aiogram.webhook.aiohttp_server``): resolve the bot of a request,
verify its secret, answer at once and handle in the background. Its ready-made multi-bot
handler, ``TokenBasedRequestHandler``, is not used because it puts the bot *token* in the path,
where every proxy and access log would keep it; the path here carries only the bot id (the
public half of the token), and which tenant owns that id is the shard's registry.

The update is then handed to the tenant's runner (``TenantRunner.accept``), the same path a
long-polled update takes: the tenant's concurrency limit, its log context and its in-flight
count (a stopping tenant finishes what it accepted).

This server listens on its own port (``SHARD_WEBHOOK_PORT``), apart from ``/healthz`` and
``/tenants``: only it is exposed through the Ingress.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import BaseRequestHandler
from aiohttp import web
from pydantic import ValidationError

if TYPE_CHECKING:
    from booking_bot.shard.runner import TenantRunner

log = logging.getLogger("booking_bot.shard")

Lookup = Callable[[int], "TenantRunner | None"]


def webhook_secret(token: str) -> str:
    """A tenant's ``secret_token``: derived from its bot token, so it needs no storage (no Secret,
    no ConfigMap), is known only to Telegram and the token's holder, and changes with the token."""
    return hmac.new(token.encode(), b"booking-saas webhook", hashlib.sha256).hexdigest()


def webhook_path(base_url: str) -> str:
    """The route this shard serves for ``base_url`` (its path part, then ``/telegram/<bot id>``)."""
    return urlsplit(base_url).path.rstrip("/") + "/telegram/{bot_id}"


class TenantRequestHandler(BaseRequestHandler):
    """aiogram's request handler for the tenants of one shard, found by the bot id in the path."""

    def __init__(self, dispatcher: Dispatcher, lookup: Lookup) -> None:
        super().__init__(dispatcher, handle_in_background=True)
        self._lookup = lookup

    def _runner(self, bot_id: int) -> TenantRunner | None:
        runner = self._lookup(bot_id)
        return runner if runner is not None and runner.services is not None else None

    async def resolve_bot(self, request: web.Request) -> Bot:
        try:
            runner = self._runner(int(request.match_info["bot_id"]))
        except ValueError:
            runner = None
        if runner is None or runner.services is None:
            # Telegram retries a failed delivery later: the tenant may be starting or moving.
            raise web.HTTPNotFound()
        return runner.services.bot

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        runner = self._runner(bot.id)
        if runner is None:
            return False
        return hmac.compare_digest(telegram_secret_token.encode(), runner.webhook_secret.encode())

    async def _handle_request_background(self, bot: Bot, request: web.Request) -> web.Response:
        """aiogram would feed the dispatcher directly; the tenant's runner does it here instead."""
        runner = self._runner(bot.id)
        if runner is None:
            raise web.HTTPNotFound()
        try:
            update = Update.model_validate(
                await request.json(loads=bot.session.json_loads), context={"bot": bot}
            )
        except (ValueError, ValidationError):
            return web.Response(status=400)
        runner.accept(update)
        return web.json_response({})

    async def close(self) -> None:
        """Nothing to close: the bots share the shard's one session, closed with the shard."""


class WebhookServer:
    """The shard's webhook endpoint: ``POST <path of SHARD_WEBHOOK_URL>/telegram/<bot id>``."""

    def __init__(self, dispatcher: Dispatcher, lookup: Lookup, base_url: str, port: int) -> None:
        self.handler = TenantRequestHandler(dispatcher, lookup)
        self.path = webhook_path(base_url)
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        self.handler.register(app, path=self.path)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "0.0.0.0", self.port).start()  # noqa: S104 - Telegram, via the Ingress
        log.info(
            "webhook endpoint", extra={"event": "webhook_listening", "port": self.port, "path": self.path}
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
