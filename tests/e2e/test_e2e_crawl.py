"""Both synthesized state machines, run through the embedded runtime, checked file by file.

Every object the crawls leave in the bucket is read back and compared with the
warehouse: each live folder holds exactly the rows of its interval ``[start, end)``,
the historical files sit directly under the historical prefix and together hold
exactly the rows of the crawled range, once, with the header and CSV quoting the
detector expects. A statement that fails in the warehouse takes the state machine's
Catch path and publishes a message a person can act on.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connector.local.demo_warehouse import generate
from connector.local.runtime import LocalRuntime

pytestmark = pytest.mark.e2e

HEADER = ["timestamp", "views", "revenue", "platform", "marketplace"]
HOUR = timedelta(hours=1)
Row = tuple[str, ...]


def warehouse_rows(warehouse: Path, start: datetime, end: datetime) -> Counter[Row]:
    """The rows the demo query should yield for ``[start, end)``, as CSV text fields."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """SELECT strftime(e.ts, '%Y-%m-%d %H:%M:%S'), e.views, e.revenue, p.name, m.name
            FROM ecommerce e JOIN platform p ON p.id = e.platform
            JOIN marketplace m ON m.id = e.marketplace
            WHERE e.ts >= ? AND e.ts < ?""",
            [start.replace(tzinfo=None), end.replace(tzinfo=None)],
        ).fetchall()
    return Counter(tuple(str(value) for value in row) for row in rows)


def read_csv(path: Path) -> list[Row]:
    """A crawled file's data rows, after checking its header."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == HEADER, f"{path}: header {rows[0]}"
    return [tuple(row) for row in rows[1:]]


def data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_historical_crawl_tiles_the_range_with_exactly_its_rows(
    template: dict[str, Any],
    e2e_params: Path,
    warehouse: Path,
    warehouse_start: datetime,
    awkward_marketplace: str,
    tmp_path: Path,
) -> None:
    # Given two days of history, planned in 12-hour chunks
    start, end = warehouse_start, warehouse_start + timedelta(days=2)

    # When the historical state machine crawls it (without building the detector)
    with LocalRuntime(e2e_params, warehouse, tmp_path / "work", template=template) as runtime:
        result = runtime.run_historical(start, end, build_detector=False)
        prefix = runtime.params.data_prefix
        runtime.export_bucket(tmp_path / "bucket")
        alerts = runtime.sns_messages()

    # Then it succeeded with four chunks, each an UNLOAD that ran to FINISHED
    assert result.succeeded, (result.error, result.cause, result.history.failures)
    assert result.output["chunks"] == 4
    assert result.history.states_entered["UnloadFinished"] == 4
    assert alerts == []

    # And the files sit directly under the historical prefix, nowhere else
    historical = tmp_path / "bucket" / prefix / "historical"
    files = data_files(historical)
    assert files, "no historical files"
    assert {f.parent for f in files} == {historical}
    assert not (tmp_path / "bucket" / prefix / "live").exists()

    # And each file holds one whole chunk: contiguous hours, no overlap between files
    hours_per_file = []
    crawled: Counter[Row] = Counter()
    for path in files:
        rows = read_csv(path)
        crawled.update(rows)
        hours = sorted({row[0] for row in rows})
        hours_per_file.append((hours[0], hours[-1], len(hours)))
    hours_per_file.sort()
    assert [n for *_, n in hours_per_file] == [12, 12, 12, 12]
    for (_, last, _), (first, _, _) in itertools.pairwise(hours_per_file):
        assert datetime.fromisoformat(first) - datetime.fromisoformat(last) == HOUR

    # And together they hold exactly the warehouse's rows of [start, end), once each
    assert crawled == warehouse_rows(warehouse, start, end)
    assert any(row[4] == awkward_marketplace for row in crawled), "quoting not exercised"


def test_continuous_crawl_writes_each_interval_into_its_start_named_folder(
    template: dict[str, Any],
    e2e_params: Path,
    warehouse: Path,
    warehouse_start: datetime,
    tmp_path: Path,
) -> None:
    # Given a detector built from two days of history, and a crawl resuming where it ended
    live_start = warehouse_start + timedelta(days=2)

    with LocalRuntime(e2e_params, warehouse, tmp_path / "work", template=template) as runtime:
        built = runtime.run_historical(warehouse_start, live_start)
        assert built.succeeded, (built.error, built.cause)
        # When the schedule fires after each of three hours
        ticks = runtime.drive_schedule(live_start, intervals=3)
        prefix = runtime.params.data_prefix
        runtime.export_bucket(tmp_path / "bucket")
        alerts = runtime.sns_messages()

    # Then the template's schedule fired once after each close, before the next one
    assert len(ticks) == 3
    for tick in ticks:
        assert tick.interval.end <= tick.scheduled_time < tick.interval.end + HOUR
    # And every run succeeded: unloaded, then scored its interval
    for tick in ticks:
        result = tick.result
        assert result.succeeded, (result.error, result.cause, result.history.failures)
        assert result.history.states_entered["ScoreInterval"] == 1
    assert all("crawl" not in (m["Subject"] or "") for m in alerts)

    # And each live folder is named by its interval's START and holds exactly its rows
    live = tmp_path / "bucket" / prefix / "live"
    folders = sorted({f.parent for f in data_files(live)})
    expected = [live_start + i * HOUR for i in range(3)]
    assert [f.relative_to(live).as_posix() for f in folders] == [
        f"{t:%Y%m%d/%H%M}" for t in expected
    ]
    for folder, interval_start in zip(folders, expected, strict=True):
        crawled: Counter[Row] = Counter()
        for path in data_files(folder):
            crawled.update(read_csv(path))
        assert crawled == warehouse_rows(warehouse, interval_start, interval_start + HOUR), (
            f"{folder} does not hold exactly [{interval_start}, {interval_start + HOUR})"
        )


