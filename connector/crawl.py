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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connector import watermark
from connector.config import Params
from connector.errors import PlanError
from connector.intervals import Interval, align, plan_chunks
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
    "finish_continuous",
    "historical_window",
    "plan_continuous",
    "plan_historical",
    "publish_params",
    "record_history",
    "start_continuous",
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
    intervals: Sequence[Interval],
    *,
    bucket: str,
    role_arn: str,
    run_id: str,
) -> list[dict[str, str]]:
    """The UNLOAD of each of ``intervals`` (oldest first) into its start-named folder.

    ``run_id`` (the execution name) salts the tokens: a restated interval is unloaded
    again by a later run instead of returning the earlier run's statement, while the
    same execution, retried or resumed, gets the statements it already started.
    """
    return [
        _statement(params, "continuous", interval, bucket=bucket, role_arn=role_arn, run_id=run_id)
        for interval in intervals
    ]


def start_continuous(
    store: ObjectStore,
    params: Params,
    *,
    scheduled_time: datetime,
    run_id: str,
    lease: timedelta,
    bucket: str,
    role_arn: str,
    started_at: datetime | None = None,
) -> dict[str, Any]:
    """Plan one continuous run from the watermark and claim its intervals.

    Every interval from the watermark up to the last one closed at ``scheduled_time``
    (at most ``crawl.max_intervals_per_run``), after the ``crawl.restatement_intervals``
    before the watermark (see :func:`connector.watermark.start_run`). Windows come from
    the schedule's time, never the clock, so a duplicate delivery plans the same ones
    (and finds them leased or landed). Returns the plan the state machine carries::

        {"run_id", "statements": [...], "intervals": [{"window_start", "window_end",
         "target"}, ...], "reason": "…"}

    ``reason`` says why nothing was planned (empty when something was).
    """
    if scheduled_time.tzinfo is None:
        raise PlanError(
            f"scheduled_time {scheduled_time.isoformat()} has no time zone; the schedule "
            "passes UTC times such as 2026-03-01T10:02:00Z"
        )
    started_at = started_at or datetime.now(UTC)
    intervals = watermark.start_run(
        store, params, run_id=run_id, now=scheduled_time, ttl=lease, started_at=started_at
    )
    statements = plan_continuous(params, intervals, bucket=bucket, role_arn=role_arn, run_id=run_id)
    return {
        "run_id": run_id,
        "statements": statements,
        "intervals": [_interval_item(statement) for statement in statements],
        "reason": "" if statements else _why_nothing(store, params, run_id, started_at),
    }


def _interval_item(statement: Mapping[str, str]) -> dict[str, str]:
    return {key: statement[key] for key in ("window_start", "window_end", "target")}


def _why_nothing(store: ObjectStore, params: Params, run_id: str, now: datetime) -> str:
    mark = watermark.read(store, params)
    if mark is None:
        return (
            "no watermark yet: the historical crawl sets it when it has landed history; "
            "run it first"
        )
    if mark.leased_by_other(run_id, now) and mark.lease is not None:
        return (
            f"run {mark.lease.run_id!r} is crawling up to {mark.lease.until.isoformat()}; "
            "this run leaves those intervals to it"
        )
    return f"nothing due: every closed interval up to {mark.end.isoformat()} has landed"


def finish_continuous(
    store: ObjectStore,
    params: Params,
    *,
    run_id: str,
    planned: Sequence[Mapping[str, Any]],
    unloaded: Sequence[Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """Advance the watermark over what this run landed, release its lease, report.

    ``planned`` are the plan's intervals and ``unloaded`` the outcome of each UNLOAD
    (``{"window_start", "window_end", "landed": bool, "error"?, "cause"?}``); an empty
    ``unloaded`` (the run failed before or while unloading) only releases the lease.
    Returns::

        {"watermark": "<end>" | None, "landed": n, "score": [intervals to score],
         "failure": {"Error", "Cause"}}        # only when an UNLOAD did not land

    ``score`` holds the planned intervals the watermark now covers, oldest first: the
    detector sees intervals in order and never one after a gap (a restated interval
    it already scored answers ``already_scored``).
    """
    landed = [_interval(item) for item in unloaded if item.get("landed")]
    # Without a watermark nothing was claimed: there is nothing to advance or release
    # (unless something landed, which finish_run reports as the watermark vanishing).
    mark = watermark.read(store, params)
    if landed or mark is not None:
        mark = watermark.finish_run(store, params, run_id=run_id, landed=landed, now=now)
    end = mark.end if mark is not None else None
    result: dict[str, Any] = {
        "watermark": end.isoformat() if end is not None else None,
        "landed": len(landed),
        "score": [
            {key: item[key] for key in ("window_start", "window_end", "target")}
            for item in planned
            if end is not None and _interval(item).end <= end
        ],
    }
    failed = [item for item in unloaded if not item.get("landed")]
    if failed:
        first = failed[0]
        result["failure"] = {
            "Error": str(first.get("error") or "UnloadFailed"),
            "Cause": (
                f"{len(failed)} of {len(unloaded)} intervals did not land; the watermark "
                f"stays at {result['watermark']} and the next run unloads them again. "
                f"First: {first.get('cause') or first.get('error')}"
            ),
        }
    return result


def _interval(item: Mapping[str, Any]) -> Interval:
    try:
        return Interval(
            datetime.fromisoformat(str(item["window_start"])),
            datetime.fromisoformat(str(item["window_end"])),
        )
    except (KeyError, ValueError) as exc:
        raise PlanError(f"an interval of the run is malformed ({exc}): {dict(item)}") from exc


def record_history(
    store: ObjectStore,
    params: Params,
    *,
    window_end: datetime,
    run_id: str,
    now: datetime | None = None,
    reset: bool = False,
) -> dict[str, Any]:
    """Start the watermark where the crawled history ends, unless it is set already.

    Called when every historical chunk has landed. The first crawl sets it at
    ``window_end`` (floored to an interval boundary), so continuous intervals start
    exactly where history ends; a later re-crawl leaves it alone (moving it back
    would land live intervals twice, moving it forward would skip some). ``reset``
    (a deliberate restart, e.g. after changing the frequency, with the schedule
    disabled) sets it at ``window_end`` whatever it was, dropping any lease. Returns
    ``{"watermark": "<end>", "origin": "<where the live crawl began>", "set": bool}``.
    """
    end = align(window_end, params.frequency, params.timezone)
    mark = watermark.initialise(store, params, end=end, run_id=run_id, now=now, force=reset)
    return {
        "watermark": mark.end.isoformat(),
        "origin": mark.origin.isoformat(),
        "set": mark.run_id == run_id and (reset or mark.version == 1),
    }


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
