"""``connector detector build|score|status`` against a moto bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import typer
from moto import mock_aws
from test_detector_service import (
    BUCKET,
    COMBOS,
    StandInModel,
    make_params,
    next_interval,
    write_history,
    write_interval,
)
from typer.testing import CliRunner

from connector.cli import detector as detector_cli
from connector.detector import service
from connector.errors import ParamsError
from connector.storage import S3ObjectStore


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[typer.Typer, Path, S3ObjectStore]]:
    monkeypatch.setattr(service, "_model_class", lambda: StandInModel)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a group, so that "detector" is a sub-command
    detector_cli.register(app)
    params_file = tmp_path / "params.json"
    params_file.write_text(make_params().to_json())
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        store = S3ObjectStore(s3, BUCKET)
        write_history(store)
        yield app, params_file, store


def run(app: typer.Typer, *args: str) -> dict:
    result = CliRunner().invoke(app, ["detector", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_status_build_score_status(cli: tuple[typer.Typer, Path, S3ObjectStore]) -> None:
    app, params_file, store = cli
    # Given nothing built / Then status says so
    assert run(app, "status", "-p", str(params_file))["status"] == "NOT_BUILT"
    # When built / Then the report is printed
    assert run(app, "build", "-p", str(params_file))["action"] == "created"
    # When an instant inside an interval is scored / Then that interval is
    start = next_interval()
    write_interval(store, start, COMBOS)
    summary = run(app, "score", "-p", str(params_file), "--start", f"{start:%Y-%m-%dT%H}:30:00")
    assert summary["interval_start"] == start.isoformat() and summary["status"] == "scored"
    status = run(app, "status", "-p", str(params_file))
    assert status["status"] == "ACTIVE" and status["last_scored"] == start.isoformat()


def test_bucket_option_must_agree_with_params(cli: tuple[typer.Typer, Path, S3ObjectStore]) -> None:
    app, params_file, _ = cli
    with pytest.raises(ParamsError, match="differs from s3_bucket"):
        CliRunner().invoke(
            app,
            ["detector", "status", "-p", str(params_file), "--bucket", "other-bucket"],
            catch_exceptions=False,
        )
