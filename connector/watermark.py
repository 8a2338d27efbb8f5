"""The continuous crawl's watermark: where landed data ends, and who may move it.

The watermark is the END of the last interval whose UNLOAD has finished, with every
interval before it (back to where history ended) landed too. The continuous crawl
plans from it (:func:`plan_due`), unloads, and only then moves it (:func:`advance`):
a missed, late or failed run leaves it where it was, so the next run catches up.

Where it lives, and why there
-----------------------------
A small JSON object in the connector's own bucket, ``<prefix>/state/watermark.json``,
written only with S3 conditional writes: ``If-None-Match: *`` to create it,
``If-Match: <ETag of the version read>`` to change it. S3 has supported both on
``PutObject`` since 2024 (moto 5.2.5, the offline runtime's S3, implements both and
answers ``412 PreconditionFailed`` as S3 does). Compared with the alternatives:

* **DynamoDB** (conditional ``UpdateItem``) would be one more resource to deploy, pay
  for, grant and back up, for a single item updated once per interval.
* **SSM Parameter Store** has no compare-and-set (``PutParameter`` overwrites or
  fails on existence only), so two runs could not tell that they raced.
* **S3** needs nothing new: the crawl already holds a least-privilege grant on the
  bucket's prefix, the object sits next to the data it describes (a bucket copied
  or restored carries its watermark), and the same code runs against moto offline.

Two writers race through :mod:`connector.storage`'s conditional ``put``: exactly one
wins, the other gets :class:`WatermarkConflict`.

Concurrent runs
---------------
An ETag check alone stops two runs from both *advancing*, but not from both
*unloading* the same intervals first. So a run first claims its intervals
(:func:`claim`): it writes a lease (its run id, the end of what it plans, an expiry)
into the watermark object, conditionally. A second run (a manual start while the
schedule fires, a duplicate delivery of the same scheduled event; run ids are
execution names, unique per execution) reads a live lease held by someone else,
plans nothing (:func:`plan_due` returns ``[]``) and stops; :func:`claim` raises
:class:`WatermarkLeased` if it tries anyway. A run that dies holding a lease blocks
others until the lease expires (choose the lease longer than the state machine's
timeout), after which the next run takes the intervals over (re-unloading them is
harmless: UNLOAD runs with ALLOWOVERWRITE and ``PARALLEL OFF``, so the same file name
is rewritten). :func:`advance` to the end of the lease releases it; :func:`release`
gives it up without advancing.

When an interval is due
-----------------------
As soon as it has closed (``end <= now``). params.json's ``offset`` is the
*detector's* read delay: it reads interval ``[s, e)`` at ``e + offset``. The crawler
must have landed it by then, so it does not wait for the offset itself; rows that
reach Redshift after the crawl are picked up by the restatement window
(``crawl.restatement_intervals``), which re-unloads the last K intervals before the
watermark each run. A restated interval only helps the detector while ``e + offset``
is still ahead; see docs/recovery.md for that trade-off.

A continuous run calls :func:`start_run` (read, plan, claim) before its UNLOADs and
:func:`finish_run` (advance over what landed, release) after them. Pure planning
(:func:`plan_due`, :func:`contiguous_end`, :func:`find_gaps`) is kept apart from the
functions that read or write the store.
"""

from __future__ import annotations

import itertools
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from connector.config import Params
from connector.errors import ConnectorError, PlanError
from connector.intervals import Interval, align, intervals_between, iter_intervals
from connector.sql import unload_target
from connector.storage import (
    ObjectNotFoundError,
    ObjectStore,
    PreconditionFailedError,
    StoredObject,
)

__all__ = [
    "FORMAT_VERSION",
    "Lease",
    "Watermark",
    "WatermarkConflict",
    "WatermarkError",
    "WatermarkLeased",
    "advance",
    "claim",
    "contiguous_end",
    "find_gaps",
    "finish_run",
    "gaps",
    "initialise",
    "plan_due",
    "read",
    "release",
    "start_run",
    "watermark_key",
]

FORMAT_VERSION = 1
"""Version of the JSON layout; a newer one is refused rather than misread."""


class WatermarkError(ConnectorError):
    """The watermark object is unreadable, or does not fit params.json any more."""


