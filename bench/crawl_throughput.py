"""Historical-crawl throughput, end to end, against DuckDB's own ceiling.

For each warehouse size (rows of the demo ``ecommerce`` table, 92 days × 21 series,
``scale`` rows per series-hour) this measures three ways of turning the historical
query of the whole range into CSV:

* ``copy``    DuckDB ``COPY (query) TO 'file.csv' (HEADER)`` of the rendered demo SELECT
              (``queries/ecommerce.sql.j2`` over the whole range, transpiled to DuckDB):
              the ceiling, nothing between the engine and the file.
* ``end to end``  the product offline: :class:`~connector.local.runtime.LocalRuntime`
              runs the REAL synthesized historical-crawl state machine
              (``run_historical(start, end, build_detector=False)``) in moto's Step
              Functions interpreter: plan Lambda, Map over the chunks, one Redshift
              Data API UNLOAD per chunk on the DuckDB emulation (``statement_workers``
              threads), files written straight into moto's S3 backend
              (``connector/local/moto_hooks.py``), poll loop, finish Lambda. Timed from
              StartExecution to SUCCEEDED; rows are the UNLOADs' ``ResultRows``, MB the
              objects under the historical prefix of the emulated bucket. Synthesis and
              runtime start-up (moto, resources) are timed separately: they are paid
              once per deployment / process, not per crawl.
* ``naive``   fetch the rows into Python (``fetchmany``) and write them with
              ``csv.writer``: what a crawler without UNLOAD would do.

Run from the repository root::

    .venv/bin/python bench/crawl_throughput.py --rows 1000000 10000000 --repeat 3

It prints the environment, the fixed costs and a Markdown table (best of ``--repeat``
runs for copy and end to end; naive runs once, it is an order of magnitude slower).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb

from connector.config import load_params
from connector.intervals import Interval
from connector.local.demo_warehouse import MARKETPLACES, PLATFORMS, generate
from connector.local.redshift_data import transpile
from connector.local.runtime import LocalRuntime
from connector.sql import render_query

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 92


@dataclass(frozen=True)
class Result:
    path: str
    rows: int
    bytes: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds


@dataclass(frozen=True)
class EndToEnd:
    result: Result
    startup_seconds: float
    """LocalRuntime.__enter__: moto, the stack's resources, the Data API emulation."""
    chunks: int
    unload_seconds: float
    """From the first UNLOAD's submission to the last one's end: the warehouse's share."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the best counts")
    parser.add_argument(
        "--chunk-intervals",
        type=int,
        default=None,
        help="crawl.chunk_intervals (default: the repository's params.json, 720 hours)",
    )
    parser.add_argument("--statement-workers", type=int, default=2)
    parser.add_argument("--skip-naive-above", type=int, default=20_000_000)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, duckdb {duckdb.__version__}, "
        f"moto {version('moto')}, boto3 {version('boto3')}, sqlglot {version('sqlglot')}, "
        f"{os.cpu_count()} cpus, loadavg {_loadavg()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as root:
        params_path = _write_params(Path(root) / "params.json", args.chunk_intervals)
        began = time.perf_counter()
        template = _synth(params_path)
        print(f"synthesis (once, CDK app in jsii): {time.perf_counter() - began:.1f} s")
        rows_table: list[str] = []
        for target in args.rows:
            tmp = Path(root) / f"rows-{target}"
            tmp.mkdir()
            results, detail = bench(
                tmp,
                params_path,
                template,
                target,
                args.repeat,
                statement_workers=args.statement_workers,
                naive=target <= args.skip_naive_above,
            )
            print(f"{target:,} rows: {detail}")
            ceiling = results[0].seconds
            rows_table += [
                f"| {r.rows:,} | {r.path} | {r.rows_per_second:,.0f} | {r.mb_per_second:,.1f} | "
                f"{r.seconds:.2f} | {r.bytes / 1e6:,.1f} | {ceiling / r.seconds:.0%} |"
                for r in results
            ]
            sys.stdout.flush()
    print(f"loadavg after: {_loadavg()}")
    print()
    print("| warehouse rows | path | rows/s | MB/s | seconds | bucket MB | share of COPY |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows_table))


def bench(
    tmp: Path,
    params_path: Path,
    template: dict[str, Any],
    target_rows: int,
    repeat: int,
    *,
    statement_workers: int,
    naive: bool,
) -> tuple[list[Result], str]:
    series_hours = DAYS * 24 * len(PLATFORMS) * len(MARKETPLACES)
    info = generate(
        tmp / "warehouse.duckdb",
        start=START,
        days=DAYS,
        anomalies=False,
        scale=max(1, math.ceil(target_rows / series_hours)),
    )
    params = load_params(params_path)
    window = Interval(info.start, info.end)
    query, _ = transpile(render_query("ecommerce.sql.j2", window=window, params=params))
    copies = [copy_path(info.path, query, tmp / "copy.csv") for _ in range(repeat)]
    copy = min(copies, key=lambda r: r.seconds)
    runs = [
        end_to_end(params_path, template, info.path, window, tmp / f"run-{i}", statement_workers)
        for i in range(repeat)
    ]
    fastest = min(runs, key=lambda run: run.result.seconds)
    if fastest.result.rows != copy.rows:
        raise SystemExit(f"end to end crawled {fastest.result.rows} rows, COPY {copy.rows}")
    startups = sorted(run.startup_seconds for run in runs)
    detail = (
        f"runtime start-up {startups[0]:.2f}–{startups[-1]:.2f} s over {len(runs)} runs; "
        f"fastest crawl {fastest.result.seconds:.2f} s, of which UNLOADs (first submitted "
        f"to last ended) {fastest.unload_seconds:.2f} s, orchestration around them "
        f"{fastest.result.seconds - fastest.unload_seconds:.2f} s; all crawls "
        f"{_seconds(run.result for run in runs)}, all COPYs {_seconds(copies)}"
    )
    results = [copy, fastest.result]
    if naive:
        results.append(naive_path(info.path, query, tmp / "naive.csv"))
    return results, detail


def _seconds(results: Iterable[Result]) -> str:
    return " ".join(f"{r.seconds:.3f}" for r in results) + " s"


def copy_path(database: Path, query: str, target: Path) -> Result:
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        began = time.perf_counter()
        row = con.execute(f"COPY ({query}) TO '{target}' (HEADER, FORMAT csv)").fetchone()
        seconds = time.perf_counter() - began
    assert row is not None
    return Result("COPY … TO (ceiling)", int(row[0]), target.stat().st_size, seconds)


def end_to_end(
    params_path: Path,
    template: dict[str, Any],
    warehouse: Path,
    window: Interval,
    workdir: Path,
    statement_workers: int,
) -> EndToEnd:
    unloads: list[dict[str, Any]] = []
    began = time.perf_counter()
    with LocalRuntime(
        params_path,
        warehouse,
        workdir,
        template=template,
        statement_workers=statement_workers,
    ) as runtime:
        startup = time.perf_counter() - began
        # Called on the statement's worker thread; list.append is atomic.
        runtime.data_api.add_listener(
            lambda d: unloads.append(d) if "UNLOAD" in d["QueryString"].upper() else None
        )
        result = runtime.run_historical(window.start, window.end, build_detector=False)
        if not result.succeeded:
            raise SystemExit(f"historical crawl {result.status}: {result.error}: {result.cause}")
        prefix = f"{runtime.params.data_prefix}/historical/"
        pages = runtime.client("s3").get_paginator("list_objects_v2")
        objects = [
            o
            for page in pages.paginate(Bucket=runtime.data_bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        ]
    failed = [d for d in unloads if d["Status"] != "FINISHED"]
    if failed:
        raise SystemExit(f"an UNLOAD ended {failed[0]['Status']}: {failed[0].get('Error')}")
    chunks = int(result.output["chunks"])
    rows = sum(int(d["ResultRows"]) for d in unloads)
    size = sum(int(o["Size"]) for o in objects)
    path = (
        f"end to end: historical state machine, {chunks} chunks → "
        f"{len(objects)} objects, {statement_workers} statement workers"
    )
    span = max(d["UpdatedAt"] for d in unloads) - min(d["CreatedAt"] for d in unloads)
    return EndToEnd(
        Result(path, rows, size, result.duration), startup, chunks, span.total_seconds()
    )


def naive_path(database: Path, query: str, target: Path) -> Result:
    with duckdb.connect(str(database), read_only=True) as con, target.open("w", newline="") as out:
        con.execute("SET TimeZone = 'UTC'")
        began = time.perf_counter()
        cursor = con.execute(query)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([d[0] for d in cursor.description or []])
        rows = 0
        while batch := cursor.fetchmany(100_000):
            writer.writerows(batch)
            rows += len(batch)
        seconds = time.perf_counter() - began
    return Result("naive (fetchmany + csv.writer, once)", rows, target.stat().st_size, seconds)


def _write_params(path: Path, chunk_intervals: int | None) -> Path:
    """The repository's params.json, its queries_dir made absolute, chunking as asked."""
    params = json.loads((REPO / "params.json").read_text(encoding="utf-8"))
    params.pop("$schema", None)
    params["warehouse"]["cluster_identifier"] = "local-cluster"
    params["crawl"]["queries_dir"] = str(REPO / "queries")
    if chunk_intervals is not None:
        params["crawl"]["chunk_intervals"] = chunk_intervals
    path.write_text(json.dumps(params, indent=2), encoding="utf-8")
    return path


def _synth(params_path: Path) -> dict[str, Any]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
    from connector.infra.synth import synth_template

    return synth_template(params_path, bundle=False)


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
