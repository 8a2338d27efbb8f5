"""Reading crawled CSVs like Lookout for Metrics: formats, time zones, aggregation, GZIP."""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from connector.detector.data import (
    DatasetSpec,
    aggregate,
    data_keys,
    interval_starts,
    java_to_strptime,
    parse_csv,
    parse_timestamps,
    read_history,
    read_interval,
)
from connector.errors import DetectorError
from connector.storage import MemoryObjectStore

SPEC = DatasetSpec(
    timestamp_column="ts",
    timestamp_format="%Y-%m-%d %H:%M:%S",
    dimensions=("platform", "market"),
    measures=("views", "revenue"),
    aggregations=("SUM", "AVG"),
    delimiter=",",
    quote='"',
    gzip=False,
    charset="UTF-8",
    frequency="PT1H",
    timezone=ZoneInfo("UTC"),
)
HEADER = "ts,platform,market,views,revenue\n"


def _epoch(text: str, tz: str = "UTC") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp())


@pytest.mark.parametrize(
    ("java", "python"),
    [
        ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "%Y-%m-%dT%H:%M:%S.%f%z"),
        ("dd/MM/yyyy hh:mm a", "%d/%m/%Y %I:%M %p"),
        ("EEE, d MMM yyyy HH:mm", "%a, %d %b %Y %H:%M"),
        ("yyyyMMdd'%'HH", "%Y%m%d%%%H"),
    ],
)
def test_java_formats_translate_to_strptime(java: str, python: str) -> None:
    assert java_to_strptime(java) == python


def test_unsupported_format_letter_is_refused_with_advice() -> None:
    # Given a week-year letter the reader cannot honour / Then it says which and what to use
    with pytest.raises(DetectorError, match="'ww'"):
        java_to_strptime("yyyy-ww")


def test_numpy_and_strptime_paths_agree_across_dst() -> None:
    # Given Berlin wall-clock timestamps around the March DST change
    texts = np.array(["2024-03-31 01:30:00", "2024-03-31 03:30:00", "2024-01-01 00:00:00"])
    fast = replace(SPEC, timezone=ZoneInfo("Europe/Berlin"))
    slow = replace(fast, timestamp_format="%Y-%m-%d %H:%M:%S ")  # forces strptime
    # When parsed by the vectorised and the per-value paths
    got_fast = parse_timestamps(texts, fast, source="f")
    got_slow = parse_timestamps(np.char.add(texts, " "), slow, source="f")
    # Then both give the true UTC instants (01:30 CET = 00:30Z, 03:30 CEST = 01:30Z)
    expected = [
        _epoch("2024-03-31T00:30:00"),
        _epoch("2024-03-31T01:30:00"),
        _epoch("2023-12-31T23:00:00"),
    ]
    assert got_fast.tolist() == expected
    assert got_slow.tolist() == expected


def test_timestamps_with_offsets_are_honoured() -> None:
    spec = replace(SPEC, timestamp_format=java_to_strptime("yyyy-MM-dd'T'HH:mm:ssXXX"))
    got = parse_timestamps(np.array(["2024-01-01T02:00:00+02:00"]), spec, source="f")
    assert got.tolist() == [_epoch("2024-01-01T00:00:00")]


def test_bad_timestamp_names_file_and_line() -> None:
    texts = np.array(["2024-01-01 00:00:00", "yesterday"])
    with pytest.raises(DetectorError, match=r"data\.csv line 3: timestamp 'yesterday'"):
        parse_timestamps(texts, SPEC, source="data.csv")


def test_daily_intervals_follow_local_midnight() -> None:
    # Given a daily detector in New York and a timestamp at 23:30 local on Jan 1
    spec = replace(SPEC, frequency="P1D", timezone=ZoneInfo("America/New_York"))
    epoch = np.array([_epoch("2024-01-01T23:30:00", "America/New_York")])
    # Then its interval starts at local midnight of Jan 1
    assert interval_starts(epoch, spec).tolist() == [
        _epoch("2024-01-01T00:00:00", "America/New_York")
    ]


def test_parse_csv_quotes_empty_cells_and_header_case() -> None:
    # Given a file with quoted dimension values, an empty measure (NULL) and an upper-case header
    body = (
        b'TS,platform,market,views,revenue\n2024-01-01 00:10:00,"we,b",us,3,\n'
        b"2024-01-01 00:20:00,app,us,4,1.5\n"
    )
    records = parse_csv(body, SPEC, source="f.csv")
    # Then columns are found by name and the empty cell is missing, not zero
    assert records.dimensions[0].tolist() == ["we,b", "app"]
    assert records.measures[:, 0].tolist() == [3.0, 4.0]
    assert np.isnan(records.measures[0, 1])


def test_parse_csv_missing_column_and_bad_number() -> None:
    with pytest.raises(DetectorError, match="no column 'revenue'"):
        parse_csv(b"ts,platform,market,views\n", SPEC, source="f.csv")
    bad = (HEADER + "2024-01-01 00:10:00,web,us,three,1\n").encode()
    with pytest.raises(DetectorError, match=r"f\.csv line 2: measure 'views' is 'three'"):
        parse_csv(bad, SPEC, source="f.csv")


