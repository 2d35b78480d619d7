"""Keep aiogram's parametrized response models alive, so they are built once per process.

aiogram validates every Bot API answer with ``Response[method.__returning__]``, a pydantic
generic model parametrized at each call. pydantic caches such parametrizations only weakly,
and the models it builds are cycles: the next garbage collection frees them, and the next
call builds the model again (its schema and validator, a few milliseconds of CPU and
thousands of new objects, which bring the next collection closer). A shard saw
``Response[list[Update]]`` and ``Response[Message]`` rebuilt after nearly every collection,
about a quarter of its CPU under the benchmark's load (docs/benchmarks.md); a dedicated bot
pays the same per collection. A strong reference per method type ends it.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

_KEPT: dict[type[TelegramMethod[Any]], type[Response[Any]]] = {}


def keep_response_type(method: type[TelegramMethod[Any]]) -> type[Response[Any]]:
    """The response model of ``method``, built at most once per process."""
    kept = _KEPT.get(method)
    if kept is None:
        kept = _KEPT[method] = Response[method.__returning__]  # type: ignore[name-defined]
    return kept


class KeepResponseTypes(BaseRequestMiddleware):
    """Request middleware: before a method's first request, pin its response model."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        keep_response_type(type(method))
        return await make_request(bot, method)
