"""End to end, offline: a live folder lost after `run --local` is found and re-crawled.

`run --local` crawls the demo warehouse into a work folder; one live folder is deleted
from its exported bucket; `status --local` reports the gap (exit 1); `recrawl --local`
rewrites that folder in the embedded runtime; `status --local` is healthy again and
the folder holds exactly what it held before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from typer.testing import CliRunner

from connector.cli import local as cli_local
from connector.cli import recovery as cli_recovery
from connector.errors import ConnectorError

APP = typer.Typer()
cli_local.register(APP)
cli_recovery.register(APP)
LOST = "ecommerce/live/20260103/0200"


def invoke(*args: str) -> tuple[int, str]:
    """Run a command; a ConnectorError becomes its exit code and message, as main() does."""
    result = CliRunner().invoke(APP, list(args))
    if isinstance(result.exception, ConnectorError):
        return result.exception.exit_code, str(result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def test_status_finds_a_lost_folder_and_recrawl_restores_it(
    tmp_path: Path, warehouse: Path, e2e_params: Path
) -> None:
    # Given two days of history and six live hours crawled by `run --local`
    work = tmp_path / "work"
    code, out = invoke(
        "run",
        "--local",
        "--warehouse",
        str(warehouse),
        "--params",
        str(e2e_params),
        "--start",
        "2026-01-01T00:00:00",
        "--end",
        "2026-01-03T00:00:00",
        "--intervals",
        "6",
        "--output",
        str(work),
    )
    assert code == 0, out
    common = ("--local", "--workdir", str(work), "--params", str(e2e_params))
    code, out = invoke("status", *common, "--json")
    assert code == 0, out
    assert json.loads(out)["gaps"] == []

    # And the 02:00 folder deleted from the work folder's bucket
    lost = work / "bucket" / LOST
    before = {path.name: path.read_bytes() for path in lost.iterdir()}
    shutil.rmtree(lost)

    # When the status is checked, then that hour is the one gap and the exit code is 1
    code, out = invoke("status", *common, "--json")
    assert code == 1, out
    assert json.loads(out)["gaps"] == [
        {"start": "2026-01-03T02:00:00Z", "end": "2026-01-03T03:00:00Z"}
    ]

    # When that hour is re-crawled in the embedded runtime
    code, out = invoke(
        "recrawl",
        *common,
        "--warehouse",
        str(warehouse),
        "--start",
        "2026-01-03T02:00:00Z",
        "--end",
        "2026-01-03T03:00:00Z",
    )
    assert code == 0, out
    assert "Live folders rewritten: 1 of 1" in out

    # Then the status is healthy again, and the folder holds exactly what it held
    code, out = invoke("status", *common, "--json")
    assert code == 0, out
    assert json.loads(out)["gaps"] == []
    assert {path.name: path.read_bytes() for path in lost.iterdir()} == before
    # And nothing was added under the historical prefix for that live hour
    historical = sorted(p.name for p in (work / "bucket/ecommerce/historical").iterdir())
    assert not any(name.startswith("20260103") for name in historical)
