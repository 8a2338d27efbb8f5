"""The service with the real built-in model: seasonal history, a quiet hour, a spike."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from test_detector_service import make_params

from connector.detector.model import DetectorModel
from connector.detector.service import build_detector, score_interval
from connector.intervals import Interval
from connector.storage import MemoryObjectStore

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 14
COMBOS = [("web", "us"), ("web", "de"), ("app", "us")]
HEADER = "timestamp,platform,marketplace,views,revenue\n"


def _views(hour: datetime, rng: np.random.Generator) -> float:
    return 1000 + 400 * np.cos(2 * np.pi * hour.hour / 24) + rng.normal(0, 20)


def _rows(hour: datetime, rng: np.random.Generator, factor: dict[str, float] | None = None) -> str:
    lines = []
    for platform, market in COMBOS:
        views = _views(hour, rng) * (factor or {}).get(platform, 1.0)
        lines.append(
            f"{hour:%Y-%m-%d %H:%M:%S},{platform},{market},{views:.0f},{views * 0.3:.2f}\n"
        )
    return "".join(lines)


def test_real_model_is_quiet_on_normal_data_and_alerts_on_a_spike() -> None:
    # Given two weeks of hourly history with a daily cycle
    rng = np.random.default_rng(3)
    store = MemoryObjectStore("test-bucket")
    for day in range(DAYS):
        body = HEADER + "".join(_rows(START + timedelta(days=day, hours=h), rng) for h in range(24))
        store.put(f"shop/historical/day_{day:02d}", body.encode())
    params = make_params(alert_threshold=70)
    report = build_detector(params, store, now=START + timedelta(days=DAYS))
    assert report.series == 6 and report.intervals == DAYS * 24
    # The model state is small: a few KB per series
    pointer = json.loads(store.get("shop/detector/model/current.json").body)
    assert len(store.get(pointer["state_key"]).body) < 10_000 * report.series
    # When a normal hour and then a hour with web views tripled are scored
    quiet_start = START + timedelta(days=DAYS)
    store.put(
        f"shop/live/{quiet_start:%Y%m%d}/{quiet_start:%H%M}/part_000",
        (HEADER + _rows(quiet_start, rng)).encode(),
    )
    quiet = score_interval(params, store, Interval(quiet_start, quiet_start + timedelta(hours=1)))
    spike_start = quiet_start + timedelta(hours=1)
    store.put(
        f"shop/live/{spike_start:%Y%m%d}/{spike_start:%H%M}/part_000",
        (HEADER + _rows(spike_start, rng, {"web": 3.0})).encode(),
    )
    began = time.perf_counter()
    spike = score_interval(params, store, Interval(spike_start, spike_start + timedelta(hours=1)))
    elapsed = time.perf_counter() - began
    # Then the quiet hour raises nothing and the spike one group for platform=web
    assert quiet["status"] == "scored" and quiet["anomaly_groups"] == 0
    assert spike["anomaly_groups"] == 1 and spike["max_severity"] >= 70
    group = json.loads(store.get(spike["anomalies_key"]).body.splitlines()[0])
    assert group["group_by"] == {"platform": "web"}
    assert {s["dimensions"]["marketplace"] for s in group["series"]} == {"us", "de"}
    assert elapsed < 2.0
    assert (
        DetectorModel.from_bytes(
            store.get(
                json.loads(store.get("shop/detector/model/current.json").body)["state_key"]
            ).body
        ).n_series
        == 6
    )


def test_opening_hours_do_not_alert_after_a_daylight_saving_change() -> None:
    # Given shops in New York open 09:00-17:00 local time, four weeks of history that
    # ends the night before clocks spring forward (8 March 2026)
    ny = ZoneInfo("America/New_York")
    rng = np.random.default_rng(5)
    store = MemoryObjectStore("test-bucket")
    first = datetime(2026, 2, 8, tzinfo=ny)
    change = datetime(2026, 3, 8, tzinfo=ny)

    def hour_rows(start: datetime) -> str:
        local = start.astimezone(ny)
        open_now = 9 <= local.hour < 17
        return "".join(
            f"{local:%Y-%m-%d %H}:30:00,{platform},{market},"
            f"{(400 if open_now else 100) * (1 + rng.normal(0, 0.03)):.2f},1\n"
            for platform, market in COMBOS
        )

    hour = first.astimezone(UTC)
    day_rows: list[str] = []
    while hour < change.astimezone(UTC):
        day_rows.append(hour_rows(hour))
        hour += timedelta(hours=1)
    store.put("shop/historical/history", (HEADER + "".join(day_rows)).encode())
    params = make_params(alert_threshold=70, detector={"timezone": "America/New_York"})
    build_detector(params, store, now=change)

    # When the three days after the change are scored hour by hour (9 o'clock is now an
    # hour earlier in UTC)
    severities: dict[str, float] = {}
    while hour < (change + timedelta(days=3)).astimezone(UTC):
        local = hour.astimezone(ny)
        store.put(
            f"shop/live/{local:%Y%m%d}/{local:%H%M}/part_000",
            (HEADER + hour_rows(hour)).encode(),
        )
        result = score_interval(params, store, Interval(local, local + timedelta(hours=1)))
        assert result["status"] == "scored"
        severities[f"{local:%d %H:%M}"] = result["max_severity"]
        hour += timedelta(hours=1)

    # Then opening and closing at the usual local hours raise nothing to alert on (by the
    # UTC clock, every 09:00 and 17:00 scored 88-100)
    assert len(severities) == 71
    assert max(severities.values()) < params.alert_threshold, severities
