"""``connector validate`` and ``connector render`` through typer's test runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

import connector.cli
from connector.cli.core import register, validate_params
from connector.config import load_params
from connector.errors import ConnectorError, ParamsError, PlanError, TemplateError, UnloadError
from connector.intervals import Interval, plan_chunks
from connector.sql import render_unload, split_unload

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = REPO / "tests" / "data" / "original_params.json"
ROLE = "arn:aws:iam::123456789012:role/RedshiftUnload"


def make_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)
    return app


def write_params(tmp_path: Path, **changes: Any) -> Path:
    """The 2022 sample deployed to demo-bucket, templates from the repository."""
    data: dict[str, Any] = json.loads(ORIGINAL.read_text())
    data["s3_bucket"] = "demo-bucket"
    source = data["metric_source"]["S3SourceConfig"]
    source["HistoricalDataPathList"] = [""]
    source["TemplatedPathList"] = [""]
    data["crawl"] = {"prefix": "ecommerce", "queries_dir": str(REPO / "queries")}
    data.update(changes)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data))
    return path


def invoke(args: list[str], **env: str) -> Result:
    # A narrow terminal: render must not wrap its long lines anyway.
    return CliRunner().invoke(make_app(), args, env={"COLUMNS": "40", **env})


def statements_of(output: str) -> list[str]:
    assert output.endswith(";\n")
    return [text for text in output.split(";\n") if text]


# --- render --------------------------------------------------------------------------


def test_render_prints_exactly_one_statement_per_interval(tmp_path: Path) -> None:
    # Given deployed params and a two-hour continuous range
    params_file = write_params(tmp_path)
    args = ["render", "--crawl", "continuous", "--params", str(params_file), "--role-arn", ROLE]
    # When render runs
    result = invoke([*args, "--start", "2024-03-01T10:00:00Z", "--end", "2024-03-01T12:00Z"])
    # Then stdout is the two statements, each ended by ';' and a newline, and nothing else
    assert result.exit_code == 0, result.output
    params = load_params(params_file)
    hours = [
        Interval(datetime(2024, 3, 1, h, tzinfo=UTC), datetime(2024, 3, 1, h + 1, tzinfo=UTC))
        for h in (10, 11)
    ]
    assert result.stdout == "".join(
        render_unload(params, "continuous", hour, role_arn=ROLE) + ";\n" for hour in hours
    )
    assert [split_unload(s).s3_uri for s in statements_of(result.stdout)] == [
        "s3://demo-bucket/ecommerce/live/20240301/1000/",
        "s3://demo-bucket/ecommerce/live/20240301/1100/",
    ]


def test_render_continuous_defaults_to_one_interval(tmp_path: Path) -> None:
    params_file = write_params(tmp_path)
    result = invoke(
        [
            "render",
            "--crawl",
            "continuous",
            "--start",
            "2024-03-01T10:30+00:00",
            "--params",
            str(params_file),
            "--role-arn",
            ROLE,
        ]
    )
    assert result.exit_code == 0, result.output
    (statement,) = statements_of(result.stdout)
    assert "TIMESTAMP ''2024-03-01 10:00:00''" in statement
    assert "TIMESTAMP ''2024-03-01 11:00:00''" in statement


def test_render_historical_prints_one_statement_per_chunk(tmp_path: Path) -> None:
    params_file = write_params(tmp_path)
    result = invoke(
        [
            "render",
            "--crawl",
            "historical",
            "--start",
            "2024-01-01",
            "--end",
            "2024-03-01",
            "--params",
            str(params_file),
            "--role-arn",
            "default",
        ]
    )
    assert result.exit_code == 0, result.output
    chunks = plan_chunks(
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 3, 1, tzinfo=UTC),
        load_params(params_file).frequency,
    )
    targets = [split_unload(s).s3_uri for s in statements_of(result.stdout)]
    assert len(targets) == len(chunks) == 2
    assert targets == [
        "s3://demo-bucket/ecommerce/historical/20240101T0000_",
        "s3://demo-bucket/ecommerce/historical/20240131T0000_",
    ]


def test_render_reads_naive_times_in_the_detector_zone(tmp_path: Path) -> None:
    params_file = write_params(tmp_path, detector={"timezone": "Europe/Berlin"})
    result = invoke(
        [
            "render",
            "--crawl",
            "continuous",
            "--start",
            "2024-03-01T00:00",
            "--params",
            str(params_file),
            "--role-arn",
            ROLE,
        ]
    )
    assert result.exit_code == 0, result.output
    (statement,) = statements_of(result.stdout)
    # Berlin midnight is 23:00 UTC; the folder shows the local start
    assert "TIMESTAMP ''2024-02-29 23:00:00''" in statement
    assert split_unload(statement).s3_uri.endswith("/live/20240301/0000/")


def test_render_takes_bucket_and_role_from_the_environment(tmp_path: Path) -> None:
    params_file = write_params(tmp_path, s3_bucket="")
    result = invoke(
        [
            "render",
            "--crawl",
            "continuous",
            "--start",
            "2024-03-01T10:00Z",
            "--params",
            str(params_file),
        ],
        CONNECTOR_BUCKET="env-bucket",
        CONNECTOR_UNLOAD_ROLE_ARN=ROLE,
    )
    assert result.exit_code == 0, result.output
    parts = split_unload(statements_of(result.stdout)[0])
    assert parts.s3_uri.startswith("s3://env-bucket/") and parts.iam_role == ROLE


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--crawl", "continuous", "--start", "2024-03-01T10:00Z"], UnloadError, "--role-arn"),
        (
            [
                "--crawl",
                "continuous",
                "--start",
                "2024-03-01T12:00Z",
                "--end",
                "2024-03-01T10:00Z",
                "--role-arn",
                ROLE,
            ],
            PlanError,
            "before --start",
        ),
        (
            ["--crawl", "continuous", "--start", "yesterday", "--role-arn", ROLE],
            PlanError,
            "ISO-8601",
        ),
        (["--crawl", "backfill", "--role-arn", ROLE], PlanError, "historical or continuous"),
        (
            ["--crawl", "continuous", "--start", "0202-03-01", "--role-arn", ROLE],
            PlanError,
            "--start '0202-03-01' is outside 1000-01-01 to 9899-12-31",
        ),
        (
            [
                "--crawl",
                "historical",
                "--start",
                "2024-01-01",
                "--end",
                "9999-12-31T23:00",
                "--role-arn",
                ROLE,
            ],
            PlanError,
            "--end '9999-12-31T23:00' is outside",
        ),
        (
            ["--crawl", "historical", "--start", "2999-01-01", "--role-arn", ROLE],
            PlanError,
            "in the future",
        ),
        (
            ["--crawl", "continuous", "--start", "2024-03-01T10:00Z", "--role-arn", "x'; drop"],
            UnloadError,
            "IAM role",
        ),
    ],
)
def test_render_errors_are_domain_errors(
    tmp_path: Path, args: list[str], error: type[ConnectorError], message: str
) -> None:
    params_file = write_params(tmp_path)
    result = invoke(["render", "--params", str(params_file), *args])
    # The entry point turns these into exit code 2 and a message (see the main() test)
    assert isinstance(result.exception, error)
    assert message in str(result.exception)
    assert result.exception.exit_code == 2
    assert result.stdout == ""


def test_render_without_any_bucket_says_how_to_give_one(tmp_path: Path) -> None:
    params_file = write_params(tmp_path, s3_bucket="")
    result = invoke(
        ["render", "--crawl", "continuous", "--params", str(params_file), "--role-arn", ROLE]
    )
    assert isinstance(result.exception, UnloadError)
    assert "--bucket" in str(result.exception)


@pytest.mark.parametrize(
    ("command", "env", "named"),
    [
        (
            ["render", "--crawl", "continuous", "--role-arn", ROLE, "--bucket", "evil' --"],
            {},
            "--bucket",
        ),
        (
            ["render", "--crawl", "continuous", "--role-arn", ROLE],
            {"CONNECTOR_BUCKET": "Dotted.Bucket"},
            "CONNECTOR_BUCKET",
        ),
        (["validate", "--bucket", "xn--reserved"], {}, "--bucket 'xn--reserved'"),
    ],
    ids=["render-option", "render-environment", "validate-option"],
)
def test_a_bad_bucket_is_blamed_on_the_option_that_gave_it(
    tmp_path: Path, command: list[str], env: dict[str, str], named: str
) -> None:
    # Given params.json that leaves the bucket to the command line
    params_file = write_params(tmp_path, s3_bucket="")
    args = (
        [*command, str(params_file)]
        if command[0] == "validate"
        else [*command, "--params", str(params_file)]
    )
    # When the command runs with a bucket name params.json would refuse
    result = invoke(args, **env)
    # Then the option (or variable) is named with the rule, not a derived s3:// URI
    assert isinstance(result.exception, UnloadError), result.output
    message = str(result.exception)
    assert named in message
    assert "lowercase letters" in message or "S3 reserves" in message
    assert "s3://" not in message
    assert result.stdout == ""


# --- validate ------------------------------------------------------------------------


def test_validate_passes_the_demo_and_prints_a_summary(tmp_path: Path) -> None:
    result = invoke(["validate", str(write_params(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok") >= 4
    assert "failed" not in result.stdout


def test_validate_passes_the_shipped_params_file() -> None:
    # Given the repository's params.json (empty bucket: a sample bucket is used)
    checks = validate_params(load_params(REPO / "params.json"), now=datetime.now(UTC))
    # Then every check passes: SELECT and UNLOAD per crawl, and the detector backend
    assert [check.ok for check in checks] == [True] * 5, checks
    assert checks[-1].what.startswith("detector · ")


def test_validate_lists_missing_columns(tmp_path: Path) -> None:
    # Given params.json asking for a dimension the template does not output
    params_file = write_params(tmp_path, dimension_list=["platform", "marketplace", "device"])
    # When validate runs
    result = invoke(["validate", str(params_file)])
    # Then it fails naming the column, for both crawls
    assert isinstance(result.exception, TemplateError)
    message = str(result.exception)
    assert message.count("does not output device") == 2
    assert "failed" in result.stdout


def test_validate_names_the_template_line_of_an_error(tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "bad.sql.j2").write_text("SELECT\n  {{ nope }} AS x\n")
    (queries / "ecommerce.sql.j2").write_text((REPO / "queries" / "ecommerce.sql.j2").read_text())
    params_file = write_params(
        tmp_path,
        crawl={"queries_dir": "queries", "templates": {"continuous": "bad.sql.j2"}},
    )
    result = invoke(["validate", str(params_file)])
    assert isinstance(result.exception, TemplateError)
    assert f"{queries / 'bad.sql.j2'}, line 2" in str(result.exception)
    assert "historical" not in str(result.exception).split("failed:")[1]


def test_validate_missing_params_file_is_a_params_error(tmp_path: Path) -> None:
    result = invoke(["validate", str(tmp_path / "absent.json")])
    assert isinstance(result.exception, ParamsError)


def test_entry_point_exits_2_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the real entry point serving these commands
    monkeypatch.setattr(connector.cli, "app", make_app())
    params_file = write_params(tmp_path, dimension_list=["device"])
    # When validate fails
    with pytest.raises(SystemExit) as exited:
        connector.cli.main(["validate", str(params_file)])
    # Then the exit code is 2 and stderr has the message, not a traceback
    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert "does not output device" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_entry_point_exits_0_for_a_valid_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(connector.cli, "app", make_app())
    params_file = write_params(tmp_path)
    with pytest.raises(SystemExit) as exited:
        connector.cli.main(
            [
                "render",
                "--crawl",
                "continuous",
                "--start",
                "2024-03-01T10:00Z",
                "--params",
                str(params_file),
                "--role-arn",
                ROLE,
            ]
        )
    assert exited.value.code == 0
    captured = capsys.readouterr()
    assert len(statements_of(captured.out)) == 1
    assert captured.err == ""
