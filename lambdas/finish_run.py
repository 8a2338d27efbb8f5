"""Finish Lambda of both crawls: record on the watermark what a run landed.

Continuous crawl (``FinishRun`` after the UNLOADs; ``ReleaseRun`` on the Catch path,
with nothing unloaded)::

    {"crawl": "continuous", "execution_name": "…", "input": <the execution input>,
     "planned": [{"window_start", "window_end", "target"}, …],
     "unloaded": [{"window_start", "window_end", "landed": true|false, "error"?, "cause"?}, …]}

Output: ``{"watermark", "landed", "score": [...], "failure"?: {"Error", "Cause"}}``
(see :func:`connector.crawl.finish_continuous`).

Historical crawl (``RecordHistory`` once every chunk landed)::

    {"crawl": "historical", "execution_name": "…", "window_end": "2026-03-01T00:00:00Z",
     "reset": false}    # true: a deliberate reset (the execution input's reset_watermark)

Output: ``{"watermark", "origin", "set"}`` (see :func:`connector.crawl.record_history`).

The run id is the execution input's ``run_id``, else the execution name: the same one
the plan Lambda claimed the intervals with. Environment: see
:class:`connector.handler_env.HandlerSettings`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from connector.config import load_params
from connector.crawl import finish_continuous, record_history
from connector.handler_env import EventError, HandlerSettings, aws_client, parse_event
from connector.storage import S3ObjectStore

logger = Logger(service="finish-run")
metrics = Metrics(namespace="RedshiftAnomalyConnector", service="finish-run")


class _RunInput(BaseModel):
    # Only the run id matters here; the plan Lambda has validated the rest.
    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str | None = Field(None, max_length=80)


# Windows stay the strings the plan wrote: they are handed on to the scoring Map as is.
class _Unloaded(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    window_start: str
    window_end: str
    landed: bool
    error: str | None = None
    cause: str | None = None


class _Planned(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    window_start: str
    window_end: str
    target: str


class ContinuousFinish(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    crawl: Literal["continuous"]
    execution_name: str = ""
    input: _RunInput = Field(default_factory=_RunInput)
    planned: list[_Planned] = Field(default_factory=list)
    unloaded: list[_Unloaded] = Field(default_factory=list)


class HistoricalFinish(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    crawl: Literal["historical"]
    execution_name: str = ""
    window_end: AwareDatetime
    reset: bool = False


class FinishEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    request: Annotated[ContinuousFinish | HistoricalFinish, Field(discriminator="crawl")]


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(FinishEvent, {"request": event}).request
    run_id = request.execution_name
    if isinstance(request, ContinuousFinish):
        run_id = request.input.run_id or run_id
    if not run_id:
        raise EventError("the event names no execution: give execution_name or input.run_id")
    logger.append_keys(run_id=run_id, crawl=request.crawl)
    settings = HandlerSettings.from_env()
    params = load_params(settings.resolved_params_path)
    store = S3ObjectStore(aws_client("s3"), settings.bucket)
    now = datetime.now(UTC)
    if isinstance(request, HistoricalFinish):
        result = record_history(
            store,
            params,
            window_end=request.window_end,
            run_id=run_id,
            now=now,
            reset=request.reset,
        )
        logger.info("history recorded", extra=result)
        return result
    result = finish_continuous(
        store,
        params,
        run_id=run_id,
        planned=[item.model_dump(exclude_none=True) for item in request.planned],
        unloaded=[item.model_dump(exclude_none=True) for item in request.unloaded],
        now=now,
    )
    logger.info(
        "run finished",
        extra={key: result[key] for key in ("watermark", "landed") if key in result},
    )
    metrics.add_metric(name="LandedIntervals", unit=MetricUnit.Count, value=result["landed"])
    if "failure" in result:
        metrics.add_metric(name="FailedIntervals", unit=MetricUnit.Count, value=1)
    return result