def test_a_failing_statement_takes_the_catch_path_and_publishes_a_readable_message(
    template: dict[str, Any],
    warehouse: Path,
    warehouse_start: datetime,
    repo: Path,
    params_writer: Callable[..., Path],
    tmp_path: Path,
) -> None:
    # Given a copy of the query templates whose SQL names a column the warehouse lacks
    queries = tmp_path / "queries"
    shutil.copytree(repo / "queries", queries)
    query = queries / "ecommerce.sql.j2"
    query.write_text(
        query.read_text(encoding="utf-8") + "\n  AND e.no_such_column IS NULL\n", encoding="utf-8"
    )
    params = params_writer(tmp_path / "params.json", queries_dir=queries)

    # When the historical crawl runs on it
    with LocalRuntime(params, warehouse, tmp_path / "work", template=template) as runtime:
        result = runtime.run_historical(
            warehouse_start, warehouse_start + timedelta(hours=12), build_detector=False
        )
        messages = runtime.sns_messages()
        runtime.export_bucket(tmp_path / "bucket")

    # Then the statement FAILED, the Map's Catch published to SNS, and the run failed
    assert result.status == "FAILED"
    assert result.error == "UnloadFailed"
    assert result.history.states_entered["GetUnloadError"] >= 1
    assert result.history.states_entered["NotifyFailure"] == 1
    (message,) = messages
    assert "historical crawl" in message["Subject"]
    text = message["Message"]
    assert "UnloadFailed" in text
    assert "no_such_column" in text, text  # the warehouse's own error text
    assert "redrive-execution" in text  # and what to do next
    # And nothing was unloaded for the failed chunk
    assert not (tmp_path / "bucket" / runtime.params.data_prefix / "historical").exists()


def test_the_hour_a_fall_back_repeats_lands_both_of_its_intervals(
    template: dict[str, Any],
    repo: Path,
    params_writer: Callable[..., Path],
    tmp_path: Path,
) -> None:
    # Given a New York detector and a warehouse around the 2026 fall-back night, when
    # 06:00Z turns 02:00 EDT back into 01:00 EST
    params = params_writer(tmp_path / "params.json", queries_dir=repo / "queries")
    data = json.loads(params.read_text(encoding="utf-8"))
    data["detector"]["timezone"] = "America/New_York"
    params.write_text(json.dumps(data), encoding="utf-8")
    warehouse = tmp_path / "warehouse.duckdb"
    generate(warehouse, start=datetime(2026, 10, 29, tzinfo=UTC), days=4, anomalies=False)
    live_start = datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 EDT

    # When history is crawled up to midnight and the schedule fires for four hours
    with LocalRuntime(params, warehouse, tmp_path / "work", template=template) as runtime:
        built = runtime.run_historical(datetime(2026, 10, 30, 4, tzinfo=UTC), live_start)
        assert built.succeeded, (built.error, built.cause)
        ticks = runtime.drive_schedule(live_start, intervals=4)
        prefix = runtime.params.data_prefix
        runtime.export_bucket(tmp_path / "bucket")
    for tick in ticks:
        assert tick.result.succeeded, (tick.result.error, tick.result.cause)

    # Then the two 01:00 intervals share their folder, each with a file of its own,
    # and every file holds exactly its UTC hour's rows (timestamps in New York time)
    live = tmp_path / "bucket" / prefix / "live" / "20261101"
    files = [path.relative_to(live).as_posix() for path in data_files(live)]
    assert files == ["0000/000", "0100/T0500Z_000", "0100/T0600Z_000", "0200/000"]
    for name, utc_hour, local_hour in [
        ("0000/000", 4, "00"),
        ("0100/T0500Z_000", 5, "01"),
        ("0100/T0600Z_000", 6, "01"),
        ("0200/000", 7, "02"),
    ]:
        rows = read_csv(live / name)
        start = datetime(2026, 11, 1, utc_hour, tzinfo=UTC)
        expected = warehouse_rows(warehouse, start, start + HOUR)
        assert Counter(row[1:] for row in rows) == Counter(row[1:] for row in expected)
        assert {row[0][:13] for row in rows} == {f"2026-11-01 {local_hour}"}
