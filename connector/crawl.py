"""What each crawl unloads: the planned statements the crawl state machines execute.

The plan Lambdas call these pure functions; the state machines run each planned
statement through the Redshift Data API. A planned statement is a JSON-safe dict::

    {"sql": "UNLOAD ('…') TO 's3://…' IAM_ROLE '…' …",
     "client_token": "<64 hex chars>",
     "window_start": "2026-03-01T10:00:00+00:00",
     "window_end": "2026-03-01T11:00:00+00:00",
     "target": "s3://bucket/prefix/live/20260301/1000/"}

``client_token`` is the Data API's idempotency token: a hash of the statement and its
window (plus an optional run id), so that a retried ``executeStatement`` returns the
statement already started instead of running the UNLOAD twice.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from connector.config import Params
from connector.errors import PlanError
from connector.intervals import (
    Interval,
    due_intervals,
    last_closed_interval,
    plan_chunks,
)
from connector.sql import CrawlKind, render_unload, unload_target
from connector.storage import (
    ObjectNotFoundError,
    ObjectStore,
    PreconditionFailedError,
)

__all__ = [
    "MAX_PLAN_BYTES",
    "check_plan_size",
    "client_token",
    "historical_window",
    "plan_continuous",
    "plan_historical",
    "publish_params",
]

# Step Functions caps a state's input/output at 256 KiB; keep room for the rest.
MAX_PLAN_BYTES = 200_000


def client_token(sql: str, window: Interval, run_id: str = "") -> str:
    """A valid Data API ``ClientToken`` (1-64 characters) for this statement and window."""
    text = "\n".join([window.start.isoformat(), window.end.isoformat(), run_id, sql])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _located(params: Params, bucket: str) -> Params:
    # As connector.sql.render_unload does: the deployed bucket fills an empty s3_bucket.
    return params if params.s3_bucket else params.model_copy(update={"s3_bucket": bucket})


def _statement(
    params: Params,
    kind: CrawlKind,
    window: Interval,
    *,
    bucket: str,
    role_arn: str,
    run_id: str,
) -> dict[str, str]:
    sql = render_unload(params, kind, window, bucket=bucket, role_arn=role_arn)
    return {
        "sql": sql,
        "client_token": client_token(sql, window, run_id),
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "target": unload_target(_located(params, bucket), kind, window),
    }


def historical_window(
    params: Params,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime,
) -> Interval:
    """The range a historical crawl covers: params.json's history, or ``start``/``end``.

    Unaligned bounds are floored to their interval's start (see
    :func:`connector.intervals.intervals_between`). The range never extends past the
    start of the interval open at ``now``: that interval belongs to the continuous crawl.
    """
    default = params.historical_range(now)
    window = Interval(start or default.start, end or default.end)
    for name, value in (("start", window.start), ("end", window.end)):
        if value.tzinfo is None:
            raise PlanError(
                f"{name} {value.isoformat()} has no time zone; give an ISO-8601 time with an "
                "offset, e.g. 2026-03-01T00:00:00Z"
            )
    if window.end > default.end:
        raise PlanError(
            f"end {window.end.isoformat()} is after {default.end.isoformat()}, the start of "
            "the interval still open; re-crawl only closed intervals"
        )
    if window.end < window.start:
        raise PlanError(
            f"end {window.end.isoformat()} is before start {window.start.isoformat()}; swap them"
        )
    return window


def plan_historical(
    params: Params,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime,
    bucket: str,
    role_arn: str,
    run_id: str = "",
) -> list[dict[str, str]]:
    """One UNLOAD per historical chunk of :func:`historical_window`, oldest first.

    Chunks follow ``crawl.chunk_intervals`` and the detector's historical limits
    (:func:`connector.intervals.plan_chunks`); each writes files directly under the
    historical prefix, named by the chunk's start. ``run_id`` (the execution name) makes
    each crawl's tokens its own, so a re-crawl runs again rather than returning the
    earlier run's statements.
    """
    window = historical_window(params, start=start, end=end, now=now)
    chunks = plan_chunks(
        window.start,
        window.end,
        params.frequency,
        params.timezone,
        params.crawl.chunk_intervals,
    )
    return [
        _statement(params, "historical", chunk, bucket=bucket, role_arn=role_arn, run_id=run_id)
        for chunk in chunks
    ]


def plan_continuous(
    params: Params,
    *,
    scheduled_time: datetime,
    bucket: str,
    role_arn: str,
    run_id: str = "",
) -> list[dict[str, str]]:
    """The UNLOAD of each interval due at ``scheduled_time``, oldest first.

    That is the last interval closed at ``scheduled_time`` plus the
    ``crawl.restatement_intervals`` before it (re-crawled for late rows), at most
    ``crawl.max_intervals_per_run`` (the newest ones). Windows come from the schedule's
    time, never from the clock, so a late or repeated run unloads the same windows.
    Tokens are deterministic unless ``run_id`` is given: a duplicate delivery of the
    same schedule returns the statements already started.
    """
    if scheduled_time.tzinfo is None:
        raise PlanError(
            f"scheduled_time {scheduled_time.isoformat()} has no time zone; the schedule "
            "passes UTC times such as 2026-03-01T10:02:00Z"
        )
    freq, tz = params.frequency, params.timezone
    first = last_closed_interval(scheduled_time, freq, tz)
    for _ in range(params.crawl.restatement_intervals):
        first = last_closed_interval(first.start, freq, tz)
    intervals = due_intervals(first.start, scheduled_time, freq, tz)
    intervals = intervals[-params.crawl.max_intervals_per_run :]
    return [
        _statement(params, "continuous", interval, bucket=bucket, role_arn=role_arn, run_id=run_id)
        for interval in intervals
    ]


def check_plan_size(plan: dict[str, Any]) -> None:
    """Raise :class:`PlanError` when a plan would not fit in a Step Functions payload."""
    size = len(json.dumps(plan).encode("utf-8"))
    if size > MAX_PLAN_BYTES:
        statements = len(plan.get("statements", ()))
        raise PlanError(
            f"the plan of {statements} statements is {size:,} bytes, more than the "
            f"{MAX_PLAN_BYTES:,} a Step Functions state can carry; raise crawl.chunk_intervals "
            "or crawl a shorter range per execution (start/end in the execution input)"
        )


def publish_params(store: ObjectStore, key: str, text: str) -> bool:
    """Make ``key`` hold ``text`` (the params.json a run planned with); True if written.

    The detector functions read params.json from the bucket, so each crawl publishes
    the copy it was deployed with before anything reads it. Unchanged content is not
    rewritten; the write is conditional, so two runs publishing at once cannot clobber
    a newer file with an older one unnoticed.
    """
    body = text.encode("utf-8")
    try:
        current = store.get(key)
    except ObjectNotFoundError:
        current = None
    if current is not None and current.body == body:
        return False
    try:
        if current is None:
            store.put(key, body, content_type="application/json", if_none_match=True)
        else:
            store.put(key, body, content_type="application/json", if_match=current.etag)
    except (PreconditionFailedError, ObjectNotFoundError) as exc:
        try:
            if store.get(key).body == body:
                return False
        except ObjectNotFoundError:
            pass
        raise PlanError(
            f"s3://{store.bucket}/{key} changed while this run published params.json; "
            "another deployment is running against the same bucket: run this crawl again "
            "once it finished"
        ) from exc
    return True