class WatermarkConflict(WatermarkError):
    """Another run changed the watermark since this one read it; this run must stop.

    Not a user mistake (exit code 1): the other run carries on, and the next
    scheduled run plans from wherever it left the watermark.
    """

    exit_code = 1


class WatermarkLeased(WatermarkConflict):
    """Another run holds a live lease on the intervals after the watermark."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A run's claim on the intervals from the watermark up to ``until``."""

    run_id: str
    until: datetime
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        """Whether the lease still excludes other runs at ``now``."""
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class Watermark:
    """One version of the watermark object, with the ETag to update it conditionally."""

    end: datetime
    """End of the last interval landed; every interval before it is landed too."""
    run_id: str
    """The run (Step Functions execution name) that last wrote it."""
    version: int
    """1 when created, +1 on each write: a cheap way to see that it moved."""
    updated_at: datetime
    origin: datetime
    """Where the continuous crawl began (where history ended): :func:`gaps` starts here."""
    frequency: str
    timezone: str
    lease: Lease | None = None
    etag: str = ""

    def leased_by_other(self, run_id: str, now: datetime) -> bool:
        """Whether a live lease of another run excludes ``run_id`` at ``now``."""
        return self.lease is not None and self.lease.run_id != run_id and self.lease.live(now)


# --- JSON layout ---------------------------------------------------------------------


class _LeaseDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: Annotated[str, Field(min_length=1, max_length=256)]
    until: AwareDatetime
    expires_at: AwareDatetime


class _Document(BaseModel):
    """The object's JSON; ``extra="forbid"`` so a hand edit with a typo is refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int
    end: AwareDatetime
    origin: AwareDatetime
    run_id: Annotated[str, Field(min_length=1, max_length=256)]
    version: Annotated[int, Field(ge=1)]
    updated_at: AwareDatetime
    frequency: str
    timezone: str
    lease: _LeaseDocument | None = None


def _encode(mark: Watermark) -> bytes:
    lease = mark.lease
    document = _Document(
        format=FORMAT_VERSION,
        end=mark.end,
        origin=mark.origin,
        run_id=mark.run_id,
        version=mark.version,
        updated_at=mark.updated_at,
        frequency=mark.frequency,
        timezone=mark.timezone,
        lease=None
        if lease is None
        else _LeaseDocument(run_id=lease.run_id, until=lease.until, expires_at=lease.expires_at),
    )
    return (document.model_dump_json(indent=2, exclude_none=True) + "\n").encode("utf-8")


def _decode(stored: StoredObject, where: str) -> Watermark:
    try:
        raw = json.loads(stored.body)
        if isinstance(raw, dict) and raw.get("format", FORMAT_VERSION) > FORMAT_VERSION:
            raise WatermarkError(
                f"{where} has format {raw['format']}, newer than this connector's "
                f"{FORMAT_VERSION}; upgrade the connector before running it on this bucket"
            )
        document = _Document.model_validate(raw)
    except (ValueError, TypeError, ValidationError) as exc:
        raise WatermarkError(
            f"{where} is not a valid watermark ({_reason(exc)}); restore the previous "
            "version of the object, or reset it with `connector recrawl` over the range "
            "you trust (see docs/recovery.md)"
        ) from exc
    lease = document.lease
    return Watermark(
        end=document.end,
        origin=document.origin,
        run_id=document.run_id,
        version=document.version,
        updated_at=document.updated_at,
        frequency=document.frequency,
        timezone=document.timezone,
        lease=None if lease is None else Lease(lease.run_id, lease.until, lease.expires_at),
        etag=stored.etag,
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'document'}: {error['msg']}"
            for error in exc.errors()
        )
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- reading and writing --------------------------------------------------------------


def watermark_key(params: Params) -> str:
    """The watermark's key in the data bucket: ``<prefix>/state/watermark.json``."""
    return f"{params.data_prefix.strip('/')}/state/watermark.json"


def _where(store: ObjectStore, params: Params) -> str:
    return f"s3://{store.bucket}/{watermark_key(params)}"


