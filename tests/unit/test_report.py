"""The HTML report: self-contained, shows detections and labels, scores detections correctly."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from connector.local.demo_warehouse import Label
from connector.local.report import Anomaly, Series, evaluate, write_report

START = datetime(2026, 4, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SCORED = (START + timedelta(days=3), START + timedelta(days=5))
US = (("platform", "pc_web"), ("marketplace", "us"))
DE = (("platform", "mobile_app"), ("marketplace", "de"))
PC_DE = (("platform", "pc_web"), ("marketplace", "de"))


def _series(dimensions, measure: str) -> Series:
    starts = np.datetime64(START.replace(tzinfo=None), "s") + np.arange(120) * np.timedelta64(
        3600, "s"
    )
    values = 500 + 300 * np.cos(np.arange(120) / 24 * 2 * np.pi)
    values[80] = np.nan  # a missing interval must not break the plot
    return Series(dimensions=dimensions, measure=measure, starts=starts, values=values)


def _label(hours: int, length: int, platform="pc_web", marketplace="us", measures=("views",)):
    begin = START + hours * HOUR
    return Label(begin, begin + length * HOUR, platform, marketplace, measures, "spike")


def _anomaly(hours: int, dimensions=US, measures=("views",), severity=80.0) -> Anomaly:
    return Anomaly(
        start=START + hours * HOUR,
        dimensions=dimensions,
        measures=measures,
        severity=severity,
        expected={m: 500.0 for m in measures},
        actual={m: 1500.0 for m in measures},
    )


def test_evaluate_matches_series_measure_and_window() -> None:
    # Given labels in and out of the scored range, and detections hitting or missing them
    in_range = _label(80, 2)
    platform_wide = _label(100, 3, marketplace=None, measures=("views", "revenue"))
    missed = _label(110, 1, platform="mobile_app", marketplace="de")
    before = _label(10, 2)
    anomalies = [
        _anomaly(81),  # inside the first label
        _anomaly(82),  # one interval after its end: the return to normal still counts
        _anomaly(101, dimensions=PC_DE, measures=("revenue",)),  # covered by the wildcard
        _anomaly(90),  # no label there: a false alert
        _anomaly(110, measures=("views",)),  # right time, wrong series
    ]

    # When they are scored
    result = evaluate(
        anomalies, [in_range, platform_wide, missed, before], scored=SCORED, interval=HOUR
    )

    # Then only the labels in range count, and each verdict is right
    assert result.labels == (in_range, platform_wide, missed)
    assert result.found == (True, True, False)
    assert (result.recalled, result.labelled, result.false_alerts) == (2, 3, 2)
    assert result.verdicts == (in_range, in_range, platform_wide, None, None)
    assert result.recall == 2 / 3


def test_report_is_self_contained_and_shows_anomalies(tmp_path: Path) -> None:
    # Given two series, a detection with a hostile series name, and a labelled window
    hostile = (("platform", "<script>alert(1)</script>"), ("marketplace", "us"))
    series = [_series(US, "views"), _series(US, "revenue"), _series(hostile, "views")]
    anomalies = [_anomaly(81, severity=93.0), _anomaly(90, dimensions=hostile, severity=61.0)]

    # When the report is written
    path = write_report(
        tmp_path / "out" / "report.html",
        series=series,
        anomalies=anomalies,
        labels=[_label(80, 2)],
        summary={"Intervals crawled": 120, "Anomalies detected": 2},
        interval=HOUR,
        focus=SCORED,
    )
    html = path.read_text(encoding="utf-8")

    # Then it references nothing outside itself and runs no script
    assert not re.search(r"https?://|//cdn|<link|<img|@import|url\(", html, re.IGNORECASE)
    assert "<script" not in html
    # And it shows the summary, both detections as plotted dots, the label and its verdict
    assert "Intervals crawled" in html and "120" in html
    assert html.count('class="anomaly"') >= 2
    assert "2026-04-04 09:00" in html and "severity 93" in html
    assert 'class="label"' in html and "false alert" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # And every series gets a small plot, well under a megabyte in all
    assert html.count("<svg") >= len(series) + 2
    assert len(html) < 1_000_000


def test_report_without_labels_or_detections_still_renders(tmp_path: Path) -> None:
    # Given a user's own data: no labels, nothing detected
    path = write_report(
        tmp_path / "report.html",
        series=[_series(US, "views")],
        anomalies=[],
        labels=[],
        summary={"Rows": 10},
    )

    # Then the report says so instead of showing empty scoring columns
    html = path.read_text(encoding="utf-8")
    assert "No anomaly detected." in html
    assert "false alert" not in html and "Labelled anomalies" not in html
