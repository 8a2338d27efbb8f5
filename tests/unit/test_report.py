"""The HTML report: self-contained, shows detections and labels, scores detections correctly."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from connector.config import load_params
from connector.local.demo_warehouse import Label
from connector.local.report import (
    Anomaly,
    Series,
    evaluate,
    read_anomalies,
    read_series,
    write_report,
)

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


def test_read_anomalies_flattens_the_detector_groups(tmp_path: Path) -> None:
    # Given one interval's anomaly groups as the built-in detector writes them
    from connector.detector.alerts import SeriesAnomaly, group_anomalies

    pc_us = {"platform": "pc_web", "marketplace": "us"}
    groups = group_anomalies(
        [
            SeriesAnomaly(pc_us, "views", 88.0, 1000.0, 3100.0),
            SeriesAnomaly(pc_us, "revenue", 75.0, 300.0, 930.0),
            SeriesAnomaly({"platform": "mobile_app", "marketplace": "de"}, "views", 60.0, 5, 0),
        ]
    )
    start, end = "2026-04-05T05:00:00+00:00", "2026-04-05T06:00:00+00:00"
    folder = tmp_path / "anomalies" / "20260405"
    folder.mkdir(parents=True)
    (folder / "0500.jsonl").write_text(
        "".join(
            json.dumps({"interval_start": start, "interval_end": end, **g}) + "\n" for g in groups
        )
    )

    # When they are read for the report
    anomalies = sorted(read_anomalies(folder.glob("*.jsonl")), key=lambda a: -a.severity)

    # Then there is one entry per series, with all its measures and the highest severity
    assert [(a.name, a.measures, a.severity) for a in anomalies] == [
        ("pc_web / us", ("views", "revenue"), 88.0),
        ("mobile_app / de", ("views",), 60.0),
    ]
    assert anomalies[0].start == datetime(2026, 4, 5, 5, tzinfo=UTC)
    assert anomalies[0].expected == {"views": 1000.0, "revenue": 300.0}
    assert anomalies[0].actual["revenue"] == 930.0


def test_read_series_aggregates_files_per_interval(tmp_path: Path) -> None:
    # Given two crawled CSV files (as UNLOAD writes them) with rows inside each hour
    params = load_params(Path(__file__).parents[1] / "data" / "original_params.json")
    header = "timestamp,views,revenue,platform,marketplace\n"
    (tmp_path / "0000_part_00").write_text(
        header + "2026-04-05 00:00:00,10,3.00,pc_web,us\n2026-04-05 00:30:00,5,1.50,pc_web,us\n"
        '2026-04-05 00:10:00,7,2.10,"mobile_app",de\n'
    )
    (tmp_path / "0001_part_00").write_text(header + "2026-04-05 02:59:59,4,1.20,pc_web,us\n")

    # When the report reads them
    series, rows = read_series(sorted(tmp_path.iterdir()), params)

    # Then each measure is summed per hour, missing hours are NaN, and rows are counted
    assert rows == 4
    by_key = {(s.name, s.measure): s for s in series}
    views = by_key[("pc_web / us", "views")]
    assert views.starts.astype(str).tolist() == [
        "2026-04-05T00:00:00",
        "2026-04-05T02:00:00",
    ]
    assert views.values.tolist() == [15.0, 4.0]
    assert by_key[("pc_web / us", "revenue")].values.tolist() == [4.5, 1.2]
    assert np.isnan(by_key[("mobile_app / de", "views")].values[1])


def test_detections_before_the_scored_range_are_matched_against_all_labels(
    tmp_path: Path,
) -> None:
    # Given a backtest detection on a labelled window in the history, and one off any label
    history_label = Label(START + 10 * HOUR, START + 12 * HOUR, "pc_web", "us", ("views",), "drop")
    anomalies = [_anomaly(10, severity=90.0), _anomaly(30, severity=70.0)]

    # When the report scores the continuous range only
    html = write_report(
        tmp_path / "report.html",
        series=[_series(US, "views")],
        anomalies=anomalies,
        labels=[history_label],
        summary={},
        interval=HOUR,
        focus=SCORED,
    ).read_text(encoding="utf-8")

    # Then the table still says which history detection hit a label and which did not
    rows = re.findall(
        r"<tr><td>(2026-04-0\d \d\d:00)</td>.*?<td[^>]*>([^<]*)</td></tr>", html, re.S
    )
    assert rows == [("2026-04-01 10:00", "drop"), ("2026-04-02 06:00", "false alert")]
