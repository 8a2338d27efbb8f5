"""Golden files: the demo template and its UNLOADs, byte for byte.

A change to the template, the escaping or the UNLOAD options shows up here as a diff a
reviewer can read. After an intended change, regenerate with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_sql_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.config import Params, params_from_json
from connector.intervals import Interval
from connector.sql import render_query, render_unload, split_unload

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
ORIGINAL = REPO / "tests" / "data" / "original_params.json"
ROLE = "arn:aws:iam::123456789012:role/RedshiftUnload"
HOUR = Interval(datetime(2024, 3, 1, 10, tzinfo=UTC), datetime(2024, 3, 1, 11, tzinfo=UTC))
CHUNK = Interval(datetime(2024, 1, 31, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def demo_params(**csv: Any) -> Params:
    """The 2022 sample deployed to demo-bucket under the 'ecommerce' prefix."""
    data = json.loads(ORIGINAL.read_text())
    data["s3_bucket"] = "demo-bucket"
    source = data["metric_source"]["S3SourceConfig"]
    source["HistoricalDataPathList"] = [""]
    source["TemplatedPathList"] = [""]
    source["FileFormatDescriptor"]["CsvFormatDescriptor"].update(csv)
    data["crawl"] = {"prefix": "ecommerce"}
    if csv:
        data["timestamp_column"]["ColumnFormat"] = "yyyy-MM-dd'T'HH:mm:ss'Z'"
    return params_from_json(json.dumps(data), base_dir=REPO)


CASES = {
    "ecommerce_continuous.sql": lambda: (
        render_query("ecommerce.sql.j2", window=HOUR, params=demo_params()) + "\n"
    ),
    "ecommerce_historical.sql": lambda: (
        render_query("ecommerce.sql.j2", window=CHUNK, params=demo_params()) + "\n"
    ),
    "unload_continuous.sql": lambda: (
        render_unload(demo_params(), "continuous", HOUR, role_arn=ROLE) + ";\n"
    ),
    "unload_historical.sql": lambda: (
        render_unload(demo_params(), "historical", CHUNK, role_arn=ROLE) + ";\n"
    ),
    "unload_gzip_pipe_iso.sql": lambda: (
        render_unload(
            demo_params(Delimiter="|", FileCompression="GZIP"), "continuous", HOUR, role_arn=ROLE
        )
        + ";\n"
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    # Given the demo params and a fixed window
    # When the template or statement is rendered
    rendered = CASES[name]()
    path = GOLDEN / name
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    # Then it is exactly the reviewed golden file
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 to create it"
    assert rendered == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("unload", "query"),
    [
        ("unload_continuous.sql", "ecommerce_continuous.sql"),
        ("unload_historical.sql", "ecommerce_historical.sql"),
    ],
)
def test_golden_unloads_split_back_into_the_golden_queries(unload: str, query: str) -> None:
    # Given a golden UNLOAD and the golden SELECT of the same window
    parts = split_unload((GOLDEN / unload).read_text(encoding="utf-8"))
    # Then the tokenizer recovers exactly that SELECT from the UNLOAD literal
    assert parts.query + "\n" == (GOLDEN / query).read_text(encoding="utf-8")