def _check_on_grid(t: datetime, params: Params, what: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise PlanError(f"{what} {t.isoformat()} has no time zone; pass an aware datetime")
    if align(t, params.frequency, params.timezone) != t:
        raise PlanError(
            f"{what} {t.isoformat()} is not an interval boundary of {params.frequency} in "
            f"{params.detector.timezone}; give the end of an interval, e.g. "
            f"{align(t, params.frequency, params.timezone).isoformat()}"
        )


def _fits(mark: Watermark, params: Params, where: str) -> Watermark:
    """Refuse a watermark written under another frequency or zone: its grid is not ours."""
    if (mark.frequency, mark.timezone) != (params.detector_frequency, params.detector.timezone):
        raise WatermarkError(
            f"{where} was written for {mark.frequency} intervals in {mark.timezone}, but "
            f"params.json now says {params.detector_frequency} in {params.detector.timezone}; "
            "its intervals no longer line up: re-crawl history with the new settings "
            "(`connector recrawl`), which resets the watermark"
        )
    return mark


def _read_any(store: ObjectStore, params: Params) -> Watermark | None:
    try:
        stored = store.get(watermark_key(params))
    except ObjectNotFoundError:
        return None
    return _decode(stored, _where(store, params))


def read(store: ObjectStore, params: Params) -> Watermark | None:
    """The current watermark, or ``None`` before the historical crawl has set it.

    Raises :class:`WatermarkError` when the object is corrupt or was written for
    another frequency or time zone than params.json's.
    """
    mark = _read_any(store, params)
    return None if mark is None else _fits(mark, params, _where(store, params))


def _write(store: ObjectStore, params: Params, mark: Watermark, *, etag: str | None) -> Watermark:
    """Write ``mark`` if the object still has ``etag`` (``None``: if it does not exist)."""
    key, body = watermark_key(params), _encode(mark)
    try:
        if etag is None:
            written = store.put(key, body, content_type="application/json", if_none_match=True)
        else:
            written = store.put(key, body, content_type="application/json", if_match=etag)
    except (PreconditionFailedError, ObjectNotFoundError) as exc:
        # NotFound: the object was deleted since it was read, which is a change too.
        now_there = _read_any(store, params)
        by = (
            f"run {now_there.run_id!r} set it to {now_there.end.isoformat()}"
            if now_there
            else "it was deleted"
        )
        raise WatermarkConflict(
            f"{_where(store, params)} changed while run {mark.run_id!r} was updating it "
            f"({by}); this run stops here, the next run continues from the new watermark"
        ) from exc
    return replace(mark, etag=written)


def initialise(
    store: ObjectStore,
    params: Params,
    *,
    end: datetime,
    run_id: str,
    now: datetime | None = None,
    force: bool = False,
) -> Watermark:
    """Set the watermark where the historical crawl's data ends, once.

    Called when every historical chunk has landed, with ``end`` the end of the crawled
    range (the start of the interval open when it was planned), so that the continuous
    crawl starts exactly there. Idempotent: a watermark already at ``end`` is returned
    unchanged. An existing watermark elsewhere is left alone and returned: behind
    ``end``, the continuous crawl catches up the live folders from it; ahead of it,
    those intervals are landed already and moving back would land them twice.
    ``force=True`` (a deliberate reset by a re-crawl, with the schedule disabled) sets
    it to ``end`` either way, overwriting even a corrupt watermark or one written for
    another frequency; it drops any lease.
    Raises :class:`PlanError` when ``end`` is not an interval boundary and
    :class:`WatermarkConflict` when another run wrote it at the same moment.
    """
    _check_on_grid(end, params, "history end")
    now = now or datetime.now(UTC)
    if not force:
        current = read(store, params)
        return current or _reset(store, params, None, end, run_id, now)
    try:
        stored = store.get(watermark_key(params))
    except ObjectNotFoundError:
        return _reset(store, params, None, end, run_id, now)
    try:
        current = _decode(stored, _where(store, params))
    except WatermarkError:
        # A reset is the way out of a corrupt object: overwrite exactly the bytes read.
        return _reset(store, params, None, end, run_id, now, etag=stored.etag)
    if current.end == end and current.lease is None and _is_fitting(current, params):
        return current
    return _reset(store, params, current, end, run_id, now, etag=current.etag)


def _is_fitting(mark: Watermark, params: Params) -> bool:
    return (mark.frequency, mark.timezone) == (params.detector_frequency, params.detector.timezone)


def _reset(
    store: ObjectStore,
    params: Params,
    current: Watermark | None,
    end: datetime,
    run_id: str,
    now: datetime,
    *,
    etag: str | None = None,
) -> Watermark:
    fresh = Watermark(
        end=end,
        origin=end,
        run_id=run_id,
        version=1 if current is None else current.version + 1,
        updated_at=now,
        frequency=params.detector_frequency,
        timezone=params.detector.timezone,
    )
    try:
        return _write(store, params, fresh, etag=etag)
    except WatermarkConflict:
        # Two executions of the same historical crawl finishing at once both set the
        # same end: the second one's work is already recorded.
        again = _read_any(store, params)
        if again is not None and again.end == end and _is_fitting(again, params):
            return again
        raise


def claim(
    store: ObjectStore,
    params: Params,
    *,
    expected: Watermark,
    intervals: Iterable[Interval],
    run_id: str,
    now: datetime,
    ttl: timedelta,
) -> Watermark:
    """Reserve the intervals a run is about to unload, before it unloads any.

    Writes a lease (``run_id``, the end of the last planned interval, ``now + ttl``)
    into the watermark conditionally on ``expected``. Choose ``ttl`` longer than a run
    can take (the state machine's timeout): a lease that expires while its run still
    unloads lets another run write the same folders. The same ``run_id`` may claim
    again (a retried Lambda). Raises :class:`WatermarkLeased` when another run's lease
    is live, :class:`WatermarkConflict` when the watermark changed since ``expected``
    was read, :class:`PlanError` for nothing to claim or a non-positive ``ttl``.
    """
    if ttl <= timedelta(0):
        raise PlanError(f"lease ttl is {ttl}; give a positive duration")
    planned = list(intervals)
    if not planned:
        raise PlanError(f"run {run_id!r} has no interval to claim; plan_due returned none")
    if expected.leased_by_other(run_id, now):
        lease = expected.lease
        assert lease is not None
        raise WatermarkLeased(
            f"{_where(store, params)} is leased by run {lease.run_id!r} up to "
            f"{lease.until.isoformat()} until {lease.expires_at.isoformat()}; run {run_id!r} "
            "stops so that the two do not unload the same intervals"
        )
    until = max(interval.end for interval in planned)
    leased = replace(
        expected,
        lease=Lease(run_id=run_id, until=max(until, expected.end), expires_at=now + ttl),
        run_id=run_id,
        version=expected.version + 1,
        updated_at=now,
    )
    return _write(store, params, leased, etag=expected.etag)


def advance(
    store: ObjectStore,
    params: Params,
    *,
    expected: Watermark,
    to: datetime,
    run_id: str,
    now: datetime | None = None,
) -> Watermark:
    """Move the watermark forward to ``to`` once every interval before it has landed.

    ``expected`` is the version this run read (or claimed); the write is conditional
    on its ETag, so of two runs that read the same version only one can advance, the
    other gets :class:`WatermarkConflict`. Reaching the end of the run's own lease
    releases it (so a run that only restated intervals advances to where it started
    to release its lease); otherwise ``to == expected.end`` writes nothing. Raises
    :class:`PlanError` when ``to`` is before the watermark or not an interval boundary, and
    :class:`WatermarkLeased` when another run holds a lease on these intervals.
    """
    _check_on_grid(to, params, "new watermark")
    now = now or datetime.now(UTC)
    lease = expected.lease
    if lease is not None and lease.run_id != run_id:
        raise WatermarkLeased(
            f"{_where(store, params)} is leased by run {lease.run_id!r}; run {run_id!r} must "
            "claim the intervals (after that lease expires) before advancing it"
        )
    if to < expected.end:
        raise PlanError(
            f"cannot move the watermark back from {expected.end.isoformat()} to "
            f"{to.isoformat()}; a re-crawl of that range does not need it moved"
        )
    keep = lease if lease is not None and to < lease.until else None
    if to == expected.end and keep is lease:
        return expected
    moved = replace(
        expected,
        end=to,
        lease=keep,
        run_id=run_id,
        version=expected.version + 1,
        updated_at=now,
    )
    return _write(store, params, moved, etag=expected.etag)


def release(
    store: ObjectStore, params: Params, *, expected: Watermark, run_id: str, now: datetime
) -> Watermark:
    """Give up ``run_id``'s lease without advancing (a run that failed cleanly).

    A watermark without a lease of this run is returned unchanged.
    """
    if expected.lease is None or expected.lease.run_id != run_id:
        return expected
    freed = replace(
        expected, lease=None, run_id=run_id, version=expected.version + 1, updated_at=now
    )
    return _write(store, params, freed, etag=expected.etag)


# --- one continuous run ---------------------------------------------------------------


def start_run(
    store: ObjectStore,
    params: Params,
    *,
    run_id: str,
    now: datetime,
    ttl: timedelta,
    started_at: datetime | None = None,
    limit: int | None = None,
    restatement: int | None = None,
) -> list[Interval]:
    """Read, plan and claim in one call: the intervals this run must unload, oldest first.

    ``[]`` when there is nothing to do: no watermark yet (the historical crawl has not
    finished), nothing due, or another run holds or just took the lease. Losing that
    race is not an error: the other run does the work, so this one ends successfully.
    ``run_id`` is the execution name; a retried call of the same run gets the same
    intervals back. ``now`` decides which intervals have closed (the schedule's time:
    a duplicate delivery plans the same ones); the lease runs ``ttl`` from
    ``started_at``, the wall clock (default: the current time), so that a run started
    hours after its scheduled time still holds a live lease while it works.
    """
    started_at = started_at or datetime.now(UTC)
    current = read(store, params)
    if current is None or current.leased_by_other(run_id, started_at):
        return []
    # The lease was judged on the wall clock just above; plan_due would judge it on the
    # schedule's time, which lags behind for a late or replayed run and would still see
    # an expired lease as live.
    unleased = replace(current, lease=None)
    planned = plan_due(params, unleased, now, limit=limit, restatement=restatement, run_id=run_id)
    if not planned:
        return []
    try:
        claim(
            store,
            params,
            expected=current,
            intervals=planned,
            run_id=run_id,
            now=started_at,
            ttl=ttl,
        )
    except WatermarkConflict:
        return []
    return planned


def finish_run(
    store: ObjectStore,
    params: Params,
    *,
    run_id: str,
    landed: Iterable[Interval],
    now: datetime,
) -> Watermark:
    """Advance over what ``run_id`` landed (see :func:`contiguous_end`) and drop its lease.

    Call it after the run's UNLOADs, with the intervals whose statement FINISHED (a
    failed one holds the watermark at its start). Re-reads the watermark, so the
    state machine carries no ETag between states; a retried call after success, or
    one whose intervals another run already advanced over, returns the watermark
    unchanged. Raises :class:`WatermarkLeased` when the lease is no longer this run's
    and it landed intervals past the watermark (its lease expired and another run
    took them over, which lands them again: make the lease outlive the run).
    """
    current = read(store, params)
    if current is None:
        raise WatermarkConflict(
            f"{_where(store, params)} disappeared while run {run_id!r} was unloading; "
            "its folders are written, but the historical crawl must set the watermark again"
        )
    landed = list(landed)
    lease = current.lease
    if lease is None or lease.run_id != run_id:
        if all(interval.end <= current.end for interval in landed):
            # A retried call after success, or another run already moved past all of it.
            return current
        holder = f"run {lease.run_id!r}" if lease else "no run"
        raise WatermarkLeased(
            f"{_where(store, params)} is leased by {holder}, not {run_id!r}: its lease "
            "expired before it finished; the intervals are crawled again by the next run"
        )
    to = contiguous_end(current, landed)
    moved = advance(store, params, expected=current, to=to, run_id=run_id, now=now)
    return release(store, params, expected=moved, run_id=run_id, now=now)


# --- pure planning --------------------------------------------------------------------


def plan_due(
    params: Params,
    watermark: Watermark | None,
    now: datetime,
    *,
    limit: int | None = None,
    restatement: int | None = None,
    run_id: str = "",
) -> list[Interval]:
    """The intervals a continuous run unloads at ``now``, oldest first.

    First the ``restatement`` intervals just before the watermark (re-unloaded for
    late rows; default ``crawl.restatement_intervals``), then every interval from the
    watermark up to the last one closed at ``now``, at most ``limit`` of those (the
    oldest: catch-up proceeds in order; default ``crawl.max_intervals_per_run``).
    Nothing before the historical crawl has set the watermark, and nothing while
    another run (not ``run_id``) holds a live lease. Restated intervals never reach
    back before :attr:`Watermark.origin` (that range is history's).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise PlanError(f"now {now.isoformat()} has no time zone; pass an aware datetime")
    limit = params.crawl.max_intervals_per_run if limit is None else limit
    restatement = params.crawl.restatement_intervals if restatement is None else restatement
    if limit < 0 or restatement < 0:
        raise PlanError(f"limit {limit} and restatement {restatement} must be 0 or more")
    if watermark is None or watermark.leased_by_other(run_id, now):
        return []
    freq, tz = params.frequency, params.timezone
    restated: list[Interval] = []
    start = watermark.end
    while len(restated) < restatement and start > watermark.origin:
        previous_start = align(start - timedelta(microseconds=1), freq, tz)
        restated.append(Interval(previous_start, start))
        start = previous_start
    restated.reverse()
    if now <= watermark.end:
        return restated
    fresh = itertools.islice(iter_intervals(watermark.end, now, freq, tz), limit)
    return [*restated, *fresh]


def contiguous_end(watermark: Watermark, landed: Iterable[Interval]) -> datetime:
    """Where the watermark may move after ``landed`` intervals finished, in any order.

    The end of the longest chain of landed intervals starting at the watermark: one
    failed UNLOAD in a run holds the watermark at its start, so the next run retries
    it (and re-unloads the ones after it, harmlessly) instead of skipping it.
    """
    ends = {interval.start: interval.end for interval in landed}
    end = watermark.end
    while end in ends:
        end = ends.pop(end)
    return end


def _folder_key(params: Params, bucket: str, interval: Interval) -> str:
    located = params if params.s3_bucket else params.model_copy(update={"s3_bucket": bucket})
    uri = unload_target(located, "continuous", interval)
    target_bucket, _, key = uri.removeprefix("s3://").partition("/")
    if target_bucket != bucket:
        raise WatermarkError(
            f"params.json puts the live folders in bucket {target_bucket!r}, not {bucket!r}; "
            "point TemplatedPathList at the data bucket or leave it empty"
        )
    return key


def find_gaps(
    params: Params, bucket: str, expected: Iterable[Interval], keys: Iterable[str]
) -> list[Interval]:
    """The ``expected`` intervals whose live folder holds no object among ``keys``.

    An interval that shares its folder with another (a DST fall-back repeats its wall
    clock) needs an object under its own name prefix, not just any in the folder.
    """
    names: dict[str, list[str]] = {}
    for key in keys:
        folder, _, name = key.rpartition("/")
        names.setdefault(folder + "/", []).append(name)
    missing = []
    for interval in expected:
        folder, _, prefix = _folder_key(params, bucket, interval).rpartition("/")
        landed = names.get(folder + "/", [])
        if not any(name.startswith(prefix) for name in landed):
            missing.append(interval)
    return missing


def gaps(store: ObjectStore, params: Params, start: datetime, end: datetime) -> list[Interval]:
    """Closed intervals in ``[start, end)`` with no object in their live folder.

    What ``connector status`` reports: lists the bucket once, under the folders'
    common prefix, and compares with :func:`~connector.intervals.intervals_between`.
    An interval whose UNLOAD found no rows still has a (header-only) file, so an
    empty folder means it never landed.
    """
    expected = intervals_between(start, end, params.frequency, params.timezone)
    if not expected:
        return []
    folders = [_folder_key(params, store.bucket, interval) for interval in expected]
    common = _common_folder(folders)
    return find_gaps(params, store.bucket, expected, (info.key for info in store.list(common)))


def _common_folder(keys: list[str]) -> str:
    # Whole path segments: listing "live/2024030" would also match "live/20240301x/".
    shared = posixpath.commonpath(keys)
    return f"{shared}/" if shared else ""
