"""Per-update context: the user's texts and admin flag, the user row kept current."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from booking_bot.i18n import I18n
from booking_bot.users import Admins, Person, upsert_user

log = logging.getLogger("booking_bot.updates")


class ContextMiddleware(BaseMiddleware):
    """Outer middleware: injects ``texts``, ``is_admin`` and ``person`` into every handler."""

    def __init__(self, i18n: I18n, admins: Admins) -> None:
        self.i18n = i18n
        self.admins = admins

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        person = Person(
            telegram_id=user.id,
            first_name=user.first_name or "",
            last_name=user.last_name or "",
            username=user.username,
            language_code=user.language_code,
        )
        added_admin = await upsert_user(self.admins.pool, person)
        data["person"] = person
        data["texts"] = self.i18n.for_user(user.language_code)
        data["is_admin"] = added_admin or user.id in self.admins.from_env
        return await handler(event, data)


class InFlight(BaseMiddleware):
    """Counts updates being handled, so shutdown can let them finish before closing the pool."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        self.count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self, grace: float) -> bool:
        """True when every update in flight finished within ``grace`` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True
