"""When held e-mails go: quiet hours and digests in the recipient's time zone, across the
changes to and from daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from ticketcreator.notifications.preference_schemas import Digest, QuietHours
from ticketcreator.notifications.schedule import due_at, next_digest, quiet_until

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours(start=time(22), end=time(7))


def _due(moment: datetime, digest: Digest = Digest.OFF) -> datetime:
    return due_at(moment, window_s=60, digest=digest, quiet=NIGHT, zone=BERLIN, daily_hour=8)


def test_quiet_hours_end_at_the_local_hour_on_the_night_the_clocks_change() -> None:
    # 28 March 2026, 23:30 in Berlin (CET, UTC+1); the clocks go forward at 02:00 that night.
    spring = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    # Held until 07:00 CEST (UTC+2): 05:00 UTC, not 06:00 (the evening's offset) and not
    # 07:00 UTC (eight and a half hours later).
    assert _due(spring) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    # 24 October 2026, 23:30 CEST; the clocks go back at 03:00: 07:00 CET is 06:00 UTC.
    autumn = datetime(2026, 10, 24, 21, 30, tzinfo=UTC)
    assert _due(autumn) == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)
    # After midnight, inside the same night, and in the daytime (only the window).
    early = datetime(2026, 3, 29, 3, 0, tzinfo=UTC)  # 05:00 CEST
    assert quiet_until(early, NIGHT, BERLIN) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    noon = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)
    assert quiet_until(noon, NIGHT, BERLIN) is None
    assert _due(noon) == datetime(2026, 3, 29, 10, 1, tzinfo=UTC)
    # The window may push a change into the quiet hours: 21:59:30 local is held until morning.
    assert _due(datetime(2026, 6, 1, 19, 59, 30, tzinfo=UTC)) == datetime(
        2026, 6, 2, 5, 0, tzinfo=UTC
    )
    # Daytime quiet hours (no midnight in between).
    lunch = QuietHours(start=time(12), end=time(13, 30))
    assert quiet_until(noon, lunch, BERLIN) == datetime(2026, 3, 29, 11, 30, tzinfo=UTC)


def test_digests_go_at_the_next_hour_or_the_local_morning() -> None:
    moment = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    assert next_digest(moment, Digest.HOURLY, BERLIN, 8) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    # 08:00 on the morning after the clocks went forward is 06:00 UTC.
    assert next_digest(moment, Digest.DAILY, BERLIN, 8) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    # An hourly digest due in the quiet hours waits for their end.
    assert _due(moment, Digest.HOURLY) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
