"""Recovery after an outage: re-crawl a range, redrive a failed execution, report gaps.

The functions behind ``connector recrawl``, ``connector redrive`` and ``connector
status``. They work on injected boto3 clients (Step Functions, CloudFormation) and an
:class:`~connector.storage.ObjectStore`, so that the same code runs against AWS, the
embedded runtime and botocore's Stubber in tests. The CLI (``connector.cli.recovery``)
only parses options, picks the clients and prints.

Local work folders
------------------
``--local`` commands have no account that outlives the process: the embedded runtime
starts empty each time. Their state is the work folder ``run --local`` writes
(``connector-output`` by default): ``bucket/`` is the exported emulated bucket, and
``executions.jsonl`` logs the executions these commands ran (one JSON object a line),
which is what ``status`` and ``redrive`` read back. :class:`FolderObjectStore` reads
``bucket/`` as an object store, so ``status --local`` needs no runtime at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from connector import storage, watermark
from connector.config import Params
from connector.crawl import client_token, historical_window
from connector.errors import ConnectorError, PlanError
from connector.intervals import Interval, align, intervals_between, next_boundary, plan_chunks
from connector.sql import render_unload, unload_target

__all__ = [
    "EXECUTIONS_LOG",
    "FAILED_STATUSES",
    "REDRIVE_WINDOW",
    "ExecutionFailed",
    "ExecutionInfo",
    "FolderObjectStore",
    "RecoveryError",
    "RecrawlPlan",
    "StackOutputs",
    "StatusReport",
    "UnloadOutcome",
    "append_execution",
    "as_redriven",
    "build_status",
    "check_chunks",
    "check_redrivable",
    "default_stack_name",
    "describe_execution",
    "historical_chunk_starts",
    "import_folder",
    "last_executions",
    "live_folder_starts",
    "plan_recrawl",
    "read_executions",
    "recrawl_input",
    "recrawl_window",
    "redrive_execution",
    "replace_folder",
    "stack_outputs",
    "start_execution",
    "unload_live",
    "wait_for_execution",
]

FAILED_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
"""Execution statuses Step Functions can redrive (and that make ``status`` unhealthy)."""
TERMINAL_STATUSES = FAILED_STATUSES | {"SUCCEEDED"}
REDRIVE_WINDOW = timedelta(days=14)
"""Step Functions redrives a Standard execution up to 14 days after it stopped."""
EXECUTIONS_LOG = "executions.jsonl"
HISTORICAL = "historical"
CONTINUOUS = "continuous"
_OUTPUTS = {
    HISTORICAL: "HistoricalCrawlStateMachineArn",
    CONTINUOUS: "ContinuousCrawlStateMachineArn",
}
_BUCKET_OUTPUT = "DataBucketName"


class RecoveryError(ConnectorError):
    """A recovery command cannot do what it was asked (bad input, wrong state): exit 2."""


class ExecutionFailed(ConnectorError):
    """An execution the command waited for did not succeed: exit 1."""

    exit_code = 1


# --- the stack ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StackOutputs:
    """What the recovery commands need from the deployed stack."""

    historical_arn: str
    continuous_arn: str
    bucket: str
    unload_role_arn: str = ""

    def arn(self, machine: str) -> str:
        return self.historical_arn if machine == HISTORICAL else self.continuous_arn


def default_stack_name(params: Params) -> str:
    """The stack name ``cdk deploy`` gives the app (docs/deploy.md)."""
    return f"AnomalyConnector-{params.detector_name}"


def stack_outputs(cloudformation: Any, stack_name: str) -> StackOutputs:
    """Read the state machine ARNs and the data bucket from the stack's outputs."""
    with _aws_call(
        "CloudFormation",
        lambda reason: (
            f"stack {stack_name!r} cannot be read ({reason}); deploy it first "
            "(docs/deploy.md), or pass --stack with its name or --state-machine-arn"
        ),
    ):
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [key for key in (*_OUTPUTS.values(), _BUCKET_OUTPUT) if key not in outputs]
    if missing:
        raise RecoveryError(
            f"stack {stack_name!r} has no output {', '.join(missing)}; is it the connector's "
            "stack? Redeploy it with this version of the CDK app"
        )
    return StackOutputs(
        historical_arn=outputs[_OUTPUTS[HISTORICAL]],
        continuous_arn=outputs[_OUTPUTS[CONTINUOUS]],
        bucket=outputs[_BUCKET_OUTPUT],
        unload_role_arn=outputs.get("UnloadRoleArn", ""),
    )


