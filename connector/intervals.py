"""Interval arithmetic: which time windows the crawlers unload and how their folders are named.

Every function here is pure (no clock, no I/O): callers pass ``now``.

Conventions (tested in ``tests/unit/test_intervals.py``):

* **Aware datetimes only.** A naive datetime raises :class:`NaiveDatetimeError`: silently
  reading it as UTC would shift every folder of a non-UTC detector by its offset.
* **Half-open intervals** ``[start, end)``. Bounds are returned with a *fixed* UTC offset
  (:class:`datetime.timezone`), the offset in force in the detector's zone at that
  instant. Fixed offsets make ``<``, ``==`` and ``end - start`` exact across DST (Python
  compares two datetimes sharing one ``ZoneInfo`` by wall clock, which would make the two
  ``01:00`` of a November night in New York equal), while ``.hour`` and
  :func:`expand_path` still show the local wall clock.
* **P1D** intervals are local calendar days: local midnight to the next local midnight,
  23 or 25 hours long across a DST change. Where midnight does not exist (a DST gap at
  00:00, as in America/Santiago) the day starts at its first existing instant; a
  skipped date (Pacific/Apia, 2011-12-30) has no interval.
* **PT5M, PT10M, PT1H** intervals are fixed-length in absolute time and start where the
  local wall clock is a multiple of the interval (``HH:00``, ``HH:05``...). For zones
  whose offsets are whole multiples of the interval (every zone with whole-hour offsets,
  and e.g. Asia/Kolkata +05:30 for 5/10 minutes) this is one regular grid across DST:
  spring-forward in New York goes ``01:00`` → ``03:00``, fall-back yields two hourly
  intervals both shown as ``01:00`` (their folders coincide; see :func:`expand_path`).
  In Asia/Kolkata, PT1H intervals start at local ``HH:00``, i.e. ``HH:30`` UTC.
  When the offset changes by something that is not a multiple of the interval (e.g.
  Australia/Lord_Howe's 30-minute DST with PT1H), the change instant is itself a
  boundary, giving one shorter interval; the grid assumes a zone changes offset at
  most once within one interval. (Checked against every IANA zone's transitions from
  1970 to 2037: consecutive intervals meet, and every instant aligns to the start of
  the interval holding it.)
* **Unaligned ranges**: a range's start is floored to the start of its interval (the
  detector needs whole intervals) and its end is floored too, so only intervals that
  have *closed* by ``end`` are returned.
"""

from __future__ import annotations

import calendar
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from connector.errors import PlanError, TemplateError

__all__ = [
    "HISTORICAL_LIMITS",
    "HISTORICAL_MAX_FILES",
    "SUPPORTED_TIMES",
    "UTC",
    "Frequency",
    "HistoricalLimits",
    "Interval",
    "NaiveDatetimeError",
    "PathTemplateError",
    "align",
    "due_intervals",
    "expand_path",
    "historical_range",
    "interval_containing",
    "intervals_between",
    "iter_intervals",
    "last_closed_interval",
    "next_boundary",
    "plan_chunks",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)


class NaiveDatetimeError(PlanError, ValueError):
    """A datetime without a time zone was given where an instant is required."""


class PathTemplateError(TemplateError, ValueError):
    """A ``{{...}}`` path template uses a date pattern the connector cannot expand."""


class Frequency(StrEnum):
    """The detector's interval, as the ISO-8601 duration L4M used in params.json."""

    PT5M = "PT5M"
    PT10M = "PT10M"
    PT1H = "PT1H"
    P1D = "P1D"

    @property
    def delta(self) -> timedelta:
        """Nominal length; a P1D interval across a DST change is 23 or 25 hours."""
        return timedelta(minutes=self.minutes)

    @property
    def minutes(self) -> int:
        """Nominal length in minutes (1440 for P1D)."""
        return _MINUTES[self]


_MINUTES: Mapping[Frequency, int] = MappingProxyType(
    {Frequency.PT5M: 5, Frequency.PT10M: 10, Frequency.PT1H: 60, Frequency.P1D: 1440}
)


