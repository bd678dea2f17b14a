"""When a held e-mail may go: the end of a recipient's quiet hours, the next digest.

Quiet hours and daily digests are local times in the recipient's time zone; they are turned
into instants with that zone's rules on the day they fall on, so a night that is an hour
shorter or longer (a change to or from daylight saving time) still ends at the local hour
chosen. A local time that does not exist on that day (skipped by the clock) is read with the
offset before the change, i.e. an hour later on the new clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ticketcreator.notifications.preference_schemas import Digest, QuietHours


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def quiet_until(moment: datetime, quiet: QuietHours | None, zone: ZoneInfo) -> datetime | None:
    """The end of the quiet hours ``moment`` falls in, or None outside them."""
    if quiet is None:
        return None
    today = moment.astimezone(zone).date()
    overnight = quiet.end <= quiet.start
    for start_day in (today - timedelta(days=1), today):
        start = _instant(start_day, quiet.start, zone)
        end = _instant(start_day + timedelta(days=1 if overnight else 0), quiet.end, zone)
        if start <= moment < end:
            return end
    return None


def next_digest(moment: datetime, digest: Digest, zone: ZoneInfo, daily_hour: int) -> datetime:
    """When the digest that collects a change made at ``moment`` goes out."""
    if digest is Digest.HOURLY:
        return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
            hours=1
        )
    day = moment.astimezone(zone).date()
    due = _instant(day, time(daily_hour), zone)
    return due if due > moment else _instant(day + timedelta(days=1), time(daily_hour), zone)


def due_at(
    moment: datetime,
    *,
    window_s: float,
    digest: Digest,
    quiet: QuietHours | None,
    zone: ZoneInfo,
    daily_hour: int,
) -> datetime:
    """When an e-mail about a change made at ``moment`` is sent: after the coalescing window
    (or at the next digest), moved to the end of the quiet hours it would fall in."""
    if digest is Digest.OFF:
        due = moment + timedelta(seconds=window_s)
    else:
        due = next_digest(moment, digest, zone, daily_hour)
    return quiet_until(due, quiet, zone) or due
