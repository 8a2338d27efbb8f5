"""Plan Lambda of the historical crawl: one UNLOAD statement per chunk.

Event (built by the state machine's ``PlanChunks`` state)::

    {"input": <the execution input>,
     "execution_id": "arn:aws:states:…:execution:…:…",
     "execution_name": "…"}

Execution input (every field optional)::

    {"start": "2026-01-01T00:00:00Z",   # default: params.json crawl.historical_start
     "end": "2026-02-01T00:00:00Z",     # default: start of the interval open now
     "poll_seconds": 0,                 # default: crawl.poll_seconds (Wait between polls)
     "build_detector": true,            # default: true (false for a plain re-crawl)
     "reset_watermark": false,          # default: false (true: restart the live crawl
                                        # at this range's end, e.g. after a frequency change)
     "run_id": "…"}                     # default: the execution name (ClientToken salt)

Output (JSON)::

    {"statements": [{"sql", "client_token", "window_start", "window_end", "target"}, …],
     "poll_seconds": 10, "build_detector": true, "reset_watermark": false,
     "window_start": "…", "window_end": "…"}

Environment: see :class:`connector.handler_env.HandlerSettings`. Before planning, the
bundled params.json is published at ``PARAMS_KEY`` for the detector builder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from connector.config import load_params
from connector.crawl import check_plan_size, historical_window, plan_historical, publish_params
from connector.handler_env import HandlerSettings, aws_client, parse_event
from connector.storage import S3ObjectStore

logger = Logger(service="plan-historical")
metrics = Metrics(namespace="RedshiftAnomalyConnector", service="plan-historical")


class HistoricalRequest(BaseModel):
    """The execution input; unknown fields are refused so that a typo is not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    poll_seconds: int | None = Field(None, ge=0, le=300)
    build_detector: bool = True
    reset_watermark: bool = False
    run_id: str | None = Field(None, max_length=80)


class PlanHistoricalEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    input: HistoricalRequest = Field(default_factory=HistoricalRequest)
    execution_id: str = ""
    execution_name: str = ""


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(PlanHistoricalEvent, event)
    logger.append_keys(execution_id=request.execution_id)
    settings = HandlerSettings.from_env()
    params = load_params(settings.resolved_params_path)
    store = S3ObjectStore(aws_client("s3"), settings.bucket)
    if publish_params(store, settings.params_key, settings.resolved_params_path.read_text("utf-8")):
        logger.info("params.json published", extra={"key": settings.params_key})
    now = datetime.now(UTC)
    ask = request.input
    window = historical_window(params, start=ask.start, end=ask.end, now=now)
    statements = plan_historical(
        params,
        start=window.start,
        end=window.end,
        now=now,
        bucket=settings.bucket,
        role_arn=settings.unload_role_arn,
        run_id=ask.run_id if ask.run_id is not None else request.execution_name,
    )
    plan = {
        "statements": statements,
        "poll_seconds": ask.poll_seconds
        if ask.poll_seconds is not None
        else params.crawl.poll_seconds,
        "build_detector": ask.build_detector,
        "reset_watermark": ask.reset_watermark,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
    }
    check_plan_size(plan)
    for statement in statements:
        logger.info(
            "chunk planned",
            extra={
                "window_start": statement["window_start"],
                "window_end": statement["window_end"],
                "target": statement["target"],
                "client_token": statement["client_token"],
            },
        )
    metrics.add_metric(name="PlannedChunks", unit=MetricUnit.Count, value=len(statements))
    return plan
