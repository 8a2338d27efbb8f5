"""The checks ``connector validate`` and ``cdk synth`` run on params.json and its templates.

Kept out of the CLI so that the CDK app can run them with only ``.[cdk]`` installed:
each crawl's template is rendered for a sample window, its SELECT parsed and its output
columns compared with params.json, a sample UNLOAD built and split back, and the
detector backend checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from connector.config import Params
from connector.errors import ConnectorError, UnloadError
from connector.intervals import Interval, align, last_closed_interval
from connector.sql import (
    CRAWL_KINDS,
    CrawlKind,
    check_output_columns,
    render_query,
    render_unload,
    rendered_from,
    split_unload,
    strip_statement,
    unload_target,
)

__all__ = ["SAMPLE_BUCKET", "SAMPLE_ROLE", "Check", "validate_params"]

# validate needs an UNLOAD target and role to build its sample statements; these are
# only used when params.json and the options leave them empty, and never sent anywhere.
SAMPLE_BUCKET = "example-bucket"
SAMPLE_ROLE = "arn:aws:iam::123456789012:role/example-redshift-unload"


def _required_columns(params: Params) -> list[str]:
    return [params.timestamp_column.column_name, *params.dimension_list, *params.measures]


def _sample_windows(params: Params, now: datetime) -> dict[CrawlKind, Interval]:
    """One continuous interval (the last closed one) and the historical chunk before it."""
    freq, tz = params.frequency, params.timezone
    interval = last_closed_interval(now, freq, tz)
    chunk_start = align(interval.start - freq.delta * params.crawl.chunk_intervals, freq, tz)
    return {"historical": Interval(chunk_start, interval.start), "continuous": interval}


@dataclass(frozen=True)
class Check:
    """One line of ``connector validate``'s summary."""

    what: str
    ok: bool
    detail: str


def _check_kind(
    params: Params, kind: CrawlKind, window: Interval, *, bucket: str | None, role_arn: str
) -> list[Check]:
    template = getattr(params.crawl.templates, kind)
    label = f"{kind} · {template}"
    try:
        query = render_query(template, window=window, params=params)
        missing = check_output_columns(
            query, _required_columns(params), what=rendered_from(template, params)
        )
    except ConnectorError as exc:
        return [Check(label, False, str(exc))]
    checks = []
    if missing:
        checks.append(
            Check(
                label,
                False,
                f"{params.queries_path / template}: the SELECT does not output "
                f"{', '.join(missing)}; params.json needs the timestamp column, every "
                "dimension and every measure as output columns (alias them with AS)",
            )
        )
    else:
        checks.append(Check(label, True, f"one SELECT with {', '.join(_required_columns(params))}"))
    try:
        statement = render_unload(params, kind, window, bucket=bucket, role_arn=role_arn)
        parts = split_unload(statement)
        expected = (
            strip_statement(query),
            unload_target(_with_bucket(params, bucket), kind, window),
        )
        if (parts.query, parts.s3_uri) != expected or parts.iam_role != role_arn:
            raise UnloadError(
                "the UNLOAD does not split back into its query, target and role; "
                "please report this with the template"
            )
    except ConnectorError as exc:
        return [*checks, Check(f"{kind} · UNLOAD", False, str(exc))]
    return [*checks, Check(f"{kind} · UNLOAD", True, f"TO {parts.s3_uri} (round-trips)")]


def _with_bucket(params: Params, bucket: str | None) -> Params:
    return (
        params
        if bucket is None or params.s3_bucket
        else params.model_copy(update={"s3_bucket": bucket})
    )


def validate_params(
    params: Params, *, now: datetime, bucket: str | None = None, role_arn: str | None = None
) -> list[Check]:
    """Every check ``connector validate`` runs, in order; none raises."""
    if bucket is None and not params.s3_bucket:
        bucket = SAMPLE_BUCKET
    role = role_arn or SAMPLE_ROLE
    windows = _sample_windows(params, now)
    checks: list[Check] = []
    for kind in CRAWL_KINDS:
        checks += _check_kind(params, kind, windows[kind], bucket=bucket, role_arn=role)
    checks.append(_check_backend(params))
    return checks


def _check_backend(params: Params) -> Check:
    # The detector package is imported here, not at module level: it pulls numpy, and
    # `connector render` must stay quick to start.
    from connector.detector.service import check_backend_available

    label = f"detector · {params.detector.backend}"
    try:
        check_backend_available(params)
    except ConnectorError as exc:
        return Check(label, False, str(exc))
    return Check(label, True, "available")
