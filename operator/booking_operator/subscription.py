"""The paid period: when a tenant's bot should run, and when to look again."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any


def parse_time(value: object) -> datetime.datetime | None:
    """RFC 3339 as Kubernetes writes it ('Z' suffix); naive times are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def format_time(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
