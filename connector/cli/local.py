"""``connector demo`` and ``connector run --local``: the whole pipeline on this machine.

Both commands run the real state machines in the embedded runtime
(:mod:`connector.local.runtime`): the historical crawl and the detector build over the
past, then the continuous crawler on a simulated (or real) clock. They end with a
summary table on stdout, the emulated bucket exported to a folder, and a
self-contained ``report.html``. ``demo`` first generates a warehouse with labelled
anomalies and scores the detections against the labels; ``run --local`` works on the
user's own DuckDB file and params.json.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from connector.cli.console import console, error_console
from connector.config import Params, load_params
from connector.errors import ConnectorError, PlanError
from connector.intervals import (
    Interval,
    align,
    interval_containing,
    intervals_between,
    plan_chunks,
)
from connector.local.demo_warehouse import Label, generate
from connector.local.report import (
    Anomaly,
    Evaluation,
    evaluate,
    read_anomalies,
    read_series,
    write_report,
)
from connector.sql import CrawlKind, render_query, rendered_from, strip_statement

# The demo's simulated "now" is fixed so that every run crawls, detects and reports the
# same thing. History starts on a Monday; the continuous crawl follows it.
DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)
DEMO_HISTORY_DAYS = 90
DEMO_LIVE_HOURS = 48
DEMO_SEED = 7
_REPO = Path(__file__).resolve().parents[2]

Clock = Literal["simulated", "realtime"]
# A DuckDB database file starts with an 8-byte checksum and the magic bytes "DUCK"
# (MainHeader::MAGIC_BYTES in DuckDB's src/storage/storage_info.cpp).
_DUCKDB_MAGIC = b"DUCK"
_DUCKDB_MAGIC_START = 8
_DUCKDB_MAGIC_END = _DUCKDB_MAGIC_START + len(_DUCKDB_MAGIC)


class LocalRunError(ConnectorError):
    """A local run cannot start: a missing file, or options that contradict each other."""


class LocalRunFailed(ConnectorError):
    """A state machine execution of the local run failed."""

    exit_code = 1


_DEMO_HELP = (
    "Run the whole connector offline on generated data with labelled anomalies: generate a "
    "DuckDB warehouse shaped like the 2022 demo, crawl its history with the real historical "
    "state machine, build the detector, run the continuous crawler over the following hours "
    "on a simulated clock, and write OUTPUT/report.html. No AWS account needed."
)
_RUN_HELP = (
    "Run the connector on your own DuckDB data in the embedded runtime: historical crawl "
    "[--start, --end), detector build, then the continuous crawler for --intervals N or "
    "--until T; the bucket is exported to OUTPUT/bucket with a report in OUTPUT/report.html."
)


def register(app: typer.Typer) -> None:
    app.command(
        "demo", help=_DEMO_HELP, short_help="Run the whole pipeline offline on generated data."
    )(demo)
    app.command(
        "run", help=_RUN_HELP, short_help="Run the pipeline offline on your own DuckDB data."
    )(run)


# --- Commands ------------------------------------------------------------------------


def demo(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the warehouse, bucket and report.")
    ] = Path("demo-output"),
    days: Annotated[
        int, typer.Option(min=14, max=365, help="Days of history to crawl before detecting.")
    ] = DEMO_HISTORY_DAYS,
    hours: Annotated[
        int, typer.Option(min=1, max=24 * 14, help="Hours of continuous crawling after that.")
    ] = DEMO_LIVE_HOURS,
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = DEMO_SEED,
) -> None:
    """Run the whole connector offline on generated data with labelled anomalies."""
    began = time.perf_counter()
    output = output.resolve()
    live_start = DEMO_START + timedelta(days=days)
    with _progress() as progress:
        task = progress.add_task("Generating the demo warehouse", total=1)
        info = generate(
            output / "warehouse.duckdb",
            start=DEMO_START,
            days=days + math.ceil(hours / 24),
            seed=seed,
            live_start=live_start,
        )
        progress.update(task, completed=1, description=f"Generated {info.rows:,} warehouse rows")
        params_path = _write_demo_params(output / "params.json", history_days=days)
        outcome = _run_pipeline(
            progress,
            params_path=params_path,
            warehouse=info.path,
            output=output,
            history=(DEMO_START, live_start),
            intervals=hours,
            until=None,
            clock="simulated",
        )
    _finish(outcome, output=output, labels=info.labels, began=began, title="Connector demo")


def run(
    local: Annotated[
        bool, typer.Option("--local", help="Run in the embedded runtime (DuckDB + moto).")
    ] = False,
    warehouse: Annotated[
        Path | None, typer.Option(help="DuckDB file standing in for Redshift.")
    ] = None,
    params: Annotated[Path, typer.Option(help="params.json of the detector.")] = Path(
        "params.json"
    ),
    start: Annotated[
        datetime | None,
        typer.Option(help="Start of the historical crawl (UTC); default from params.json."),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(help="End of the historical crawl = start of the continuous one (UTC)."),
    ] = None,
    intervals: Annotated[
        int | None, typer.Option(min=0, help="Continuous intervals to crawl after END.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Crawl continuously until this time (UTC).")
    ] = None,
    clock: Annotated[
        str, typer.Option(help="'simulated' (as fast as possible) or 'realtime' (wall clock).")
    ] = "simulated",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the bucket and the report.")
    ] = Path("connector-output"),
) -> None:
    """Run the connector on your own DuckDB data: historical crawl, detector, continuous crawl."""
    began = time.perf_counter()
    if not local:
        raise LocalRunError(
            "only local runs are supported from this command: add --local (and --warehouse); "
            "on AWS, deploy the CDK app and the schedule runs the crawler"
        )
    if warehouse is None or not warehouse.is_file():
        raise LocalRunError(
            f"--warehouse {warehouse or '(missing)'}: pass an existing DuckDB file holding "
            "the tables your query templates read"
        )
    if intervals is not None and until is not None:
        raise LocalRunError("pass either --intervals or --until, not both")
    if clock not in ("simulated", "realtime"):
        raise LocalRunError(f"--clock {clock!r}: use 'simulated' or 'realtime'")
    checked_clock: Clock = "realtime" if clock == "realtime" else "simulated"
    loaded = load_params(params)
    history = _history_range(loaded, start, end)
    _check_warehouse(
        warehouse,
        loaded,
        history,
        range_from="--start/--end"
        if start is not None
        else f"crawl.historical_start {loaded.crawl.model_dump(mode='json')['historical_start']} "
        + ("before --end" if end is not None else "before now"),
    )
    with _progress() as progress:
        outcome = _run_pipeline(
            progress,
            params_path=params.resolve(),
            warehouse=warehouse.resolve(),
            output=output.resolve(),
            history=history,
            intervals=intervals if intervals is not None or until is not None else 0,
            until=_utc(until) if until else None,
            clock=checked_clock,
        )
    _finish(outcome, output=output.resolve(), labels=(), began=began, title="Connector run")


# --- The pipeline --------------------------------------------------------------------


@dataclass
class _Outcome:
    """What a run produced, read back from the exported bucket."""

    params: Params
    history: tuple[datetime, datetime]
    live: tuple[datetime, datetime]
    historical_intervals: int
    continuous_intervals: int
    bucket: Path
    data_files: list[Path]
    data_bytes: int
    backtest: list[Anomaly] = field(default_factory=list)
    live_anomalies: list[Anomaly] = field(default_factory=list)
    alerts: int = 0
    failures: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _run_pipeline(
    progress: Progress,
    *,
    params_path: Path,
    warehouse: Path,
    output: Path,
    history: tuple[datetime, datetime],
    intervals: int | None,
    until: datetime | None,
    clock: Clock,
) -> _Outcome:
    # Imported here: the runtime pulls in moto, which only the local commands need.
    from connector.local.runtime import LocalRuntime, Tick

    params = load_params(params_path)
    freq, tz = params.frequency, params.timezone
    historical = len(intervals_between(history[0], history[1], freq, tz))
    stages: dict[str, float] = {}
    bucket_dir = output / "bucket"
    # A previous run's files would be read back as this run's: start from empty folders.
    for stale in (bucket_dir, output / "runtime"):
        shutil.rmtree(stale, ignore_errors=True)
    failures: list[str] = []
    with ExitStack() as running:
        running.enter_context(quiet_runtime())
        with _stage(progress, stages, "Synthesising the app and starting the runtime"):
            runtime = running.enter_context(
                LocalRuntime(params_path, warehouse, output / "runtime")
            )
        with _stage(progress, stages, f"Historical crawl and detector: {historical:,} intervals"):
            result = runtime.run_historical(start=history[0], end=history[1])
        if not result.succeeded:
            raise LocalRunFailed(
                f"the historical crawl {result.status}: {result.error}: {_cause(result.cause)} "
                f"(execution {result.execution_arn}; scratch files in {output / 'runtime'})"
            )
        total = (
            intervals or 0 if until is None else len(intervals_between(history[1], until, freq, tz))
        )
        task = progress.add_task("Continuous crawl and scoring", total=total or None)
        tick_began = time.perf_counter()

        def on_tick(tick: Tick) -> None:
            progress.advance(task)
            if not tick.result.succeeded:
                failures.append(
                    f"run for {tick.interval.start:%Y-%m-%d %H:%M} {tick.result.status}: "
                    f"{tick.result.error}: {_cause(tick.result.cause)}"
                )

        runtime.drive_schedule(
            history[1],
            until=until,
            intervals=intervals,
            clock=clock,
            on_tick=on_tick,
        )
        stages["Continuous crawl and scoring"] = time.perf_counter() - tick_began
        progress.update(task, completed=total, total=total)
        with _stage(progress, stages, "Exporting the bucket"):
            runtime.export_bucket(bucket_dir)
        alerts = len(runtime.sns_messages())
        bucket = runtime.data_bucket
    if not params.s3_bucket:
        # The deployment names the bucket when params.json leaves it empty, as the shipped one does.
        params = params.model_copy(update={"s3_bucket": bucket})
    live_end = until or history[1] + freq.delta * (intervals or 0)
    files = _data_files(bucket_dir, params)
    prefix_dir = bucket_dir / params.data_prefix
    return _Outcome(
        params=params,
        history=history,
        live=(history[1], live_end),
        historical_intervals=historical,
        continuous_intervals=total,
        bucket=bucket_dir,
        data_files=files,
        data_bytes=sum(f.stat().st_size for f in files),
        backtest=read_anomalies(_latest(prefix_dir.glob("detector/backtest/*.jsonl"))),
        live_anomalies=read_anomalies(prefix_dir.glob("anomalies/*/*.jsonl")),
        alerts=alerts,
        failures=failures,
        stage_seconds=stages,
    )


def _finish(
    outcome: _Outcome, *, output: Path, labels: Sequence[Label], began: float, title: str
) -> None:
    params = outcome.params
    interval = params.frequency.delta
    series, rows = read_series(outcome.data_files, params)
    anomalies = [*outcome.backtest, *outcome.live_anomalies]
    live = evaluate(outcome.live_anomalies, labels, scored=outcome.live, interval=interval)
    backtest_range = _backtest_range(outcome)
    backtest = evaluate(outcome.backtest, labels, scored=backtest_range, interval=interval)
    summary: dict[str, object] = {
        "Historical intervals crawled": f"{outcome.historical_intervals:,}",
        "Continuous intervals crawled": f"{outcome.continuous_intervals:,}",
        "Rows in the bucket": f"{rows:,}",
        "Data files": f"{len(outcome.data_files):,} ({outcome.data_bytes / 1e6:,.1f} MB)",
        "Series (combinations × measures)": f"{len(series):,}",
        "Anomalies detected (continuous)": f"{len(live.anomalies):,}",
        "Anomalies detected (backtest)": f"{len(backtest.anomalies):,}",
        "SNS messages (alerts, failures)": f"{outcome.alerts:,}",
        "Continuous runs failed": f"{len(outcome.failures):,}",
    }
    if labels:
        summary.update(
            {
                "Labelled windows found (continuous)": _recall(live),
                "False alerts (continuous)": f"{live.false_alerts:,}",
                "Labelled windows found (backtest)": _recall(backtest),
                "False alerts (backtest)": f"{backtest.false_alerts:,}",
            }
        )
    summary["Elapsed"] = f"{time.perf_counter() - began:.1f} s"
    report = write_report(
        output / "report.html",
        series=series,
        anomalies=anomalies,
        labels=labels,
        summary=summary,
        interval=interval,
        focus=outcome.live,
        title=f"{title}: {params.detector_name}",
    )
    figures = {
        "historical_intervals": outcome.historical_intervals,
        "continuous_intervals": outcome.continuous_intervals,
        "rows": rows,
        "files": len(outcome.data_files),
        "bytes": outcome.data_bytes,
        "series": len(series),
        "sns_messages": outcome.alerts,
        "continuous_failures": outcome.failures,
        "continuous": _figures(live),
        "backtest": _figures(backtest),
        "stage_seconds": outcome.stage_seconds,
        "elapsed_seconds": round(time.perf_counter() - began, 2),
    }
    # The same figures for scripts and tests, which should not parse a rich table.
    (output / "summary.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column(justify="right")
    for key, value in summary.items():
        table.add_row(key, str(value))
    console.print(table)
    for failure in outcome.failures[:3]:
        error_console.print(f"[red]continuous crawl failed:[/] {failure}", highlight=False)
    console.print(f"Report: {report}")
    console.print(f"Bucket: {outcome.bucket}")


def _cause(cause: str | None) -> str:
    """The message inside a Lambda error's JSON cause, else the cause as given."""
    try:
        return str(json.loads(cause or "")["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return cause or "no cause given"


def _figures(evaluation: Evaluation) -> dict[str, int]:
    return {
        "anomalies": len(evaluation.anomalies),
        "labelled": evaluation.labelled,
        "found": evaluation.recalled,
        "false_alerts": evaluation.false_alerts,
    }


def _recall(evaluation: Evaluation) -> str:
    if not evaluation.labelled:
        return "no labels in range"
    return f"{evaluation.recalled} of {evaluation.labelled} ({evaluation.recall or 0:.0%})"


# --- Helpers -------------------------------------------------------------------------


def _write_demo_params(path: Path, *, history_days: int) -> Path:
    """The repository's params.json, pointed at its queries and made quick for a local run."""
    source = _REPO / "params.json"
    document: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    document.pop("$schema", None)
    # The embedded runtime serves whichever cluster is named; the Data API needs one.
    document.setdefault("warehouse", {})["cluster_identifier"] = "demo-warehouse"
    crawl = document.setdefault("crawl", {})
    crawl["queries_dir"] = str(_REPO / "queries")
    crawl["historical_start"] = f"P{history_days}D"
    # Polls against the in-process emulation return at once: waiting is wasted time.
    crawl["poll_seconds"] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
    load_params(path)
    return path


def _history_range(
    params: Params, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The historical crawl's range, planned as the crawl will plan it.

    Planning here, before the runtime starts, refuses a range the detector does not
    accept (:func:`~connector.intervals.plan_chunks`: its timeframe and file limits) at
    once and with exit code 2; the crawl itself would fail on it inside the state
    machine, after the app is synthesised and the output folder written.
    """
    freq, tz = params.frequency, params.timezone
    end_utc = _utc(end) if end else datetime.now(UTC)
    if start is None:
        planned = params.historical_range(end_utc)
        first, last = planned.start, planned.end
    else:
        first, last = align(_utc(start), freq, tz), align(end_utc, freq, tz)
        if first >= last:
            raise PlanError(
                f"--start {first:%Y-%m-%d %H:%M} is not before --end {last:%Y-%m-%d %H:%M}: "
                "the historical crawl needs at least one interval"
            )
    try:
        plan_chunks(first, last, freq, tz, params.crawl.chunk_intervals)
    except PlanError as exc:
        given = "--start/--end" if start is not None else "crawl.historical_start and --end"
        raise PlanError(f"{given}: {exc}") from exc
    return first.astimezone(UTC), last.astimezone(UTC)


def _check_warehouse(
    warehouse: Path, params: Params, history: tuple[datetime, datetime], *, range_from: str
) -> None:
    """Refuse a warehouse the crawl's queries cannot run on, before the runtime starts.

    The runtime would find out inside the state machine, after synthesising the app,
    and fail with exit 1. Here the file must open as a DuckDB database (read-only: it is
    not changed), and each crawl's SELECT, transpiled as the runtime does, must run
    there: the historical one over the whole range, the continuous one for its first
    window, each up to its first row. The historical one must also return that row:
    without history the detector cannot be built, and the usual cause is a range
    (``range_from`` says where it came from) outside the data.
    """
    # Imported here, like the runtime: only the local commands need the emulation.
    from connector.local.redshift_data import transpile

    freq, tz = params.frequency, params.timezone
    windows: dict[CrawlKind, Interval] = {
        "historical": Interval(*history),
        "continuous": interval_containing(history[1], freq, tz),
    }
    advice = (
        "pass the DuckDB file that holds the tables your query templates read "
        "('connector demo' writes an example to demo-output/warehouse.duckdb)"
    )
    # DuckDB would also open a .json, .csv or .parquet file as a database of one view,
    # so that the mistake would only show as a missing table: check its header first.
    with warehouse.open("rb") as file:
        header = file.read(_DUCKDB_MAGIC_END)
    if header[_DUCKDB_MAGIC_START:_DUCKDB_MAGIC_END] != _DUCKDB_MAGIC:
        raise LocalRunError(f"--warehouse {warehouse} is not a DuckDB database file; {advice}")
    try:
        connection = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise LocalRunError(
            f"--warehouse {warehouse} cannot be opened by DuckDB {duckdb.__version__}: "
            f"{_first_line(exc)}; {advice}"
        ) from exc
    with connection:
        connection.execute("SET TimeZone = 'UTC'")
        for kind, window in windows.items():
            template = getattr(params.crawl.templates, kind)
            what = rendered_from(template, params)
            query = render_query(template, window=window, params=params)
            select = strip_statement(query, what=what)
            try:
                sql, _ = transpile(select)
                first = connection.execute(f"SELECT 1 FROM ({sql}) AS probe LIMIT 1").fetchone()
            except (ValueError, duckdb.Error) as exc:
                raise LocalRunError(
                    f"--warehouse {warehouse}: {what} does not run there: {_first_line(exc)}; "
                    "load the tables and columns it reads into that file, or point "
                    "--warehouse at the DuckDB file that has them"
                ) from exc
            if kind == "historical" and first is None:
                raise LocalRunError(
                    f"--warehouse {warehouse}: {what} returns no rows for the historical "
                    f"range {history[0]:%Y-%m-%d %H:%M} to {history[1]:%Y-%m-%d %H:%M} UTC "
                    f"(from {range_from}), and the detector learns from that history; pass "
                    "--start and --end within your data's dates"
                )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _backtest_range(outcome: _Outcome) -> tuple[datetime, datetime]:
    """Where the backtest scored: the anomalies it wrote tell, else the last 30% of history."""
    if outcome.backtest:
        return min(a.start for a in outcome.backtest), outcome.history[1]
    begin, end = outcome.history
    return end - (end - begin) * 0.3, end


def _data_files(bucket_dir: Path, params: Params) -> list[Path]:
    """The crawled CSV files in the exported bucket: historical prefix and live folders."""
    files: list[Path] = []
    historical = _local_path(bucket_dir, params.historical_path)
    if historical.is_dir():
        files += [f for f in historical.iterdir() if f.is_file()]
    live_root = params.live_path_template.split("{{", 1)[0]
    live = _local_path(bucket_dir, live_root)
    if live.is_dir():
        files += [f for f in live.rglob("*") if f.is_file()]
    return sorted(f for f in files if f.stat().st_size > 0 and not f.name.endswith("manifest"))


def _local_path(bucket_dir: Path, uri: str) -> Path:
    key = uri.removeprefix("s3://").split("/", 1)[1] if "/" in uri[5:] else ""
    return bucket_dir / key


def _latest(files: Iterator[Path]) -> list[Path]:
    ordered = sorted(files)
    return ordered[-1:]


@contextmanager
def quiet_runtime() -> Iterator[None]:
    """Keep stdout for the summary: the in-process Lambdas log and emit metrics to stdout,
    moto logs every failed state, jsii prints a Node banner. Failures are reported by
    this command from the executions' results instead."""
    quiet_env = {
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",
        # jsii compares this list of major versions with the running Node's major.
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "14,16,18,19,20,21,23",
    }
    saved_env = {key: os.environ.get(key) for key in quiet_env}
    moto_logger = logging.getLogger("moto")
    saved_level = moto_logger.level
    os.environ.update(quiet_env)
    moto_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        moto_logger.setLevel(saved_level)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _stage(progress: Progress, stages: dict[str, float], description: str) -> Iterator[None]:
    task = progress.add_task(description, total=1)
    began = time.perf_counter()
    yield
    stages[description] = time.perf_counter() - began
    progress.update(task, completed=1)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console,
    )
