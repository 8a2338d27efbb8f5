"""``connector demo`` end to end, shortened: 14 days of history, 48 hours of continuous crawl.

Runs the real synthesized state machines in the embedded runtime over a generated
warehouse, then checks what a newcomer gets: a summary, the bucket exported with one
folder per continuous interval (named by its START), and a self-contained report.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from connector.cli import local

pytestmark = pytest.mark.e2e

# 48 continuous hours hold the demo's five labelled anomalies, one of each kind.
DAYS, HOURS = 14, 48
HOURS_PER_WEEK = 7 * 24


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    # Given the demo commands on their own app (independent of the main app's registry)
    app = typer.Typer()
    local.register(app)
    output = tmp_path_factory.mktemp("demo") / "demo-output"

    # When the short demo runs
    result = CliRunner().invoke(
        app, ["demo", "--output", str(output), "--days", str(DAYS), "--hours", str(HOURS)]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return output, result.output


def test_demo_summary_counts_what_was_crawled_and_detected(demo_run) -> None:
    output, stdout = demo_run
    figures = json.loads((output / "summary.json").read_text())

    # Then every interval was crawled, every continuous run succeeded
    assert figures["historical_intervals"] == DAYS * 24
    assert figures["continuous_intervals"] == HOURS
    assert figures["continuous_failures"] == []
    # And the bucket holds exactly the warehouse's rows of the crawled range, 21 × 2 series
    assert figures["rows"] == (DAYS * 24 + HOURS) * 21
    assert figures["series"] == 42
    # And the target holds on the continuous hours: recall of the labelled
    # windows >= 90% (every kind: spike, outage, drop, revenue-only drop, level shift)
    # with at most one false alert per metric-week
    live = figures["continuous"]
    assert live["labelled"] == 5
    assert live["found"] >= 0.9 * live["labelled"]
    assert live["false_alerts"] <= figures["series"] * HOURS / HOURS_PER_WEEK
    assert "Historical intervals crawled" in stdout and "report.html" in stdout


def test_demo_exports_one_folder_per_interval_start(demo_run) -> None:
    output, _ = demo_run
    live = output / "bucket" / "ecommerce" / "live"

    # Then the continuous folders are named by interval START, one per hour crawled
    folders = sorted(p.relative_to(live).as_posix() for p in live.glob("*/*") if p.is_dir())
    first = datetime(2026, 1, 19)
    assert folders == [f"{first + timedelta(hours=h):%Y%m%d/%H%M}" for h in range(HOURS)]
    assert any((output / "bucket" / "ecommerce" / "historical").iterdir())


def test_demo_report_is_self_contained(demo_run) -> None:
    output, _ = demo_run
    html = (output / "report.html").read_text(encoding="utf-8")

    # Then it opens offline and shows the plots and the scoring
    assert not re.search(r"https?://|<script|<link|@import", html, re.IGNORECASE)
    assert html.count("<svg") >= 42
    assert "Labelled anomalies in the scored range" in html


def test_run_local_on_an_existing_warehouse(demo_run) -> None:
    # Given the demo's warehouse and params.json, used as a user's own data
    output, _ = demo_run
    app = typer.Typer()
    local.register(app)
    target = output.parent / "run-output"

    # When 'run --local' crawls a week of it and three more hours
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--local",
            "--warehouse",
            str(output / "warehouse.duckdb"),
            "--params",
            str(output / "params.json"),
            "--start",
            "2026-01-12",
            "--end",
            "2026-01-19",
            "--intervals",
            "3",
            "--output",
            str(target),
        ],
    )

    # Then it crawls exactly that, scores without labels, and writes its own report
    assert result.exit_code == 0, result.output + repr(result.exception)
    figures = json.loads((target / "summary.json").read_text())
    assert figures["historical_intervals"] == 7 * 24
    assert figures["continuous_intervals"] == 3
    assert figures["continuous_failures"] == []
    assert figures["rows"] == (7 * 24 + 3) * 21
    assert figures["continuous"]["labelled"] == 0
    html = (target / "report.html").read_text(encoding="utf-8")
    assert "Labelled anomalies" not in html


def test_run_without_local_explains_what_to_do() -> None:
    # When 'run' is called without --local
    app = typer.Typer()
    local.register(app)
    result = CliRunner().invoke(app, ["run", "--warehouse", "x.duckdb"])

    # Then it refuses with a domain error pointing at --local (exit code 2 via main)
    assert isinstance(result.exception, local.LocalRunError)
    assert "--local" in str(result.exception)
