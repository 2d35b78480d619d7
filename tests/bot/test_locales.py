"""Russian and English say the same things: the same keys, the same placeholders."""

from __future__ import annotations

import json
import string
from importlib import resources


def _catalog(lang: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        resources.files("booking_bot.locales").joinpath(f"{lang}.json").read_text("utf-8")
    )
    return data


def _fields(text: object) -> set[str]:
    if not isinstance(text, str):
        return set()
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_key() -> None:
    assert set(_catalog("ru")) == set(_catalog("en"))


def test_both_languages_use_the_same_placeholders() -> None:
    en, ru = _catalog("en"), _catalog("ru")
    differ = {key for key in en if _fields(en[key]) != _fields(ru[key])}
    assert differ == set()