def test_gzip_is_read_and_a_plain_file_is_refused() -> None:
    spec = replace(SPEC, gzip=True)
    body = (HEADER + "2024-01-01 00:10:00,web,us,3,1\n").encode()
    assert len(parse_csv(gzip.compress(body), spec, source="f.gz")) == 1
    with pytest.raises(DetectorError, match="not GZIP"):
        parse_csv(body, spec, source="f.gz")


def test_sum_and_avg_per_dimension_combination() -> None:
    # Given two rows per combination in one interval, one with an empty revenue
    body = (
        HEADER
        + "2024-01-01 00:10:00,web,us,3,10\n"
        + "2024-01-01 00:40:00,web,us,4,\n"
        + "2024-01-01 00:10:00,app,us,1,2\n"
        + "2024-01-01 00:50:00,app,us,2,4\n"
    ).encode()
    records = parse_csv(body, SPEC, source="f")
    # When aggregated into one interval
    values, combinations = aggregate(records, np.zeros(4, dtype=np.int64), 1, SPEC)
    # Then views are summed, revenue averaged over present cells, per combination
    assert combinations == [("app", "us"), ("web", "us")]
    assert values[:, 0].tolist() == [3.0, 3.0, 7.0, 10.0]


def test_known_combinations_keep_their_series_numbers() -> None:
    body = (HEADER + "2024-01-01 00:10:00,zzz,new,5,5\n2024-01-01 00:10:00,web,us,1,1\n").encode()
    records = parse_csv(body, SPEC, source="f")
    values, combinations = aggregate(
        records, np.zeros(2, dtype=np.int64), 1, SPEC, known=[("web", "us"), ("app", "us")]
    )
    # The known ones first, in their order; the new one appended; the absent one NaN
    assert combinations == [("web", "us"), ("app", "us"), ("zzz", "new")]
    assert values[:2, 0].tolist() == [1.0, 1.0]
    assert np.isnan(values[2:4, 0]).all()
    assert values[4:, 0].tolist() == [5.0, 5.0]


def test_read_interval_ignores_rows_outside_it_and_sub_folders() -> None:
    # Given an interval folder with a row of the next hour and a file in a sub-folder
    store = MemoryObjectStore("bkt")
    body = HEADER + "2024-01-01 10:10:00,web,us,3,1\n2024-01-01 11:00:00,web,us,100,1\n"
    store.put("p/live/20240101/1000/part_000", body.encode())
    store.put(
        "p/live/20240101/1000/old/part_000", (HEADER + "2024-01-01 10:00:00,web,us,50,1\n").encode()
    )
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    # When read
    values, combinations, rows = read_interval(
        store, "s3://bkt/p/live/20240101/1000/", start, SPEC, []
    )
    # Then only the in-interval row of the folder itself counts
    assert rows == 1
    assert combinations == [("web", "us")]
    assert values.tolist() == [3.0, 1.0]


def test_missing_folder_reads_as_all_missing() -> None:
    store = MemoryObjectStore("bkt")
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    values, combinations, rows = read_interval(
        store, "s3://bkt/p/live/20240101/1000/", start, SPEC, [("web", "us")]
    )
    assert rows == 0
    assert combinations == [("web", "us")]
    assert np.isnan(values).all()


def test_history_grid_has_no_gaps_and_reads_only_the_prefix_files() -> None:
    # Given history at 00:xx and 03:xx only, and an unrelated sub-folder
    store = MemoryObjectStore("bkt")
    store.put("p/historical/a", (HEADER + "2024-01-01 00:05:00,web,us,1,1\n").encode())
    store.put("p/historical/b", (HEADER + "2024-01-01 03:05:00,web,us,2,2\n").encode())
    store.put("p/historical/x/c", (HEADER + "2024-02-01 03:05:00,web,us,9,9\n").encode())
    # When read
    table = read_history(store, "s3://bkt/p/historical/", SPEC)
    # Then the grid has all four hours and the gaps are missing values
    assert table.starts.astype("datetime64[h]").astype(str).tolist() == [
        "2024-01-01T00",
        "2024-01-01T01",
        "2024-01-01T02",
        "2024-01-01T03",
    ]
    assert table.values[0].tolist()[0] == 1.0
    assert np.isnan(table.values[0, 1:3]).all()


def test_history_errors_are_actionable() -> None:
    store = MemoryObjectStore("bkt")
    with pytest.raises(DetectorError, match="run the historical crawl"):
        read_history(store, "s3://bkt/p/historical/", SPEC)
    with pytest.raises(DetectorError, match="outside bucket"):
        data_keys(store, "s3://other/p/historical/")


def test_history_files_sharing_an_interval_add_up() -> None:
    # Given one hour split over two files, the second bringing a new combination
    store = MemoryObjectStore("bkt")
    store.put("p/historical/0000_part_00", (HEADER + "2024-01-01 00:05:00,web,us,1,2\n").encode())
    store.put(
        "p/historical/0000_part_01",
        (HEADER + "2024-01-01 00:50:00,web,us,3,4\n2024-01-01 00:10:00,app,de,7,8\n").encode(),
    )
    # When read
    table = read_history(store, "s3://bkt/p/historical/", SPEC)
    # Then web/us views are summed and revenue averaged across files; app/de appended
    assert table.combinations == [("web", "us"), ("app", "de")]
    assert table.values[:, 0].tolist() == [4.0, 3.0, 7.0, 8.0]