# --- recrawl --------------------------------------------------------------------------


def recrawl_window(params: Params, start: datetime, end: datetime, now: datetime) -> Interval:
    """The range a re-crawl covers, checked with the historical crawl's own rules.

    Bounds are floored to their interval's start, as the plan Lambda does; the range
    must hold at least one interval, end no later than the start of the interval open
    at ``now`` (that one belongs to the continuous crawl), and fit the detector's
    timeframe and file limits (:func:`~connector.intervals.plan_chunks`). Refusing here
    means nothing is started, instead of an execution failing in its first state.
    """
    freq, tz = params.frequency, params.timezone
    first, last = align(start, freq, tz), align(end, freq, tz)
    if first >= last:
        raise PlanError(
            f"--end {end.isoformat()} is not after --start {start.isoformat()} (aligned to "
            f"{freq} intervals: {first.isoformat()} → {last.isoformat()}); a re-crawl needs at "
            "least one whole interval"
        )
    try:
        window = historical_window(params, start=first, end=last, now=now)
        plan_chunks(window.start, window.end, freq, tz, params.crawl.chunk_intervals)
    except PlanError as exc:
        raise PlanError(f"--start/--end: {exc}") from exc
    return window


def recrawl_input(
    window: Interval,
    *,
    build_detector: bool,
    poll_seconds: int | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The historical state machine's execution input for a re-crawl of ``window``."""
    document: dict[str, Any] = {
        "start": _iso(window.start),
        "end": _iso(window.end),
        "build_detector": build_detector,
    }
    if poll_seconds is not None:
        document["poll_seconds"] = poll_seconds
    if run_id is not None:
        document["run_id"] = run_id
    return document


@dataclass(frozen=True, slots=True)
class RecrawlPlan:
    """How a re-crawl of :attr:`window` lands: history as chunks, live intervals in folders."""

    window: Interval
    historical: Interval | None
    """The part before :attr:`boundary`: one historical state machine execution."""
    live: tuple[Interval, ...]
    """The intervals from :attr:`boundary` on, each UNLOADed into its own live folder."""
    boundary: datetime | None
    """Where live folders begin: the watermark's origin, else the first live folder."""


def plan_recrawl(params: Params, store: Any, window: Interval) -> RecrawlPlan:
    """Split ``window`` at the start of the live folders, and check the historical part.

    The historical crawl writes files named by their chunk's start directly under the
    historical prefix; intervals from the watermark's origin on live in start-named
    folders instead. So a re-crawl rewrites each part where it lives: the live part
    folder by folder (a historical chunk there would duplicate those rows under the
    historical prefix and leave the folders as they were), the historical part as
    the very chunks the first crawl wrote (:func:`check_chunks`).
    """
    mark = watermark.read(store, params)
    if mark is not None:
        boundary: datetime | None = mark.origin
    else:
        starts = live_folder_starts(params, store)
        boundary = starts[0] if starts else None
    historical: Interval | None
    live: tuple[Interval, ...]
    if boundary is None or window.end <= boundary:
        historical, live = window, ()
    elif window.start >= boundary:
        historical = None
        live = tuple(intervals_between(window.start, window.end, params.frequency, params.timezone))
    else:
        historical = Interval(window.start, boundary)
        live = tuple(intervals_between(boundary, window.end, params.frequency, params.timezone))
    if historical is not None:
        check_chunks(params, store, historical, boundary, requested_end=window.end)
    return RecrawlPlan(window=window, historical=historical, live=live, boundary=boundary)


_CHUNK_NAME = re.compile(r"(\d{8}T\d{4})_[^/]*$")


def historical_chunk_starts(params: Params, store: Any) -> list[datetime]:
    """Starts (UTC) of the chunk files under the historical prefix, from their names."""
    prefix = _located(params, store.bucket).historical_path.removeprefix("s3://").partition("/")[2]
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    starts = set()
    for info in store.list(prefix, recursive=False):
        match = _CHUNK_NAME.search(info.key)
        if match:
            starts.add(datetime.strptime(match.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC))
    return sorted(starts)


def check_chunks(
    params: Params,
    store: Any,
    part: Interval,
    boundary: datetime | None = None,
    *,
    requested_end: datetime | None = None,
) -> None:
    """Refuse a historical re-crawl that would cut across the chunks already in the bucket.

    A chunk file is named by its start and rewritten whole: a re-crawl chunk starting
    inside an existing one would add a second file holding the same rows (the detector
    would count them twice), one starting with it but ending sooner would overwrite it
    with part of its rows. So each planned chunk must either be an existing chunk
    exactly, or overlap none (a chunk deleted by mistake is re-crawled this way). An
    existing chunk spans ``crawl.chunk_intervals`` intervals from its start, cut at the
    next chunk or at ``boundary`` (where history ends). ``requested_end`` (the whole
    re-crawl's end, live part included) goes into the suggested range.
    """
    existing = historical_chunk_starts(params, store)
    if not existing:
        return
    freq, tz, size = params.frequency, params.timezone, params.crawl.chunk_intervals
    extents: list[Interval] = []
    for chunk_start, following in zip(existing, [*existing[1:], boundary], strict=True):
        cap = following if following is not None else max(part.end, chunk_start)
        if chunk_start < part.end and cap > part.start and cap > chunk_start:
            extents.append(plan_chunks(chunk_start, cap, freq, tz, size)[0])
    for chunk in plan_chunks(part.start, part.end, freq, tz, size):
        overlapping = [e for e in extents if e.start < chunk.end and chunk.start < e.end]
        if not overlapping or overlapping == [chunk]:
            continue
        first = min(overlapping[0].start, part.start)
        last = max(overlapping[-1].end, requested_end or part.end)
        where = _located(params, store.bucket).historical_path
        raise PlanError(
            f"--start/--end: the re-crawl's historical chunk {_iso(chunk.start)} → "
            f"{_iso(chunk.end)} cuts across the chunk {_iso(overlapping[0].start)} → "
            f"{_iso(overlapping[0].end)} already under {where} (files named by their start, "
            f"{size} intervals each): it would add rows the bucket already holds, or "
            "overwrite a chunk with part of its rows. Re-crawl whole chunks, e.g. "
            f"--start {_iso(first)} --end {_iso(last)}"
        )


@dataclass(frozen=True, slots=True)
class UnloadOutcome:
    """How one live-folder UNLOAD of a re-crawl ended."""

    interval: Interval
    target: str
    status: str
    error: str | None = None


def unload_live(
    redshift_data: Any,
    params: Params,
    intervals: Sequence[Interval],
    *,
    bucket: str,
    role_arn: str,
    run_id: str,
    poll_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    on_done: Callable[[UnloadOutcome], None] | None = None,
) -> list[UnloadOutcome]:
    """UNLOAD each live interval into its folder through the Data API, one at a time.

    The statements are the continuous crawl's own (same template, folder and CSV
    options, ``ALLOWOVERWRITE``, ``PARALLEL OFF``): each rewrites its folder's object
    under the same name, so a reader sees the old file or the new one. ``run_id``
    salts the ClientTokens, so a retried call of this re-crawl does not run twice.
    """
    located = _located(params, bucket)
    target_kwargs = params.data_api_target()
    outcomes: list[UnloadOutcome] = []
    for interval in intervals:
        sql = render_unload(params, "continuous", interval, bucket=bucket, role_arn=role_arn)
        target = unload_target(located, "continuous", interval)
        try:
            statement_id = redshift_data.execute_statement(
                Sql=sql, ClientToken=client_token(sql, interval, run_id), **target_kwargs
            )["Id"]
            while (described := redshift_data.describe_statement(Id=statement_id))[
                "Status"
            ] not in _STATEMENT_DONE:
                sleep(poll_seconds)
            outcome = UnloadOutcome(interval, target, described["Status"], described.get("Error"))
        except ClientError as exc:
            outcome = UnloadOutcome(interval, target, "FAILED", _aws_reason(exc))
        except BotoCoreError as exc:
            raise RecoveryError(f"cannot reach the Redshift Data API: {exc}") from exc
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes


_STATEMENT_DONE = frozenset({"FINISHED", "FAILED", "ABORTED"})


def start_execution(
    sfn: Any, state_machine_arn: str, execution_input: Mapping[str, Any], *, name: str
) -> str:
    """``StartExecution``; returns the execution ARN."""
    with _aws_call(
        "Step Functions",
        lambda reason: (
            f"cannot start {state_machine_arn}: {reason}; check the ARN (or --stack) "
            "and that your credentials may call states:StartExecution"
        ),
    ):
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input)
        )
    return str(response["executionArn"])


