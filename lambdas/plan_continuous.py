"""Plan Lambda of the continuous crawl: the UNLOAD of each interval due at the schedule.

Event (built by the state machine's ``PlanIntervals`` state)::

    {"input": <the execution input>, "execution_id": "…", "execution_name": "…"}

Execution input, as EventBridge Scheduler sends it (``poll_seconds`` and ``run_id``
optional)::

    {"scheduled_time": "2026-03-01T11:02:00Z", "poll_seconds": 0, "run_id": "…"}

Output (JSON)::

    {"statements": [{"sql", "client_token", "window_start", "window_end", "target"}, …],
     "intervals": [{"window_start", "window_end", "target"}, …],
     "poll_seconds": 10}

Environment: see :class:`connector.handler_env.HandlerSettings`. Before planning, the
bundled params.json is published at ``PARAMS_KEY`` for the scoring function.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from connector.config import load_params
from connector.crawl import check_plan_size, plan_continuous, publish_params
from connector.handler_env import HandlerSettings, parse_event
from connector.storage import S3ObjectStore

logger = Logger(service="plan-continuous")
metrics = Metrics(namespace="RedshiftAnomalyConnector", service="plan-continuous")


class ContinuousRequest(BaseModel):
    """The execution input; unknown fields are refused so that a typo is not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheduled_time: AwareDatetime
    poll_seconds: int | None = Field(None, ge=0, le=300)
    run_id: str | None = Field(None, max_length=80)


class PlanContinuousEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    input: ContinuousRequest
    execution_id: str = ""
    execution_name: str = ""


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(PlanContinuousEvent, event)
    logger.append_keys(
        execution_id=request.execution_id, scheduled_time=request.input.scheduled_time.isoformat()
    )
    settings = HandlerSettings.from_env()
    params = load_params(settings.resolved_params_path)
    store = S3ObjectStore(boto3.client("s3"), settings.bucket)
    if publish_params(store, settings.params_key, settings.resolved_params_path.read_text("utf-8")):
        logger.info("params.json published", extra={"key": settings.params_key})
    ask = request.input
    statements = plan_continuous(
        params,
        scheduled_time=ask.scheduled_time,
        bucket=settings.bucket,
        role_arn=settings.unload_role_arn,
        run_id=ask.run_id or "",
    )
    plan = {
        "statements": statements,
        "intervals": [
            {key: statement[key] for key in ("window_start", "window_end", "target")}
            for statement in statements
        ],
        "poll_seconds": ask.poll_seconds
        if ask.poll_seconds is not None
        else params.crawl.poll_seconds,
    }
    check_plan_size(plan)
    for statement in statements:
        logger.info(
            "interval planned",
            extra={
                "window_start": statement["window_start"],
                "target": statement["target"],
                "client_token": statement["client_token"],
            },
        )
    metrics.add_metric(name="PlannedIntervals", unit=MetricUnit.Count, value=len(statements))
    return plan
