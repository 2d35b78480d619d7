"""Texts from ``locales/<lang>.json``: Russian and English, Russian by default.

The language comes from the Telegram user's ``language_code`` (``en*`` -> English, ``ru``,
``uk``, ``be``, ``kk`` -> Russian, anything else -> DEFAULT_LANGUAGE).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("ru", "en")
_RUSSIAN_SPEAKING = ("ru", "uk", "be", "kk")


@cache
def _catalog(lang: str) -> Mapping[str, Any]:
    data: Mapping[str, Any] = json.loads(
        resources.files("booking_bot.locales").joinpath(f"{lang}.json").read_text("utf-8")
    )
    return data


def pick_language(language_code: str | None, default: str) -> str:
    code = (language_code or "").lower()
    if code.startswith("en"):
        return "en"
    if code.startswith(_RUSSIAN_SPEAKING):
        return "ru"
    return default


class Texts:
    """One language's texts, with the tenant's time zone for dates and times."""

    def __init__(self, lang: str, tz: zoneinfo.ZoneInfo) -> None:
        self.lang = lang
        self.tz = tz
        self._texts = _catalog(lang)
        self._fallback = _catalog("en")

    def __call__(self, key: str, **values: Any) -> str:
        template = self._texts.get(key, self._fallback.get(key, key))
        return str(template).format(**values) if values else str(template)

    def weekday(self, iso_weekday: int, *, short: bool = True) -> str:
        names = self._texts["weekdays_short" if short else "weekdays"]
        return str(names[iso_weekday - 1])

    def date(self, value: dt.date | dt.datetime) -> str:
        day = value.astimezone(self.tz).date() if isinstance(value, dt.datetime) else value
        return self(
            "date_format",
            weekday=self.weekday(day.isoweekday()),
            day=day.day,
            month=self._texts["months"][day.month - 1],
            year=day.year,
        )

    def time(self, value: dt.datetime) -> str:
        return value.astimezone(self.tz).strftime("%H:%M")

    def month(self, month: int) -> str:
        return str(self._texts["months_nominative"][month - 1])

    def price(self, value: Any) -> str:
        text = f"{value:,.2f}".replace(",", " ").removesuffix(".00")
        return self("price_format", amount=text)

    def count(self, key: str, n: int) -> str:
        """``"2 bookings"``: the number with the plural form the language wants (``plural.<key>``)."""
        forms = self._texts.get(f"plural.{key}") or self._fallback[f"plural.{key}"]
        if self.lang == "ru":
            if n % 10 == 1 and n % 100 != 11:
                form = forms[0]
            elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
                form = forms[1]
            else:
                form = forms[2]
        else:
            form = forms[0] if n == 1 else forms[1]
        return f"{n} {form}"

    def duration(self, minutes: int) -> str:
        hours, rest = divmod(minutes, 60)
        if hours and rest:
            return self("duration_hm", h=hours, m=rest)
        if hours:
            return self("duration_h", h=hours)
        return self("duration_m", m=rest)


class I18n:
    """Texts per language for one tenant."""

    def __init__(self, default_language: str, tz: zoneinfo.ZoneInfo) -> None:
        self.default = default_language
        self.tz = tz
        self._texts = {lang: Texts(lang, tz) for lang in LANGUAGES}

    def set_timezone(self, tz: zoneinfo.ZoneInfo) -> None:
        self.tz = tz
        for texts in self._texts.values():
            texts.tz = tz

    def for_user(self, language_code: str | None) -> Texts:
        return self._texts[pick_language(language_code, self.default)]

    def __getitem__(self, lang: str) -> Texts:
        return self._texts[lang]