# --- executions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """One execution, as DescribeExecution/ListExecutions or the local log show it."""

    arn: str
    name: str
    machine: str
    """``historical``, ``continuous``, or the state machine's name when unknown."""
    status: str
    start: datetime | None = None
    stop: datetime | None = None
    error: str | None = None
    cause: str | None = None
    input: Mapping[str, Any] | None = None
    redrive_status: str | None = None
    redrive_reason: str | None = None
    redrive_of: str | None = None
    """Local log only: the execution this one re-ran (``redrive --local``)."""

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "execution_arn": self.arn,
            "name": self.name,
            "state_machine": self.machine,
            "status": self.status,
            "start": _iso(self.start) if self.start else None,
            "stop": _iso(self.stop) if self.stop else None,
            "error": self.error,
            "cause": self.cause,
            "input": dict(self.input) if self.input is not None else None,
            **({"redrive_of": self.redrive_of} if self.redrive_of else {}),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ExecutionInfo:
        return cls(
            arn=document["execution_arn"],
            name=document.get("name", ""),
            machine=document.get("state_machine", ""),
            status=document["status"],
            start=_parse(document.get("start")),
            stop=_parse(document.get("stop")),
            error=document.get("error"),
            cause=document.get("cause"),
            input=document.get("input"),
            redrive_of=document.get("redrive_of"),
        )


