"""Where each crawl writes, and the complete UNLOAD statement for one window."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Literal

from connector.errors import UnloadError
from connector.intervals import expand_path
from connector.sql.templates import render_query
from connector.sql.unload import build_unload, check_s3_uri

if TYPE_CHECKING:
    from pathlib import Path

    from connector.config import Params
    from connector.intervals import Interval

__all__ = ["CRAWL_KINDS", "CrawlKind", "render_unload", "rendered_from", "unload_target"]

CrawlKind = Literal["historical", "continuous"]
CRAWL_KINDS: tuple[CrawlKind, ...] = ("historical", "continuous")


def unload_target(params: Params, kind: CrawlKind, interval: Interval) -> str:
    """The ``s3://`` name prefix an UNLOAD of ``interval`` writes to.

    Continuous: the interval's folder, the live path template expanded with the
    interval START (``s3://bucket/prefix/live/20240301/0000/``). When that start is a
    wall-clock time the detector's zone shows twice (the hour a DST fall-back repeats),
    both intervals have the same folder; each then writes files named by its start in
    UTC (``…/20261101/0100/T0500Z_000`` and ``…/0100/T0600Z_000`` in New York), so
    neither overwrites the other and the detector, which reads the whole folder and
    keeps the rows of its interval, finds both. Historical: files
    directly under the historical prefix (the detector ignores sub-folders), named by
    the chunk's START in UTC (``s3://bucket/prefix/historical/20240301T0000_``) so that
    chunks never overwrite each other, even across a DST fall-back.
    Raises :class:`~connector.errors.ParamsError` when params.json has neither the
    paths nor ``s3_bucket`` to derive them from.
    """
    if kind == "continuous":
        folder = expand_path(params.live_path_template, interval.start, params.timezone)
        if not folder.endswith("/"):
            # A template written without the trailing '/' still names a folder: the
            # detector reads the objects inside it, so UNLOAD must write them there.
            folder += "/"
        if _repeated_wall_time(interval.start, params.timezone):
            folder += interval.start.astimezone(UTC).strftime("T%H%MZ_")
        return check_s3_uri(folder)
    if kind == "historical":
        prefix = params.historical_path
        if not prefix.endswith("/"):
            prefix += "/"
        return check_s3_uri(prefix + interval.start.astimezone(UTC).strftime("%Y%m%dT%H%M_"))
    raise UnloadError(f"crawl kind {kind!r} is unknown; use one of {', '.join(CRAWL_KINDS)}")


def _repeated_wall_time(instant: datetime, zone: tzinfo) -> bool:
    """Whether ``instant``'s wall clock in ``zone`` also names another instant (fold)."""
    local = instant.astimezone(zone)
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def render_unload(
    params: Params,
    kind: CrawlKind,
    window: Interval,
    *,
    bucket: str | None = None,
    role_arn: str,
    queries_dir: Path | None = None,
    max_file_size_mb: float | None = None,
) -> str:
    """The UNLOAD statement that crawls ``window`` for ``kind`` (no trailing ``;``).

    Renders ``crawl.templates.<kind>`` for the window and writes CSV as params.json's
    ``CsvFormatDescriptor`` says to :func:`unload_target`. ``bucket`` is the deployed
    data bucket: it fills an empty ``s3_bucket`` (as in the shipped params.json) and
    must equal a non-empty one. ``role_arn`` is the role Redshift assumes to write to
    S3 (attached to the cluster or workgroup), not the detector's ``RoleArn``.
    """
    if bucket is not None and bucket != params.s3_bucket:
        if params.s3_bucket:
            raise UnloadError(
                f"bucket {bucket!r} differs from s3_bucket {params.s3_bucket!r} in params.json; "
                "the detector reads s3_bucket, so unload there (or change s3_bucket)"
            )
        params = params.model_copy(update={"s3_bucket": bucket})
    template = getattr(params.crawl.templates, kind, None)
    if template is None:
        raise UnloadError(f"crawl kind {kind!r} is unknown; use one of {', '.join(CRAWL_KINDS)}")
    target = unload_target(params, kind, window)
    if bucket is not None and not target.startswith(f"s3://{bucket}/"):
        raise UnloadError(
            f"params.json points the {kind} data at {target}, outside bucket {bucket!r}; "
            "set HistoricalDataPathList / TemplatedPathList to that bucket or leave them "
            "empty to have them derived"
        )
    query = render_query(template, window=window, params=params, queries_dir=queries_dir)
    return build_unload(
        query,
        s3_uri=target,
        iam_role_arn=role_arn,
        csv=params.csv,
        max_file_size_mb=max_file_size_mb,
        what=rendered_from(template, params, queries_dir),
    )


def rendered_from(template: str, params: Params, queries_dir: Path | None = None) -> str:
    """How SQL errors name a rendered query: by its template, whose lines it mostly keeps."""
    directory = queries_dir if queries_dir is not None else params.queries_path
    return f"the SELECT rendered from {(directory / template).resolve()}"
