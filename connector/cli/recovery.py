"""``connector recrawl``, ``connector redrive``, ``connector status``: recovery commands.

On AWS they find the deployed stack's state machines and data bucket from its
CloudFormation outputs (stack ``AnomalyConnector-<detector_name>`` unless ``--stack``)
and call Step Functions and S3 with the default boto3 credentials, or any endpoint
given by ``--endpoint-url``. With ``--local`` they work on the folder ``run --local``
wrote (``--workdir``, default ``connector-output``): see :mod:`connector.recovery`.

Exit codes: 0 done (status: healthy); 1 an execution failed, or status found gaps or
a failed last run; 2 bad input, nothing started.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from botocore.exceptions import BotoCoreError
from rich.table import Table

from connector import recovery
from connector.cli.console import console, error_console
from connector.cli.core import parse_time
from connector.config import Params, load_params
from connector.recovery import (
    CONTINUOUS,
    HISTORICAL,
    ExecutionFailed,
    ExecutionInfo,
    RecoveryError,
    StatusReport,
)
from connector.storage import S3ObjectStore

__all__ = ["recrawl", "redrive", "register", "status"]

_RECRAWL_HELP = (
    "Re-crawl the closed intervals in [--start, --end). Bounds are floored to interval "
    "starts; the range must end by the start of the interval still open and fit the "
    "detector's limits, or nothing is started (exit 2). History (before the watermark's "
    "origin) runs as one historical crawl execution that rewrites the very chunk files "
    "already there (a range cutting across a chunk is refused); live intervals are each "
    "UNLOADed again into their own folder through the Data API. Every UNLOAD runs with "
    "ALLOWOVERWRITE and PARALLEL OFF and rewrites the same object names, each with one S3 "
    "PUT: a reader of a folder sees the old file or the new one, never a missing, half-"
    "written or doubled one (folders are replaced one by one, not all at once). The "
    "watermark is not moved. On AWS the execution is started (--wait follows it); with "
    "--local everything runs to its end in the embedded runtime on WORKDIR/bucket, which "
    "is replaced when it ends. Exit 0 started/succeeded, 1 an execution or UNLOAD failed, "
    "2 bad input."
)
_REDRIVE_HELP = (
    "Resume a FAILED, TIMED_OUT or ABORTED execution from the state that failed, with Step "
    "Functions RedriveExecution (within 14 days of its stop); the statements that "
    "succeeded are not run again. With --local (moto does not implement redrive) the "
    "logged execution's input is run again with its run id, so the same ClientTokens and "
    "object names are used and ALLOWOVERWRITE makes the repeat harmless. Exit 0 "
    "redriven/succeeded, 1 the redriven execution failed, 2 refused."
)
_STATUS_HELP = (
    "Show the watermark (end, origin, run id, lease), the last executions of both state "
    "machines, and the gaps: closed intervals in the checked range whose live folder holds "
    "no object. The range is [watermark origin, watermark end) unless --since/--until; "
    "without a watermark, from the first to the last live folder. Exit 0 healthy, 1 gaps "
    "or a failed last run, 2 bad input."
)

ParamsOption = Annotated[
    Path, typer.Option("--params", "-p", help="The params.json of the detector.")
]
LocalOption = Annotated[
    bool, typer.Option("--local", help="Work on the embedded runtime's folder, not on AWS.")
]
WorkdirOption = Annotated[
    Path,
    typer.Option(help="--local: the folder `run --local` wrote (bucket/, executions.jsonl)."),
]
WarehouseOption = Annotated[
    Path | None, typer.Option(help="--local: the DuckDB file standing in for Redshift.")
]
StackOption = Annotated[
    str | None,
    typer.Option(help="CloudFormation stack; default AnomalyConnector-<detector_name>."),
]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint-url", help="AWS endpoint for every service (e.g. a moto server)."),
]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="AWS: poll until the execution ends and print it.")
]
PollOption = Annotated[
    float, typer.Option(min=0.1, help="--wait: seconds between DescribeExecution calls.")
]
_DEFAULT_WORKDIR = Path("connector-output")


def register(app: typer.Typer) -> None:
    app.command("recrawl", help=_RECRAWL_HELP, short_help="Re-crawl a range of closed intervals.")(
        recrawl
    )
    app.command(
        "redrive", help=_REDRIVE_HELP, short_help="Resume a failed execution where it failed."
    )(redrive)
    app.command("status", help=_STATUS_HELP, short_help="Watermark, last executions and gaps.")(
        status
    )


# --- Commands ------------------------------------------------------------------------


def recrawl(
    start: Annotated[str, typer.Option(help="First interval to re-crawl (ISO 8601).")],
    end: Annotated[str, typer.Option(help="End of the range, exclusive (ISO 8601).")],
    params_path: ParamsOption = Path("params.json"),
    build_detector: Annotated[
        bool,
        typer.Option(
            "--build-detector/--no-build-detector",
            help="Rebuild the detector after re-crawling history, as the historical crawl does.",
        ),
    ] = True,
    wait: WaitOption = False,
    poll: PollOption = 5.0,
    stack: StackOption = None,
    state_machine_arn: Annotated[
        str | None,
        typer.Option(help="Historical crawl state machine; default: from the stack outputs."),
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="AWS: data bucket; default s3_bucket or the stack's.")
    ] = None,
    role_arn: Annotated[
        str | None,
        typer.Option(help="AWS: the UNLOAD role for live folders; default the stack's."),
    ] = None,
    endpoint_url: EndpointOption = None,
    local: LocalOption = False,
    workdir: WorkdirOption = _DEFAULT_WORKDIR,
    warehouse: WarehouseOption = None,
) -> None:
    """Re-crawl a range of closed intervals: history as its chunks, live intervals in place."""
    params = load_params(params_path)
    now = datetime.now(UTC)
    window = recovery.recrawl_window(
        params, parse_time(start, params, "--start"), parse_time(end, params, "--end"), now
    )
    name = _execution_name("recrawl", now)
    if local:
        store: Any = recovery.FolderObjectStore(_bucket_dir(workdir), params.s3_bucket or "local")
        plan = recovery.plan_recrawl(params, store, window)
        _describe_plan(plan)
        _recrawl_local(
            params_path, params, _warehouse(warehouse), workdir, plan, name, build_detector
        )
        return
    outputs = (
        None
        if state_machine_arn and (bucket or params.s3_bucket) and role_arn
        else _outputs(params, stack, endpoint_url)
    )
    data_bucket = bucket or params.s3_bucket or (outputs.bucket if outputs else "")
    store = S3ObjectStore(_client("s3", endpoint_url), data_bucket)
    plan = recovery.plan_recrawl(params, store, window)
    _describe_plan(plan)
    if plan.live:
        unload_role = role_arn or (outputs.unload_role_arn if outputs else "")
        if not unload_role:
            raise RecoveryError(
                "the stack has no UnloadRoleArn output; pass --role-arn with the role "
                "Redshift assumes to write to the bucket"
            )
        with _spinner("Re-crawling live folders") as spinner:
            outcomes = recovery.unload_live(
                _client("redshift-data", endpoint_url),
                params,
                plan.live,
                bucket=data_bucket,
                role_arn=unload_role,
                run_id=name,
                on_done=lambda done: spinner.update(f"{done.target}: {done.status}"),
            )
        _check_unloads(outcomes)
    if plan.historical is None:
        return
    machine = state_machine_arn or (outputs.historical_arn if outputs else "")
    execution_input = recovery.recrawl_input(plan.historical, build_detector=build_detector)
    sfn = _client("stepfunctions", endpoint_url)
    execution_arn = recovery.start_execution(sfn, machine, execution_input, name=name)
    console.print(f"Started {name}", highlight=False)
    console.print(execution_arn, highlight=False, soft_wrap=True)
    if wait:
        _finish(_wait(sfn, execution_arn, poll))


def _describe_plan(plan: recovery.RecrawlPlan) -> None:
    if plan.historical is not None:
        console.print(
            f"History {plan.historical.start.isoformat()} → {plan.historical.end.isoformat()}: "
            "one historical crawl execution, rewriting its chunk files",
            highlight=False,
        )
    if plan.live:
        console.print(
            f"Live {plan.live[0].start.isoformat()} → {plan.live[-1].end.isoformat()}: "
            f"{len(plan.live)} folder(s) rewritten in place",
            highlight=False,
        )


def _check_unloads(outcomes: list[recovery.UnloadOutcome]) -> None:
    failed = [outcome for outcome in outcomes if outcome.status != "FINISHED"]
    console.print(f"Live folders rewritten: {len(outcomes) - len(failed)} of {len(outcomes)}")
    if failed:
        first = failed[0]
        raise ExecutionFailed(
            f"{len(failed)} live UNLOAD(s) did not finish; first {first.target}: {first.status}: "
            f"{first.error or 'no error given'}; fix the cause and re-crawl "
            f"--start {first.interval.start.isoformat()} "
            f"--end {failed[-1].interval.end.isoformat()}"
        )


def redrive(
    execution_arn: Annotated[
        str, typer.Argument(help="ARN of the failed execution (--local: its ARN or name).")
    ],
    params_path: ParamsOption = Path("params.json"),
    wait: WaitOption = False,
    poll: PollOption = 5.0,
    endpoint_url: EndpointOption = None,
    local: LocalOption = False,
    workdir: WorkdirOption = _DEFAULT_WORKDIR,
    warehouse: WarehouseOption = None,
) -> None:
    """Resume a failed execution from the state that failed."""
    now = datetime.now(UTC)
    if local:
        failed = _logged_execution(workdir, execution_arn)
        recovery.check_redrivable(
            recovery.as_redriven(failed, recovery.read_executions(workdir)), now
        )
        if failed.machine not in (HISTORICAL, CONTINUOUS) or failed.input is None:
            raise RecoveryError(
                f"{workdir / recovery.EXECUTIONS_LOG} does not say which state machine ran "
                f"{failed.name} or with which input; re-crawl its range instead"
            )
        # The same run id as the failed execution: the plan Lambdas salt the statements'
        # ClientTokens with it, so the repeat issues the very same statements.
        execution_input = {"run_id": failed.name, **failed.input}
        error_console.print(
            "moto does not implement RedriveExecution: running the failed execution's input "
            f"again (run id {execution_input['run_id']}); finished UNLOADs rewrite the same "
            "objects",
            highlight=False,
        )
        name = _execution_name("redrive", now)
        with (
            _spinner(f"Running {name}"),
            _local_runtime(params_path, _warehouse(warehouse), workdir) as runtime,
        ):
            info = _execute_local(runtime, failed.machine, execution_input, name)
        recovery.append_execution(workdir, replace(info, redrive_of=failed.arn))
        _finish(info)
        return
    sfn = _client("stepfunctions", endpoint_url)
    info = recovery.describe_execution(sfn, execution_arn)
    redriven_at = recovery.redrive_execution(sfn, info, now)
    when = f" at {redriven_at:%Y-%m-%d %H:%M:%S}" if redriven_at else ""
    console.print(f"Redriven {info.name}{when}: it resumes from the state that failed")
    if wait:
        _finish(_wait(sfn, info.arn, poll))


def status(
    params_path: ParamsOption = Path("params.json"),
    since: Annotated[
        str | None, typer.Option(help="Check for gaps from here (ISO 8601), not the origin.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Check for gaps up to here, not the watermark end.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Executions per state machine.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    bucket: Annotated[
        str | None, typer.Option(help="AWS: data bucket; default s3_bucket or the stack's.")
    ] = None,
    stack: StackOption = None,
    endpoint_url: EndpointOption = None,
    local: LocalOption = False,
    workdir: WorkdirOption = _DEFAULT_WORKDIR,
) -> None:
    """Show the watermark, the last executions and any gaps; exit 1 when unhealthy."""
    params = load_params(params_path)
    now = datetime.now(UTC)
    since_at = parse_time(since, params, "--since") if since else None
    until_at = parse_time(until, params, "--until") if until else None
    if local:
        store: Any = recovery.FolderObjectStore(_bucket_dir(workdir), params.s3_bucket or "local")
        runs = recovery.read_executions(workdir)
        executions = recovery.group_executions(runs)
        executions = {machine: found[:limit] for machine, found in executions.items()}
    else:
        outputs = _outputs(params, stack, endpoint_url)
        store = S3ObjectStore(
            _client("s3", endpoint_url), bucket or params.s3_bucket or outputs.bucket
        )
        sfn = _client("stepfunctions", endpoint_url)
        executions = {
            machine: recovery.last_executions(sfn, outputs.arn(machine), machine, limit=limit)
            for machine in (HISTORICAL, CONTINUOUS)
        }
    # Locally there is no live clock (a run --local crawls the past): "behind" says nothing.
    report = recovery.build_status(
        params, store, executions, now=now, since=since_at, until=until_at, count_behind=not local
    )
    if as_json:
        console.print_json(data=report.to_json())
    else:
        _print_status(report, params)
    if not report.healthy:
        raise typer.Exit(1)


# --- AWS -----------------------------------------------------------------------------


def _client(service: str, endpoint_url: str | None) -> Any:
    try:
        return boto3.client(service, endpoint_url=endpoint_url)
    except BotoCoreError as exc:
        raise RecoveryError(
            f"cannot create a {service} client: {exc}; set AWS_REGION (or a profile's region)"
        ) from exc


def _outputs(params: Params, stack: str | None, endpoint_url: str | None) -> recovery.StackOutputs:
    name = stack or recovery.default_stack_name(params)
    return recovery.stack_outputs(_client("cloudformation", endpoint_url), name)


def _wait(sfn: Any, execution_arn: str, poll: float) -> ExecutionInfo:
    with error_console.status("Waiting for the execution") as spinner:

        def shown(info: ExecutionInfo) -> None:
            spinner.update(f"{info.name}: {info.status}")

        return recovery.wait_for_execution(sfn, execution_arn, poll_seconds=poll, on_poll=shown)


def _finish(info: ExecutionInfo) -> None:
    """Print how an execution ended; a failure is exit 1."""
    took = (
        f" in {(info.stop - info.start).total_seconds():.1f} s" if info.start and info.stop else ""
    )
    if info.status == "SUCCEEDED":
        console.print(f"[green]{info.name} SUCCEEDED[/]{took}")
        return
    raise ExecutionFailed(
        f"{info.name} {info.status}{took}: {info.error or 'no error given'}: "
        f"{_cause(info.cause)}; fix the cause, then `connector redrive {info.arn}`"
    )


def _cause(cause: str | None) -> str:
    try:
        return str(json.loads(cause or "")["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return cause or "no cause given"


def _execution_name(kind: str, now: datetime) -> str:
    # Execution names are unique per state machine for 90 days: time plus a random tail.
    return f"{kind}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


# --- local ---------------------------------------------------------------------------


def _warehouse(warehouse: Path | None) -> Path:
    if warehouse is None or not warehouse.is_file():
        raise RecoveryError(
            f"--warehouse {warehouse or '(missing)'}: --local needs the DuckDB file "
            "`run --local` crawled"
        )
    return warehouse


def _logged_execution(workdir: Path, wanted: str) -> ExecutionInfo:
    runs = recovery.read_executions(workdir)
    for run in runs:
        if wanted in (run.arn, run.name):
            return run
    raise RecoveryError(
        f"execution {wanted!r} is not in {workdir / recovery.EXECUTIONS_LOG}; local "
        "executions live only as long as their command, so only those of `recrawl --local` "
        "and `redrive --local` are logged there: see `connector status --local`"
    )


def _bucket_dir(workdir: Path) -> Path:
    folder = workdir / "bucket"
    if not folder.is_dir():
        raise RecoveryError(
            f"{folder} does not exist; run `connector run --local --output {workdir}` "
            "first, or point --workdir at the folder it wrote"
        )
    return folder


@contextmanager
def _local_runtime(params_path: Path, warehouse: Path, workdir: Path) -> Iterator[Any]:
    """A fresh embedded runtime holding ``workdir/bucket``; the folder is replaced at the end.

    The bucket is exported even when an execution failed: what it wrote before failing
    is in S3 too, and a redrive must start from there.
    """
    # Imported here: the runtime pulls in moto, which only --local needs.
    from connector.cli.local import quiet_runtime
    from connector.local.runtime import LocalRuntime

    bucket_dir = _bucket_dir(workdir)
    with ExitStack() as running:
        running.enter_context(quiet_runtime())
        runtime = running.enter_context(
            LocalRuntime(params_path.resolve(), warehouse.resolve(), workdir / "runtime")
        )
        recovery.import_folder(runtime.client("s3"), runtime.data_bucket, bucket_dir)
        try:
            yield runtime
        finally:
            recovery.replace_folder(bucket_dir, runtime.export_bucket)


def _recrawl_local(
    params_path: Path,
    params: Params,
    warehouse: Path,
    workdir: Path,
    plan: recovery.RecrawlPlan,
    name: str,
    build_detector: bool,
) -> None:
    outcomes: list[recovery.UnloadOutcome] = []
    info: ExecutionInfo | None = None
    with (
        _spinner("Starting the embedded runtime") as spinner,
        _local_runtime(params_path, warehouse, workdir) as runtime,
    ):
        if plan.live:
            spinner.update("Re-crawling live folders")
            outcomes = recovery.unload_live(
                runtime.client("redshift-data"),
                params,
                plan.live,
                bucket=runtime.data_bucket,
                role_arn=str(runtime.stack.outputs.get("UnloadRoleArn", "")),
                run_id=name,
                poll_seconds=0.05,
            )
        if plan.historical is not None:
            spinner.update(f"Running {name} (historical crawl)")
            execution_input = recovery.recrawl_input(plan.historical, build_detector=build_detector)
            info = _execute_local(runtime, HISTORICAL, execution_input, name)
        spinner.update(f"Exporting to {workdir / 'bucket'}")
    if info is not None:
        recovery.append_execution(workdir, info)
    if outcomes:
        _check_unloads(outcomes)
    if info is not None:
        _finish(info)


def _execute_local(
    runtime: Any, machine: str, execution_input: dict[str, Any], name: str
) -> ExecutionInfo:
    from connector.local.runtime import CONTINUOUS_OUTPUT, HISTORICAL_OUTPUT

    output = HISTORICAL_OUTPUT if machine == HISTORICAL else CONTINUOUS_OUTPUT
    began = datetime.now(UTC)
    result = runtime.execute(
        output, {"poll_seconds": runtime.poll_seconds, **execution_input}, name=name
    )
    return ExecutionInfo(
        arn=result.execution_arn,
        name=name,
        machine=machine,
        status=result.status,
        start=began,
        stop=datetime.now(UTC),
        error=result.error,
        cause=result.cause,
        input=execution_input,
    )


@contextmanager
def _spinner(text: str) -> Iterator[Any]:
    with error_console.status(text) as spinner:
        yield spinner


# --- output --------------------------------------------------------------------------


def _print_status(report: StatusReport, params: Params) -> None:
    mark = report.watermark
    table = Table(title=f"Connector status: {params.detector_name}", show_header=False)
    table.add_column(style="dim")
    table.add_column()
    if mark is None:
        table.add_row("Watermark", "[yellow]none[/] (the historical crawl has not set it)")
    else:
        table.add_row("Watermark end", mark.end.isoformat())
        table.add_row("Origin", mark.origin.isoformat())
        table.add_row(
            "Last written by",
            f"{mark.run_id} (version {mark.version}, {mark.updated_at:%Y-%m-%d %H:%M})",
        )
        if report.behind is not None:
            table.add_row("Behind", f"{report.behind:,} closed interval(s) after the end")
        lease = mark.lease
        if lease is None:
            table.add_row("Lease", "none")
        else:
            state = "live" if lease.live(report.now) else "expired"
            table.add_row(
                "Lease",
                f"{lease.run_id} until {lease.until.isoformat()} "
                f"({state}, expires {lease.expires_at.isoformat()})",
            )
    checked = report.checked
    table.add_row(
        "Checked",
        f"{checked.start.isoformat()} → {checked.end.isoformat()} ({report.basis})"
        if checked
        else report.basis,
    )
    gap_text = f"[red]{len(report.gaps)}[/]" if report.gaps else "[green]0[/]"
    table.add_row("Gaps", gap_text)
    for machine, runs in report.executions.items():
        last = runs[0] if runs else None
        table.add_row(
            f"Last {machine} run",
            "none"
            if last is None
            else f"{_coloured(last.status)} {last.name}"
            + (f" ({last.start:%Y-%m-%d %H:%M})" if last.start else ""),
        )
    console.print(table)
    if report.gaps:
        gaps = Table(title="Gaps (no object in the live folder)", title_justify="left")
        gaps.add_column("Start")
        gaps.add_column("End")
        for gap in report.gaps[:50]:
            gaps.add_row(gap.start.isoformat(), gap.end.isoformat())
        console.print(gaps)
        if len(report.gaps) > 50:
            console.print(f"… and {len(report.gaps) - 50} more (--json lists them all)")
        first, last_gap = report.gaps[0], report.gaps[-1]
        console.print(
            f"Re-crawl them: connector recrawl --start {first.start.isoformat()} "
            f"--end {last_gap.end.isoformat()}",
            highlight=False,
            soft_wrap=True,
        )
    runs_table = Table(title="Last executions", title_justify="left")
    for column in ("State machine", "Name", "Status", "Started", "Error"):
        runs_table.add_column(column, overflow="fold")
    for machine, runs in report.executions.items():
        for run in runs:
            runs_table.add_row(
                machine,
                run.name,
                _coloured(run.status),
                f"{run.start:%Y-%m-%d %H:%M:%S}" if run.start else "",
                run.error or "",
            )
    if runs_table.row_count:
        console.print(runs_table)
    for note in report.notes:
        error_console.print(f"[dim]note:[/] {note}", highlight=False)


def _coloured(status: str) -> str:
    colour = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(status, "red")
    return f"[{colour}]{status}[/]"
