"""RFC 3339 as Kubernetes writes it: UTC, a `Z`, whole seconds."""

from __future__ import annotations

import datetime

import pytest

from booking_contract.times import format_time, parse_time, utc_now

MSK = datetime.timezone(datetime.timedelta(hours=3))


def test_a_moment_is_written_in_utc_with_a_z() -> None:
    moment = datetime.datetime(2026, 2, 20, 17, 0, 30, 999_999, tzinfo=MSK)
    assert format_time(moment) == "2026-02-20T14:00:30Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-20T14:00:00Z", datetime.datetime(2026, 2, 20, 14, tzinfo=datetime.UTC)),
        ("2026-02-20T17:00:00+03:00", datetime.datetime(2026, 2, 20, 14, tzinfo=datetime.UTC)),
        ("2026-02-20T14:00:00", datetime.datetime(2026, 2, 20, 14, tzinfo=datetime.UTC)),
        ("2026-02-20", datetime.datetime(2026, 2, 20, tzinfo=datetime.UTC)),
    ],
)
def test_written_times_are_read_back_as_aware_moments(text: str, expected: datetime.datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("value", [None, "", "yesterday", 20260220])
def test_absent_or_malformed_times_read_as_none(value: object) -> None:
    assert parse_time(value) is None


def test_format_and_parse_round_trip() -> None:
    now = utc_now().replace(microsecond=0)
    assert parse_time(format_time(now)) == now
