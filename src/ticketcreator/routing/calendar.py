"""Business time: working hours in a time zone, minus holidays.

Hours are local wall-clock times, turned into instants day by day with :mod:`zoneinfo`, so a
day on which the clocks change still opens at 09:00 local time (its UTC offset differs from
the day before). Without a calendar, time runs around the clock (``ALWAYS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

# Longest stretch searched for working time; calendars are validated to have some each week.
_MAX_DAYS = 3660

Interval = tuple[time, time | None]  # None: until midnight


@dataclass(frozen=True)
class Hours:
    zone: tzinfo
    week: dict[int, tuple[Interval, ...]]  # weekday (0 = Monday) → intervals
    holidays: frozenset[date] = field(default_factory=frozenset)

    def intervals(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals of one local day, as UTC instants."""
        if day in self.holidays:
            return
        for start, end in self.week.get(day.weekday(), ()):
            begin = datetime.combine(day, start, tzinfo=self.zone)
            finish = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
                if end is None
                else datetime.combine(day, end, tzinfo=self.zone)
            )
            yield begin.astimezone(UTC), finish.astimezone(UTC)

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` of working time after ``start``."""
        if seconds <= 0:
            return start
        remaining = seconds
        day = self._local_day(start) - timedelta(days=1)  # an interval may run past midnight UTC
        for _ in range(_MAX_DAYS):
            for begin, finish in self.intervals(day):
                begin = max(begin, start)
                if finish <= begin:
                    continue
                span = (finish - begin).total_seconds()
                if span >= remaining:
                    return begin + timedelta(seconds=remaining)
                remaining -= span
            day += timedelta(days=1)
        raise ValueError("the calendar has no working time")

    def between(self, start: datetime, end: datetime) -> float:
        """Seconds of working time from ``start`` to ``end`` (negative when end < start)."""
        if end < start:
            return -self.between(end, start)
        total = 0.0
        day = self._local_day(start) - timedelta(days=1)
        last = self._local_day(end)
        while day <= last:
            for begin, finish in self.intervals(day):
                overlap = (min(finish, end) - max(begin, start)).total_seconds()
                if overlap > 0:
                    total += overlap
            day += timedelta(days=1)
        return total

    def is_open(self, at: datetime) -> bool:
        day = self._local_day(at)
        return any(
            begin <= at < finish
            for d in (day - timedelta(days=1), day)
            for begin, finish in self.intervals(d)
        )


ALWAYS = Hours(UTC, {weekday: ((time(0), None),) for weekday in range(7)})


def parse_clock(value: str) -> time | None:
    """``HH:MM`` → time; ``24:00`` → None (midnight at the end of the day)."""
    if value == "24:00":
        return None
    return time.fromisoformat(value)


def hours_of(timezone: str, week: dict[str, list[list[str]]], holidays: list[date]) -> Hours:
    return Hours(
        ZoneInfo(timezone),
        {
            int(weekday): tuple((parse_clock(a) or time(0), parse_clock(b)) for a, b in spans)
            for weekday, spans in week.items()
        },
        frozenset(holidays),
    )
