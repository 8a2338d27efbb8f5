"""Time the SQL path the crawlers take per window: render + UNLOAD build, and the split.

Usage: .venv/bin/python bench/bench_sql.py [N]
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config import params_from_json
from connector.intervals import Interval
from connector.sql import check_output_columns, render_unload, split_unload

REPO = Path(__file__).resolve().parents[1]


def main(n: int) -> None:
    data = json.loads((REPO / "params.json").read_text())
    data["s3_bucket"] = "demo-bucket"
    params = params_from_json(json.dumps(data), base_dir=REPO)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    windows = [
        Interval(start + timedelta(hours=i), start + timedelta(hours=i + 1)) for i in range(n)
    ]
    role = "arn:aws:iam::123456789012:role/RedshiftUnload"

    began = time.perf_counter()
    statements = [render_unload(params, "continuous", w, role_arn=role) for w in windows]
    rendered = time.perf_counter() - began

    began = time.perf_counter()
    parts = [split_unload(s) for s in statements]
    split = time.perf_counter() - began

    began = time.perf_counter()
    for p in parts[: min(n, 200)]:
        check_output_columns(p.query, ["timestamp", "platform", "marketplace", "views", "revenue"])
    checked = (time.perf_counter() - began) / min(n, 200)

    print(f"windows: {n}")
    print(f"render_unload: {rendered / n * 1e3:.2f} ms/statement ({rendered:.2f} s total)")
    print(f"split_unload:  {split / n * 1e3:.2f} ms/statement ({split:.2f} s total)")
    print(f"check_output_columns: {checked * 1e3:.2f} ms/query")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