def _machine_of(state_machine_arn: str, known: Mapping[str, str]) -> str:
    return known.get(state_machine_arn, state_machine_arn.rsplit(":", 1)[-1])


def describe_execution(
    sfn: Any, execution_arn: str, known: Mapping[str, str] | None = None
) -> ExecutionInfo:
    """``DescribeExecution``, with a clear error for an unknown or malformed ARN."""
    with _aws_call(
        "Step Functions",
        lambda reason: (
            f"execution {execution_arn!r} cannot be read ({reason}); copy its ARN "
            "from `connector status` or the Step Functions console"
        ),
    ):
        described = sfn.describe_execution(executionArn=execution_arn)
    raw_input = described.get("input")
    try:
        parsed_input = json.loads(raw_input) if raw_input else None
    except ValueError:
        parsed_input = None
    return ExecutionInfo(
        arn=described["executionArn"],
        name=described.get("name", ""),
        machine=_machine_of(described.get("stateMachineArn", ""), known or {}),
        status=described["status"],
        start=described.get("startDate"),
        stop=described.get("stopDate"),
        error=described.get("error"),
        cause=described.get("cause"),
        input=parsed_input,
        redrive_status=described.get("redriveStatus"),
        redrive_reason=described.get("redriveStatusReason"),
    )


def wait_for_execution(
    sfn: Any,
    execution_arn: str,
    *,
    poll_seconds: float = 5.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_poll: Callable[[ExecutionInfo], None] | None = None,
    known: Mapping[str, str] | None = None,
) -> ExecutionInfo:
    """Poll ``DescribeExecution`` until the execution ends (or ``timeout`` seconds pass)."""
    waited = 0.0
    while True:
        info = describe_execution(sfn, execution_arn, known)
        if on_poll is not None:
            on_poll(info)
        if info.status in TERMINAL_STATUSES:
            return info
        if timeout is not None and waited >= timeout:
            raise RecoveryError(
                f"{execution_arn} is still {info.status} after {timeout:.0f} s; it keeps "
                "running: follow it with `connector status` or the Step Functions console"
            )
        sleep(poll_seconds)
        waited += poll_seconds


