"""The fake Telegram Bot API (harness/telegram.py), served where the operator and the bots reach it.

The chart's `operator.telegramApiUrl` must name it before the operator starts (the operator
passes it to every bot as TELEGRAM_API_URL), so its address is fixed up front: `make e2e` picks
`E2E_TELEGRAM_PORT` and installs the chart with `http://$E2E_TELEGRAM_BIND:$E2E_TELEGRAM_PORT`;
the test session then listens there. Without those variables the tests that need a bot to
answer are skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from e2e.served import LoopThread
from harness.telegram import FakeTelegram, SentMessage

T = TypeVar("T")


def configured_address() -> tuple[str, int] | None:
    bind, port = os.environ.get("E2E_TELEGRAM_BIND", ""), os.environ.get("E2E_TELEGRAM_PORT", "")
    return (bind, int(port)) if bind and port else None


class ReachableTelegram:
    """A FakeTelegram on a background loop, at the address the chart was installed with."""

    def __init__(self, bind: str, port: int) -> None:
        self.fake = FakeTelegram(host=bind, port=port)
        self._loop = LoopThread("fake-telegram")
        self._started = False

    def start(self) -> ReachableTelegram:
        self._loop.start()
        self._started = True
        self._loop.run(self.fake.start())
        return self

    @property
    def url(self) -> str:
        return self.fake.url

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._loop.call(fn, *args, **kwargs)

    def next_message(self, token: str, chat_id: int, timeout: float) -> SentMessage:
        return self._loop.run(self.fake.next_message(token, chat_id, timeout=timeout), timeout=timeout + 5)

    def stop(self) -> None:
        self._loop.stop(self.fake.close() if self._started else None)
