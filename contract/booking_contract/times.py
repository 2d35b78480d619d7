"""Time as the platform writes it: RFC 3339 in UTC with a ``Z`` and whole seconds.

That is what Kubernetes writes (lastTransitionTime) and what the CRD's ``date-time`` fields
(``paidUntil``, ``payments[].appliedAt``) hold, so every component formats and reads them here.
"""

from __future__ import annotations

import datetime


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def format_time(moment: datetime.datetime) -> str:
    """``2026-02-20T14:00:00Z``; a naive moment is taken as local time, as ``astimezone`` does."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime.datetime | None:
    """An RFC 3339 / ISO 8601 time (``Z`` or an offset; naive = UTC); None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