def check_redrivable(info: ExecutionInfo, now: datetime) -> None:
    """Refuse, saying why, an execution Step Functions would not redrive."""
    if info.status not in FAILED_STATUSES:
        advice = (
            "it is still running: wait for it, or stop it first"
            if info.status in {"RUNNING", "PENDING_REDRIVE"}
            else "only FAILED, TIMED_OUT or ABORTED executions can be redriven; to crawl the "
            "range again use `connector recrawl`"
        )
        raise RecoveryError(f"execution {info.name or info.arn} is {info.status}; {advice}")
    if info.stop is not None and now - info.stop > REDRIVE_WINDOW:
        raise RecoveryError(
            f"execution {info.name or info.arn} stopped on {info.stop:%Y-%m-%d %H:%M} UTC, more "
            f"than {REDRIVE_WINDOW.days} days ago: Step Functions no longer redrives it; "
            "re-crawl its range with `connector recrawl --start … --end …` instead"
        )
    if info.redrive_status == "NOT_REDRIVABLE":
        reason = info.redrive_reason or "Step Functions gives no reason"
        raise RecoveryError(
            f"execution {info.name or info.arn} cannot be redriven: {reason}; re-crawl its "
            "range with `connector recrawl` instead"
        )


def redrive_execution(sfn: Any, info: ExecutionInfo, now: datetime) -> datetime | None:
    """``RedriveExecution`` of a failed execution, checked first; returns the redrive date."""
    check_redrivable(info, now)
    with _aws_call(
        "Step Functions",
        lambda reason: f"Step Functions refused to redrive {info.name or info.arn}: {reason}",
    ):
        response = sfn.redrive_execution(executionArn=info.arn)
    redrive_date = response.get("redriveDate")
    return redrive_date if isinstance(redrive_date, datetime) else None


def last_executions(
    sfn: Any, state_machine_arn: str, machine: str, *, limit: int = 5
) -> list[ExecutionInfo]:
    """The newest ``limit`` executions of a state machine, newest first."""
    with _aws_call(
        "Step Functions",
        lambda reason: f"cannot list the executions of {state_machine_arn}: {reason}",
    ):
        listed = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=limit)
    return [
        ExecutionInfo(
            arn=item["executionArn"],
            name=item.get("name", ""),
            machine=machine,
            status=item["status"],
            start=item.get("startDate"),
            stop=item.get("stopDate"),
        )
        for item in listed.get("executions", [])
    ]


# --- status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusReport:
    """What ``connector status`` shows; :attr:`healthy` decides its exit code."""

    watermark: watermark.Watermark | None
    checked: Interval | None
    """The range whose live folders were compared with the expected intervals."""
    basis: str
    """Where :attr:`checked` came from, in words."""
    gaps: Sequence[Interval]
    executions: Mapping[str, Sequence[ExecutionInfo]]
    now: datetime
    notes: Sequence[str] = field(default_factory=tuple)
    behind: int | None = None
    """Closed intervals after the watermark's end at :attr:`now` (None: not counted)."""

    @property
    def failed_last_runs(self) -> list[ExecutionInfo]:
        """The newest execution of each state machine, when it failed."""
        return [runs[0] for runs in self.executions.values() if runs and runs[0].failed]

    @property
    def healthy(self) -> bool:
        return not self.gaps and not self.failed_last_runs

    def to_json(self) -> dict[str, Any]:
        mark = self.watermark
        lease = mark.lease if mark else None
        return {
            "healthy": self.healthy,
            "watermark": None
            if mark is None
            else {
                "end": _iso(mark.end),
                "origin": _iso(mark.origin),
                "run_id": mark.run_id,
                "version": mark.version,
                "updated_at": _iso(mark.updated_at),
                "lease": None
                if lease is None
                else {
                    "run_id": lease.run_id,
                    "until": _iso(lease.until),
                    "expires_at": _iso(lease.expires_at),
                    "live": lease.live(self.now),
                },
            },
            "checked": None
            if self.checked is None
            else {"start": _iso(self.checked.start), "end": _iso(self.checked.end)},
            "basis": self.basis,
            "gaps": [{"start": _iso(gap.start), "end": _iso(gap.end)} for gap in self.gaps],
            "executions": {
                machine: [run.to_json() for run in runs]
                for machine, runs in self.executions.items()
            },
            "behind": self.behind,
            "failed_last_runs": [run.arn for run in self.failed_last_runs],
            "notes": list(self.notes),
        }


