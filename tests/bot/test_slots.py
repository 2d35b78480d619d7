"""Slot computation, pure: working hours, breaks, days off, duration, bookings, notice, time zones."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Iterator

import pytest

from booking_bot.schedule import CELL_MINUTES, BookingRules, Interval, Schedule, StaffCalendar, parse_interval
from booking_bot.slots import (
    DayState,
    Performer,
    cells,
    day_states,
    free_slots,
    local_instant,
    occupied_minutes,
    today_local,
)

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


def test_a_booking_holds_exactly_its_duration_on_the_5_minute_grid() -> None:
    assert occupied_minutes(20) == 20  # not 30: capacity is not lost to rounding
    assert occupied_minutes(50) == 50
    assert len(cells(dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC), 50)) == 10


def test_after_a_break_the_step_restarts_so_the_break_end_is_offered() -> None:
    schedule = week("10:00", "19:00", step=45, breaks={1: (hours("13:00", "14:00"),)})
    times = local_times(free_slots(MONDAY, 45, schedule, [], EARLY, MOSCOW), MOSCOW)
    assert times[:5] == ["10:00", "10:45", "11:30", "12:15", "14:00"]


def test_a_20_minute_booking_holds_20_minutes_and_its_end_is_offered() -> None:
    schedule = week("10:00", "11:00", step=30)
    taken = cells(dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC), 20)  # 10:00-10:20
    times = local_times(free_slots(MONDAY, 20, schedule, taken, EARLY, MOSCOW), MOSCOW)
    assert times == ["10:20", "10:30"]


def test_a_buffer_after_a_service_keeps_the_next_start_away() -> None:
    schedule = week("10:00", "12:00", step=15)
    taken = cells(dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC), 30 + 15)  # 10:00-10:30 plus 15 min buffer
    times = local_times(free_slots(MONDAY, 30, schedule, taken, EARLY, MOSCOW, buffer_minutes=15), MOSCOW)
    assert times[0] == "10:45"
    assert times[-1] == "11:30"  # the service fits before closing; the buffer may run past it


def test_a_staff_member_with_own_hours_and_two_intervals_a_day() -> None:
    own = StaffCalendar(own_hours=True, hours={1: (hours("10:00", "12:00"), hours("16:00", "18:00"))})
    schedule = Schedule(
        hours={1: hours("09:00", "19:00")},
        staff={7: own},
        rules=BookingRules(slot_step_minutes=60, min_notice_minutes=0),
    )
    mine = local_times(free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW, staff_id=7), MOSCOW)
    assert mine == ["10:00", "11:00", "16:00", "17:00"]
    business = local_times(free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW, staff_id=8), MOSCOW)
    assert business[0] == "09:00" and len(business) == 10  # no own calendar: the business's week


def test_a_day_exception_replaces_the_week_for_that_member_or_everyone() -> None:
    schedule = Schedule(
        hours={1: hours("10:00", "19:00")},
        exceptions={(7, MONDAY): (hours("12:00", "14:00"),), (None, MONDAY + dt.timedelta(days=7)): ()},
        rules=BookingRules(slot_step_minutes=60, min_notice_minutes=0),
    )
    anna = local_times(free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW, staff_id=7), MOSCOW)
    assert anna == ["12:00", "13:00"]
    assert len(free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW, staff_id=8)) == 9
    next_monday = MONDAY + dt.timedelta(days=7)
    assert free_slots(next_monday, 60, schedule, [], EARLY, MOSCOW, staff_id=7) == []  # the business closed


def test_a_staff_day_off_closes_only_that_member() -> None:
    schedule = Schedule(
        hours={1: hours("10:00", "12:00")},
        staff={7: StaffCalendar(days_off=frozenset({MONDAY}))},
        rules=BookingRules(slot_step_minutes=60, min_notice_minutes=0),
    )
    assert free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW, staff_id=7) == []
    assert len(free_slots(MONDAY, 60, schedule, [], EARLY, MOSCOW, staff_id=8)) == 2


def test_any_master_days_are_free_while_one_member_is_free() -> None:
    schedule = week(step=60)
    full = set(cells(dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC), 240))  # 10:00-14:00
    performers = [Performer(1, 60), Performer(2, 60)]
    one_busy: dict[int | None, set[dt.datetime]] = {1: full}
    states = day_states(MONDAY, 1, performers, schedule, one_busy, EARLY, MOSCOW)
    assert states[MONDAY] is DayState.FREE
    both_busy: dict[int | None, set[dt.datetime]] = {1: full, 2: full}
    states = day_states(MONDAY, 1, performers, schedule, both_busy, EARLY, MOSCOW)
    assert states[MONDAY] is DayState.FULL


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


# ---- found by mutation testing (docs/testing.md) ---------------------------------------------------
@pytest.fixture()
def machine_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's own time zone is not the tenant's (a pod's TZ is whatever the image says)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_booking_occupies_the_cells_from_its_start_on() -> None:
    start = dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC)
    cell = dt.timedelta(minutes=CELL_MINUTES)
    held = cells(start, 50)
    assert held == [start + i * cell for i in range(len(held))]
    assert len(held) * CELL_MINUTES == -(-50 // CELL_MINUTES) * CELL_MINUTES  # 50 minutes, rounded up


def test_a_limit_returns_exactly_that_many_slots() -> None:
    slots = free_slots(MONDAY, 60, week(), [], EARLY, MOSCOW, limit=2)
    assert local_times(slots, MOSCOW) == ["10:00", "11:00"]


def test_a_day_opening_inside_the_spring_gap_opens_at_the_first_real_time() -> None:
    sunday = dt.date(2030, 3, 31)  # 02:00-03:00 does not exist in Berlin
    schedule = Schedule(
        hours={7: hours("02:00", "05:00")}, rules=BookingRules(slot_step_minutes=60, min_notice_minutes=0)
    )
    assert local_times(free_slots(sunday, 60, schedule, [], EARLY, BERLIN), BERLIN) == ["03:00", "04:00"]


def test_slots_off_the_utc_grid_are_never_offered() -> None:
    """Monrovia kept UTC-0:44:30 until 7 January 1972: its starts could not be stored in
    booked_slots (a CHECK keeps cells on the 15-minute grid). A week later, on UTC, they can."""
    monrovia = zoneinfo.ZoneInfo("Africa/Monrovia")
    schedule = Schedule(
        hours={4: hours("10:00", "12:00")}, rules=BookingRules(slot_step_minutes=60, min_notice_minutes=0)
    )
    long_before = dt.datetime(1971, 1, 1, tzinfo=UTC)
    assert free_slots(dt.date(1972, 1, 6), 60, schedule, [], long_before, monrovia) == []
    after_the_switch = free_slots(dt.date(1972, 1, 13), 60, schedule, [], long_before, monrovia)
    assert after_the_switch == [dt.datetime(1972, 1, 13, h, 0, tzinfo=UTC) for h in (10, 11)]


def test_after_an_off_grid_start_a_later_start_on_the_grid_is_still_offered() -> None:
    """In Monrovia before 1972 every step (10:00 local = 10:44:30 UTC) is off the grid, but where a
    booked cell ends (10:50 UTC) the grid is met: that start is offered, the steps are not."""
    monrovia = zoneinfo.ZoneInfo("Africa/Monrovia")
    schedule = Schedule(
        hours={4: hours("10:00", "12:00")}, rules=BookingRules(slot_step_minutes=60, min_notice_minutes=0)
    )
    booked = [dt.datetime(1972, 1, 6, 10, 45, tzinfo=UTC)]
    found = free_slots(
        dt.date(1972, 1, 6), 60, schedule, booked, dt.datetime(1971, 1, 1, tzinfo=UTC), monrovia
    )
    assert found == [dt.datetime(1972, 1, 6, 10, 50, tzinfo=UTC)]


@pytest.mark.usefixtures("machine_in_tokyo")
def test_slots_are_utc_whatever_zone_the_machine_runs_in() -> None:
    slots = free_slots(MONDAY, 60, week(), [], EARLY, MOSCOW)
    assert slots[0] == dt.datetime(2030, 3, 4, 7, 0, tzinfo=UTC)
    assert all(slot.utcoffset() == dt.timedelta(0) for slot in slots)


@pytest.mark.usefixtures("machine_in_tokyo")
def test_today_is_the_tenants_date_not_the_machines() -> None:
    late_evening = dt.datetime(2030, 3, 4, 20, 30, tzinfo=UTC)  # 23:30 in Moscow, already 5 March in Tokyo
    assert today_local(late_evening, MOSCOW) == MONDAY
    states = day_states(MONDAY, 2, 60, week(), [], late_evening, MOSCOW)
    assert states[MONDAY] is DayState.FULL  # still today for the tenant, just no time left
