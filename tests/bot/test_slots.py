"""Slot computation, pure: working hours, breaks, days off, duration, bookings, notice, time zones."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from booking_bot.schedule import BookingRules, Interval, Schedule, parse_interval
from booking_bot.slots import DayState, cells, day_states, free_slots, local_instant, occupied_minutes

UTC = dt.UTC
MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
MONDAY = dt.date(2030, 3, 4)  # a Monday
EARLY = dt.datetime(2030, 3, 1, 0, 0, tzinfo=UTC)  # long before, so notice never bites


def hours(start: str, end: str) -> Interval:
    interval = parse_interval(f"{start}-{end}")
    assert interval is not None
    return interval


def week(
    opens: str = "10:00",
    closes: str = "14:00",
    *,
    step: int = 60,
    notice: int = 0,
    breaks: dict[int, tuple[Interval, ...]] | None = None,
    days_off: frozenset[dt.date] = frozenset(),
) -> Schedule:
    return Schedule(
        hours={d: hours(opens, closes) for d in range(1, 6)},
        breaks=breaks or {},
        days_off=days_off,
        rules=BookingRules(slot_step_minutes=step, min_notice_minutes=notice),
    )


def local_times(slots: list[dt.datetime], tz: zoneinfo.ZoneInfo) -> list[str]:
    return [s.astimezone(tz).strftime("%H:%M") for s in slots]


def test_slots_fill_working_hours_at_the_step() -> None:
    slots = free_slots(MONDAY, 60, week(), [], EARLY, MOSCOW)
    assert local_times(slots, MOSCOW) == ["10:00", "11:00", "12:00", "13:00"]


def test_slots_are_utc_instants_of_local_times() -> None:
    slots = free_slots(MONDAY, 60, week(), [], EARLY, MOSCOW)
    assert slots[0] == dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC)  # Moscow is UTC+3 all year


def test_a_service_must_end_before_closing() -> None:
    slots = free_slots(MONDAY, 90, week(step=30), [], EARLY, MOSCOW)
    assert local_times(slots, MOSCOW)[-1] == "12:30"


def test_breaks_remove_overlapping_slots() -> None:
    schedule = week(step=30, breaks={1: (hours("12:00", "13:00"),)})
    slots = free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW)
    assert local_times(slots, MOSCOW) == ["10:00", "10:30", "11:00", "13:00"]


def test_days_off_and_closed_weekdays_have_no_slots() -> None:
    schedule = week(days_off=frozenset({MONDAY}))
    assert free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW) == []
    saturday = MONDAY + dt.timedelta(days=5)
    assert free_slots(saturday, 60, week(), [], EARLY, MOSCOW) == []


def test_booked_cells_block_every_overlapping_start() -> None:
    taken = cells(dt.datetime(2030, 3, 4, 8, 0, tzinfo=UTC), 60)  # 11:00-12:00 Moscow
    slots = free_slots(MONDAY, 60, week(step=30), taken, EARLY, MOSCOW)
    assert local_times(slots, MOSCOW) == ["10:00", "12:00", "12:30", "13:00"]


def test_minimum_notice_hides_slots_too_soon() -> None:
    now = dt.datetime(2030, 3, 4, 7, 30, tzinfo=UTC)  # 10:30 Moscow
    slots = free_slots(MONDAY, 60, week(notice=90), [], now, MOSCOW)
    assert local_times(slots, MOSCOW) == ["12:00", "13:00"]


def test_same_local_hours_in_another_zone_are_other_instants() -> None:
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    slots = free_slots(MONDAY, 60, week(), [], EARLY, tokyo)
    assert slots[0] == dt.datetime(2030, 3, 4, 1, 0, tzinfo=UTC)
    assert local_times(slots, tokyo) == ["10:00", "11:00", "12:00", "13:00"]


def test_dst_change_keeps_local_hours_and_moves_utc() -> None:
    friday_before = dt.date(2030, 3, 29)  # Berlin switches to summer time on Sunday 31 March 2030
    monday_after = dt.date(2030, 4, 1)
    before = free_slots(friday_before, 60, week(), [], EARLY, BERLIN)
    after = free_slots(monday_after, 60, week(), [], EARLY, BERLIN)
    assert local_times(before, BERLIN) == local_times(after, BERLIN) == ["10:00", "11:00", "12:00", "13:00"]
    assert before[0].hour == 9 and after[0].hour == 8  # UTC+1 -> UTC+2


def test_nonexistent_local_times_in_the_spring_gap_are_skipped() -> None:
    sunday = dt.date(2030, 3, 31)  # 02:00-03:00 does not exist in Berlin
    schedule = Schedule(
        hours={7: hours("01:00", "05:00")}, rules=BookingRules(slot_step_minutes=60, min_notice_minutes=0)
    )
    slots = free_slots(sunday, 60, schedule, [], EARLY, BERLIN)
    assert local_times(slots, BERLIN) == ["01:00", "03:00", "04:00"]
    assert local_instant(sunday, dt.time(2, 30), BERLIN) is None


def test_durations_round_up_to_whole_cells() -> None:
    assert occupied_minutes(50) == 60
    assert len(cells(dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC), 50)) == 4


def test_calendar_marks_past_closed_full_and_free_days() -> None:
    now = dt.datetime(2030, 3, 5, 6, 0, tzinfo=UTC)  # Tuesday 09:00 Moscow
    wednesday = MONDAY + dt.timedelta(days=2)
    full = [c for h in range(7, 11) for c in cells(dt.datetime(2030, 3, 6, h, 0, tzinfo=UTC), 60)]
    states = day_states(MONDAY, 7, 60, week(), full, now, MOSCOW)
    assert states[MONDAY] is DayState.PAST
    assert states[MONDAY + dt.timedelta(days=1)] is DayState.FREE
    assert states[wednesday] is DayState.FULL
    assert states[MONDAY + dt.timedelta(days=5)] is DayState.CLOSED


def test_days_beyond_the_horizon_are_not_bookable() -> None:
    schedule = Schedule(
        hours={d: hours("10:00", "14:00") for d in range(1, 8)},
        rules=BookingRules(horizon_days=3, min_notice_minutes=0),
    )
    states = day_states(MONDAY, 5, 60, schedule, [], dt.datetime(2030, 3, 4, 0, 0, tzinfo=UTC), MOSCOW)
    assert [states[MONDAY + dt.timedelta(days=i)] for i in range(5)] == [DayState.FREE] * 3 + [
        DayState.PAST
    ] * 2


def test_interval_parsing_requires_quarter_hours() -> None:
    assert parse_interval("9:00-18:30") == Interval(dt.time(9, 0), dt.time(18, 30))
    assert parse_interval("10:10-12:00") is None
    assert parse_interval("12:00-10:00") is None
    assert parse_interval("soon") is None
