"""Each Bot API method's response model is built once per process, in both runtimes
(booking_bot.response_types): before, every garbage collection freed them and the next
answer of Telegram built them again."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic._internal import _generics

from .conftest import RunningBot

CUSTOMER = 1001


@pytest.fixture()
def built_response_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the generic models pydantic builds while the test runs."""
    built: list[str] = []
    create = _generics.create_generic_submodel

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(name)
        return create(name, *args, **kwargs)

    monkeypatch.setattr(_generics, "create_generic_submodel", recording)
    yield built


async def test_response_models_are_not_built_again_after_a_garbage_collection(
    bot: RunningBot, built_response_models: list[str]
) -> None:
    assert "Salon Test" in (await bot.say(CUSTOMER, "/start")).text  # getUpdates and sendMessage seen once
    built_response_models.clear()
    for _ in range(3):
        gc.collect()
        assert "Salon Test" in (await bot.say(CUSTOMER, "/start")).text
    assert [name for name in built_response_models if name.startswith("Response[")] == []
