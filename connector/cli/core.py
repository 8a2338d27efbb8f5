"""``connector validate`` and ``connector render``: check the queries, print the UNLOADs.

``validate`` is what to run after editing params.json or a template: it renders every
configured template, checks the SELECT and its output columns, and builds and splits
a sample UNLOAD per crawl. ``render`` prints the exact statements the crawlers would
send, one per chunk or interval, and nothing else on stdout, so that it pipes into
a SQL client.

Times on the command line are ISO-8601 (``2024-03-01``, ``2024-03-01T10:00``,
``2024-03-01T10:00:00+01:00``); dates and times without an offset are read in
params.json's ``detector.timezone``, as ``crawl.historical_start`` is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from connector.cli.console import console
from connector.config import Params, bucket_name_problem, load_params
from connector.errors import PlanError, TemplateError, UnloadError
from connector.intervals import (
    SUPPORTED_TIMES,
    Interval,
    align,
    intervals_between,
    last_closed_interval,
    next_boundary,
    plan_chunks,
)
from connector.sql import (
    CRAWL_KINDS,
    CrawlKind,
    render_unload,
)
from connector.validation import Check, validate_params

__all__ = [
    "MAX_RENDERED_STATEMENTS",
    "Check",
    "check_bucket_option",
    "parse_time",
    "register",
    "validate_params",
]

# `render` refuses ranges that would print more statements than this: a typo in a
# year should not flood a terminal or a SQL client.
MAX_RENDERED_STATEMENTS = 10_000
_ROLE_HELP = (
    "IAM role Redshift assumes to write to S3 (attached to the cluster or workgroup), or 'default'."
)


def parse_time(text: str, params: Params, option: str) -> datetime:
    """An aware datetime from ISO-8601 text; no offset means detector.timezone.

    Refused, naming ``option``: text that is not ISO-8601, and a time outside
    :data:`~connector.intervals.SUPPORTED_TIMES` (a mistyped year such as 9999 or 0202).
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PlanError(
            f"{option} {text!r} is not an ISO-8601 date or date-time; use e.g. 2024-03-01, "
            "2024-03-01T10:00 or 2024-03-01T10:00:00+00:00"
        ) from exc
    parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=params.timezone)
    first, end = SUPPORTED_TIMES
    if not first <= parsed < end:
        raise PlanError(
            f"{option} {text!r} is outside {first.date()} to {(end - timedelta(days=1)).date()}, "
            "the times the connector plans intervals for; check its year"
        )
    return parsed


def check_bucket_option(bucket: str | None, option: str = "--bucket") -> str | None:
    """``--bucket`` as given, if it is a bucket name params.json's s3_bucket would accept.

    Checked before it is used: inside an UNLOAD target a bad name would be blamed on
    the derived ``s3://...`` URI, which the user never typed.
    """
    if bucket is not None and (problem := bucket_name_problem(bucket)) is not None:
        raise UnloadError(
            f"{option} {bucket!r} {problem}; give the name of the data bucket, "
            "e.g. my-connector-data"
        )
    return bucket