class Interval(NamedTuple):
    """A half-open time window ``[start, end)`` of aware datetimes."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """Elapsed (absolute) time, exact across DST."""
        return self.end.astimezone(UTC) - self.start.astimezone(UTC)

    def to_dict(self) -> dict[str, str]:
        """ISO-8601 strings with offsets, for Lambda and Step Functions payloads."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, value: Mapping[str, str]) -> Interval:
        """Inverse of :meth:`to_dict`; the strings must carry a UTC offset."""
        try:
            start = datetime.fromisoformat(value["start"])
            end = datetime.fromisoformat(value["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(
                f"interval {dict(value)!r} is not {{'start': ISO-8601, 'end': ISO-8601}}: {exc}"
            ) from exc
        _check_time(start, "interval start")
        _check_time(end, "interval end")
        if end < start:
            raise PlanError(f"interval {dict(value)!r} ends before it starts")
        return cls(start, end)


# --- limits of the detector's historical data -----------------------------------------


HISTORICAL_MAX_FILES = 3000
"""Files the detector reads directly under the historical prefix, at most."""


@dataclass(frozen=True)
class HistoricalLimits:
    """What the detector accepts as history for one frequency (L4M's data contract)."""

    max_timeframe_months: int
    """Longest history, in calendar months, counted from the range start."""
    cold_start: timedelta
    """History needed before the first detection when none is given."""
    max_files: int = HISTORICAL_MAX_FILES
    max_size_mb: int = 102_400
    max_continuous_intervals: int = 2500
    """Intervals of history continuous mode uses; older ones are ignored, not refused."""
    min_backtest_intervals: int = 285
    max_backtest_intervals: int = 3000


HISTORICAL_LIMITS: Mapping[Frequency, HistoricalLimits] = MappingProxyType(
    {
        Frequency.PT5M: HistoricalLimits(3, timedelta(hours=25)),
        Frequency.PT10M: HistoricalLimits(6, timedelta(hours=50)),
        Frequency.PT1H: HistoricalLimits(36, timedelta(days=12, hours=12)),
        Frequency.P1D: HistoricalLimits(60, timedelta(days=14)),
    }
)


# --- alignment ------------------------------------------------------------------------

# The times this module accepts. Planning looks a few days around a time (zone
# transitions, the next local day) and up to 60 months ahead or back (HISTORICAL_LIMITS);
# these bounds keep all of that inside datetime's years 1-9999, so that a time near
# either end is refused with a PlanError instead of overflowing (OverflowError) halfway.
SUPPORTED_TIMES = Interval(datetime(1000, 1, 1, tzinfo=UTC), datetime(9900, 1, 1, tzinfo=UTC))


def _check_time(t: datetime, what: str) -> None:
    """Refuse a naive ``t``, and one outside :data:`SUPPORTED_TIMES`."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{what} {t.isoformat()} has no time zone; pass an aware datetime "
            "(e.g. datetime(..., tzinfo=ZoneInfo('Europe/Berlin')) or an ISO string "
            "with an offset such as 2026-03-01T00:00:00+00:00)"
        )
    if not SUPPORTED_TIMES.start <= t < SUPPORTED_TIMES.end:
        raise PlanError(
            f"{what} {t.isoformat()} is outside {SUPPORTED_TIMES.start.date()} to "
            f"{(SUPPORTED_TIMES.end - timedelta(days=1)).date()}, the times the connector "
            "plans intervals for; check its year"
        )


def _offset(t: datetime, tz: tzinfo) -> timedelta:
    offset = t.astimezone(tz).utcoffset()
    assert offset is not None, "astimezone() into a tzinfo always yields an offset"
    return offset


def _in_zone(t: datetime, tz: tzinfo) -> datetime:
    """``t`` with the fixed offset ``tz`` has at that instant (see module docstring)."""
    return t.astimezone(timezone(_offset(t, tz)))


def _local_date(t: datetime, tz: tzinfo) -> date:
    return t.astimezone(tz).date()


def _first_second(lo: datetime, hi: datetime, pred: Callable[[datetime], bool]) -> datetime:
    """First whole second in ``(lo, hi]`` where ``pred`` turns true (false at lo, true at hi).

    Zone transitions fall on whole seconds, so this finds them exactly.
    """
    low = math.floor((lo - _EPOCH) / _ONE_SECOND)
    high = math.floor((hi - _EPOCH) / _ONE_SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if pred(_EPOCH + middle * _ONE_SECOND):
            high = middle
        else:
            low = middle
    return _EPOCH + high * _ONE_SECOND


def _first_instant_after_date(day: date, tz: tzinfo) -> datetime:
    """The first instant (UTC) whose local date in ``tz`` is later than ``day``."""
    candidate = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    if _local_date(candidate, tz) > day >= _local_date(candidate - _ONE_SECOND, tz):
        return candidate
    # Midnight fell in a DST gap that does not start at midnight (or the date was skipped):
    # search the real start of the next day.
    return _first_second(
        candidate - timedelta(days=2),
        candidate + timedelta(days=2),
        lambda s: _local_date(s, tz) > day,
    )


def _grid_floor(t: datetime, offset: timedelta, step: timedelta) -> datetime:
    """Floor ``t`` (UTC) to where the wall clock at ``offset`` is a multiple of ``step``."""
    wall = t - _EPOCH + offset
    return _EPOCH + (wall - wall % step) - offset


def _align_utc(t: datetime, freq: Frequency, tz: tzinfo) -> datetime:
    utc = t.astimezone(UTC)
    if freq is Frequency.P1D:
        return _first_instant_after_date(_local_date(utc, tz) - timedelta(days=1), tz)
    offset = _offset(utc, tz)
    start = _grid_floor(utc, offset, freq.delta)
    if _offset(start, tz) != offset:
        # The offset changed inside (start, t] by a non-multiple of the interval: the
        # change instant opens this interval.
        start = _first_second(start, utc, lambda s: _offset(s, tz) == offset)
    return start


def _next_utc(boundary: datetime, freq: Frequency, tz: tzinfo) -> datetime:
    """The boundary after ``boundary`` (itself a boundary, in UTC)."""
    if freq is Frequency.P1D:
        return _first_instant_after_date(_local_date(boundary, tz), tz)
    step = freq.delta
    later = boundary + step
    offset, later_offset = _offset(boundary, tz), _offset(later, tz)
    if offset != later_offset:
        return _first_second(boundary, later, lambda s: _offset(s, tz) == later_offset)
    if _grid_floor(boundary, offset, step) == boundary:
        return later
    return _align_utc(later, freq, tz)


def align(t: datetime, freq: Frequency, tz: tzinfo = UTC) -> datetime:
    """The start of the interval containing ``t`` in the detector's zone ``tz``.

    Raises :class:`NaiveDatetimeError` for a naive ``t``. The result carries the fixed
    offset of ``tz`` at that instant.
    """
    _check_time(t, "time")
    return _in_zone(_align_utc(t, freq, tz), tz)


def next_boundary(t: datetime, freq: Frequency, tz: tzinfo = UTC) -> datetime:
    """The end of the interval containing ``t`` (the start of the next one)."""
    _check_time(t, "time")
    return _in_zone(_next_utc(_align_utc(t, freq, tz), freq, tz), tz)


def interval_containing(t: datetime, freq: Frequency, tz: tzinfo = UTC) -> Interval:
    """The interval ``t`` falls in: ``[align(t), next_boundary(t))``."""
    _check_time(t, "time")
    start = _align_utc(t, freq, tz)
    return Interval(_in_zone(start, tz), _in_zone(_next_utc(start, freq, tz), tz))


# --- ranges ---------------------------------------------------------------------------


def _checked_range(
    start: datetime, end: datetime, freq: Frequency, tz: tzinfo
) -> tuple[datetime, datetime]:
    _check_time(start, "range start")
    _check_time(end, "range end")
    if end < start:
        raise PlanError(
            f"range end {end.isoformat()} is before its start {start.isoformat()}; "
            "swap them or pick an end after the start"
        )
    return _align_utc(start, freq, tz), _align_utc(end, freq, tz)


def _boundaries(first: datetime, stop: datetime, freq: Frequency, tz: tzinfo) -> Iterator[datetime]:
    """Interval boundaries (UTC) from ``first`` to ``stop``, both included when distinct."""
    boundary = first
    yield boundary
    while boundary < stop:
        boundary = _next_utc(boundary, freq, tz)
        yield boundary


def _iter_utc(first: datetime, stop: datetime, freq: Frequency, tz: tzinfo) -> Iterator[Interval]:
    for start, end in itertools.pairwise(_boundaries(first, stop, freq, tz)):
        yield Interval(_in_zone(start, tz), _in_zone(end, tz))


def iter_intervals(
    start: datetime, end: datetime, freq: Frequency, tz: tzinfo = UTC
) -> Iterator[Interval]:
    """Lazy :func:`intervals_between`; the range is checked when called, not when iterated."""
    first, stop = _checked_range(start, end, freq, tz)
    return _iter_utc(first, stop, freq, tz)


def intervals_between(
    start: datetime, end: datetime, freq: Frequency, tz: tzinfo = UTC
) -> list[Interval]:
    """The intervals tiling ``[align(start), align(end))``, in order.

    ``start`` is floored to its interval's start; ``end`` is floored as well, so the last
    interval is the last one *closed* at ``end`` (an aligned ``end`` is exclusive).
    Raises :class:`PlanError` when ``end < start``; ``end == start`` gives ``[]``.
    """
    return list(iter_intervals(start, end, freq, tz))


def _add_months(t: datetime, months: int) -> datetime:
    """``t`` plus calendar months, the day clamped to the month's end (Jan 31 + 1 → Feb 28)."""
    year, month_index = divmod(t.month - 1 + months, 12)
    year += t.year
    day = min(t.day, calendar.monthrange(year, month_index + 1)[1])
    return t.replace(year=year, month=month_index + 1, day=day)


def plan_chunks(
    start: datetime,
    end: datetime,
    freq: Frequency,
    tz: tzinfo = UTC,
    chunk_intervals: int = 720,
    *,
    max_files: int | None = None,
) -> list[Interval]:
    """Historical UNLOAD chunks: at most ``chunk_intervals`` whole intervals each.

    The chunks tile ``[align(start), align(end))`` exactly (no gap, no overlap, every
    boundary an interval boundary); each chunk is written as one file under the
    historical prefix. Raises :class:`PlanError` when ``end < start``, when the range is
    longer than the detector's timeframe for ``freq`` (:data:`HISTORICAL_LIMITS`), or
    when it needs more chunks than ``max_files`` (default: the detector's 3,000 files).
    """
    if chunk_intervals < 1:
        raise PlanError(
            f"chunk_intervals is {chunk_intervals}; set crawl.chunk_intervals to 1 or more"
        )
    first, stop = _checked_range(start, end, freq, tz)
    limits = HISTORICAL_LIMITS[freq]
    latest_end = _add_months(first, limits.max_timeframe_months)
    if stop > latest_end:
        earliest = _add_months(stop, -limits.max_timeframe_months)
        earliest_start = _align_utc(earliest, freq, tz)
        if earliest_start < earliest:
            earliest_start = _next_utc(earliest_start, freq, tz)
        raise PlanError(
            f"history {_in_zone(first, tz).isoformat()} → {_in_zone(stop, tz).isoformat()} "
            f"is longer than the {limits.max_timeframe_months} months the detector accepts "
            f"for {freq} data; start it at {_in_zone(earliest_start, tz).isoformat()} or later "
            "(crawl.historical_start)"
        )
    boundaries = list(_boundaries(first, stop, freq, tz))
    count = len(boundaries) - 1
    file_cap = limits.max_files if max_files is None else max_files
    needed = -(-count // chunk_intervals)
    if needed > file_cap:
        raise PlanError(
            f"history of {count:,} {freq} intervals in chunks of {chunk_intervals} "
            f"needs {needed:,} files, more than the {file_cap:,} the detector reads under "
            f"the historical prefix; raise crawl.chunk_intervals to at least "
            f"{-(-count // file_cap)} or shorten the range"
        )
    edges = [*boundaries[:-1:chunk_intervals], boundaries[-1]] if count else []
    return [Interval(_in_zone(a, tz), _in_zone(b, tz)) for a, b in itertools.pairwise(edges)]


def historical_range(
    historical_start: datetime | date | timedelta,
    now: datetime,
    freq: Frequency,
    tz: tzinfo = UTC,
) -> Interval:
    """The history to crawl: from ``historical_start`` up to ``align(now)``.

    The range ends at the start of the interval open at ``now`` — the first interval the
    continuous crawler lands — so history and continuous data meet with no gap.
    ``historical_start`` is an aware datetime (floored to its interval), a date (its
    local midnight in ``tz``), or a look-back from that end: whole days for P1D (DST-proof:
    30 days are 30 local days), absolute time floored to an interval otherwise.
    Raises :class:`PlanError` when the start is after the end or the look-back negative.
    """
    _check_time(now, "now")
    end = _align_utc(now, freq, tz)
    if isinstance(historical_start, timedelta):
        if historical_start < timedelta(0):
            raise PlanError(
                f"historical look-back {historical_start} is negative; give a positive "
                "duration such as P90D"
            )
        if historical_start > end - SUPPORTED_TIMES.start:
            raise PlanError(
                f"historical look-back {historical_start} reaches before "
                f"{SUPPORTED_TIMES.start.date()}; look back less"
            )
        if freq is Frequency.P1D:
            days = math.ceil(historical_start / timedelta(days=1))
            start = _first_instant_after_date(_local_date(end, tz) - timedelta(days=days + 1), tz)
        else:
            start = _align_utc(end - historical_start, freq, tz)
    elif isinstance(historical_start, datetime):
        _check_time(historical_start, "historical_start")
        start = _align_utc(historical_start, freq, tz)
    else:
        _check_time(datetime.combine(historical_start, time(), UTC), "historical_start")
        day_start = _first_instant_after_date(historical_start - timedelta(days=1), tz)
        start = _align_utc(day_start, freq, tz)
    if start > end:
        raise PlanError(
            f"historical start {_in_zone(start, tz).isoformat()} is after the current "
            f"interval's start {_in_zone(end, tz).isoformat()}; choose an earlier "
            "crawl.historical_start"
        )
    return Interval(_in_zone(start, tz), _in_zone(end, tz))


def last_closed_interval(now: datetime, freq: Frequency, tz: tzinfo = UTC) -> Interval:
    """The most recent interval whose end is at or before ``now``."""
    _check_time(now, "now")
    end = _align_utc(now, freq, tz)
    start = _align_utc(end - timedelta(microseconds=1), freq, tz)
    return Interval(_in_zone(start, tz), _in_zone(end, tz))


def due_intervals(
    after: datetime,
    now: datetime,
    freq: Frequency,
    tz: tzinfo = UTC,
    offset_seconds: int = 0,
    limit: int | None = None,
) -> list[Interval]:
    """Intervals to crawl now: from the one containing ``after``, oldest first.

    An interval is due once ``end + offset_seconds <= now``; ``offset_seconds`` is a
    settling delay for late rows and must stay below params.json ``offset`` (when the
    detector reads). At most ``limit`` intervals are returned (the oldest ones), so a
    crawler catching up after an outage backfills in order. ``after`` later than the
    last due interval gives ``[]``.
    """
    _check_time(after, "after")
    _check_time(now, "now")
    if offset_seconds < 0:
        raise PlanError(f"offset_seconds is {offset_seconds}; use 0 or more")
    if limit is not None and limit < 0:
        raise PlanError(f"limit is {limit}; use 0 or more, or None for no limit")
    cutoff = now - timedelta(seconds=offset_seconds)
    first = _align_utc(after, freq, tz)
    stop = _align_utc(cutoff, freq, tz)
    return list(itertools.islice(_iter_utc(first, stop, freq, tz), limit))


# --- folder names ---------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_PATTERN_PIECE = re.compile(r"([A-Za-z])\1*|[^A-Za-z]+")
_ALLOWED = "yyyy, yy, MM, M, dd, d, HH, H, mm, m"


def _format_pattern(pattern: str, t: datetime, template: str) -> str:
    if not pattern:
        raise PathTemplateError(f"path template {template!r} has an empty placeholder {{{{}}}}")
    parts: list[str] = []
    for piece in _PATTERN_PIECE.finditer(pattern):
        run = piece.group(0)
        letter, width = run[0], len(run)
        if not letter.isalpha():
            if "'" in run:
                raise PathTemplateError(
                    f"path template {template!r}: quoted text in {{{{{pattern}}}}} is not "
                    "supported; put literal text outside the {{...}}"
                )
            parts.append(run)
        elif letter == "y":
            # SimpleDateFormat: "yy" is the two-digit year, any other count the full year.
            parts.append(f"{t.year % 100:02d}" if width == 2 else f"{t.year:0{width}d}")
        elif letter in "MdHm" and width <= 2:
            value = {"M": t.month, "d": t.day, "H": t.hour, "m": t.minute}[letter]
            parts.append(f"{value:0{width}d}")
        else:
            raise PathTemplateError(
                f"path template {template!r}: {run!r} in {{{{{pattern}}}}} is not a supported "
                f"date pattern; use {_ALLOWED} (e.g. {{{{yyyyMMdd}}}}/{{{{HHmm}}}})"
            )
    return "".join(parts)


def expand_path(template: str, interval_start: datetime, tz: tzinfo | None = None) -> str:
    """Expand ``{{...}}`` SimpleDateFormat placeholders with an interval's START.

    ``s3://b/p/live/{{yyyyMMdd}}/{{HHmm}}/`` and the 10:00-11:00 interval give
    ``s3://b/p/live/20260301/1000/`` (the 2022 connector used the END: off by one).
    The wall clock is ``interval_start``'s own, or ``tz``'s when given; intervals from
    this module already carry the detector zone's offset. In a fall-back hour two
    sub-daily intervals share their local wall clock and hence their folder
    (:func:`connector.sql.unload_target` gives their files distinct names).
    Raises :class:`PathTemplateError` naming an unsupported pattern or a stray brace.
    """
    _check_time(interval_start, "interval start")
    outside = _PLACEHOLDER.sub("", template)
    if "{" in outside or "}" in outside:
        raise PathTemplateError(
            f"path template {template!r} has an unmatched brace; write placeholders as "
            "{{yyyyMMdd}}"
        )
    local = interval_start if tz is None else interval_start.astimezone(tz)
    return _PLACEHOLDER.sub(lambda m: _format_pattern(m.group(1), local, template), template)
