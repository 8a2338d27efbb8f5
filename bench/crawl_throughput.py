"""Historical-crawl throughput: the emulated UNLOAD path against DuckDB's own ceiling.

For each warehouse size (rows of the demo ``ecommerce`` table) this measures three ways
of turning the historical query into CSV:

* ``copy``     DuckDB ``COPY (query) TO 'file.csv' (HEADER)`` of the whole range: the
               ceiling, nothing between the engine and the file.
* ``unload``   what the historical crawl does offline: ``render_unload`` for every chunk
               of ``plan_chunks`` (params.json's ``chunk_intervals``), submitted to the
               Redshift Data API emulation (``DuckDBDataApi`` over the same DuckDB file,
               2 workers), each UNLOAD transpiled by sqlglot, run as ``COPY`` and uploaded
               to moto's S3 under Redshift's file names; timed from the first submit to
               the last FINISHED, and the bytes counted in the bucket.
* ``unload, tuned S3 client``  the same, with the two settings the runtime should use
               for its emulated S3: ``request_checksum_calculation="when_required"`` (by
               default botocore streams a file body with aws-chunked encoding and a
               trailing CRC, which moto decodes in pure Python: 5 s per 100 MB) and
               ``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE`` large enough to keep objects in memory
               instead of spilling every one over 5 MB to a temporary file.
* ``unload, direct to moto``  a prototype of the next step: UNLOAD's files handed to
               moto's S3 backend in-process (no botocore request, no HTTP parsing), as
               a hook in ``connector/local/moto_hooks.py`` could do.
* ``naive``    fetch the rows into Python (``fetchmany``) and write them with
               ``csv.writer``: what a crawler without UNLOAD would do.

Run from the repository root::

    .venv/bin/python bench/crawl_throughput.py --rows 1000000 10000000

It prints a Markdown table (rows/s and MB/s per path, and unload as a share of copy).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from unittest import mock

import boto3
import duckdb
from botocore.config import Config
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from connector.config import Params, load_params
from connector.intervals import Interval, plan_chunks
from connector.local.demo_warehouse import MARKETPLACES, PLATFORMS, generate
from connector.local.redshift_data import DuckDBDataApi, transpile
from connector.sql import render_query, render_unload

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, tzinfo=UTC)
DAYS = 92
BUCKET = "bench-crawl"
ROLE = "arn:aws:iam::123456789012:role/bench-unload"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the best counts")
    parser.add_argument("--skip-naive-above", type=int, default=20_000_000)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, duckdb {duckdb.__version__}, {os.cpu_count()} cpus")
    print()
    print("| warehouse rows | path | rows/s | MB/s | seconds | bucket MB | share of copy |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for target in args.rows:
        with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
            results = bench(Path(tmp), target, args.repeat, naive=target <= args.skip_naive_above)
        ceiling = results[0].rows_per_second
        for result in results:
            print(
                f"| {result.rows:,} | {result.path} | {result.rows_per_second:,.0f} | "
                f"{result.mb_per_second:,.1f} | {result.seconds:.2f} | {result.bytes / 1e6:,.1f} "
                f"| {result.rows_per_second / ceiling:.0%} |"
            )
            sys.stdout.flush()


def bench(tmp: Path, target_rows: int, repeat: int, *, naive: bool) -> list[Result]:
    series_hours = DAYS * 24 * len(PLATFORMS) * len(MARKETPLACES)
    info = generate(
        tmp / "warehouse.duckdb",
        start=START,
        days=DAYS,
        anomalies=False,
        scale=max(1, math.ceil(target_rows / series_hours)),
    )
    params = load_params(REPO / "params.json").model_copy(update={"s3_bucket": BUCKET})
    window = Interval(info.start, info.end)
    query, _ = transpile(render_query("ecommerce.sql.j2", window=window, params=params))
    results = [best(repeat, lambda: copy_path(info.path, query, tmp / "copy.csv"))]
    for s3_path in ("default", "tuned", "direct"):
        results.append(
            best(
                repeat, lambda s3_path=s3_path: unload_path(info.path, params, window, tmp, s3_path)
            )
        )
    if naive:
        results.append(best(1, lambda: naive_path(info.path, query, tmp / "naive.csv")))
    return results


def best(repeat: int, run: Callable[[], Result]) -> Result:
    return min((run() for _ in range(repeat)), key=lambda r: r.seconds)


def copy_path(database: Path, query: str, target: Path) -> Result:
    with duckdb.connect(str(database), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        began = time.perf_counter()
        rows = con.execute(f"COPY ({query}) TO '{target}' (HEADER, FORMAT csv)").fetchone()[0]
        seconds = time.perf_counter() - began
    return Result("copy (ceiling)", int(rows), target.stat().st_size, seconds)


def unload_path(
    database: Path, params: Params, window: Interval, tmp: Path, s3_path: str
) -> Result:
    chunks = plan_chunks(
        window.start,
        window.end,
        params.frequency,
        params.timezone,
        params.crawl.chunk_intervals,
    )
    tuned = s3_path != "default"
    config = Config(request_checksum_calculation="when_required") if tuned else None
    buffer = {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1 << 31)} if tuned else {}
    with mock_aws(), mock.patch.dict(os.environ, buffer):
        s3 = boto3.client("s3", region_name="us-east-1", config=config)
        s3.create_bucket(Bucket=BUCKET)
        target = _DirectS3(s3) if s3_path == "direct" else s3
        statements = [
            render_unload(params, "historical", chunk, bucket=BUCKET, role_arn=ROLE)
            for chunk in chunks
        ]
        with DuckDBDataApi(database, s3=target, workers=2, read_only=True, scratch_dir=tmp) as api:
            began = time.perf_counter()
            ids = [
                api.execute_statement(Sql=sql, Database="dev", ClusterIdentifier="bench")["Id"]
                for sql in statements
            ]
            described = [api.wait(statement_id, timeout=600) for statement_id in ids]
            seconds = time.perf_counter() - began
        failed = [d for d in described if d["Status"] != "FINISHED"]
        if failed:
            raise SystemExit(f"UNLOAD failed: {failed[0].get('Error')}")
        objects = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        size = sum(o["Size"] for page in objects for o in page.get("Contents", []))
    rows = sum(int(d["ResultRows"]) for d in described)
    client = {
        "default": "default S3 client",
        "tuned": "tuned S3 client",
        "direct": "direct to moto's backend",
    }[s3_path]
    return Result(
        f"unload: {len(chunks)} chunks, Data API emulation, {client}", rows, size, seconds
    )


class _DirectS3:
    """The two S3 calls UNLOAD makes, with ``put_object`` going straight into moto's backend."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def list_objects_v2(self, **kwargs: Any) -> Any:
        return self._client.list_objects_v2(**kwargs)

    def put_object(self, *, Bucket: str, Key: str, Body: BinaryIO) -> None:
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(Bucket, Key, Body.read())


def naive_path(database: Path, query: str, target: Path) -> Result:
    with duckdb.connect(str(database), read_only=True) as con, target.open("w", newline="") as out:
        con.execute("SET TimeZone = 'UTC'")
        began = time.perf_counter()
        cursor = con.execute(query)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([d[0] for d in cursor.description])
        rows = 0
        while batch := cursor.fetchmany(100_000):
            writer.writerows(batch)
            rows += len(batch)
        seconds = time.perf_counter() - began
    return Result("naive (fetch rows + csv.writer)", rows, target.stat().st_size, seconds)


if __name__ == "__main__":
    main()