def build_status(
    params: Params,
    store: Any,
    executions: Mapping[str, Sequence[ExecutionInfo]],
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    count_behind: bool = True,
) -> StatusReport:
    """Read the watermark, choose the range to check, and list the bucket for gaps.

    The range is ``[since or origin, until or watermark end)``: between the watermark's
    origin and end every live folder must exist (the crawl's invariant). Without a
    watermark (the historical crawl has not set it), it runs from the first to the last
    live folder found, so that a folder missing in between is still reported.
    """
    freq, tz = params.frequency, params.timezone
    mark = watermark.read(store, params)
    notes: list[str] = []
    starts: list[datetime] = []
    if mark is None:
        notes.append("no watermark yet: the historical crawl has not set it")
        starts = live_folder_starts(params, store)
    first: tuple[datetime, str] | None = None
    last: tuple[datetime, str] | None = None
    if since is not None:
        first = (align(since, freq, tz), "--since")
    elif mark is not None:
        first = (mark.origin, "watermark origin")
    elif starts:
        first = (starts[0], "first live folder")
    if until is not None:
        last = (align(until, freq, tz), "--until")
    elif mark is not None:
        last = (mark.end, "watermark end")
    elif starts:
        last = (next_boundary(starts[-1], freq, tz), "last live folder")
    elif since is not None:
        last = (align(now, freq, tz), "now")
    basis = (
        f"{first[1]} → {last[1]}"
        if first and last
        else "nothing to check: no watermark, no live folder"
    )
    first_at = first[0] if first else None
    last_at = last[0] if last else None
    if first_at is not None and last_at is not None and first_at < last_at:
        checked: Interval | None = Interval(first_at, last_at)
        found = watermark.gaps(store, params, first_at, last_at)
    else:
        checked, found = None, []
    behind = None
    if count_behind and mark is not None:
        # Counted, not listed: a long outage at PT5M is many intervals.
        closed = align(now, freq, tz)
        behind = 0 if closed <= mark.end else _count_intervals(mark.end, closed, freq, tz)
    return StatusReport(
        behind=behind,
        watermark=mark,
        checked=checked,
        basis=basis,
        gaps=found,
        executions=executions,
        now=now,
        notes=tuple(notes),
    )


