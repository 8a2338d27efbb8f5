"""Fixtures of the end-to-end tests: the synthesized app, a small warehouse, params.

Synthesis is the slow part (the CDK app runs in a jsii Node process), so the template
is synthesized once per test run and shared between xdist workers through a file in
pytest's shared temporary root, guarded by a file lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.local.demo_warehouse import generate

REPO = Path(__file__).resolve().parents[2]
WAREHOUSE_START = datetime(2026, 1, 1, tzinfo=UTC)
WAREHOUSE_DAYS = 3
# A dimension value that needs CSV quoting: a delimiter and a quote character.
AWKWARD_MARKETPLACE = 'us, "east"'


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def warehouse_start() -> datetime:
    return WAREHOUSE_START


@pytest.fixture(scope="session")
def awkward_marketplace() -> str:
    return AWKWARD_MARKETPLACE


@pytest.fixture(scope="session")
def params_writer() -> Callable[..., Path]:
    return write_params


def write_params(path: Path, *, queries_dir: Path, chunk_intervals: int = 12) -> Path:
    """The repository's params.json, pointed at a local cluster and ``queries_dir``."""
    params = json.loads((REPO / "params.json").read_text(encoding="utf-8"))
    params.pop("$schema", None)
    params["warehouse"]["cluster_identifier"] = "local-cluster"
    params["crawl"]["queries_dir"] = str(queries_dir)
    params["crawl"]["chunk_intervals"] = chunk_intervals
    path.write_text(json.dumps(params, indent=2), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def e2e_params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("params")
    return write_params(folder / "params.json", queries_dir=REPO / "queries")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, e2e_params: Path) -> dict[str, Any]:
    # Under xdist each worker's base temp is a child of this run's own folder; without
    # xdist the base temp is that folder (its parent outlives the run: no stale cache).
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cached = shared / "e2e-template.json"
    with (shared / "e2e-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.exists():
            os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
            from connector.infra.synth import synth_template

            cached.write_text(json.dumps(synth_template(e2e_params, bundle=False)))
    loaded: dict[str, Any] = json.loads(cached.read_text())
    return loaded


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Path]:
    """Three days of the demo tables, hourly, one marketplace renamed to need quoting."""
    import duckdb

    path = tmp_path / "warehouse.duckdb"
    generate(path, start=WAREHOUSE_START, days=WAREHOUSE_DAYS, anomalies=False)
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE marketplace SET name = ? WHERE name = 'us'", [AWKWARD_MARKETPLACE])
    yield path
