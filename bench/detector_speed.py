"""Speed and size of the built-in detector at the old service's scale (50,000 series).

Measures, on one process (numpy runs element-wise operations on one core):

* training on ``--intervals`` x ``--series`` (time, peak memory);
* state size per series, for every frequency;
* a cold scoring step: load the state from bytes, score one interval, serialise again.

    .venv/bin/python bench/detector_speed.py --series 50000 --intervals 2500
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from connector.detector.model import DetectorModel


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def history(n_series: int, n_intervals: int, seed: int = 0) -> np.ndarray:
    """Hourly series with a daily cycle and noise, generated in place to bound memory."""
    rng = np.random.default_rng(seed)
    values = np.empty((n_series, n_intervals))
    daily = 1 + 0.4 * np.sin(2 * np.pi * (np.arange(n_intervals) % 24 - 6) / 24).clip(0)
    base = rng.uniform(10, 1000, size=n_series)
    for lo in range(0, n_series, 5000):
        hi = min(lo + 5000, n_series)
        block = rng.normal(0, 0.05, (hi - lo, n_intervals))
        block += daily
        block *= base[lo:hi, None]
        values[lo:hi] = block
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=50_000)
    parser.add_argument("--intervals", type=int, default=2_500)
    args = parser.parse_args()

    start = np.datetime64("2026-01-05T00:00:00", "s")
    starts = start + np.arange(args.intervals) * np.timedelta64(3600, "s")
    began = time.perf_counter()
    values = history(args.series, args.intervals)
    print(
        f"history: {args.series:,} series x {args.intervals:,} hourly intervals "
        f"({values.nbytes / 1e9:.2f} GB float64), generated in {time.perf_counter() - began:.1f} s"
    )
    rss_before = peak_rss_mb()
    began = time.perf_counter()
    model = DetectorModel.fit(values, starts, "PT1H")
    fit_s = time.perf_counter() - began
    print(
        f"fit: {fit_s:.1f} s ({fit_s / args.intervals * 1000:.1f} ms per interval); "
        f"peak RSS {peak_rss_mb():,.0f} MB (history alone {values.nbytes / 2**20:,.0f} MB, "
        f"before fit {rss_before:,.0f} MB)"
    )

    state = model.to_bytes()
    print(f"state PT1H: {len(state) / 2**20:.1f} MB, {len(state) / args.series:,.0f} B per series")
    for frequency in ("PT5M", "PT10M", "P1D"):
        size = len(DetectorModel(frequency, 1000).to_bytes()) / 1000
        print(f"state {frequency}: {size:,.0f} B per series")

    nxt = starts[-1] + np.timedelta64(3600, "s")
    row = values[:, 0].copy()
    del values
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        loaded = DetectorModel.from_bytes(state)
        load_s = time.perf_counter() - began
        result = loaded.score_update(row, nxt)
        score_s = time.perf_counter() - began - load_s
        saved = loaded.to_bytes()
        total_s = time.perf_counter() - began
        timings.append((load_s, score_s, total_s))
    load_s, score_s, total_s = min(timings, key=lambda t: t[2])
    print(
        f"score one interval of {args.series:,} series: load {load_s:.2f} s + score "
        f"{score_s:.2f} s + save {total_s - load_s - score_s:.2f} s = {total_s:.2f} s "
        f"(best of 3; {int((result.status == 'ok').sum()):,} ok, {len(saved):,} B saved)"
    )
    print(f"peak RSS overall {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
