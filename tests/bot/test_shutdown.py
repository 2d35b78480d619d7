"""Graceful shutdown: updates being handled finish before the pool closes."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram.types import TelegramObject

from booking_bot.middlewares import InFlight
from booking_bot.notify import Notifier


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


async def test_background_notices_finish_or_are_cancelled_at_shutdown() -> None:
    notifier = Notifier.__new__(Notifier)  # only the background bookkeeping is exercised
    notifier._background = set()
    finished: list[str] = []
    stuck = asyncio.Event()

    async def quick() -> None:
        finished.append("quick")

    async def flood_waited() -> None:
        await stuck.wait()
        finished.append("never")

    notifier.later(quick())
    notifier.later(flood_waited())
    await notifier.drain(0.1)
    await asyncio.sleep(0)  # the done callbacks
    assert finished == ["quick"]
    assert not notifier._background
