"""Business time: working hours in a time zone, across a daylight-saving change and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ticketcreator.routing.calendar import ALWAYS, hours_of

WEEKDAYS_9_TO_5 = {str(day): [["09:00", "17:00"]] for day in range(5)}
BERLIN = hours_of("Europe/Berlin", WEEKDAYS_9_TO_5, [])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_around_the_clock_is_wall_time() -> None:
    start = utc(2026, 3, 28, 23, 0)
    assert ALWAYS.add(start, 3 * 3600) == start + timedelta(hours=3)
    assert ALWAYS.between(start, start + timedelta(days=2)) == 2 * 86400


def test_target_crossing_the_end_of_summer_time_keeps_local_opening_hours() -> None:
    # Friday 23 Oct 2026 15:00 CEST (13:00 UTC); clocks go back on Sunday 25 Oct.
    start = utc(2026, 10, 23, 13, 0)
    due = BERLIN.add(start, 4 * 3600)  # 2 h on Friday, 2 h on Monday from 09:00 CET
    assert due == utc(2026, 10, 26, 10, 0)  # 11:00 CET; naive UTC arithmetic would say 09:00
    assert BERLIN.between(start, due) == 4 * 3600


def test_target_crossing_the_start_of_summer_time() -> None:
    # Friday 27 Mar 2026 16:00 CET (15:00 UTC); clocks go forward on Sunday 29 Mar.
    start = utc(2026, 3, 27, 15, 0)
    due = BERLIN.add(start, 2 * 3600)
    assert due == utc(2026, 3, 30, 8, 0)  # Monday 10:00 CEST


def test_a_day_with_the_clock_change_inside_working_hours() -> None:
    # Around the clock in local time: the night of 25 Oct 2026 has 25 hours in Berlin.
    always_berlin = hours_of("Europe/Berlin", {str(d): [["00:00", "24:00"]] for d in range(7)}, [])
    start = utc(2026, 10, 24, 22, 0)  # Sunday 00:00 CEST
    end = utc(2026, 10, 25, 23, 0)  # Monday 00:00 CET
    assert always_berlin.between(start, end) == 25 * 3600


def test_holiday_inside_a_target_is_skipped() -> None:
    with_holiday = hours_of("Europe/Berlin", WEEKDAYS_9_TO_5, [date(2026, 10, 26)])
    start = utc(2026, 10, 23, 13, 0)
    due = with_holiday.add(start, 4 * 3600)
    assert due == utc(2026, 10, 27, 10, 0)  # Tuesday 11:00 CET
    assert with_holiday.between(start, due) == 4 * 3600


def test_open_and_closed() -> None:
    assert BERLIN.is_open(utc(2026, 10, 26, 9, 0))  # Monday 10:00 CET
    assert not BERLIN.is_open(utc(2026, 10, 25, 9, 0))  # Sunday
    assert not BERLIN.is_open(utc(2026, 10, 26, 16, 30))  # Monday 17:30 CET


def test_start_outside_hours_waits_for_the_next_opening() -> None:
    start = utc(2026, 10, 26, 20, 0)  # Monday 21:00 CET
    assert BERLIN.add(start, 60) == utc(2026, 10, 27, 8, 1)
    assert BERLIN.between(utc(2026, 10, 27, 8, 1), start) == -60
