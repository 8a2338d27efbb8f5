"""The demo warehouse generator: deterministic, shaped like the 2022 sample, labels that hold."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connector.errors import WarehouseError
from connector.local.demo_warehouse import MARKETPLACES, PLATFORMS, generate

START = datetime(2026, 1, 5, tzinfo=UTC)
LIVE = START + timedelta(days=28)


def _digest(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT * FROM ecommerce ORDER BY id").fetchall()
        labels = con.execute("SELECT * FROM labels ORDER BY id").fetchall()
    return hashlib.sha256(repr((rows, labels)).encode()).hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    return generate(path, start=START, days=30, seed=11, live_start=LIVE)


def test_same_seed_gives_identical_rows_and_labels(demo, tmp_path: Path) -> None:
    # Given a second warehouse generated with the same arguments
    again = generate(tmp_path / "again.duckdb", start=START, days=30, seed=11, live_start=LIVE)

    # Then rows and labels are byte-for-byte the same, and a different seed differs
    assert _digest(again.path) == _digest(demo.path)
    assert again.labels == demo.labels
    other = generate(tmp_path / "other.duckdb", start=START, days=30, seed=12, live_start=LIVE)
    assert _digest(other.path) != _digest(demo.path)


def test_tables_have_the_sample_shape(demo) -> None:
    # When the warehouse is inspected
    with duckdb.connect(str(demo.path), read_only=True) as con:
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'ecommerce'"
            ).fetchall()
        )
        platforms = [r[0] for r in con.execute("SELECT name FROM platform ORDER BY id").fetchall()]
        markets = [r[0] for r in con.execute("SELECT name FROM marketplace ORDER BY id").fetchall()]
        per_hour = con.execute(
            "SELECT count(DISTINCT ts), min(n), max(n), min(ts), max(ts), count(DISTINCT id) "
            "FROM (SELECT ts, count(*) AS n, any_value(id) AS id FROM ecommerce GROUP BY ts)"
        ).fetchone()
        gaps = con.execute(
            "SELECT DISTINCT ts - lag(ts) OVER (ORDER BY ts) "
            "FROM (SELECT DISTINCT ts FROM ecommerce)"
        ).fetchall()
        rows = con.execute("SELECT count(*), count(DISTINCT id) FROM ecommerce").fetchone()

    # Then it matches the original demo: 3 × 7 series, hourly, the sample's column types
    assert types == {
        "id": "BIGINT",
        "ts": "TIMESTAMP",
        "platform": "INTEGER",
        "marketplace": "INTEGER",
        "views": "INTEGER",
        "revenue": "DECIMAL(9,2)",
    }
    assert platforms == list(PLATFORMS) and markets == list(MARKETPLACES)
    assert demo.series == 21
    assert per_hour[0] == 30 * 24 and per_hour[1] == per_hour[2] == 21
    assert per_hour[3] == START.replace(tzinfo=None)
    assert per_hour[4] == (START + timedelta(days=30, hours=-1)).replace(tzinfo=None)
    assert {g[0] for g in gaps} - {None} == {timedelta(hours=1)}
    assert rows == (demo.rows, demo.rows) == (30 * 24 * 21, 30 * 24 * 21)


def test_revenue_follows_views_outside_revenue_anomalies(demo) -> None:
    # Given the rows outside every revenue-only label
    revenue_only = [lb for lb in demo.labels if lb.measures == ("revenue",)]
    assert revenue_only, "the generator should inject at least one revenue-only anomaly"
    with duckdb.connect(str(demo.path), read_only=True) as con:
        ratio = con.execute("SELECT sum(revenue) / sum(views) FROM ecommerce").fetchone()[0]
        corr = con.execute("SELECT corr(views, revenue) FROM ecommerce").fetchone()[0]

    # Then revenue ≈ 0.3 × views and the two move together
    assert 0.27 < float(ratio) < 0.33
    assert corr > 0.95


def test_labels_are_inside_the_range_and_visible_in_the_data(demo) -> None:
    # Given the labels, including the fixed sequence after the live start
    kinds_live = {lb.kind for lb in demo.labels if lb.start >= LIVE}
    assert kinds_live == {"spike", "outage", "drop", "revenue_drop", "level_shift"}
    with duckdb.connect(str(demo.path), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM labels").fetchone()[0]
        for label in demo.labels:
            # Then each window lies in the data's range and has whole-hour bounds
            assert demo.start <= label.start < label.end <= demo.end
            assert label.platform in (*PLATFORMS, None)
            assert label.marketplace in (*MARKETPLACES, None)
            if label.kind != "outage":
                continue
            # And an outage really is zero views for the series it names
            views = con.execute(
                "SELECT sum(views) FROM ecommerce e JOIN platform p ON e.platform = p.id "
                "JOIN marketplace m ON e.marketplace = m.id WHERE ts >= ? AND ts < ? "
                "AND (? IS NULL OR p.name = ?) AND (? IS NULL OR m.name = ?)",
                [
                    label.start.replace(tzinfo=None),
                    label.end.replace(tzinfo=None),
                    label.platform,
                    label.platform,
                    label.marketplace,
                    label.marketplace,
                ],
            ).fetchone()[0]
            assert views == 0
    assert stored == len(demo.labels)


def test_scale_splits_hours_into_rows_with_unchanged_sums(tmp_path: Path) -> None:
    # Given the same data at 1 and 5 rows per series-hour
    one = generate(tmp_path / "one.duckdb", start=START, days=3, seed=3)
    five = generate(tmp_path / "five.duckdb", start=START, days=3, seed=3, scale=5)

    # Then the rows multiply, each hour's totals stay the same, timestamps stay in the hour
    assert five.rows == 5 * one.rows
    query = (
        "SELECT date_trunc('hour', ts) AS h, platform, marketplace, sum(views), sum(revenue), "
        "count(*) FROM ecommerce GROUP BY ALL ORDER BY ALL"
    )
    with duckdb.connect(str(one.path)) as a, duckdb.connect(str(five.path)) as b:
        left, right = a.execute(query).fetchall(), b.execute(query).fetchall()
    assert [r[:5] for r in left] == [r[:5] for r in right]
    assert {r[5] for r in right} == {5}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2026, 1, 5)}, "timezone-aware"),
        ({"start": START + timedelta(minutes=30)}, "whole hour"),
        ({"days": 0}, "at least 1"),
        ({"scale": 0}, "at least 1"),
        ({"live_start": START + timedelta(days=40)}, "outside"),
    ],
)
def test_bad_arguments_name_the_problem(tmp_path: Path, kwargs: dict, message: str) -> None:
    # When the generator is called with an impossible argument
    args = {"start": START, "days": 5, **kwargs}
    # Then it raises a WarehouseError saying what is wrong
    with pytest.raises(WarehouseError, match=message):
        generate(tmp_path / "bad.duckdb", **args)
