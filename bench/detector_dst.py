"""Daylight-saving changes: does a local-time daily pattern alert after the clocks move?

Synthetic New York series (shops open 09:00-17:00 local time, busier on weekdays, 5 %
noise) over 12 weeks of hourly data with the spring-forward change of 8 March 2026 in
week 10. The built-in model is trained on the 8 weeks before the week before the
change, then scores the rest interval by interval, once with the UTC clock (how the
service indexed seasons before 2026-11-24) and once with the detector zone's wall clock
(``connector.detector.data.wall_clock``, what the service passes now). Counts the
interval scores at or above the alert threshold in the week before the change and in
the weeks after it.

Run from the repository root::

    .venv/bin/python bench/detector_dst.py --series 50
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from connector.detector.data import wall_clock
from connector.detector.model import DetectorModel

NEW_YORK = ZoneInfo("America/New_York")
FIRST = datetime(2026, 1, 5, 5, tzinfo=UTC)  # Monday 00:00 in New York
CHANGE = datetime(2026, 3, 8, 7, tzinfo=UTC)  # 03:00 EDT, the first hour after it
WEEK = 24 * 7


def series(n_series: int, hours: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    starts = [FIRST + timedelta(hours=i) for i in range(hours)]
    local = [t.astimezone(NEW_YORK) for t in starts]
    opened = np.array([9 <= t.hour < 17 for t in local])
    weekday = np.array([t.weekday() < 5 for t in local])
    base = 100 + 300 * opened + 20 * weekday
    values = base[None, :] * (1 + 0.05 * rng.standard_normal((n_series, hours)))
    utc = np.array([np.datetime64(t.replace(tzinfo=None), "s") for t in starts])
    return values, utc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--threshold", type=float, default=70.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    values, utc = series(args.series, args.weeks * WEEK, args.seed)
    change = int(np.searchsorted(utc, np.datetime64(CHANGE.replace(tzinfo=None), "s")))
    train_end = change - WEEK
    print(f"{args.series} series, {args.weeks} weeks hourly, change at interval {change}")
    print("| clock | scores ≥ threshold, week before | after the change | after, ≥ 50 |")
    print("|---|---:|---:|---:|")
    for name, clock in (("UTC", utc), ("wall (New York)", wall_clock(utc, NEW_YORK))):
        model = DetectorModel.fit(values[:, :train_end], clock[:train_end], "PT1H")
        scores = np.stack(
            [
                model.score_update(values[:, t], clock[t]).score
                for t in range(train_end, values.shape[1])
            ],
            axis=1,
        )
        before, after = scores[:, :WEEK], scores[:, WEEK:]
        print(
            f"| {name} | {int((before >= args.threshold).sum())} | "
            f"{int((after >= args.threshold).sum())} | {int((after >= 50).sum())} |"
        )


if __name__ == "__main__":
    main()
