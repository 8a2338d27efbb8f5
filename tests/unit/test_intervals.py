"""Interval arithmetic: alignment, DST, folder names, tiling and the detector's limits."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import ConnectorError, PlanError, TemplateError
from connector.intervals import (
    HISTORICAL_LIMITS,
    Frequency,
    Interval,
    NaiveDatetimeError,
    PathTemplateError,
    align,
    due_intervals,
    expand_path,
    historical_range,
    interval_containing,
    intervals_between,
    iter_intervals,
    last_closed_interval,
    next_boundary,
    plan_chunks,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
SANTIAGO = ZoneInfo("America/Santiago")
LIVE = "s3://bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}/"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def folders(intervals: list[Interval]) -> list[str]:
    return [expand_path("{{yyyyMMdd}}/{{HHmm}}", i.start) for i in intervals]


# --- Frequency and Interval -----------------------------------------------------------


@pytest.mark.parametrize(
    ("freq", "minutes"),
    [(Frequency.PT5M, 5), (Frequency.PT10M, 10), (Frequency.PT1H, 60), (Frequency.P1D, 1440)],
)
def test_frequency_is_the_params_string_with_its_nominal_length(
    freq: Frequency, minutes: int
) -> None:
    # Given the detector_frequency string of params.json
    # When it is read as a Frequency
    # Then it compares equal to the string and knows its nominal length
    assert Frequency(freq.value) is freq
    assert freq == freq.value and f"{freq}" == freq.value
    assert freq.minutes == minutes
    assert freq.delta == timedelta(minutes=minutes)


def test_interval_round_trips_through_a_json_payload() -> None:
    # Given a P1D interval of a DST day in New York
    interval = interval_containing(utc(2026, 11, 1, 12), Frequency.P1D, NEW_YORK)
    # When it goes through a Lambda payload and back
    payload = interval.to_dict()
    # Then it is the same instants and keeps its 25-hour duration
    assert payload == {"start": "2026-11-01T00:00:00-04:00", "end": "2026-11-02T00:00:00-05:00"}
    assert Interval.from_dict(payload) == interval
    assert Interval.from_dict(payload).duration == timedelta(hours=25)


@pytest.mark.parametrize(
    "payload",
    [
        {"start": "2026-01-01T00:00:00", "end": "2026-01-01T01:00:00"},
        {"start": "2026-01-01T01:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"start": "yesterday", "end": "2026-01-01T00:00:00Z"},
        {"end": "2026-01-01T00:00:00Z"},
    ],
)
def test_interval_payload_without_offsets_or_in_wrong_order_is_refused(
    payload: dict[str, str],
) -> None:
    # Given a payload that is naive, reversed, unparsable or incomplete
    # When it is read
    # Then a PlanError explains it
    with pytest.raises(PlanError):
        Interval.from_dict(payload)


# --- align ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        (Frequency.PT5M, utc(2026, 3, 1, 10, 35)),
        (Frequency.PT10M, utc(2026, 3, 1, 10, 30)),
        (Frequency.PT1H, utc(2026, 3, 1, 10)),
        (Frequency.P1D, utc(2026, 3, 1)),
    ],
)
def test_align_floors_to_the_interval_start(freq: Frequency, expected: datetime) -> None:
    # Given an instant inside an interval
    t = datetime(2026, 3, 1, 10, 37, 42, 500_000, tzinfo=UTC)
    # When it is aligned
    start = align(t, freq)
    # Then it is the interval's start, which aligns to itself, and the next boundary
    # is one interval later
    assert start == expected
    assert align(start, freq) == start
    assert next_boundary(t, freq) == expected + freq.delta
    assert interval_containing(t, freq) == Interval(expected, expected + freq.delta)


def test_align_refuses_a_naive_datetime() -> None:
    # Given a datetime without a time zone
    naive = datetime(2026, 3, 1, 10, 37)
    # When it is aligned
    # Then the error says to pass an aware datetime, and is both a PlanError and ValueError
    with pytest.raises(NaiveDatetimeError, match="no time zone") as caught:
        align(naive, Frequency.PT1H)
    assert isinstance(caught.value, PlanError) and isinstance(caught.value, ValueError)
    assert caught.value.exit_code == ConnectorError.exit_code


def test_align_accepts_any_zone_for_the_same_instant() -> None:
    # Given one instant written in two zones
    in_utc = utc(2026, 7, 1, 22, 30)
    in_berlin = in_utc.astimezone(BERLIN)
    # When both are aligned daily in Berlin
    # Then both give Berlin's local midnight of July 2, with its summer offset
    for t in (in_utc, in_berlin):
        start = align(t, Frequency.P1D, BERLIN)
        assert start == datetime(2026, 7, 2, tzinfo=BERLIN)
        assert start.utcoffset() == timedelta(hours=2)


# --- folder names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("freq", "folder"),
    [
        (Frequency.PT5M, "s3://bucket/ecommerce/live/20260301/1000/"),
        (Frequency.PT10M, "s3://bucket/ecommerce/live/20260301/0950/"),
        (Frequency.PT1H, "s3://bucket/ecommerce/live/20260301/0900/"),
        (Frequency.P1D, "s3://bucket/ecommerce/live/20260228/0000/"),
    ],
)
def test_last_closed_interval_is_named_by_its_start(freq: Frequency, folder: str) -> None:
    # Given the clock just after 10:05 on March 1
    now = utc(2026, 3, 1, 10, 5, 30)
    # When the continuous crawler names the folder of the last closed interval
    interval = last_closed_interval(now, freq)
    # Then the folder is the interval's START (the 2022 connector used the END)
    assert interval.end <= now < next_boundary(interval.end, freq)
    assert expand_path(LIVE, interval.start) == folder
    assert expand_path(LIVE, interval.start) != expand_path(LIVE, interval.end)


def test_hour_from_ten_to_eleven_lands_in_folder_1000_not_1100() -> None:
    # Given the hourly interval 10:00-11:00
    interval = Interval(utc(2026, 3, 1, 10), utc(2026, 3, 1, 11))
    # When its folder is expanded
    # Then it is named 1000: the original's off-by-one (1100) is not repeated
    assert expand_path(LIVE, interval.start) == "s3://bucket/ecommerce/live/20260301/1000/"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("s3://b/p/{{yyyyMMdd}}/{{HHmm}}/", "s3://b/p/20260307/0905/"),
        ("s3://b/p/{{yyyyMMdd}}/{{HH}}/", "s3://b/p/20260307/09/"),
        ("s3://b/p/{{yyyy-MM-dd}}/{{HH}}", "s3://b/p/2026-03-07/09"),
        ("s3://b/p/{{yyyy}}/{{MM}}/{{dd}}/{{HH}}/{{mm}}/", "s3://b/p/2026/03/07/09/05/"),
        ("s3://b/p/dt={{yyyy-MM-dd}}/hour={{HH}}/", "s3://b/p/dt=2026-03-07/hour=09/"),
        ("s3://b/p/{{yyMMdd}}_{{HH_mm}}/", "s3://b/p/260307_09_05/"),
        ("s3://b/p/{{yyyy/M/d}}/{{H}}/{{m}}", "s3://b/p/2026/3/7/9/5"),
        ("s3://b/p/{{y}}/", "s3://b/p/2026/"),
        ("s3://b/p/historical/", "s3://b/p/historical/"),
    ],
)
def test_expand_path_supports_the_simpledateformat_letters_of_l4m(
    template: str, expected: str
) -> None:
    # Given a templated path and an interval start
    start = utc(2026, 3, 7, 9, 5)
    # When it is expanded
    # Then each {{...}} is formatted like Java's SimpleDateFormat
    assert expand_path(template, start) == expected


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("s3://b/p/{{yyyyMMddss}}/", "'ss'"),
        ("s3://b/p/{{yyyy}}/{{MMM}}/", "'MMM'"),
        ("s3://b/p/{{hh}}/", "'hh'"),
        ("s3://b/p/{{YYYY}}/", "'YYYY'"),
        ("s3://b/p/{{HHH}}/", "'HHH'"),
        ("s3://b/p/{{}}/", "empty placeholder"),
        ("s3://b/p/{{yyyy}/", "unmatched brace"),
        ("s3://b/p/{yyyy}}/", "unmatched brace"),
        ("s3://b/p/{{{yyyy}}}/", "unmatched brace"),
        ("s3://b/p/{{yyyy'T'HH}}/", "quoted text"),
    ],
)
def test_expand_path_names_the_pattern_it_cannot_expand(template: str, named: str) -> None:
    # Given a template with an unsupported or malformed placeholder
    # When it is expanded
    # Then the error names the offending token and is a TemplateError and ValueError
    with pytest.raises(PathTemplateError, match=named) as caught:
        expand_path(template, utc(2026, 3, 7, 9, 5))
    assert isinstance(caught.value, TemplateError) and isinstance(caught.value, ValueError)


def test_expand_path_uses_the_given_zone_or_the_datetime_own_wall_clock() -> None:
    # Given an interval start written in UTC for a Berlin detector
    start = utc(2026, 12, 31, 23)
    # When it is expanded with and without the detector's zone
    # Then the zone moves it to Berlin's wall clock (next day, midnight)
    assert expand_path(LIVE, start, BERLIN) == "s3://bucket/ecommerce/live/20270101/0000/"
    assert expand_path(LIVE, start) == "s3://bucket/ecommerce/live/20261231/2300/"
    with pytest.raises(NaiveDatetimeError):
        expand_path(LIVE, datetime(2026, 1, 1))


# --- DST and odd offsets --------------------------------------------------------------


def test_new_york_spring_forward_skips_folder_0200_with_fixed_hours() -> None:
    # Given New York on March 8, 2026, when 02:00 EST jumps to 03:00 EDT
    night = intervals_between(
        datetime(2026, 3, 8, 0, tzinfo=NEW_YORK),
        datetime(2026, 3, 8, 5, tzinfo=NEW_YORK),
        Frequency.PT1H,
        NEW_YORK,
    )
    # When the night is cut into hours
    # Then every hour lasts 60 minutes, the folder 0200 does not exist
    assert folders(night) == ["20260308/0000", "20260308/0100", "20260308/0300", "20260308/0400"]
    assert {i.duration for i in night} == {timedelta(hours=1)}
    # And the day is 23 hours long
    day = interval_containing(datetime(2026, 3, 8, 12, tzinfo=NEW_YORK), Frequency.P1D, NEW_YORK)
    assert day.duration == timedelta(hours=23)
    assert folders([day]) == ["20260308/0000"]


def test_new_york_fall_back_has_two_distinct_hours_sharing_folder_0100() -> None:
    # Given New York on November 1, 2026, when 02:00 EDT falls back to 01:00 EST
    night = intervals_between(utc(2026, 11, 1, 4), utc(2026, 11, 1, 8), Frequency.PT1H, NEW_YORK)
    # When the night is cut into hours
    # Then the repeated hour gives two intervals, distinct and ordered as instants
    assert folders(night) == ["20261101/0000", "20261101/0100", "20261101/0100", "20261101/0200"]
    assert night[1].start < night[1].end == night[2].start < night[2].end
    assert night[1].start.utcoffset() == timedelta(hours=-4)
    assert night[2].start.utcoffset() == timedelta(hours=-5)
    assert {i.duration for i in night} == {timedelta(hours=1)}
    # And the day is 25 hours long
    day = interval_containing(utc(2026, 11, 1, 12), Frequency.P1D, NEW_YORK)
    assert day.duration == timedelta(hours=25)


@pytest.mark.parametrize(
    ("day", "hours", "freq"),
    [
        (date(2026, 3, 29), 23, Frequency.PT10M),
        (date(2026, 10, 25), 25, Frequency.PT10M),
        (date(2026, 3, 29), 23, Frequency.PT5M),
        (date(2026, 10, 25), 25, Frequency.PT5M),
    ],
)
def test_berlin_dst_days_tile_with_fixed_sub_daily_intervals(
    day: date, hours: int, freq: Frequency
) -> None:
    # Given a Berlin DST-change day
    (calendar_day,) = intervals_between(
        datetime(day.year, day.month, day.day, tzinfo=BERLIN),
        datetime(day.year, day.month, day.day + 1, tzinfo=BERLIN),
        Frequency.P1D,
        BERLIN,
    )
    # When it is cut into sub-daily intervals
    parts = intervals_between(calendar_day.start, calendar_day.end, freq, BERLIN)
    # Then the day lasts 23/25 h and holds that many hours of fixed-length intervals
    assert calendar_day.duration == timedelta(hours=hours)
    assert len(parts) == hours * 60 // freq.minutes
    assert {p.duration for p in parts} == {freq.delta}
    assert parts[0].start == calendar_day.start and parts[-1].end == calendar_day.end


def test_kolkata_hours_start_on_the_local_hour() -> None:
    # Given Asia/Kolkata (UTC+05:30, no DST)
    t = utc(2026, 3, 1, 10, 10)  # 15:40 local
    # When hourly, 10-minute and daily intervals are aligned
    hour = interval_containing(t, Frequency.PT1H, KOLKATA)
    ten = align(t, Frequency.PT10M, KOLKATA)
    day = interval_containing(t, Frequency.P1D, KOLKATA)
    # Then hours start at local HH:00 (UTC HH:30) and days at local midnight
    assert hour == Interval(utc(2026, 3, 1, 9, 30), utc(2026, 3, 1, 10, 30))
    assert expand_path(LIVE, hour.start) == "s3://bucket/ecommerce/live/20260301/1500/"
    assert ten == utc(2026, 3, 1, 10, 10)
    assert day.start == utc(2026, 2, 28, 18, 30)
    assert folders([day]) == ["20260301/0000"]


def test_half_hour_dst_change_makes_the_change_instant_a_boundary() -> None:
    # Given Australia/Lord_Howe, whose clocks move 02:00 → 02:30 (+10:30 → +11) on Oct 4
    night = intervals_between(
        utc(2026, 10, 3, 13, 30), utc(2026, 10, 3, 17), Frequency.PT1H, LORD_HOWE
    )
    # When the night is cut into hours
    # Then hours stay on the local HH:00 grid and one 30-minute interval bridges the jump
    assert folders(night) == ["20261004/0000", "20261004/0100", "20261004/0230", "20261004/0300"]
    assert [i.duration for i in night] == [timedelta(minutes=m) for m in (60, 60, 30, 60)]


def test_a_day_whose_midnight_does_not_exist_starts_at_its_first_instant() -> None:
    # Given America/Santiago, whose clocks jump 00:00 → 01:00 on Sept 6, 2026
    days = intervals_between(utc(2026, 9, 5, 12), utc(2026, 9, 8, 12), Frequency.P1D, SANTIAGO)
    # When it is cut into days
    # Then Sept 6 starts at 01:00 local and lasts 23 hours
    assert days[1].start == datetime(2026, 9, 6, 1, tzinfo=SANTIAGO)
    assert days[1].duration == timedelta(hours=23)
    assert days[0].end == days[1].start


# --- month, year and leap-day ends ----------------------------------------------------


def test_year_end_rolls_over_into_the_new_year_folder() -> None:
    # Given the last five minutes of 2026
    last = last_closed_interval(utc(2027, 1, 1, 0, 0, 1), Frequency.PT5M)
    # When named
    # Then the folder is Dec 31 23:55 and the next interval is Jan 1 00:00
    assert expand_path(LIVE, last.start) == "s3://bucket/ecommerce/live/20261231/2355/"
    assert last.end == utc(2027, 1, 1)
    assert folders([interval_containing(last.end, Frequency.PT5M)]) == ["20270101/0000"]
    new_year_eve = interval_containing(utc(2026, 12, 31, 15), Frequency.P1D, NEW_YORK)
    assert new_year_eve.end == datetime(2027, 1, 1, tzinfo=NEW_YORK)


def test_leap_day_is_its_own_daily_interval() -> None:
    # Given the end of February in the leap year 2028
    days = intervals_between(utc(2028, 2, 28), utc(2028, 3, 1, 6), Frequency.P1D)
    # When cut into days
    # Then Feb 29 is there, and March 1 is not yet closed
    assert folders(days) == ["20280228/0000", "20280229/0000"]
    assert days[-1].end == utc(2028, 3, 1)


def test_month_end_hours_cross_into_the_next_month() -> None:
    # Given the last hours of April in Berlin
    hours = intervals_between(
        datetime(2026, 4, 30, 22, tzinfo=BERLIN),
        datetime(2026, 5, 1, 1, tzinfo=BERLIN),
        Frequency.PT1H,
        BERLIN,
    )
    # Then they continue into May 1
    assert folders(hours) == ["20260430/2200", "20260430/2300", "20260501/0000"]


# --- intervals_between ----------------------------------------------------------------


def test_unaligned_range_floors_start_and_keeps_only_closed_intervals() -> None:
    # Given a range starting and ending mid-interval
    start, end = utc(2026, 3, 1, 10, 7), utc(2026, 3, 1, 10, 33)
    # When cut into 10-minute intervals
    intervals = intervals_between(start, end, Frequency.PT10M)
    # Then the first interval holds the start and the open one holding the end is left out
    assert [i.start.minute for i in intervals] == [0, 10, 20]
    assert intervals[-1].end == utc(2026, 3, 1, 10, 30)


def test_empty_and_reversed_ranges() -> None:
    # Given an empty range, a range inside one interval and a reversed range
    t = utc(2026, 3, 1, 10)
    # Then the first two give no interval and the reversed one says what to do
    assert intervals_between(t, t, Frequency.PT1H) == []
    assert intervals_between(t, t + timedelta(minutes=59), Frequency.PT1H) == []
    with pytest.raises(PlanError, match=r"is before its start .*swap them"):
        intervals_between(t, t - timedelta(seconds=1), Frequency.PT1H)
    # And the lazy variant checks the range before it is iterated
    with pytest.raises(PlanError):
        iter_intervals(t, t - timedelta(seconds=1), Frequency.PT1H)
    with pytest.raises(NaiveDatetimeError):
        intervals_between(datetime(2026, 3, 1), t, Frequency.PT1H)


# --- plan_chunks and limits -----------------------------------------------------------


def test_plan_chunks_groups_whole_intervals_and_tiles_the_range() -> None:
    # Given 10 hours of history and chunks of 4 hours
    chunks = plan_chunks(utc(2026, 3, 1, 0, 30), utc(2026, 3, 1, 10, 30), Frequency.PT1H, UTC, 4)
    # Then the chunks are 4 + 4 + 2 hours from the floored start to the last closed hour
    assert chunks == [
        Interval(utc(2026, 3, 1, 0), utc(2026, 3, 1, 4)),
        Interval(utc(2026, 3, 1, 4), utc(2026, 3, 1, 8)),
        Interval(utc(2026, 3, 1, 8), utc(2026, 3, 1, 10)),
    ]


@pytest.mark.parametrize(
    ("freq", "start", "months"),
    [
        (Frequency.PT5M, utc(2026, 1, 1), 3),
        (Frequency.PT10M, utc(2026, 1, 1), 6),
        (Frequency.PT1H, utc(2024, 1, 1), 36),
        (Frequency.P1D, utc(2021, 1, 1), 60),
    ],
)
def test_plan_chunks_accepts_exactly_the_timeframe_cap_and_refuses_one_more_interval(
    freq: Frequency, start: datetime, months: int
) -> None:
    # Given a history exactly as long as the detector accepts for the frequency
    assert HISTORICAL_LIMITS[freq].max_timeframe_months == months
    end = start.replace(year=start.year + (start.month - 1 + months) // 12)
    end = end.replace(month=(start.month - 1 + months) % 12 + 1)
    # When it is planned with chunks big enough to stay under 3,000 files
    chunks = plan_chunks(start, end, freq, UTC, 720)
    # Then it tiles the range; one interval more names the limit and the way out
    assert chunks[0].start == start and chunks[-1].end == end
    with pytest.raises(PlanError, match=f"longer than the {months} months") as caught:
        plan_chunks(start - freq.delta, end, freq, UTC, 720)
    assert f"start it at {start.isoformat()} or later" in str(caught.value)


def test_plan_chunks_refuses_more_files_than_the_historical_prefix_holds() -> None:
    # Given 3 months of 5-minute history (25,920 intervals) in chunks of 8 intervals
    start, end = utc(2026, 1, 1), utc(2026, 4, 1)
    # When planned
    # Then 3,240 files are refused, with the smallest chunk size that fits
    with pytest.raises(PlanError, match="needs 3,240 files, more than the 3,000") as caught:
        plan_chunks(start, end, Frequency.PT5M, UTC, 8)
    assert "raise crawl.chunk_intervals to at least 9" in str(caught.value)
    assert len(plan_chunks(start, end, Frequency.PT5M, UTC, 9)) == 2880
    # And a stricter file budget is honoured
    with pytest.raises(PlanError, match="more than the 100 "):
        plan_chunks(start, end, Frequency.PT5M, UTC, 9, max_files=100)


def test_plan_chunks_refuses_a_chunk_size_below_one() -> None:
    with pytest.raises(PlanError, match="chunk_intervals is 0"):
        plan_chunks(utc(2026, 1, 1), utc(2026, 1, 2), Frequency.PT1H, UTC, 0)


# --- historical and continuous crawls meet ----------------------------------------------


def test_history_ends_where_the_continuous_crawler_starts() -> None:
    # Given the deployment time and a 90-day look-back, hourly in New York
    now = utc(2026, 11, 24, 11, 31, 27)
    history = historical_range(timedelta(days=90), now, Frequency.PT1H, NEW_YORK)
    # When the continuous crawler runs one interval later
    later = now + timedelta(hours=1)
    due = due_intervals(history.end, later, Frequency.PT1H, NEW_YORK)
    # Then history ends at the start of the interval open at deployment, which is the
    # first interval the continuous crawler lands: no gap, no overlap
    assert history.end == align(now, Frequency.PT1H, NEW_YORK) == due[0].start
    assert due == [last_closed_interval(later, Frequency.PT1H, NEW_YORK)]
    assert history.start == align(history.end - timedelta(days=90), Frequency.PT1H, NEW_YORK)


def test_daily_look_back_counts_local_days_across_dst() -> None:
    # Given a 30-day look-back at P1D in New York across the November change
    history = historical_range(timedelta(days=30), utc(2026, 11, 20, 15), Frequency.P1D, NEW_YORK)
    # Then it starts at local midnight 30 days earlier, holding 30 daily intervals
    assert history.start == datetime(2026, 10, 21, tzinfo=NEW_YORK)
    assert len(intervals_between(*history, Frequency.P1D, NEW_YORK)) == 30
    # And a partial day of look-back rounds up to a whole day
    longer = historical_range(
        timedelta(days=29, hours=1), utc(2026, 11, 20, 15), Frequency.P1D, NEW_YORK
    )
    assert longer == history


def test_historical_start_as_date_or_datetime() -> None:
    now = utc(2026, 11, 24, 11, 31)
    # Given a date: it starts at local midnight of that date in the detector's zone
    by_date = historical_range(date(2026, 9, 1), now, Frequency.PT10M, BERLIN)
    assert by_date.start == datetime(2026, 9, 1, tzinfo=BERLIN)
    # Given an unaligned datetime: it is floored to its interval
    by_time = historical_range(utc(2026, 9, 1, 7, 45), now, Frequency.PT1H, BERLIN)
    assert by_time == Interval(utc(2026, 9, 1, 7), utc(2026, 11, 24, 11))


def test_historical_start_after_now_or_negative_is_refused() -> None:
    now = utc(2026, 11, 24, 11, 31)
    with pytest.raises(PlanError, match=r"choose an earlier crawl\.historical_start"):
        historical_range(utc(2026, 11, 25), now, Frequency.PT1H)
    with pytest.raises(PlanError, match="negative"):
        historical_range(timedelta(hours=-1), now, Frequency.PT1H)
    with pytest.raises(NaiveDatetimeError):
        historical_range(datetime(2026, 1, 1), now, Frequency.PT1H)
    # A start inside the current interval is an empty history, not an error
    assert historical_range(utc(2026, 11, 24, 11, 5), now, Frequency.PT1H).duration == timedelta()


def test_last_closed_interval_at_a_boundary_is_the_one_just_ended() -> None:
    now = utc(2026, 3, 1, 10)
    assert last_closed_interval(now, Frequency.PT1H) == Interval(utc(2026, 3, 1, 9), now)


def test_due_intervals_backfill_in_order_after_an_outage_with_a_bound() -> None:
    # Given a crawler whose next interval is 06:00 and a clock at 10:02
    after, now = utc(2026, 3, 1, 6), utc(2026, 3, 1, 10, 2)
    # When it asks what is due
    due = due_intervals(after, now, Frequency.PT1H)
    # Then the four closed hours come oldest first, bounded by limit
    assert [i.start.hour for i in due] == [6, 7, 8, 9]
    assert due_intervals(after, now, Frequency.PT1H, limit=2) == due[:2]
    assert due_intervals(after, now, Frequency.PT1H, limit=0) == []
    # And a settling delay holds back the interval that closed 2 minutes ago
    held = due_intervals(after, now, Frequency.PT1H, offset_seconds=300)
    assert held == due[:3]
    # And nothing is due when the crawler is up to date
    assert due_intervals(utc(2026, 3, 1, 10), now, Frequency.PT1H) == []
    assert due_intervals(utc(2026, 3, 1, 12), now, Frequency.PT1H) == []


def test_due_intervals_refuses_negative_settings() -> None:
    t = utc(2026, 3, 1)
    with pytest.raises(PlanError, match="offset_seconds"):
        due_intervals(t, t, Frequency.PT1H, offset_seconds=-1)
    with pytest.raises(PlanError, match="limit"):
        due_intervals(t, t, Frequency.PT1H, limit=-1)


# --- the ends of the calendar ---------------------------------------------------------

KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14: local dates run a day ahead
AT_THE_ENDS = [
    datetime(9999, 12, 31, 23, tzinfo=UTC),
    datetime(9900, 1, 1, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    datetime(999, 12, 31, 23, 59, tzinfo=UTC),
]


@pytest.mark.parametrize("t", AT_THE_ENDS, ids=lambda t: t.isoformat())
@pytest.mark.parametrize("freq", list(Frequency))
def test_a_time_near_the_ends_of_the_calendar_is_a_plan_error(t: datetime, freq: Frequency) -> None:
    # Given a time whose interval arithmetic would leave datetime's years 1-9999
    middle = utc(2024, 3, 1)
    calls = [
        lambda: align(t, freq, KIRITIMATI),
        lambda: next_boundary(t, freq, KIRITIMATI),
        lambda: interval_containing(t, freq, KIRITIMATI),
        lambda: last_closed_interval(t, freq, KIRITIMATI),
        lambda: intervals_between(min(t, middle), max(t, middle), freq, KIRITIMATI),
        lambda: plan_chunks(min(t, middle), max(t, middle), freq, KIRITIMATI),
        lambda: historical_range(t, t if t > middle else middle, freq, KIRITIMATI),
        lambda: due_intervals(t, max(t, middle), freq, KIRITIMATI),
    ]
    for call in calls:
        # When it is planned, Then a PlanError names it (no OverflowError half-way)
        with pytest.raises(PlanError, match="outside 1000-01-01 to 9899-12-31"):
            call()


def test_times_just_inside_the_supported_range_are_planned() -> None:
    # Given the last and the first supported hours, in a zone a day ahead of UTC
    last = datetime(9899, 12, 31, 23, tzinfo=UTC)
    first = datetime(1000, 1, 1, tzinfo=UTC)
    for freq in Frequency:
        # Then their intervals are computed, and a range between them is checked
        assert interval_containing(last, freq, KIRITIMATI).end > last
        assert interval_containing(first, freq, UTC).start == first
        with pytest.raises(PlanError, match="longer than"):
            plan_chunks(datetime(9890, 1, 1, tzinfo=UTC), last, freq, KIRITIMATI)


def test_a_look_back_before_the_supported_range_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="reaches before 1000-01-01"):
        historical_range(timedelta(days=800_000), utc(2024, 3, 1), Frequency.P1D)
    with pytest.raises(PlanError, match="outside 1000-01-01"):
        historical_range(date(1, 1, 1), utc(2024, 3, 1), Frequency.P1D, KIRITIMATI)


# --- properties -----------------------------------------------------------------------

ZONES: list[tzinfo] = [
    UTC,
    timezone(timedelta(hours=-3, minutes=-30)),
    NEW_YORK,
    BERLIN,
    KOLKATA,
    LORD_HOWE,
    SANTIAGO,
    ZoneInfo("Asia/Kathmandu"),
    ZoneInfo("Pacific/Chatham"),
    ZoneInfo("America/St_Johns"),
    ZoneInfo("Pacific/Apia"),
    ZoneInfo("Asia/Tehran"),
]
# How far a random range reaches, per frequency (keeps each example to a few thousand
# intervals so the whole property suite runs in seconds).
SPAN = {
    Frequency.PT5M: timedelta(days=4),
    Frequency.PT10M: timedelta(days=8),
    Frequency.PT1H: timedelta(days=40),
    Frequency.P1D: timedelta(days=800),
}
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@st.composite
def ranges(draw: st.DrawFn) -> tuple[datetime, datetime, Frequency, tzinfo]:
    freq = draw(st.sampled_from(list(Frequency)))
    tz = draw(st.sampled_from(ZONES))
    start = draw(instants)
    length = draw(st.timedeltas(min_value=timedelta(0), max_value=SPAN[freq]))
    return start, start + length, freq, tz


def assert_tiles(
    parts: list[Interval], start: datetime, end: datetime, freq: Frequency, tz: tzinfo
) -> None:
    first, stop = align(start, freq, tz), align(end, freq, tz)
    if first == stop:
        assert parts == []
        return
    assert parts[0].start == first and parts[-1].end == stop
    for earlier, later in itertools.pairwise(parts):
        assert earlier.end == later.start
    for part in parts:
        assert part.start < part.end
        assert align(part.start, freq, tz) == part.start
        assert align(part.end, freq, tz) == part.end
    assert sum((p.duration for p in parts), timedelta()) == stop - first


@settings(max_examples=80, deadline=None)
@given(ranges())
def test_intervals_between_tiles_any_range(
    case: tuple[datetime, datetime, Frequency, tzinfo],
) -> None:
    # Given a random range, frequency and zone
    start, end, freq, tz = case
    # When it is cut into intervals
    intervals = intervals_between(start, end, freq, tz)
    # Then they tile [align(start), align(end)) with intervals of the right size
    assert_tiles(intervals, start, end, freq, tz)
    for interval in intervals:
        if freq is Frequency.P1D:
            assert timedelta(hours=22) <= interval.duration <= timedelta(hours=26)
        else:
            assert interval.duration <= freq.delta
        # Every instant inside an interval aligns to its start
        assert align(interval.end - timedelta(microseconds=1), freq, tz) == interval.start
    # And sub-daily counts match the nominal length (one extra per odd offset change)
    if freq is not Frequency.P1D:
        nominal = (align(end, freq, tz) - align(start, freq, tz)) / freq.delta
        assert nominal <= len(intervals) <= nominal + 2


@settings(max_examples=60, deadline=None)
@given(ranges(), st.integers(min_value=1, max_value=500))
def test_plan_chunks_tiles_any_range(
    case: tuple[datetime, datetime, Frequency, tzinfo], chunk_intervals: int
) -> None:
    # Given a random range within the limits and a random chunk size
    start, end, freq, tz = case
    # When it is planned
    chunks = plan_chunks(start, end, freq, tz, chunk_intervals)
    intervals = intervals_between(start, end, freq, tz)
    # Then the chunks tile the range on interval boundaries with at most
    # chunk_intervals intervals each, and as few chunks as that allows
    assert_tiles(chunks, start, end, freq, tz)
    sizes = [len(intervals_between(c.start, c.end, freq, tz)) for c in chunks]
    assert sum(sizes) == len(intervals)
    assert all(1 <= size <= chunk_intervals for size in sizes)
    assert len(chunks) == -(-len(intervals) // chunk_intervals)


@settings(max_examples=60, deadline=None)
@given(instants, st.sampled_from(list(Frequency)), st.sampled_from(ZONES))
def test_expand_path_names_every_interval_by_its_local_start(
    t: datetime, freq: Frequency, tz: tzinfo
) -> None:
    # Given the interval holding a random instant
    interval = interval_containing(t, freq, tz)
    # When its folder is expanded
    folder = expand_path("{{yyyy}}-{{MM}}-{{dd}}T{{HH}}:{{mm}}", interval.start)
    # Then it is the local wall clock of the START in the detector's zone
    assert folder == interval.start.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    assert interval.start <= t < interval.end
