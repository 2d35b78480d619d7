"""Graceful shutdown: updates being handled finish before the pool closes."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram.types import TelegramObject

from booking_bot.middlewares import InFlight


async def test_shutdown_waits_for_updates_in_flight() -> None:
    in_flight = InFlight()
    release = asyncio.Event()

    async def slow_handler(event: TelegramObject, data: dict[str, Any]) -> str:
        await release.wait()
        return "done"

    task = asyncio.create_task(in_flight(slow_handler, TelegramObject(), {}))
    await asyncio.sleep(0)
    assert in_flight.count == 1
    assert await in_flight.wait_idle(0.05) is False
    release.set()
    assert await in_flight.wait_idle(1) is True
    assert await task == "done"
