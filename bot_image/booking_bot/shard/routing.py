"""One dispatcher for every tenant of the shard: per-tenant state found by the update's bot id.

aiogram resolves an update's FSM key as ``(bot_id, chat_id, user_id)``, so the bot id alone
tells which tenant an update, a state or a lock belongs to. The shard's storage and event
isolation route each call to that tenant's own storage (its Redis user and key prefix, or its
own memory), and the outer middleware gives the handlers that tenant's services under the
names the dedicated runtime uses (``pool``, ``settings``, ``i18n``, ``notifier``...). Routers
are built once per shard, not once per tenant: they are most of a bot's memory.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, StorageKey
from aiogram.types import TelegramObject

from booking_bot.tenant import TenantServices

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ServingTenant(Protocol):
    """What the dispatcher needs of a tenant that is serving (``runner.TenantRunner``)."""

    services: TenantServices | None

    async def handle(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any: ...


class UnknownTenant(LookupError):
    """An update, state or lock for a bot that is not (or no longer) served here."""


Lookup = Callable[[int], ServingTenant | None]


def _tenant(lookup: Lookup, bot_id: int) -> tuple[ServingTenant, TenantServices]:
    tenant = lookup(bot_id)
    if tenant is None or tenant.services is None:
        raise UnknownTenant(f"bot {bot_id} is not served by this shard")
    return tenant, tenant.services


class ShardStorage(BaseStorage):
    """FSM storage that forwards every call to the owning tenant's storage."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup

    def _for(self, key: StorageKey) -> BaseStorage:
        return _tenant(self._lookup, key.bot_id)[1].storage

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        await self._for(key).set_state(key, state)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._for(key).get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._for(key).set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._for(key).get_data(key)

    async def close(self) -> None:
        """Nothing of its own: each tenant's storage is closed with the tenant."""


class ShardIsolation(BaseEventIsolation):
    """Event isolation (one update per user at a time) under the owning tenant's lock."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup

    @contextlib.asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        async with _tenant(self._lookup, key.bot_id)[1].isolation.lock(key):
            yield

    async def close(self) -> None:
        """Nothing of its own: each tenant's isolation is closed with the tenant."""


class TenantMiddleware(BaseMiddleware):
    """Outer update middleware: the tenant's services in ``data``, then the tenant's own chain."""

    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self.in_flight = 0  # updates being handled now: the collector's full pass waits for 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        bot: Bot = data["bot"]
        tenant, services = _tenant(self._lookup, bot.id)
        data.update(services.workflow_data())
        self.in_flight += 1
        try:
            return await tenant.handle(functools.partial(services.context, handler), event, data)
        finally:
            self.in_flight -= 1