def _count_intervals(start: datetime, end: datetime, freq: Any, tz: Any) -> int:
    estimate = -(-(end - start) // freq.delta)
    # Exact (time-zone changes make some intervals shorter) unless listing would be slow;
    # beyond that the count only says "far behind" anyway.
    return len(intervals_between(start, end, freq, tz)) if estimate <= 10_000 else estimate


_DATE_LETTERS = {"y": "year", "M": "month", "d": "day", "H": "hour", "m": "minute"}


def live_folder_starts(params: Params, store: Any) -> list[datetime]:
    """Interval starts of the live folders in the bucket, read back from their names.

    The inverse of :func:`~connector.intervals.expand_path` for the supported
    placeholders; folders without an object are not listed by S3 and so not found.
    """
    template = _located(params, store.bucket).live_path_template
    key_template = template.removeprefix("s3://").partition("/")[2]
    prefix = key_template.split("{{", 1)[0]
    pattern, fields = _folder_regex(key_template)
    starts: set[datetime] = set()
    for info in store.list(prefix):
        match = pattern.match(info.key)
        if match is None:
            continue
        values = {"year": 1, "month": 1, "day": 1, "hour": 0, "minute": 0}
        for name, text in zip(fields, match.groups(), strict=True):
            values[name] = int(text) + (2000 if name == "year" and len(text) == 2 else 0)
        try:
            local = datetime(**values, tzinfo=params.timezone)
        except ValueError:
            continue
        starts.add(align(local, params.frequency, params.timezone))
    return sorted(starts)


def _folder_regex(key_template: str) -> tuple[re.Pattern[str], list[str]]:
    parts: list[str] = []
    fields: list[str] = []
    for index, piece in enumerate(re.split(r"\{\{([^{}]*)\}\}", key_template)):
        if index % 2 == 0:
            parts.append(re.escape(piece))
            continue
        for run in re.finditer(r"([A-Za-z])\1*|[^A-Za-z]+", piece):
            text = run.group(0)
            if text[0] in _DATE_LETTERS:
                fields.append(_DATE_LETTERS[text[0]])
                width = len(text)
                parts.append(r"(\d{4})" if text[0] == "y" and width != 2 else rf"(\d{{{width},2}})")
            else:
                parts.append(re.escape(text))
    return re.compile("".join(parts)), fields


def _located(params: Params, bucket: str) -> Params:
    return params if params.s3_bucket else params.model_copy(update={"s3_bucket": bucket})


# --- local work folders ---------------------------------------------------------------


class FolderObjectStore(storage.FolderObjectStore):
    """The bucket folder a local run exported (:class:`connector.storage.FolderObjectStore`).

    A key outside the folder comes from the command's input, so it is refused as a
    :class:`RecoveryError` (exit 2) rather than as a storage failure.
    """

    def _path(self, key: str) -> Path:
        try:
            return super()._path(key)
        except storage.KeyOutsideFolderError as exc:
            raise RecoveryError(str(exc)) from exc


def import_folder(s3: Any, bucket: str, folder: Path) -> int:
    """Upload every file of ``folder`` to ``bucket`` under its relative path; the count."""
    count = 0
    if not folder.is_dir():
        return 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put_object(
                Bucket=bucket, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes()
            )
            count += 1
    return count


def replace_folder(folder: Path, export: Callable[[Path], object]) -> None:
    """Export into a sibling folder, then swap it in, so ``folder`` is never half written."""
    fresh = folder.with_name(folder.name + ".new")
    stale = folder.with_name(folder.name + ".old")
    for leftover in (fresh, stale):
        shutil.rmtree(leftover, ignore_errors=True)
    fresh.mkdir(parents=True)
    export(fresh)
    if folder.exists():
        os.replace(folder, stale)
    os.replace(fresh, folder)
    shutil.rmtree(stale, ignore_errors=True)


def append_execution(workdir: Path, info: ExecutionInfo) -> None:
    """Log an execution of a ``--local`` command in ``workdir/executions.jsonl``."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (workdir / EXECUTIONS_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(info.to_json(), default=str) + "\n")


def as_redriven(info: ExecutionInfo, logged: Iterable[ExecutionInfo]) -> ExecutionInfo:
    """``info`` with the status of its newest local redrive, as Step Functions reports it.

    A redriven execution takes the outcome of its redrive on AWS (a second redrive of
    one that then succeeded is refused); locally the redrive is a new execution, so
    the log is read the same way. ``logged`` is newest first.
    """
    for run in logged:
        if run.redrive_of == info.arn:
            return replace(info, status=run.status, stop=run.stop)
    return info


def read_executions(workdir: Path) -> list[ExecutionInfo]:
    """The logged executions of ``workdir``, newest first; a damaged line is an error."""
    path = workdir / EXECUTIONS_LOG
    if not path.is_file():
        return []
    runs: list[ExecutionInfo] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            runs.append(ExecutionInfo.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise RecoveryError(
                f"{path} line {number} is not an execution record ({exc}); remove the line"
            ) from exc
    runs.reverse()
    return runs


def group_executions(
    runs: Iterable[ExecutionInfo], machines: Sequence[str] = (HISTORICAL, CONTINUOUS)
) -> dict[str, list[ExecutionInfo]]:
    """Executions by state machine, newest first, each machine present."""
    grouped: dict[str, list[ExecutionInfo]] = {machine: [] for machine in machines}
    for run in runs:
        grouped.setdefault(run.machine, []).append(run)
    return grouped


# --- helpers --------------------------------------------------------------------------


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@contextmanager
def _aws_call(service: str, refused: Callable[[str], str]) -> Iterator[None]:
    """Raise an AWS refusal as ``refused(<AWS's reason>)``, and ``service`` unreachable as such.

    Both are :class:`RecoveryError`: the user can act on them (fix the input, the
    credentials or the network) and nothing is left half done.
    """
    try:
        yield
    except ClientError as exc:
        raise RecoveryError(refused(_aws_reason(exc))) from exc
    except BotoCoreError as exc:
        raise RecoveryError(f"cannot reach {service}: {exc}") from exc


def _aws_reason(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    return f"{code}: {message}" if message else code or str(exc)