def _render_windows(
    params: Params, crawl: CrawlKind, start: datetime | None, end: datetime | None, now: datetime
) -> list[Interval]:
    freq, tz = params.frequency, params.timezone
    if crawl == "continuous":
        if start is None:
            if end is not None:
                raise PlanError("--end needs --start; give both, or neither for the last interval")
            return [last_closed_interval(now, freq, tz)]
        end = end if end is not None else next_boundary(start, freq, tz)
    else:
        if start is None:
            start = params.historical_range(now).start
        if end is None:
            end = align(now, freq, tz)
            if end < start:
                raise PlanError(
                    f"--start {start.isoformat()} is in the future; history ends at the "
                    f"current interval, {end.isoformat()}"
                )
    if end < start:
        raise PlanError(f"--end {end.isoformat()} is before --start {start.isoformat()}; swap them")
    if crawl == "historical":
        windows = plan_chunks(start, end, freq, tz, params.crawl.chunk_intervals)
    else:
        windows = intervals_between(start, end, freq, tz)
    if not windows:
        raise PlanError(
            f"{start.isoformat()} → {end.isoformat()} holds no whole {freq} interval; "
            "move --end to a later interval boundary"
        )
    if len(windows) > MAX_RENDERED_STATEMENTS:
        raise PlanError(
            f"{len(windows):,} statements would be printed; narrow --start/--end "
            f"(at most {MAX_RENDERED_STATEMENTS:,})"
        )
    return windows


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(
        params_file: Annotated[
            Path, typer.Argument(metavar="PARAMS", help="The params.json to check.")
        ] = Path("params.json"),
        bucket: Annotated[
            str | None,
            typer.Option(help="Data bucket, when params.json's s3_bucket is empty."),
        ] = None,
        role_arn: Annotated[str | None, typer.Option(help=_ROLE_HELP)] = None,
    ) -> None:
        """Render every query template, check its SELECT and columns, and build its UNLOAD."""
        bucket = check_bucket_option(bucket)
        params = load_params(params_file)
        checks = validate_params(params, now=datetime.now(UTC), bucket=bucket, role_arn=role_arn)
        table = Table(title=f"{params_file}: {params.detector_name}, {params.frequency}")
        table.add_column("check")
        table.add_column("result")
        table.add_column("detail", overflow="fold")
        for check in checks:
            table.add_row(
                check.what, "[green]ok[/]" if check.ok else "[red]failed[/]", check.detail
            )
        console.print(table)
        failures = [check for check in checks if not check.ok]
        if failures:
            raise TemplateError(
                f"{params_file}: {len(failures)} check(s) failed:\n"
                + "\n".join(f"  - {check.what}: {check.detail}" for check in failures)
            )

    @app.command("render")
    def render(
        crawl: Annotated[
            str,
            typer.Option(
                "--crawl",
                help="historical (one statement per chunk) or continuous (one per interval).",
            ),
        ],
        start: Annotated[
            str | None,
            typer.Option(
                help="ISO-8601 start; no offset = detector.timezone. Default: the last closed "
                "interval (continuous) or crawl.historical_start (historical)."
            ),
        ] = None,
        end: Annotated[
            str | None,
            typer.Option(
                help="ISO-8601 end, exclusive. Default: start + one interval (continuous) "
                "or the start of the current interval (historical)."
            ),
        ] = None,
        params_file: Annotated[
            Path, typer.Option("--params", help="The params.json to use.")
        ] = Path("params.json"),
        bucket: Annotated[
            str | None,
            typer.Option(
                envvar="CONNECTOR_BUCKET",
                help="Data bucket; default: params.json's s3_bucket.",
            ),
        ] = None,
        role_arn: Annotated[
            str | None,
            typer.Option(envvar="CONNECTOR_UNLOAD_ROLE_ARN", help=_ROLE_HELP),
        ] = None,
    ) -> None:
        """Print the UNLOAD statements of a crawl, each ending in ';', for a SQL client."""
        if crawl not in CRAWL_KINDS:
            raise PlanError(f"--crawl {crawl!r} is unknown; use historical or continuous")
        kind: CrawlKind = "historical" if crawl == "historical" else "continuous"
        bucket = check_bucket_option(bucket, "--bucket (or CONNECTOR_BUCKET)")
        params = load_params(params_file)
        if role_arn is None:
            # A placeholder role would print statements that only fail inside Redshift.
            raise UnloadError(
                "no IAM role to unload with: pass --role-arn (or set CONNECTOR_UNLOAD_ROLE_ARN) "
                "to the role attached to your Redshift cluster or workgroup, or 'default'"
            )
        if bucket is None and not params.s3_bucket and not _has_path(params, kind):
            raise UnloadError(
                f"no bucket to unload to: {params_file} has an empty s3_bucket; pass --bucket "
                "(or set CONNECTOR_BUCKET) or fill s3_bucket in params.json"
            )
        now = datetime.now(UTC)
        windows = _render_windows(
            params,
            kind,
            parse_time(start, params, "--start") if start is not None else None,
            parse_time(end, params, "--end") if end is not None else None,
            now,
        )
        statements = [
            render_unload(params, kind, window, bucket=bucket, role_arn=role_arn)
            for window in windows
        ]
        # Plain writes: rich would wrap long lines and break the SQL.
        typer.echo("".join(f"{statement};\n" for statement in statements), nl=False)


def _has_path(params: Params, kind: CrawlKind) -> bool:
    source = params.metric_source.s3_source_config
    paths = source.historical_data_path_list if kind == "historical" else source.templated_path_list
    return bool(paths[0])
