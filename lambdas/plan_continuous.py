"""Plan Lambda of the continuous crawl: claim and plan every interval due since the watermark.

Event (built by the state machine's ``PlanIntervals`` state)::

    {"input": <the execution input>, "execution_id": "…", "execution_name": "…"}

Execution input, as EventBridge Scheduler sends it (``poll_seconds`` and ``run_id``
optional)::

    {"scheduled_time": "2026-03-01T11:02:00Z", "poll_seconds": 0, "run_id": "…"}

``run_id`` defaults to the execution name: it names the run's lease on the watermark
and salts its ClientTokens. Re-running a failed execution with ``"run_id": "<its
name>"`` resumes it (its lease, its statements) where Step Functions redrive is not
available.

Output (JSON)::

    {"run_id": "…",
     "statements": [{"sql", "client_token", "window_start", "window_end", "target"}, …],
     "intervals": [{"window_start", "window_end", "target"}, …],
     "reason": "",          # why nothing was planned, when nothing was
     "poll_seconds": 10}

Environment: see :class:`connector.handler_env.HandlerSettings`, plus ``LEASE_SECONDS``
(how long the run's claim on its intervals excludes other runs; the stack sets it
longer than the state machine's timeout). Before planning, the bundled params.json is
published at ``PARAMS_KEY`` for the scoring function.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from connector.config import load_params
from connector.crawl import check_plan_size, publish_params, start_continuous
from connector.handler_env import (
    EventError,
    HandlerSettings,
    SettingsError,
    aws_client,
    parse_event,
)
from connector.storage import S3ObjectStore

logger = Logger(service="plan-continuous")
metrics = Metrics(namespace="RedshiftAnomalyConnector", service="plan-continuous")


class ContinuousRequest(BaseModel):
    """The execution input; unknown fields are refused so that a typo is not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheduled_time: AwareDatetime
    poll_seconds: int | None = Field(None, ge=0, le=300)
    run_id: str | None = Field(None, max_length=80)


class LeaseSettings(BaseModel):
    """``LEASE_SECONDS``; the default matches what the stack sets for a 1-hour timeout."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    lease_seconds: int = Field(4200, alias="LEASE_SECONDS", ge=1, le=7 * 24 * 3600)

    @classmethod
    def from_env(cls) -> LeaseSettings:
        try:
            return cls.model_validate(dict(os.environ))
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise SettingsError(
                f"LEASE_SECONDS is not a number of seconds from 1 to 604800 ({reason}); "
                "redeploy the stack"
            ) from exc


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
    store = S3ObjectStore(aws_client("s3"), settings.bucket)
    if publish_params(store, settings.params_key, settings.resolved_params_path.read_text("utf-8")):
        logger.info("params.json published", extra={"key": settings.params_key})
    ask = request.input
    run_id = ask.run_id or request.execution_name
    if not run_id:
        raise EventError("the event names no execution: give execution_name or input.run_id")
    plan = start_continuous(
        store,
        params,
        scheduled_time=ask.scheduled_time,
        run_id=run_id,
        lease=timedelta(seconds=LeaseSettings.from_env().lease_seconds),
        bucket=settings.bucket,
        role_arn=settings.unload_role_arn,
    )
    plan["poll_seconds"] = (
        ask.poll_seconds if ask.poll_seconds is not None else params.crawl.poll_seconds
    )
    check_plan_size(plan)
    statements = plan["statements"]
    if not statements:
        logger.info("nothing planned", extra={"reason": plan["reason"]})
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
