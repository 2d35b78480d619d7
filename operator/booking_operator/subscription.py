"""The paid period: when a tenant's bot should run, and when to look again."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from booking_contract.times import parse_time


def is_expired(spec: Mapping[str, Any], now: datetime.datetime) -> bool:
    paid_until = parse_time(spec.get("paidUntil"))
    return paid_until is not None and paid_until <= now


def should_run(spec: Mapping[str, Any], now: datetime.datetime) -> bool:
    return not spec.get("suspended", False) and not is_expired(spec, now)


def seconds_until_expiry(spec: Mapping[str, Any], now: datetime.datetime) -> float | None:
    paid_until = parse_time(spec.get("paidUntil"))
    if paid_until is None:
        return None
    return (paid_until - now).total_seconds()
