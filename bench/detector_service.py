"""Speed and memory of the detector service around the model: cold start, scoring, training input.

    .venv/bin/python bench/detector_service.py cold
    .venv/bin/python bench/detector_service.py score --combinations 25000
    .venv/bin/python bench/detector_service.py history --combinations 25000 --intervals 250

``score``: one PT1H interval of ``combinations`` x 2 measures series (50,000 series
at 25,000 combinations), 6 rows per combination (150,000 records, the service's
per-interval maximum) in 3 CSV files, through :func:`score_interval` end to end —
state and series load, CSV parse, aggregation, model, anomaly groups, state write —
on an in-memory store, after a build on a short synthetic history.
Machines are shared: CPU seconds (one core) are the comparable figure.
``history``: the training input path (:func:`read_history`) over ``intervals``
hourly files of one row per combination. ``cold``: a fresh interpreter importing
each handler module, as a Lambda cold start does. Peak RSS is the process's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.config import load_params  # noqa: E402
from connector.detector.data import DatasetSpec, read_history  # noqa: E402
from connector.detector.service import build_detector, score_interval  # noqa: E402
from connector.intervals import Interval  # noqa: E402
from connector.storage import MemoryObjectStore  # noqa: E402

BUCKET = "bench-bucket"
START = datetime(2024, 1, 1, tzinfo=UTC)
HEADER = "timestamp,platform,marketplace,views,revenue\n"


def _params():  # type: ignore[no-untyped-def]
    return load_params(ROOT / "tests/data/original_params.json").with_deployment(
        BUCKET, "arn:aws:iam::123456789012:role/bench"
    )


def _names(combinations: int) -> tuple[np.ndarray, np.ndarray]:
    platforms = np.array([f"p{i // 100:04d}" for i in range(combinations)])
    markets = np.array([f"m{i % 100:02d}" for i in range(combinations)])
    return platforms, markets


def _csv(
    hour: datetime,
    platforms: np.ndarray,
    markets: np.ndarray,
    rows_each: int,
    rng: np.random.Generator,
) -> bytes:
    n = len(platforms)
    lines = [HEADER]
    for r in range(rows_each):
        stamp = (hour + timedelta(minutes=r * 60 // rows_each)).strftime("%Y-%m-%d %H:%M:%S")
        views = rng.poisson(100, n)
        lines.extend(
            f"{stamp},{p},{m},{v},{v * 0.3:.2f}\n"
            for p, m, v in zip(platforms.tolist(), markets.tolist(), views.tolist(), strict=True)
        )
    return "".join(lines).encode()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_cold() -> dict[str, float]:
    results = {}
    for module in ("lambdas.build_detector", "lambdas.score_interval"):
        code = (
            "import time; t = time.perf_counter(); "
            f"import {module}; import connector.detector.model; "
            "print(time.perf_counter() - t)"
        )
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(5)
        ]
        results[module] = round(min(runs), 3)
    return results


def bench_score(combinations: int, history: int) -> dict[str, float]:
    rng = np.random.default_rng(1)
    params = _params()
    store = MemoryObjectStore(BUCKET)
    platforms, markets = _names(combinations)
    for h in range(history):
        hour = START + timedelta(hours=h)
        store.put(
            f"{params.data_prefix}/historical/h{h:05d}", _csv(hour, platforms, markets, 1, rng)
        )
    began = time.perf_counter()
    build_detector(params, store, now=START + timedelta(hours=history))
    build_seconds = time.perf_counter() - began
    hour = START + timedelta(hours=history)
    third = combinations // 3
    folder = f"{params.data_prefix}/live/{hour:%Y%m%d}/{hour:%H%M}"
    for part, lo in enumerate(range(0, combinations, third)):
        store.put(
            f"{folder}/part_{part:03d}",
            _csv(hour, platforms[lo : lo + third], markets[lo : lo + third], 6, rng),
        )
    pointer = json.loads(store.get(f"{params.data_prefix}/detector/model/current.json").body)
    state_bytes = len(store.get(pointer["state_key"]).body)
    began, cpu = time.perf_counter(), time.process_time()
    summary = score_interval(params, store, Interval(hour, hour + timedelta(hours=1)))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {
        "series": summary["series"],
        "rows": summary["rows"],
        "history_intervals": history,
        "build_seconds": round(build_seconds, 2),
        "score_seconds": round(seconds, 2),
        "score_cpu_seconds": round(cpu, 2),
        "state_bytes_per_series": round(state_bytes / summary["series"], 1),
        "anomaly_groups": summary["anomaly_groups"],
        "peak_rss_mb": round(_peak_mb()),
    }


def bench_history(combinations: int, intervals: int) -> dict[str, float]:
    rng = np.random.default_rng(2)
    params = _params()
    store = MemoryObjectStore(BUCKET)
    platforms, markets = _names(combinations)
    for h in range(intervals):
        store.put(
            f"{params.data_prefix}/historical/h{h:05d}",
            _csv(START + timedelta(hours=h), platforms, markets, 1, rng),
        )
    before = _peak_mb()
    began, cpu = time.perf_counter(), time.process_time()
    table = read_history(store, params.historical_path, DatasetSpec.from_params(params))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    rows = combinations * intervals
    return {
        "series": table.values.shape[0],
        "intervals": table.values.shape[1],
        "rows": rows,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "rows_per_cpu_second": round(rows / cpu),
        "peak_rss_mb_before": round(before),
        "peak_rss_mb": round(_peak_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["cold", "score", "history"])
    parser.add_argument("--combinations", type=int, default=25_000)
    parser.add_argument("--intervals", type=int, default=250)
    parser.add_argument("--history", type=int, default=60)
    args = parser.parse_args()
    if args.what == "cold":
        result = bench_cold()
    elif args.what == "score":
        result = bench_score(args.combinations, args.history)
    else:
        result = bench_history(args.combinations, args.intervals)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
