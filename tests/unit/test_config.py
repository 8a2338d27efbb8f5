"""params.json: the 2022 sample loads unchanged; every bad value is named by its JSON path."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from connector.cli.params import register, schema_text
from connector.config import DEFAULT_SECRET_NAME, bucket_name_problem, load_params, params_from_json
from connector.errors import ParamsError
from connector.intervals import Frequency

REPO = Path(__file__).resolve().parents[2]
ORIGINAL = REPO / "tests" / "data" / "original_params.json"
PROJECT = REPO / "params.json"
SCHEMA = REPO / "params.schema.json"
ROLE = "arn:aws:iam::123456789012:role/L4MReader"

CSV = ("metric_source", "S3SourceConfig", "FileFormatDescriptor", "CsvFormatDescriptor")
SOURCE = ("metric_source", "S3SourceConfig")


def original() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ORIGINAL.read_text())
    return data


def project() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PROJECT.read_text())
    return data


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = data
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[path[-1]] = value


def _error_of(data: Any) -> str:
    with pytest.raises(ParamsError) as caught:
        params_from_json(json.dumps(data), source="my/params.json")
    return str(caught.value)


# --- The original and the project's file --------------------------------------------


def test_original_sample_is_the_published_file() -> None:
    # Given the fixture copied from aws-samples (see tests/data/README.md)
    # Then it is byte for byte the published file, so compatibility is tested honestly
    digest = hashlib.sha256(ORIGINAL.read_bytes()).hexdigest()
    assert digest == "0bc8175ba620bb22a01b49e34371219b95820809fbab529ea4a5fa133b2a676b"


def test_original_sample_loads_unchanged() -> None:
    # When the 2022 sample's params.json is loaded as it is
    params = load_params(ORIGINAL)

    # Then its values are there and the new sections take their defaults
    assert params.detector_name == "l4m-custom-connector-detector"
    assert params.frequency is Frequency.PT1H
    assert params.dimensions == ["platform", "marketplace"]
    assert params.measures == ["views", "revenue"]
    assert params.aggregations == {"views": "SUM", "revenue": "SUM"}
    assert params.timestamp_name == "timestamp"
    assert params.timestamp_format == "yyyy-MM-dd HH:mm:ss"
    assert params.csv.delimiter == ","
    assert params.offset == 300
    assert params.alert_threshold == 1
    assert params.secret == DEFAULT_SECRET_NAME
    assert params.timezone == ZoneInfo("UTC")
    assert params.detector.backend == "builtin"
    assert params.crawl.historical_start == timedelta(days=90)
    # And the file's own (leftover) historical path wins over a derived one
    assert params.historical_path == "s3://id-ml-ops2-inputbucket-18vaudty8qtec/ecommerce/backtest/"


def test_original_sample_as_its_deploy_script_rewrote_it_loads() -> None:
    # Given the file the sample's params_builder.py wrote at deploy time (sorted keys,
    # filled paths and an extra s3_path_continuous_root)
    data = original()
    data["s3_bucket"] = "my-bucket"
    _set(data, (*SOURCE, "HistoricalDataPathList"), ["s3://my-bucket/ecommerce/backtest/"])
    _set(
        data,
        (*SOURCE, "TemplatedPathList"),
        ["s3://my-bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"],
    )
    data["s3_path_continuous_root"] = "s3://my-bucket/ecommerce/live/"

    # When it is loaded
    params = params_from_json(json.dumps(data, indent=4, sort_keys=True))

    # Then it is accepted and its paths are used as written
    assert params.live_path_template == "s3://my-bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"


def test_project_params_load() -> None:
    # When the project's own params.json is loaded
    params = load_params(PROJECT)

    # Then it describes the shipped ecommerce demo on the built-in detector
    assert params.frequency is Frequency.PT1H
    assert params.measures == ["views", "revenue"]
    assert params.dimensions == ["platform", "marketplace"]
    assert params.detector.backend == "builtin"
    assert params.data_prefix == "ecommerce"
    # And its queries directory is found next to it, whatever the working directory
    assert params.queries_path == REPO / "queries"


def test_project_params_stay_close_to_the_original_shape() -> None:
    # Given the keys of the original and of the project's file
    new_sections = {"$schema", "warehouse", "crawl", "detector"}

    # Then the project only adds the new sections
    assert set(project()) - new_sections == set(original())


def test_params_round_trip_through_json() -> None:
    # Given loaded params
    params = load_params(PROJECT).with_deployment("my-bucket", ROLE)

    # When they are written and read back
    again = params_from_json(params.to_json(), base_dir=REPO)

    # Then nothing changed
    assert again == params


# --- Broken values: each is reported at its JSON path ---------------------------------

BROKEN: list[tuple[str, tuple[str | int, ...], Any, str]] = [
    ("database_type", ("database_type",), "postgres", "use redshift"),
    ("detector_name", ("detector_name",), "my detector", "use letters, digits"),
    ("detector_name", ("detector_name",), "d" * 64, "63 at most"),
    ("detector_description", ("detector_description",), "x" * 257, "256 at most"),
    ("detector_frequency", ("detector_frequency",), "PT2H", "use one of PT5M, PT10M, PT1H, P1D"),
    ("timestamp_column.ColumnName", ("timestamp_column", "ColumnName"), "ts;drop", "letters"),
    ("timestamp_column.ColumnFormat", ("timestamp_column", "ColumnFormat"), "HH:mm", "lacks yyyy"),
    ("timestamp_column.ColumnFormat", ("timestamp_column", "ColumnFormat"), "yyyy-MM-dd", "HH, mm"),
    ("dimension_list[1]", ("dimension_list", 1), "market place", "letters"),
    ("dimension_list", ("dimension_list",), [f"d{i}" for i in range(11)], "at most 10"),
    ("dimension_list[1]", ("dimension_list", 1), "PLATFORM", "already used at dimension_list[0]"),
    ("metrics_set", ("metrics_set",), [], "at least 1"),
    (
        "metrics_set",
        ("metrics_set",),
        [{"AggregationFunction": "SUM", "MetricName": f"m{i}"} for i in range(11)],
        "at most 10",
    ),
    (
        "metrics_set[1].AggregationFunction",
        ("metrics_set", 1, "AggregationFunction"),
        "MAX",
        "use one of SUM, AVG",
    ),
    ("metrics_set[1].MetricName", ("metrics_set", 1, "MetricName"), "-revenue", "letters"),
    (
        "metrics_set[1].MetricName",
        ("metrics_set", 1, "MetricName"),
        "timestamp",
        "already used at timestamp_column.ColumnName",
    ),
    (
        "metrics_set[0].MetricName",
        ("metrics_set", 0, "MetricName"),
        "platform",
        "already used at dimension_list[0]",
    ),
    ("CsvFormatDescriptor.Charset", (*CSV, "Charset"), "ISO-8859-1", "use UTF-8"),
    ("CsvFormatDescriptor.ContainsHeader", (*CSV, "ContainsHeader"), False, "use true"),
    ("CsvFormatDescriptor.ContainsHeader", (*CSV, "ContainsHeader"), "true", "use true"),
    ("CsvFormatDescriptor.Delimiter", (*CSV, "Delimiter"), ";;", "one character"),
    ("CsvFormatDescriptor.Delimiter", (*CSV, "Delimiter"), '"', "one character"),
    ("CsvFormatDescriptor.FileCompression", (*CSV, "FileCompression"), "ZIP", "NONE, GZIP"),
    ("CsvFormatDescriptor.QuoteSymbol", (*CSV, "QuoteSymbol"), "'", "UNLOAD"),
    (
        "HistoricalDataPathList[0]",
        (*SOURCE, "HistoricalDataPathList", 0),
        "https://x/y/",
        "s3://bucket/prefix/",
    ),
    (
        "HistoricalDataPathList[0]",
        (*SOURCE, "HistoricalDataPathList", 0),
        "s3://b.c/x/",
        "valid bucket name",
    ),
    (
        "HistoricalDataPathList[0]",
        (*SOURCE, "HistoricalDataPathList", 0),
        "s3://bucket/../x/",
        "'..'",
    ),
    ("HistoricalDataPathList", (*SOURCE, "HistoricalDataPathList"), [], "at least 1"),
    (
        "HistoricalDataPathList[0]",
        (*SOURCE, "HistoricalDataPathList", 0),
        "s3://bucket/ecommerce/backtest",
        "ending in '/'",
    ),
    (
        "HistoricalDataPathList[0]",
        (*SOURCE, "HistoricalDataPathList", 0),
        "s3://bucket/it's/",
        "ending in '/'",
    ),
    (
        "TemplatedPathList[0]",
        (*SOURCE, "TemplatedPathList", 0),
        "s3://bucket/live/2024/",
        "placeholders",
    ),
    (
        "TemplatedPathList[0]",
        (*SOURCE, "TemplatedPathList", 0),
        "s3://bucket/a.b/{{HHmm}}/",
        "{{yyyyMMdd}}",
    ),
    (
        "TemplatedPathList[0]",
        (*SOURCE, "TemplatedPathList", 0),
        "s3://bucket/{{yyyyMMdd}}/{{ss}}",
        "'ss' in {{ss}} is not a supported date pattern",
    ),
    ("TemplatedPathList", (*SOURCE, "TemplatedPathList"), ["", ""], "at most 1"),
    (
        "TemplatedPathList[0]",
        (*SOURCE, "TemplatedPathList", 0),
        "s3://bucket/x/{{yyyyMMdd}}/",
        "no H placeholder",
    ),
    (
        "TemplatedPathList[0]",
        (*SOURCE, "TemplatedPathList", 0),
        "s3://bucket/x/{{yyyyMMdd}}}/",
        "double braces",
    ),
    (
        "TemplatedPathList[0]",
        (*SOURCE, "TemplatedPathList", 0),
        "s3://bucket/x/{{}}/",
        "empty placeholder",
    ),
    ("RoleArn", (*SOURCE, "RoleArn"), "arn:aws:iam::12:role/x", "IAM role ARN"),
    (
        "S3SourceConfig.JsonFormatDescriptor",
        (*SOURCE, "JsonFormatDescriptor"),
        {},
        "not a known field",
    ),
    ("s3_bucket", ("s3_bucket",), "My.Bucket", "no dots"),
    ("s3_bucket", ("s3_bucket",), "xn--bucket", "reserves"),
    ("alert_name", ("alert_name",), "", "must not be empty"),
    ("alert_threshold", ("alert_threshold",), 101, "100.0 or less"),
    ("alert_threshold", ("alert_threshold",), -1, "0.0 or more"),
    ("alert_threshold", ("alert_threshold",), "70", "must be a number, not a string"),
    ("alert_description", ("alert_description",), 5, "must be a string, not a number"),
    ("alert_lambda_arn", ("alert_lambda_arn",), "arn:aws:lambda:x", "Lambda function ARN"),
    ("offset", ("offset",), 432001, "432000 or less"),
    ("offset", ("offset",), -1, "0 or more"),
    ("offset", ("offset",), "300", "whole number, not a string"),
    ("secret_name", ("secret_name",), "my secret", "secret name or ARN"),
    ("s3_path_continuous_root", ("s3_path_continuous_root",), "s3://bucket", "key prefix"),
    (
        "warehouse.cluster_identifier",
        ("warehouse", "cluster_identifier"),
        "My_Cluster",
        "cluster identifier",
    ),
    ("warehouse.workgroup_name", ("warehouse", "workgroup_name"), "wg", "workgroup name"),
    ("warehouse.database", ("warehouse", "database"), "1db", "database name"),
    ("warehouse.secret", ("warehouse", "secret"), "arn:aws:secretsmanager:x", "secret name or ARN"),
    ("warehouse.db_user", ("warehouse", "db_user"), "", "must not be empty"),
    ("crawl.historical_start", ("crawl", "historical_start"), "last week", "look-back"),
    ("crawl.historical_start", ("crawl", "historical_start"), "P0D", "positive"),
    ("crawl.historical_start", ("crawl", "historical_start"), 90, "must be a string"),
    ("crawl.historical_start", ("crawl", "historical_start"), "P1X", "ISO-8601 duration"),
    ("crawl.chunk_intervals", ("crawl", "chunk_intervals"), 0, "1 or more"),
    ("crawl.max_concurrency", ("crawl", "max_concurrency"), 21, "20 or less"),
    (
        "crawl.templates.historical",
        ("crawl", "templates", "historical"),
        "../etc.sql.j2",
        "without '/' or '..'",
    ),
    (
        "crawl.templates.continuous",
        ("crawl", "templates", "continuous"),
        "ecommerce.sql",
        "ending in .sql.j2",
    ),
    ("crawl.queries_dir", ("crawl", "queries_dir"), "", "must not be empty"),
    ("crawl.poll_seconds", ("crawl", "poll_seconds"), 301, "300 or less"),
    ("crawl.max_intervals_per_run", ("crawl", "max_intervals_per_run"), 0, "1 or more"),
    ("crawl.restatement_intervals", ("crawl", "restatement_intervals"), -1, "0 or more"),
    ("crawl.prefix", ("crawl", "prefix"), "data/../x", "S3 key prefix"),
    ("crawl.prefix", ("crawl", "prefix"), "/data/", "S3 key prefix"),
    (
        "detector.backend",
        ("detector", "backend"),
        "sagemaker",
        "use one of builtin, lookoutmetrics",
    ),
    ("detector.timezone", ("detector", "timezone"), "Europe/Berln", "did you mean 'Europe/Berlin'"),
    ("detector.builtin.sensitivity", ("detector", "builtin", "sensitivity"), 2, "1.0 or less"),
    (
        "detector.builtin.min_history_intervals",
        ("detector", "builtin", "min_history_intervals"),
        0,
        "1 or more",
    ),
]


def _label(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


@pytest.mark.parametrize(
    ("shown", "path", "value", "advice"),
    BROKEN,
    ids=[f"{_label(path)}={value!r}"[:60] for _, path, value, _ in BROKEN],
)
def test_a_broken_value_is_reported_at_its_path(
    shown: str, path: tuple[str | int, ...], value: Any, advice: str
) -> None:
    # Given the project's params.json with one broken value
    data = project()
    _set(data, path, value)

    # When it is validated
    message = _error_of(data)

    # Then the message names the file, the value's JSON path, and what to do
    assert message.startswith("my/params.json is not valid:\n  - ")
    [line] = [line for line in message.splitlines()[1:] if _label(path) in line]
    assert line.startswith(f"  - {_label(path)}: ")
    assert shown in _label(path)
    assert advice in line
    # And none of pydantic's internals leak into it
    assert "pydantic" not in message
    assert "input_value" not in message
    assert "{" not in line.replace("{{", "").replace("}}", "")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ((*SOURCE, "TemplatedPathList"), ["s3://bucket/x' IAM_ROLE default/{{yyyyMMdd}}/"]),
        ((*SOURCE, "HistoricalDataPathList"), ["s3://bucket/x'; DROP TABLE t; --/"]),
        (("metrics_set",), [{"AggregationFunction": "SUM", "MetricName": "-revenue"}]),
    ],
    ids=["TemplatedPathList", "HistoricalDataPathList", "metrics_set"],
)
def test_a_bad_item_of_a_short_list_is_the_only_problem_reported(
    path: tuple[str | int, ...], value: list[Any]
) -> None:
    # Given a list at its minimum length whose only item is invalid
    data = project()
    _set(data, path, value)

    # When it is validated
    message = _error_of(data)

    # Then only the item is blamed: the list has as many items as it needs
    assert f"{_label(path)}[0]" in message
    assert "at least" not in message
    assert len(message.splitlines()) == 2


@pytest.mark.parametrize(
    "path", [("detector_name",), ("detector_frequency",), ("timestamp_column",), ("metrics_set",)]
)
def test_a_missing_required_field_is_reported(path: tuple[str, ...]) -> None:
    # Given params.json without a required field
    data = project()
    del data[path[0]]

    # Then the message asks for it by name
    assert f"  - {path[0]}: is required; add it" in _error_of(data)


def test_every_problem_is_reported_at_once() -> None:
    # Given three independent mistakes
    data = project()
    data["detector_frequency"] = "PT2H"
    data["offset"] = -5
    data["crawl"]["max_concurrency"] = 0

    # Then all three are listed, one line each
    lines = _error_of(data).splitlines()[1:]
    assert [line.split(":")[0] for line in lines] == [
        "  - detector_frequency",
        "  - offset",
        "  - crawl.max_concurrency",
    ]


def test_paths_must_be_in_the_configured_bucket() -> None:
    # Given a filled s3_bucket while the original's leftover path points elsewhere
    data = original()
    data["s3_bucket"] = "my-bucket"

    # Then the mismatch is reported at the path, since the crawler writes to s3_bucket
    message = _error_of(data)
    assert "metric_source.S3SourceConfig.HistoricalDataPathList[0]: " in message
    assert "not in s3_bucket 'my-bucket'" in message


def test_unknown_field_is_rejected_with_a_suggestion() -> None:
    # Given a misspelt key at the top level and in a nested section
    data = project()
    data["detector_frequncy"] = "PT1H"
    data["crawl"]["max_concurency"] = 2

    # Then both are rejected, with the closest known name suggested
    message = _error_of(data)
    assert "  - detector_frequncy: is not a known field; did you mean 'detector_frequency'?" in (
        message
    )
    assert "  - crawl.max_concurency: is not a known field; did you mean 'max_concurrency'?" in (
        message
    )


@pytest.mark.parametrize(
    ("warehouse", "advice"),
    [
        ({"cluster_identifier": "c1", "workgroup_name": "wg1"}, "not both"),
        ({"workgroup_name": "wg1", "db_user": "admin"}, "provisioned clusters only"),
    ],
)
def test_conflicting_warehouse_settings_are_rejected(
    warehouse: dict[str, str], advice: str
) -> None:
    data = project()
    data["warehouse"] = warehouse
    message = _error_of(data)
    assert "  - warehouse: " in message
    assert advice in message


# --- Malformed files -------------------------------------------------------------------


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    # Given a params.json with a trailing comma on line 3
    file = tmp_path / "params.json"
    file.write_text('{\n    "detector_name": "x",\n    "offset": 300,\n}\n')

    # When it is loaded
    with pytest.raises(ParamsError) as caught:
        load_params(file)

    # Then the message names the file, the line and the column, and shows the line
    message = str(caught.value)
    assert message.startswith(f"{file} is not valid JSON: ")
    assert "at line 4, column 1" in message
    assert "4 | }" in message


@pytest.mark.parametrize(("text", "where"), [("", "line 1, column 1"), ("{\n", "line 2, column 1")])
def test_truncated_json_reports_where_it_ends(text: str, where: str) -> None:
    with pytest.raises(ParamsError, match=f"is not valid JSON: .* at {where}"):
        params_from_json(text)


def test_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    # Given params.json saved by an editor that writes a UTF-8 byte-order mark
    file = tmp_path / "params.json"
    file.write_bytes(b"\xef\xbb\xbf" + PROJECT.read_bytes())

    # Then it loads like the file without one
    assert load_params(file).detector_name == load_params(PROJECT).detector_name


def test_missing_file_is_a_params_error(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.json")


def test_a_directory_is_a_params_error(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="is a directory"):
        load_params(tmp_path)


def test_duplicate_keys_are_rejected() -> None:
    # Given a key written twice (json.loads would silently keep the last)
    text = PROJECT.read_text().replace('"offset": 300,', '"offset": 300,\n    "offset": 600,')

    # Then the file is rejected rather than half-read
    with pytest.raises(ParamsError, match="key 'offset' appears twice"):
        params_from_json(text)


def test_top_level_must_be_an_object() -> None:
    assert "(top level): must be an object, not a list" in _error_of([project()])


# --- The model's behaviour -------------------------------------------------------------


def test_params_are_frozen() -> None:
    # Given loaded params
    params = load_params(PROJECT)

    # Then neither fields nor nested sections nor lists can be changed in place
    with pytest.raises(ValidationError):
        params.offset = 10  # type: ignore[misc]
    with pytest.raises(ValidationError):
        params.crawl.max_concurrency = 10  # type: ignore[misc]
    assert isinstance(params.dimension_list, tuple)
    # And the list views are copies
    params.dimensions.append("x")
    assert params.dimensions == ["platform", "marketplace"]


def test_with_deployment_fills_bucket_role_and_interval_start_paths() -> None:
    # Given the project's params, where the deployment values are still empty
    params = load_params(PROJECT)
    with pytest.raises(ParamsError, match="s3_bucket is empty"):
        _ = params.live_path_template

    # When the deployment fills them in
    deployed = params.with_deployment("my-bucket", ROLE)

    # Then the detector reads from the connector's layout, folders named by interval START
    source = deployed.metric_source.s3_source_config
    assert deployed.s3_bucket == "my-bucket"
    assert source.role_arn == ROLE
    assert source.historical_data_path_list == ("s3://my-bucket/ecommerce/historical/",)
    assert source.templated_path_list == ("s3://my-bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}/",)
    assert deployed.historical_path == "s3://my-bucket/ecommerce/historical/"
    assert deployed.live_path_template == "s3://my-bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}/"
    # And nothing else changed, including where the templates are
    assert deployed.model_copy(update={"s3_bucket": "", "metric_source": params.metric_source}) == (
        params
    )
    assert deployed.queries_path == params.queries_path
    # And the original is untouched
    assert params.s3_bucket == ""


def test_with_deployment_validates_its_values() -> None:
    with pytest.raises(ParamsError, match=r"  - s3_bucket: 'Bad_Bucket' is not valid here"):
        load_params(PROJECT).with_deployment("Bad_Bucket", ROLE)
    with pytest.raises(ParamsError, match=r"RoleArn: 'role' is not valid here"):
        load_params(PROJECT).with_deployment("my-bucket", "role")


def test_data_prefix_defaults_to_the_detector_name() -> None:
    # Given no crawl.prefix, as in the original
    params = load_params(ORIGINAL)

    # Then each detector gets its own prefix in a shared bucket
    deployed = params.with_deployment("my-bucket", ROLE)
    assert deployed.historical_path == "s3://my-bucket/l4m-custom-connector-detector/historical/"


NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
HOUR_START = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("historical_start", "tz", "expected"),
    [
        ("P90D", "UTC", HOUR_START - timedelta(days=90)),
        ("PT36H", "UTC", HOUR_START - timedelta(hours=36)),
        ("P3M", "UTC", HOUR_START - timedelta(days=90)),
        ("2026-01-01", "Europe/Berlin", datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))),
        (
            "2026-01-01T06:00:00",
            "America/New_York",
            datetime(2026, 1, 1, 6, tzinfo=ZoneInfo("America/New_York")),
        ),
        ("2026-01-01T06:00:00Z", "Europe/Berlin", datetime(2026, 1, 1, 6, tzinfo=UTC)),
    ],
)
def test_historical_start_is_a_look_back_or_a_date(
    historical_start: str, tz: str, expected: datetime
) -> None:
    # Given a look-back duration, a date, a naive or an aware date-time
    data = project()
    data["crawl"]["historical_start"] = historical_start
    data["detector"]["timezone"] = tz

    # When the crawl asks what history to crawl
    history = params_from_json(json.dumps(data)).historical_range(NOW)

    # Then it starts there (dates and naive times read in the detector's zone) and ends
    # where the continuous crawl begins, at the start of the interval open at NOW
    assert history.start == expected
    assert history.end == HOUR_START


@pytest.mark.parametrize(("frequency", "look_back"), [("PT5M", "P94D"), ("PT1H", "P4Y")])
def test_a_look_back_beyond_the_detector_timeframe_is_rejected(
    frequency: str, look_back: str
) -> None:
    data = project()
    data["detector_frequency"] = frequency
    data["crawl"]["historical_start"] = look_back
    message = _error_of(data)
    assert "  - crawl.historical_start: looks back" in message
    assert "look back less" in message


def test_historical_start_keeps_its_kind() -> None:
    data = project()
    data["crawl"]["historical_start"] = "2026-01-01"
    params = params_from_json(json.dumps(data))
    assert params.crawl.historical_start == params.historical_start == date(2026, 1, 1)
    assert json.loads(params.to_json())["crawl"]["historical_start"] == "2026-01-01"
    assert json.loads(load_params(PROJECT).to_json())["crawl"]["historical_start"] == "P90D"


@pytest.mark.parametrize(
    ("warehouse", "secret_name", "expected"),
    [
        (
            {"cluster_identifier": "analytics"},
            "",
            {
                "Database": "dev",
                "ClusterIdentifier": "analytics",
                "SecretArn": DEFAULT_SECRET_NAME,
            },
        ),
        (
            {
                "workgroup_name": "sales-wg",
                "database": "sales",
                "secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rs-AbCdEf",
            },
            "ignored",
            {
                "Database": "sales",
                "WorkgroupName": "sales-wg",
                "SecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rs-AbCdEf",
            },
        ),
        (
            {"cluster_identifier": "analytics"},
            "team/redshift",
            {
                "Database": "dev",
                "ClusterIdentifier": "analytics",
                "SecretArn": "team/redshift",
            },
        ),
        (
            {"cluster_identifier": "analytics", "db_user": "crawler"},
            "",
            {
                "Database": "dev",
                "ClusterIdentifier": "analytics",
                "DbUser": "crawler",
            },
        ),
    ],
)
def test_data_api_target(
    warehouse: dict[str, str], secret_name: str, expected: dict[str, str]
) -> None:
    # Given a warehouse section and the top-level secret_name
    data = project()
    data["warehouse"] = warehouse
    data["secret_name"] = secret_name

    # Then the Data API arguments point at that warehouse with the right credentials
    assert params_from_json(json.dumps(data)).data_api_target() == expected


def test_data_api_target_needs_a_cluster_or_workgroup() -> None:
    # Given the original params.json, which had neither (they came from its secret)
    params = load_params(ORIGINAL)

    # Then deploy-time code gets a clear error naming both settings
    with pytest.raises(ParamsError, match=r"cluster_identifier.*workgroup_name"):
        params.data_api_target()


def test_queries_dir_is_relative_to_the_params_file(tmp_path: Path) -> None:
    # Given a params.json in another directory, with a relative and an absolute queries_dir
    data = project()
    data["crawl"]["queries_dir"] = "sql"
    (tmp_path / "params.json").write_text(json.dumps(data))
    data["crawl"]["queries_dir"] = str(REPO / "queries")
    (tmp_path / "absolute.json").write_text(json.dumps(data))

    # Then the relative one is resolved next to the file, the absolute one kept
    assert load_params(tmp_path / "params.json").queries_path == tmp_path.resolve() / "sql"
    assert load_params(tmp_path / "absolute.json").queries_path == REPO / "queries"


@pytest.mark.parametrize(
    ("frequency", "column_format"),
    [("P1D", "yyyy-MM-dd"), ("PT5M", "yyyy-MM-dd'T'HH:mm:ss"), ("PT10M", "dd/MM/yyyy HH:mm")],
)
def test_frequencies_and_formats_that_fit_together_load(frequency: str, column_format: str) -> None:
    data = project()
    data["detector_frequency"] = frequency
    data["timestamp_column"]["ColumnFormat"] = column_format
    assert params_from_json(json.dumps(data)).frequency == Frequency(frequency)


@pytest.mark.parametrize(
    ("frequency", "template"),
    [
        ("P1D", "s3://my-bucket/d/live/{{yyyy}}/{{MM}}/{{dd}}/"),
        ("PT1H", "s3://my-bucket/d/live/{{yyyy-MM-dd}}/{{HH}}"),
        ("PT5M", "s3://my-bucket/d/live/date={{yyyyMMdd}}/time={{HHmm}}/"),
    ],
)
def test_folder_templates_down_to_the_interval_load(frequency: str, template: str) -> None:
    data = project()
    data["detector_frequency"] = frequency
    data["s3_bucket"] = "my-bucket"
    _set(data, (*SOURCE, "TemplatedPathList"), [template])
    assert params_from_json(json.dumps(data)).live_path_template == template


def test_minimal_params_take_defaults() -> None:
    # Given only the fields without a default
    data = {
        "detector_name": "d",
        "detector_frequency": "P1D",
        "timestamp_column": {"ColumnName": "day", "ColumnFormat": "yyyy-MM-dd"},
        "metrics_set": [{"AggregationFunction": "AVG", "MetricName": "latency"}],
    }

    # Then the rest defaults to the original's choices
    params = params_from_json(json.dumps(data))
    assert params.csv.delimiter == ","
    assert params.metric_source.s3_source_config.templated_path_list == ("",)
    assert params.secret == DEFAULT_SECRET_NAME
    assert params.dimensions == []


# --- JSON Schema and the CLI -----------------------------------------------------------


def test_committed_schema_is_up_to_date() -> None:
    # Given the schema committed for editors (params.json's "$schema")
    # Then it matches the model; regenerate it with `connector schema -o params.schema.json`
    assert SCHEMA.read_text() == schema_text()


def test_schema_describes_the_file_keys() -> None:
    schema = json.loads(schema_text())
    assert set(schema["properties"]) == set(project()) | {"s3_path_continuous_root"}
    assert set(schema["required"]) == {
        "detector_name",
        "detector_frequency",
        "timestamp_column",
        "metrics_set",
    }


@pytest.mark.parametrize("file", [PROJECT, ORIGINAL], ids=["project", "original"])
def test_schema_accepts_the_shipped_files(file: Path) -> None:
    # Given an editor's JSON Schema validator (jsonschema comes with cfn-lint)
    jsonschema = pytest.importorskip("jsonschema")

    # Then the committed schema accepts both files the model accepts
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(
        json.loads(file.read_text())
    )


def test_schema_rejects_what_the_model_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = project()
    data["detector_frequency"] = "PT2H"
    data["metrics_set"][0]["AggregationFunction"] = "MAX"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert len(list(validator.iter_errors(data))) == 2


def _app() -> typer.Typer:
    app = typer.Typer()

    # A second command keeps typer in group mode, as in the real app.
    @app.command()
    def other() -> None:
        """Placeholder."""

    register(app)
    return app


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(_app(), ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(schema_text())


def test_schema_command_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    result = CliRunner().invoke(_app(), ["schema", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == schema_text()
    assert result.stdout == ""


def test_project_params_point_at_the_committed_schema() -> None:
    assert project()["$schema"] == "./params.schema.json"


def test_check_params_command_summarises_a_valid_file() -> None:
    # When a user checks the project's params.json
    result = CliRunner().invoke(_app(), ["check-params", str(PROJECT)])

    # Then they see what it makes the connector do
    assert result.exit_code == 0, result.output
    assert "ecommerce-anomalies (builtin)" in result.stdout
    assert "SUM(views), SUM(revenue)" in result.stdout
    assert "the last 90 days" in result.stdout
    assert "(filled at deploy time)" in result.stdout


def test_check_params_command_raises_the_params_error(tmp_path: Path) -> None:
    # Given a broken file
    file = tmp_path / "params.json"
    file.write_text(PROJECT.read_text().replace('"PT1H"', '"PT2H"'))

    # Then the command raises the ParamsError that connector.cli.main prints, exit code 2
    result = CliRunner().invoke(_app(), ["check-params", str(file)])
    assert isinstance(result.exception, ParamsError)
    assert "detector_frequency: 'PT2H' is not a supported frequency" in str(result.exception)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("demo-bucket", None),
        ("", "3-63 lowercase letters"),
        ("a.b.c", "no dots"),
        ("evil' --", "3-63 lowercase letters"),
        ("sthree-data", "S3 reserves"),
        ("data-s3alias", "S3 reserves"),
    ],
)
def test_bucket_names_from_elsewhere_follow_the_s3_bucket_rules(
    name: str, problem: str | None
) -> None:
    # Given a bucket name from outside params.json (a CLI option)
    found = bucket_name_problem(name)
    # Then it is refused exactly when s3_bucket would refuse it (empty aside: a given
    # name must name a bucket)
    assert (found is None) == (problem is None)
    if problem is not None:
        assert found is not None and problem in found
    if name:
        data = project()
        data["s3_bucket"] = name
        data["metric_source"]["S3SourceConfig"]["HistoricalDataPathList"] = [""]
        data["metric_source"]["S3SourceConfig"]["TemplatedPathList"] = [""]
        if problem is None:
            params_from_json(json.dumps(data), source="my/params.json")
        else:
            assert "s3_bucket" in _error_of(data)
