"""Builder Lambda: create and activate the detector of params.json (both backends).

Event: ignored except an optional ``{"force": true}`` to retrain with unchanged
params. The historical-crawl state machine calls it after the last chunk landed.

Environment (:class:`Settings`):

- ``DATA_BUCKET`` — the deployment bucket (data, model state, anomalies)
- ``PARAMS_KEY`` — key of params.json in that bucket (default ``params.json``)
- ``DETECTOR_ROLE_ARN`` — fills ``RoleArn`` when params.json leaves it empty
  (Lookout for Metrics only; optional)
- ``ALERT_TOPIC_ARN`` — SNS topic of the Lookout for Metrics alert (optional)

Returns the build report: action (created, retrained, updated, unchanged), version,
the changed fields, series, history range and backtest summary.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from connector.detector.service import (
    build_detector,
    check_backend_available,
    load_deployed_params,
)
from connector.handler_env import aws_client
from connector.storage import S3ObjectStore

logger = Logger(service="detector-builder")
metrics = Metrics(namespace="RedshiftAnomalyConnector", service="detector-builder")


class Settings(BaseModel):
    """The Lambda's environment variables."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    params_key: str = Field("params.json", alias="PARAMS_KEY", min_length=1)
    role_arn: str = Field("", alias="DETECTOR_ROLE_ARN")
    alert_topic_arn: str = Field("", alias="ALERT_TOPIC_ARN")


class BuildEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    force: bool = False


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    settings = Settings.model_validate(os.environ)
    request = BuildEvent.model_validate(event or {})
    store = S3ObjectStore(aws_client("s3"), settings.bucket)
    params = load_deployed_params(store, settings.params_key, role_arn=settings.role_arn)
    # Before any client is made: botocore without lookoutmetrics would fail obscurely.
    check_backend_available(params)
    report = build_detector(
        params,
        store,
        now=datetime.now(UTC),
        force=request.force,
        lookoutmetrics_client=(
            aws_client("lookoutmetrics") if params.detector.backend == "lookoutmetrics" else None
        ),
        alert_topic_arn=settings.alert_topic_arn or None,
    )
    result = report.to_json()
    logger.info("detector built", extra={"report": result})
    metrics.add_metric(name="BuildSeconds", unit=MetricUnit.Seconds, value=report.seconds)
    metrics.add_metric(name="Series", unit=MetricUnit.Count, value=report.series)
    return result
