"""When the continuous crawler fires: pure functions behind the EventBridge schedule.

The detector reads an interval ``offset`` seconds after it closes, so the crawl of
that interval must land before then. The schedule fires half-way through the offset:
rows that arrive a little late still make it into the UNLOAD, and the UNLOAD has the
other half of the offset to finish. Scheduler cron has minute resolution, and firing
must happen before the next interval closes, which bounds the delay.
"""

from __future__ import annotations

from typing import NamedTuple

from connector.intervals import Frequency

__all__ = ["CronFields", "cron_fields", "fire_delay_minutes"]


class CronFields(NamedTuple):
    """The minute and hour fields of a Scheduler ``cron(...)`` expression."""

    minute: str
    hour: str


def fire_delay_minutes(frequency: Frequency, offset_seconds: int) -> int:
    """Whole minutes after an interval closes at which the crawler fires.

    Half the detector's offset, rounded down, and at most one minute short of the
    next interval's close.
    """
    if offset_seconds < 0:
        raise ValueError(f"offset must not be negative, got {offset_seconds}")
    return min(offset_seconds // 2 // 60, Frequency(frequency).minutes - 1)


def cron_fields(frequency: Frequency, delay_minutes: int) -> CronFields:
    """Minute/hour fields firing ``delay_minutes`` after every interval boundary.

    Intervals are aligned in the detector's time zone; the schedule carries the same
    time zone, so the fields are local wall-clock times.
    """
    period = Frequency(frequency).minutes
    if not 0 <= delay_minutes < period:
        raise ValueError(f"delay must be in [0, {period}) minutes for {frequency}")
    if period < 60:
        return CronFields(minute=f"{delay_minutes}/{period}", hour="*")
    if period == 60:
        return CronFields(minute=str(delay_minutes), hour="*")
    return CronFields(minute=str(delay_minutes % 60), hour=str(delay_minutes // 60))
