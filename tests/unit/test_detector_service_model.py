"""The service with the real built-in model: seasonal history, a quiet hour, a spike."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

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
