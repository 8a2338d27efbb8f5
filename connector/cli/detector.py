"""``connector detector build|score|status``: the detector service from the command line.

The commands run the same service functions as the Lambdas, against the bucket of
params.json (``s3_bucket``) or ``--bucket``, through a boto3 client: real AWS by
default, or any S3 endpoint (the embedded runtime, moto) with ``--endpoint-url`` or
``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from rich.table import Table

from connector.cli.console import console
from connector.config import Params, load_params
from connector.detector.service import (
    build_detector,
    check_backend_available,
    detector_status,
    score_interval,
)
from connector.errors import ParamsError
from connector.intervals import interval_containing
from connector.storage import S3ObjectStore

detector_app = typer.Typer(
    name="detector",
    help="Build, score and inspect the anomaly detector of a params.json.",
    no_args_is_help=True,
)

ParamsOption = Annotated[
    Path, typer.Option("--params", "-p", help="The params.json of the detector.")
]
BucketOption = Annotated[
    str | None, typer.Option(help="Deployment bucket; defaults to s3_bucket in params.json.")
]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="S3/SNS endpoint (local runtime); default: AWS."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    app.add_typer(detector_app)


def _params(path: Path, bucket: str | None, role_arn: str = "") -> Params:
    params = load_params(path)
    if bucket and params.s3_bucket and bucket != params.s3_bucket:
        raise ParamsError(
            f"--bucket {bucket} differs from s3_bucket {params.s3_bucket!r} in {path}; "
            "drop one of them"
        )
    if params.s3_bucket:
        return params
    if not bucket:
        raise ParamsError(f"{path} has no s3_bucket; pass --bucket with the deployment bucket")
    return params.with_deployment(
        bucket, role_arn or params.metric_source.s3_source_config.role_arn
    )


def _store(params: Params, endpoint_url: str | None) -> S3ObjectStore:
    return S3ObjectStore(boto3.client("s3", endpoint_url=endpoint_url), params.s3_bucket)


def _show(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(doc, default=str))
        return
    table = Table(show_header=False, box=None)
    for key, value in doc.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, default=str)
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


@detector_app.command("build")
def build(
    params_path: ParamsOption = Path("params.json"),
    bucket: BucketOption = None,
    endpoint_url: EndpointOption = None,
    force: Annotated[bool, typer.Option(help="Retrain even if params.json is unchanged.")] = False,
    role_arn: Annotated[
        str, typer.Option(help="Role for Lookout for Metrics when params.json has none.")
    ] = "",
    alert_topic_arn: Annotated[
        str | None, typer.Option(help="SNS topic of the Lookout for Metrics alert.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create and activate the detector (idempotent); report what changed."""
    params = _params(params_path, bucket, role_arn)
    check_backend_available(params)
    client = (
        boto3.client("lookoutmetrics", endpoint_url=endpoint_url)
        if params.detector.backend == "lookoutmetrics"
        else None
    )
    report = build_detector(
        params,
        _store(params, endpoint_url),
        now=datetime.now(UTC),
        force=force,
        lookoutmetrics_client=client,
        alert_topic_arn=alert_topic_arn,
    )
    _show(report.to_json(), as_json)


@detector_app.command("score")
def score(
    start: Annotated[
        datetime,
        typer.Option(
            help="Any instant in the interval to score (ISO 8601; naive = detector time zone)."
        ),
    ],
    params_path: ParamsOption = Path("params.json"),
    bucket: BucketOption = None,
    endpoint_url: EndpointOption = None,
    alert_topic_arn: Annotated[
        str | None, typer.Option(help="SNS topic to alert; none = record anomalies only.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Score one interval now (what the continuous state machine does per interval)."""
    params = _params(params_path, bucket)
    moment = start if start.tzinfo else start.replace(tzinfo=params.timezone)
    interval = interval_containing(moment, params.frequency, params.timezone)
    summary = score_interval(
        params,
        _store(params, endpoint_url),
        interval,
        sns_client=boto3.client("sns", endpoint_url=endpoint_url) if alert_topic_arn else None,
        lambda_client=(
            boto3.client("lambda", endpoint_url=endpoint_url) if params.alert_lambda_arn else None
        ),
        alert_topic_arn=alert_topic_arn,
    )
    _show(summary, as_json)


@detector_app.command("status")
def status(
    params_path: ParamsOption = Path("params.json"),
    bucket: BucketOption = None,
    endpoint_url: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the recorded state of the detector: version, history, backtest, last interval."""
    params = _params(params_path, bucket)
    _show(detector_status(params, _store(params, endpoint_url)), as_json)
