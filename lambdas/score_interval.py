"""Scoring Lambda: run the built-in detector on one crawled interval.

Event (one interval, from the continuous state machine, named by its START)::

    {"window_start": "2026-03-01T10:00:00+00:00", "window_end": "2026-03-01T11:00:00+00:00"}

Environment (:class:`Settings`):

- ``DATA_BUCKET`` — the deployment bucket (data, model state, anomalies)
- ``PARAMS_KEY`` — key of params.json in that bucket (default ``params.json``)
- ``ALERT_TOPIC_ARN`` — SNS topic for alerts (optional)

Returns the interval's summary: status (scored, learning, missing,
already_scored, or no_detector with a message saying to build it), rows, series,
anomaly groups, the highest severity, the alert channels used and the key of the
anomalies file. Domain errors are raised for the state machine's Retry/Catch
(e.g. a concurrent rebuild: score again).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from connector.detector.service import load_deployed_params, score_interval
from connector.handler_env import aws_client
from connector.intervals import Interval
from connector.storage import S3ObjectStore

logger = Logger(service="detector-scorer")
metrics = Metrics(namespace="RedshiftAnomalyConnector", service="detector-scorer")


class Settings(BaseModel):
    """The Lambda's environment variables."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    params_key: str = Field("params.json", alias="PARAMS_KEY", min_length=1)
    alert_topic_arn: str = Field("", alias="ALERT_TOPIC_ARN")


class ScoreEvent(BaseModel):
    """One interval, half-open, with UTC offsets."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    window_start: AwareDatetime
    window_end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> ScoreEvent:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self

    @property
    def interval(self) -> Interval:
        return Interval(self.window_start, self.window_end)


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = Settings.model_validate(os.environ)
    request = ScoreEvent.model_validate(event)
    store = S3ObjectStore(aws_client("s3"), settings.bucket)
    params = load_deployed_params(store, settings.params_key)
    summary = score_interval(
        params,
        store,
        request.interval,
        sns_client=aws_client("sns") if settings.alert_topic_arn else None,
        lambda_client=aws_client("lambda") if params.alert_lambda_arn else None,
        alert_topic_arn=settings.alert_topic_arn or None,
    )
    logger.info("interval scored", extra={"summary": summary})
    metrics.add_metric(name="AnomalyGroups", unit=MetricUnit.Count, value=summary["anomaly_groups"])
    metrics.add_metric(name="MaxSeverity", unit=MetricUnit.Count, value=summary["max_severity"])
    metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=len(summary["alerts"]))
    return summary
