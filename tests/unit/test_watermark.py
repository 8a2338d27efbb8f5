"""The watermark: conditional writes, leases, catch-up planning and gap listing.

The store-level tests run against both the S3 adapter over moto (proving moto 5.2.5
honours ``If-Match`` / ``If-None-Match`` on ``PutObject``, as S3 does) and the
in-memory fake. The property test drives random interleavings of runs (on time,
missed, late, dying mid-way, duplicated, concurrent) and checks after every step that
the watermark only covers landed intervals, each unloaded under its run's own lease.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from connector.config import Params, params_from_json
from connector.errors import ConnectorError, PlanError
from connector.intervals import Interval, intervals_between, last_closed_interval
from connector.storage import MemoryObjectStore, ObjectStore, S3ObjectStore
from connector.watermark import (
    FORMAT_VERSION,
    Watermark,
    WatermarkConflict,
    WatermarkError,
    WatermarkLeased,
    advance,
    claim,
    contiguous_end,
    find_gaps,
    finish_run,
    gaps,
    initialise,
    plan_due,
    read,
    release,
    start_run,
    watermark_key,
)

REPO = Path(__file__).resolve().parents[2]
BUCKET = "demo-bucket"
HOUR = timedelta(hours=1)
T0 = datetime(2024, 3, 1, tzinfo=UTC)
TTL = timedelta(minutes=30)


def make_params(**changes: Any) -> Params:
    """The shipped params.json deployed to demo-bucket (PT1H, UTC, prefix ecommerce)."""
    data: dict[str, Any] = json.loads((REPO / "params.json").read_text())
    data["s3_bucket"] = BUCKET
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for name in parents:
            node = node[name]
        node[leaf] = value
    return params_from_json(json.dumps(data), base_dir=REPO)


PARAMS = make_params()


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    # One moto for the module (starting it costs most of a second); a bucket per test.
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


@pytest.fixture(params=["s3", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    if request.param == "memory":
        yield MemoryObjectStore(BUCKET)
        return
    client = request.getfixturevalue("s3_client")
    client.create_bucket(Bucket=BUCKET)
    yield S3ObjectStore(client, BUCKET)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def hours(n: int, start: datetime = T0) -> list[Interval]:
    return [Interval(start + i * HOUR, start + (i + 1) * HOUR) for i in range(n)]


# --- read / initialise ----------------------------------------------------------------


def test_read_before_the_historical_crawl_is_none(store: ObjectStore) -> None:
    # Given an empty bucket / When the watermark is read / Then there is none yet
    assert read(store, PARAMS) is None


def test_initialise_creates_the_object_next_to_the_data(store: ObjectStore) -> None:
    # Given no watermark
    # When the historical crawl, which ended at T0, initialises it
    mark = initialise(store, PARAMS, end=T0, run_id="hist-1", now=T0 + 5 * HOUR)
    # Then it is stored as JSON under <prefix>/state/ with where history ended as origin
    assert watermark_key(PARAMS) == "ecommerce/state/watermark.json"
    document = json.loads(store.get("ecommerce/state/watermark.json").body)
    assert document == {
        "format": FORMAT_VERSION,
        "end": "2024-03-01T00:00:00Z",
        "origin": "2024-03-01T00:00:00Z",
        "run_id": "hist-1",
        "version": 1,
        "updated_at": "2024-03-01T05:00:00Z",
        "frequency": "PT1H",
        "timezone": "UTC",
    }
    assert read(store, PARAMS) == mark
    assert mark.etag


def test_initialise_again_is_idempotent(store: ObjectStore) -> None:
    # Given a watermark set by the historical crawl
    first = initialise(store, PARAMS, end=T0, run_id="hist-1", now=T0)
    # When the same crawl (a retried Lambda) initialises it again
    again = initialise(store, PARAMS, end=T0, run_id="hist-1-retry", now=T0 + HOUR)
    # Then nothing was written
    assert again == first
    assert read(store, PARAMS) == first


@pytest.mark.parametrize("history_end", [T0 - 3 * HOUR, T0 + 3 * HOUR])
def test_initialise_leaves_an_existing_watermark_alone(
    store: ObjectStore, history_end: datetime
) -> None:
    # Given a continuous crawl that landed up to T0
    initialise(store, PARAMS, end=T0, run_id="hist-1", now=T0)
    # When a later historical crawl ends earlier (moving back would land twice) or later
    # (the live folders in between would never be landed)
    kept = initialise(store, PARAMS, end=history_end, run_id="hist-2", now=T0)
    # Then the watermark stays at T0
    assert kept.end == T0
    assert read(store, PARAMS) == kept


@pytest.mark.parametrize("history_end", [T0 - 3 * HOUR, T0 + 3 * HOUR])
def test_initialise_forced_resets_either_way(store: ObjectStore, history_end: datetime) -> None:
    # Given a watermark at T0 with a lease on it
    mark = initialise(store, PARAMS, end=T0, run_id="hist-1", now=T0)
    claim(store, PARAMS, expected=mark, intervals=hours(2), run_id="c", now=T0, ttl=TTL)
    # When a re-crawl forces it
    reset = initialise(store, PARAMS, end=history_end, run_id="recrawl", now=T0, force=True)
    # Then it is exactly there, a new version, without the lease, with a new origin
    assert (reset.end, reset.origin, reset.run_id, reset.version) == (
        history_end,
        history_end,
        "recrawl",
        3,
    )
    assert reset.lease is None
    assert read(store, PARAMS) == reset


def test_initialise_refuses_an_end_off_the_interval_grid(store: ObjectStore) -> None:
    # Given PT1H intervals / When history is said to end at 00:30 / Then it is refused
    with pytest.raises(PlanError, match=r"not an interval boundary.*2024-03-01T00:00:00\+00:00"):
        initialise(store, PARAMS, end=T0 + HOUR / 2, run_id="h")
    assert read(store, PARAMS) is None


class RacingStore:
    """An ObjectStore where another run writes the watermark just before our first put."""

    def __init__(self, inner: ObjectStore, competitor: bytes) -> None:
        self._inner = inner
        self._competitor: bytes | None = competitor

    @property
    def bucket(self) -> str:
        return self._inner.bucket

    def put(self, key: str, body: bytes, **kwargs: Any) -> str:
        if self._competitor is not None:
            competitor, self._competitor = self._competitor, None
            current = self._inner.get(key).etag if self._inner.exists(key) else None
            if current is None:
                self._inner.put(key, competitor, if_none_match=True)
            else:
                self._inner.put(key, competitor, if_match=current)
        return self._inner.put(key, body, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _document(end: datetime, run_id: str, version: int = 1) -> bytes:
    return json.dumps(
        {
            "format": 1,
            "end": end.isoformat(),
            "origin": T0.isoformat(),
            "run_id": run_id,
            "version": version,
            "updated_at": T0.isoformat(),
            "frequency": "PT1H",
            "timezone": "UTC",
        }
    ).encode()


def test_two_historical_crawls_creating_it_at_once(store: ObjectStore) -> None:
    # Given another crawl creates the watermark at another end between our read and write
    racing = RacingStore(store, _document(T0 + HOUR, "other"))
    # When we create it / Then If-None-Match makes ours lose, and the error names the winner
    with pytest.raises(WatermarkConflict, match=r"run 'other' set it to 2024-03-01T01:00"):
        initialise(racing, PARAMS, end=T0, run_id="hist-1", now=T0)  # type: ignore[arg-type]
    assert read(store, PARAMS).end == T0 + HOUR  # type: ignore[union-attr]


def test_two_executions_of_one_crawl_creating_the_same_end(store: ObjectStore) -> None:
    # Given a twin execution creates the watermark at the same end first
    racing = RacingStore(store, _document(T0, "twin"))
    # When we create it / Then the work is already recorded: no error, the twin's version
    mark = initialise(racing, PARAMS, end=T0, run_id="hist-1", now=T0)  # type: ignore[arg-type]
    assert (mark.end, mark.run_id) == (T0, "twin")


# --- advance --------------------------------------------------------------------------


def test_advance_moves_forward_and_counts_versions(store: ObjectStore) -> None:
    # Given a watermark at T0
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    # When a run landed two hours and advances
    moved = advance(store, PARAMS, expected=mark, to=T0 + 2 * HOUR, run_id="run-1", now=T0)
    # Then the stored watermark says so, with the run id and the next version
    assert read(store, PARAMS) == moved
    assert (moved.end, moved.run_id, moved.version, moved.origin) == (
        T0 + 2 * HOUR,
        "run-1",
        2,
        T0,
    )


def test_two_runs_cannot_both_advance(store: ObjectStore) -> None:
    # Given two runs that read the same version
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    advance(store, PARAMS, expected=mark, to=T0 + HOUR, run_id="scheduled", now=T0)
    # When the second advances from the version it read
    # Then If-Match refuses it and the message names the run that won
    with pytest.raises(WatermarkConflict, match=r"run 'scheduled' set it to 2024-03-01T01:00"):
        advance(store, PARAMS, expected=mark, to=T0 + 2 * HOUR, run_id="manual", now=T0)
    assert read(store, PARAMS).end == T0 + HOUR  # type: ignore[union-attr]


def test_conflict_is_an_operational_error_not_a_usage_error() -> None:
    # Given the CLI maps exit codes from the error class / Then a lost race exits 1, not 2
    assert issubclass(WatermarkConflict, ConnectorError)
    assert WatermarkConflict.exit_code == 1
    assert WatermarkError.exit_code == 2


def test_advance_after_the_object_was_deleted_is_a_conflict(store: ObjectStore) -> None:
    # Given a watermark read, then deleted by an operator
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    store.delete(watermark_key(PARAMS))
    # When the run advances / Then it is told, and nothing is recreated behind its back
    with pytest.raises(WatermarkConflict, match="it was deleted"):
        advance(store, PARAMS, expected=mark, to=T0 + HOUR, run_id="r", now=T0)
    assert read(store, PARAMS) is None


def test_advance_refuses_to_move_back_or_off_grid(store: ObjectStore) -> None:
    # Given a watermark at T0
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    # When asked to move back, or to a time inside an interval / Then it refuses
    with pytest.raises(PlanError, match="cannot move the watermark back"):
        advance(store, PARAMS, expected=mark, to=T0 - HOUR, run_id="r", now=T0)
    with pytest.raises(PlanError, match="not an interval boundary"):
        advance(store, PARAMS, expected=mark, to=T0 + HOUR / 2, run_id="r", now=T0)
    # And advancing to where it is writes nothing
    assert advance(store, PARAMS, expected=mark, to=T0, run_id="r", now=T0) == mark
    assert read(store, PARAMS) == mark


# --- leases ---------------------------------------------------------------------------


def test_a_live_lease_excludes_other_runs(store: ObjectStore) -> None:
    # Given the scheduled run claimed the three due hours
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    now = T0 + 3 * HOUR + timedelta(minutes=2)
    due = plan_due(PARAMS, mark, now, run_id="scheduled")
    leased = claim(
        store, PARAMS, expected=mark, intervals=due, run_id="scheduled", now=now, ttl=TTL
    )
    # When a manual run starts at the same time
    # Then it plans nothing, and cannot claim or advance
    assert read(store, PARAMS) == leased
    assert plan_due(PARAMS, leased, now, run_id="manual") == []
    with pytest.raises(WatermarkLeased, match=r"leased by run 'scheduled' up to 2024-03-01T03:00"):
        claim(store, PARAMS, expected=leased, intervals=due, run_id="manual", now=now, ttl=TTL)
    with pytest.raises(WatermarkLeased, match="must claim"):
        advance(store, PARAMS, expected=leased, to=T0 + HOUR, run_id="manual", now=now)
    # And the holder still plans its intervals (a retried plan step sees the same ones)
    assert plan_due(PARAMS, leased, now, run_id="scheduled") == due


def test_two_runs_claiming_from_the_same_version(store: ObjectStore) -> None:
    # Given two runs that both read the unleased watermark
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    claim(store, PARAMS, expected=mark, intervals=hours(2), run_id="a", now=T0, ttl=TTL)
    # When the second claims / Then the ETag check stops it before it unloads anything
    with pytest.raises(WatermarkConflict, match="run 'a'"):
        claim(store, PARAMS, expected=mark, intervals=hours(2), run_id="b", now=T0, ttl=TTL)


def test_the_holder_may_claim_again(store: ObjectStore) -> None:
    # Given a run whose claim succeeded but whose Lambda was retried
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    leased = claim(store, PARAMS, expected=mark, intervals=hours(2), run_id="a", now=T0, ttl=TTL)
    # When it claims again from what it reads now / Then it keeps the lease
    again = claim(store, PARAMS, expected=leased, intervals=hours(2), run_id="a", now=T0, ttl=TTL)
    assert again.lease is not None
    assert again.lease.run_id == "a"


def test_an_expired_lease_is_taken_over(store: ObjectStore) -> None:
    # Given a run that died holding a lease
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    dead = claim(store, PARAMS, expected=mark, intervals=hours(2), run_id="dead", now=T0, ttl=TTL)
    later = T0 + TTL + timedelta(seconds=1)
    # When the next run comes after the lease expired
    due = plan_due(PARAMS, dead, later + 2 * HOUR, run_id="next")
    taken = claim(store, PARAMS, expected=dead, intervals=due, run_id="next", now=later, ttl=TTL)
    # Then it plans from the unchanged watermark and holds the lease
    assert due[0] == Interval(T0, T0 + HOUR)
    assert taken.lease is not None
    assert taken.lease.run_id == "next"


def test_advancing_to_the_lease_end_releases_it(store: ObjectStore) -> None:
    # Given a run that claimed three hours
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    leased = claim(store, PARAMS, expected=mark, intervals=hours(3), run_id="r", now=T0, ttl=TTL)
    # When it advances interval by interval
    one = advance(store, PARAMS, expected=leased, to=T0 + HOUR, run_id="r", now=T0)
    three = advance(store, PARAMS, expected=one, to=T0 + 3 * HOUR, run_id="r", now=T0)
    # Then the lease holds until the last one, then is gone
    assert one.lease == leased.lease
    assert three.lease is None
    assert read(store, PARAMS) == three


def test_a_restatement_only_run_releases_by_advancing_in_place(store: ObjectStore) -> None:
    # Given a run that only re-unloaded the two hours before the watermark
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0 - 3 * HOUR)
    mark = advance(store, PARAMS, expected=mark, to=T0 + 2 * HOUR, run_id="r0", now=T0)
    now = T0 + 2 * HOUR + timedelta(minutes=1)
    due = plan_due(PARAMS, mark, now, restatement=2, run_id="r")
    assert due == hours(2)
    leased = claim(store, PARAMS, expected=mark, intervals=due, run_id="r", now=now, ttl=TTL)
    # When it advances to where the watermark already is
    done = advance(store, PARAMS, expected=leased, to=leased.end, run_id="r", now=now)
    # Then its lease is released and the watermark did not move
    assert (done.end, done.lease) == (T0 + 2 * HOUR, None)


def test_release_gives_up_only_its_own_lease(store: ObjectStore) -> None:
    # Given a lease held by run a
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    leased = claim(store, PARAMS, expected=mark, intervals=hours(1), run_id="a", now=T0, ttl=TTL)
    # When b releases, nothing changes; when a releases, the lease is gone
    assert release(store, PARAMS, expected=leased, run_id="b", now=T0) == leased
    freed = release(store, PARAMS, expected=leased, run_id="a", now=T0)
    assert freed.lease is None
    assert freed.end == T0
    assert read(store, PARAMS) == freed


def test_claim_needs_intervals_and_a_positive_ttl(store: ObjectStore) -> None:
    mark = initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    with pytest.raises(PlanError, match="no interval to claim"):
        claim(store, PARAMS, expected=mark, intervals=[], run_id="a", now=T0, ttl=TTL)
    with pytest.raises(PlanError, match="positive"):
        claim(store, PARAMS, expected=mark, intervals=hours(1), run_id="a", now=T0, ttl=-TTL)


# --- start_run / finish_run -----------------------------------------------------------

LATE = T0 + 3 * HOUR + timedelta(minutes=2)


def test_start_run_waits_for_the_historical_crawl(store: ObjectStore) -> None:
    # Given no watermark / When a scheduled run starts / Then it has nothing to do
    assert start_run(store, PARAMS, run_id="s", now=LATE, started_at=LATE, ttl=TTL) == []
    assert read(store, PARAMS) is None


def test_a_manual_run_during_a_scheduled_one_does_nothing(store: ObjectStore) -> None:
    # Given history up to T0 and a scheduled run that started at 03:02
    initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    scheduled = start_run(store, PARAMS, run_id="scheduled", now=LATE, started_at=LATE, ttl=TTL)
    # When a manual run starts meanwhile, and the scheduled one is retried
    manual = start_run(store, PARAMS, run_id="manual", now=LATE, started_at=LATE, ttl=TTL)
    retried = start_run(store, PARAMS, run_id="scheduled", now=LATE, started_at=LATE, ttl=TTL)
    # Then only the scheduled run unloads the three closed hours
    assert scheduled == retried == hours(3)
    assert manual == []
    # And when it finishes, the watermark is past them, without a lease
    done = finish_run(store, PARAMS, run_id="scheduled", landed=scheduled, now=LATE)
    assert (done.end, done.lease, done.run_id) == (T0 + 3 * HOUR, None, "scheduled")
    assert finish_run(store, PARAMS, run_id="manual", landed=manual, now=LATE) == done


def test_start_run_that_loses_the_race_to_claim_does_nothing(store: ObjectStore) -> None:
    # Given another run claims between this run's read and its claim
    initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    other = json.loads(_document(T0, "other", version=2))
    other["lease"] = {
        "run_id": "other",
        "until": (T0 + 3 * HOUR).isoformat(),
        "expires_at": (LATE + TTL).isoformat(),
    }
    racing = RacingStore(store, json.dumps(other).encode())
    # When this run starts / Then it plans nothing and the other keeps its lease
    assert start_run(racing, PARAMS, run_id="me", now=LATE, started_at=LATE, ttl=TTL) == []  # type: ignore[arg-type]
    lease = read(store, PARAMS).lease  # type: ignore[union-attr]
    assert lease is not None
    assert lease.run_id == "other"


def test_a_run_started_hours_late_plans_by_schedule_and_leases_by_clock(
    store: ObjectStore,
) -> None:
    # Given history up to T0 and a run scheduled at 03:02 that only starts at 09:00
    initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    started = T0 + 9 * HOUR
    planned = start_run(store, PARAMS, run_id="late", now=LATE, started_at=started, ttl=TTL)
    # Then it unloads what had closed at its scheduled time
    assert planned == hours(3)
    # And its lease is live from when it started, so a run at 09:10 stays away
    lease = read(store, PARAMS).lease  # type: ignore[union-attr]
    assert lease is not None
    assert lease.expires_at == started + TTL
    soon = started + timedelta(minutes=10)
    assert start_run(store, PARAMS, run_id="next", now=soon, started_at=soon, ttl=TTL) == []


def test_finish_run_stops_at_a_failed_interval(store: ObjectStore) -> None:
    # Given a run of three hours whose second UNLOAD failed
    initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    planned = start_run(store, PARAMS, run_id="r1", now=LATE, started_at=LATE, ttl=TTL)
    # When it finishes with the first and third landed
    done = finish_run(store, PARAMS, run_id="r1", landed=[planned[0], planned[2]], now=LATE)
    # Then the watermark stops before the failed hour, the lease is gone, the next run
    # starts there
    assert (done.end, done.lease) == (T0 + HOUR, None)
    assert start_run(store, PARAMS, run_id="r2", now=LATE, started_at=LATE, ttl=TTL) == hours(
        2, T0 + HOUR
    )


def test_finish_run_after_losing_the_lease(store: ObjectStore) -> None:
    # Given a run whose lease expired mid-way and was taken over by the next run
    initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    slow = start_run(store, PARAMS, run_id="slow", now=LATE, started_at=LATE, ttl=TTL)
    later = LATE + TTL + timedelta(minutes=1)
    assert start_run(store, PARAMS, run_id="next", now=later, started_at=later, ttl=TTL) == hours(3)
    # When the slow run finishes / Then it is told; the next run lands those hours again
    with pytest.raises(WatermarkLeased, match="leased by run 'next', not 'slow'"):
        finish_run(store, PARAMS, run_id="slow", landed=slow, now=later)
    assert read(store, PARAMS).end == T0  # type: ignore[union-attr]


# --- corrupt or foreign objects -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "is not a valid watermark"),
        (b"[]", "is not a valid watermark"),
        (_document(T0, "r").replace(b'"version": 1', b'"version": 0'), "version"),
        (_document(T0, "r").replace(b"+00:00", b""), "end: Input should have timezone info"),
        (_document(T0, "r")[:-1] + b', "typo": 1}', "typo"),
        (_document(T0, "r").replace(b'"format": 1', b'"format": 9'), "upgrade the connector"),
    ],
)
def test_a_corrupt_watermark_is_refused_with_its_location(
    store: ObjectStore, body: bytes, expected: str
) -> None:
    # Given a damaged or foreign object at the watermark's key
    store.put(watermark_key(PARAMS), body)
    # When it is read / Then the error names the object and what to do
    with pytest.raises(WatermarkError, match=expected) as caught:
        read(store, PARAMS)
    assert f"s3://{BUCKET}/ecommerce/state/watermark.json" in str(caught.value)
    # And the historical crawl does not paper over it, but a forced reset does
    with pytest.raises(WatermarkError):
        initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    reset = initialise(store, PARAMS, end=T0, run_id="recrawl", now=T0, force=True)
    assert read(store, PARAMS) == reset


def test_a_watermark_of_another_frequency_is_refused_until_forced(store: ObjectStore) -> None:
    # Given a watermark written while the detector was hourly
    initialise(store, PARAMS, end=T0, run_id="hist", now=T0)
    five_minutes = make_params(detector_frequency="PT5M")
    # When params.json now says PT5M
    # Then reading it explains the mismatch, and a forced re-crawl resets it
    with pytest.raises(WatermarkError, match=r"written for PT1H intervals in UTC.*PT5M in UTC"):
        read(store, five_minutes)
    with pytest.raises(WatermarkError, match="PT5M"):
        initialise(store, five_minutes, end=T0, run_id="hist-2", now=T0)
    reset = initialise(store, five_minutes, end=T0, run_id="hist-2", now=T0, force=True)
    assert (reset.frequency, reset.version) == ("PT5M", 2)
    assert read(store, five_minutes) == reset


# --- plan_due -------------------------------------------------------------------------


def _mark(end: datetime, origin: datetime | None = None, **changes: Any) -> Watermark:
    defaults: dict[str, Any] = {
        "end": end,
        "origin": origin or end,
        "run_id": "r",
        "version": 1,
        "updated_at": end,
        "frequency": "PT1H",
        "timezone": "UTC",
    }
    return Watermark(**{**defaults, **changes})


def test_plan_due_waits_for_the_historical_crawl() -> None:
    # Given no watermark / Then the continuous crawl lands nothing (history sets the start)
    assert plan_due(PARAMS, None, T0 + 5 * HOUR) == []


def test_plan_due_catches_up_in_order_and_bounded() -> None:
    # Given a watermark 30 hours behind (a paused schedule) and 24 intervals per run
    mark = _mark(T0)
    now = T0 + 30 * HOUR + timedelta(minutes=7)
    # When the next run plans
    due = plan_due(PARAMS, mark, now)
    # Then it takes the 24 oldest, in order, starting exactly at the watermark
    assert due == hours(24)
    # And the run after it takes the rest, up to the last closed interval only
    assert plan_due(PARAMS, _mark(due[-1].end, T0), now) == hours(6, T0 + 24 * HOUR)


def test_plan_due_an_interval_is_due_once_it_has_closed() -> None:
    # Given a watermark at T0
    mark = _mark(T0)
    # Then at 00:59:59 nothing is due, at 01:00 exactly the first hour is
    assert plan_due(PARAMS, mark, T0 + HOUR - timedelta(seconds=1)) == []
    assert plan_due(PARAMS, mark, T0 + HOUR) == hours(1)
    # And the detector's offset does not delay the crawl
    assert PARAMS.offset == 300


def test_plan_due_restates_the_intervals_before_the_watermark() -> None:
    # Given a watermark at 05:00 on a continuous crawl that began at 03:00
    mark = _mark(T0 + 5 * HOUR, origin=T0 + 3 * HOUR)
    now = T0 + 6 * HOUR + timedelta(minutes=1)
    # When three intervals are restated / Then only the two since origin are, then the new one
    assert plan_due(PARAMS, mark, now, restatement=3) == hours(3, T0 + 3 * HOUR)
    # And with nothing new, only the restated ones
    assert plan_due(PARAMS, mark, T0 + 5 * HOUR, restatement=1) == hours(1, T0 + 4 * HOUR)
    # And the setting's default comes from params.json
    params = make_params(crawl__restatement_intervals=1)
    assert plan_due(params, mark, now) == hours(2, T0 + 4 * HOUR)


def test_plan_due_refuses_nonsense() -> None:
    with pytest.raises(PlanError, match="no time zone"):
        plan_due(PARAMS, _mark(T0), datetime(2024, 3, 1))
    with pytest.raises(PlanError, match="0 or more"):
        plan_due(PARAMS, _mark(T0), T0, limit=-1)


def test_plan_due_across_a_fall_back_night_stays_contiguous() -> None:
    # Given an hourly detector in New York, watermark just before the November fall-back
    params = make_params(detector__timezone="America/New_York")
    ny = ZoneInfo("America/New_York")
    start = datetime(2024, 11, 3, 0, 0, tzinfo=ny)
    mark = _mark(start, timezone="America/New_York")
    # When four hours of absolute time have passed
    due = plan_due(params, mark, start.astimezone(UTC) + 4 * HOUR)
    # Then four one-hour intervals tile them (the repeated 01:00 included)
    assert [interval.duration for interval in due] == [HOUR] * 4
    assert all(a.end == b.start for a, b in itertools.pairwise(due))
    assert [interval.start.hour for interval in due] == [0, 1, 1, 2]


def test_contiguous_end_stops_at_the_first_failure() -> None:
    # Given a run of four intervals whose third failed
    mark = _mark(T0)
    landed = [hours(4)[i] for i in (3, 0, 1)]
    # Then the watermark may move to the end of the second only
    assert contiguous_end(mark, landed) == T0 + 2 * HOUR
    assert contiguous_end(mark, []) == T0
    assert contiguous_end(mark, hours(2, T0 - 2 * HOUR)) == T0


# --- gaps -----------------------------------------------------------------------------


def land(store: ObjectStore, interval: Interval, body: bytes = b"timestamp\n") -> None:
    folder = interval.start.strftime("ecommerce/live/%Y%m%d/%H%M/")
    store.put(folder + "0000_part_00", body)


def test_gaps_lists_the_intervals_without_a_file(store: ObjectStore) -> None:
    # Given a day where 03:00 and 10:00 never landed, and 05:00 has only a sub-folder
    day = hours(24)
    for interval in day:
        if interval.start.hour not in (3, 5, 10):
            land(store, interval)
    store.put("ecommerce/live/20240301/0500x/0000_part_00", b"x")
    # When the day is checked
    found = gaps(store, PARAMS, T0, T0 + 24 * HOUR)
    # Then exactly those three are reported
    assert [interval.start.hour for interval in found] == [3, 5, 10]


def test_gaps_of_a_fully_landed_range_and_of_an_empty_range(store: ObjectStore) -> None:
    for interval in hours(3):
        land(store, interval)
    assert gaps(store, PARAMS, T0, T0 + 3 * HOUR) == []
    assert gaps(store, PARAMS, T0, T0) == []
    assert gaps(store, PARAMS, T0, T0 + 4 * HOUR) == hours(1, T0 + 3 * HOUR)


def test_gaps_fills_an_empty_s3_bucket_from_the_store() -> None:
    # Given params.json as shipped (s3_bucket filled at deploy time)
    params = make_params(s3_bucket="")
    store = MemoryObjectStore("deployed-bucket")
    land(store, hours(1)[0])
    # Then folders are looked up in the store's bucket
    assert gaps(store, params, T0, T0 + 2 * HOUR) == hours(1, T0 + HOUR)


def test_find_gaps_refuses_live_folders_outside_the_bucket() -> None:
    params = make_params(
        metric_source__S3SourceConfig__TemplatedPathList=[
            "s3://demo-bucket/x/{{yyyyMMdd}}/{{HHmm}}/"
        ]
    )
    with pytest.raises(WatermarkError, match="not 'other-bucket'"):
        find_gaps(params, "other-bucket", hours(1), [])


# --- random sequences of runs ---------------------------------------------------------

ORIGIN = T0
RUN_TTL = timedelta(minutes=50)


@dataclass
class Run:
    """One continuous execution, advanced one state at a time."""

    run_id: str
    fault: tuple[str, int] | None = None
    """``("die", k)``: dies after k UNLOADs, before advancing (Lambda crash, timeout);
    ``("fail", k)``: the k-th UNLOAD fails (statement FAILED/ABORTED), the run goes on."""
    phase: str = "read"
    expected: Watermark | None = None
    planned: list[Interval] = field(default_factory=list)
    tried: int = 0
    landed: list[Interval] = field(default_factory=list)
    started: datetime = T0
    advanced_to: datetime = T0


@dataclass
class World:
    store: MemoryObjectStore
    now: datetime
    runs: list[Run] = field(default_factory=list)
    fresh: dict[Interval, list[str]] = field(default_factory=dict)
    """Runs that unloaded each interval as new (not restated), in order."""
    advances: list[tuple[datetime, datetime]] = field(default_factory=list)
    restatement: int = 0
    limit: int = 3

    def step(self, run: Run) -> None:
        """One state of ``run``: read+plan, claim, one UNLOAD, or advance."""
        if run.phase == "read":
            run.expected = read(self.store, PARAMS)
            run.planned = plan_due(
                PARAMS,
                run.expected,
                self.now,
                limit=self.limit,
                restatement=self.restatement,
                run_id=run.run_id,
            )
            # In order and without holes: restated ones, then new ones from the watermark.
            assert all(a.end == b.start for a, b in itertools.pairwise(run.planned))
            run.phase = "claim" if run.planned else "done"
        elif run.phase == "claim":
            assert run.expected is not None
            try:
                run.expected = claim(
                    self.store,
                    PARAMS,
                    expected=run.expected,
                    intervals=run.planned,
                    run_id=run.run_id,
                    now=self.now,
                    ttl=RUN_TTL,
                )
            except WatermarkConflict:
                run.phase = "done"
                return
            run.phase = "dead" if run.fault == ("die", 0) else "unload"
        elif run.phase == "unload":
            interval = run.planned[run.tried]
            run.tried += 1
            # The invariant that keeps writes from interleaving: every UNLOAD runs
            # under its own run's live lease.
            current = read(self.store, PARAMS)
            assert current is not None
            assert current.lease is not None
            assert current.lease.run_id == run.run_id
            assert current.lease.live(self.now)
            assert interval.end <= current.lease.until
            if run.fault != ("fail", run.tried):
                land(self.store, interval, body=interval.start.isoformat().encode())
                run.landed.append(interval)
                if interval.start >= run.expected.end:  # type: ignore[union-attr]
                    self.fresh.setdefault(interval, []).append(run.run_id)
            if run.fault == ("die", run.tried):
                run.phase = "dead"
            elif run.tried == len(run.planned):
                run.phase = "advance"
        elif run.phase == "advance":
            assert run.expected is not None
            before = run.expected.end
            to = contiguous_end(run.expected, run.landed)
            moved = advance(
                self.store, PARAMS, expected=run.expected, to=to, run_id=run.run_id, now=self.now
            )
            run.advanced_to = moved.end
            if moved.end != before:
                self.advances.append((before, moved.end))
            # Short of its lease (an UNLOAD failed): give the rest back to the next run.
            release(self.store, PARAMS, expected=moved, run_id=run.run_id, now=self.now)
            run.phase = "done"

    def tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        for run in self.active():
            # Step Functions' TimeoutSeconds (shorter than the lease) ends a run that
            # would otherwise unload after its lease expired.
            if self.now - run.started >= RUN_TTL - timedelta(minutes=5):
                run.phase = "dead"

    def active(self) -> list[Run]:
        return [run for run in self.runs if run.phase not in ("done", "dead")]

    def check(self) -> None:
        mark = read(self.store, PARAMS)
        assert mark is not None
        # The watermark never claims an interval that is not closed, nor one not landed.
        assert mark.end <= last_closed_interval(self.now, PARAMS.frequency).end
        assert gaps(self.store, PARAMS, ORIGIN, mark.end) == []
        # Advances tile [origin, watermark) in order, each interval once.
        starts = [a for a, _ in self.advances]
        assert starts == [ORIGIN, *(b for _, b in self.advances)][: len(starts)]
        assert all(a < b for a, b in self.advances)
        assert (self.advances[-1][1] if self.advances else ORIGIN) == mark.end
        # Each folder holds exactly its own interval's data.
        for interval in intervals_between(ORIGIN, mark.end, PARAMS.frequency):
            key = interval.start.strftime("ecommerce/live/%Y%m%d/%H%M/0000_part_00")
            assert self.store.get(key).body == interval.start.isoformat().encode()
        # A new interval is unloaded again only when no earlier unloader advanced over
        # it: it died first, or an earlier UNLOAD of its run failed (a restated
        # interval may be unloaded any number of times).
        by_id = {run.run_id: run for run in self.runs}
        for interval, runs in self.fresh.items():
            for earlier in (by_id[run_id] for run_id in runs[:-1]):
                assert earlier.phase == "dead" or earlier.advanced_to <= interval.start, (
                    interval,
                    runs,
                )


STEP = st.tuples(st.just("step"), st.integers(min_value=0, max_value=3))
FAULT = st.none() | st.tuples(st.sampled_from(["die", "fail"]), st.integers(0, 3))
EVENT = st.one_of(
    st.tuples(st.just("tick"), st.sampled_from([1, 5, 20, 60, 61, 180])),
    st.tuples(st.just("start"), st.tuples(FAULT, st.integers(min_value=0, max_value=8))),
    st.tuples(st.just("duplicate"), st.none()),
    *[STEP] * 3,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    events=st.lists(EVENT, min_size=5, max_size=80),
    restatement=st.integers(min_value=0, max_value=2),
    limit=st.integers(min_value=1, max_value=4),
    late=st.integers(min_value=0, max_value=8 * 60),
)
def test_random_runs_land_every_interval_exactly_once_in_order(
    events: list[tuple[str, Any]], restatement: int, limit: int, late: int
) -> None:
    # Given history landed up to ORIGIN and a clock some minutes after it
    world = World(
        MemoryObjectStore(BUCKET),
        ORIGIN + timedelta(minutes=late),
        restatement=restatement,
        limit=limit,
    )
    initialise(world.store, PARAMS, end=ORIGIN, run_id="historical", now=ORIGIN)
    # When random runs start (on time, late, missed, dying, duplicated) and interleave
    for number, (kind, value) in enumerate(events):
        if kind == "tick":
            world.tick(value)
        elif kind == "start":
            # A run goes some states ahead at once; "step" events interleave the rest.
            fault, ahead = value
            run = Run(f"run-{number}", fault=fault, started=world.now)
            world.runs.append(run)
            for _ in range(ahead):
                if run.phase in ("done", "dead"):
                    break
                world.step(run)
                world.check()
        elif kind == "duplicate":
            # The same scheduled event delivered twice: two executions, same input.
            world.runs.append(Run(f"run-{number}-a", started=world.now))
            world.runs.append(Run(f"run-{number}-b", started=world.now))
        elif kind == "step" and world.active():
            active = world.active()
            world.step(active[value % len(active)])
        # Then after every event the invariants hold
        world.check()
    # And once the schedule runs healthily again, everything closed is landed, no gaps
    world.tick(int(RUN_TTL.total_seconds() // 60))
    last_closed = last_closed_interval(world.now, PARAMS.frequency).end
    for number in range(1000):
        run = Run(f"recovery-{number}", started=world.now)
        world.runs.append(run)
        while run.phase not in ("done", "dead"):
            world.step(run)
        if read(world.store, PARAMS).end == last_closed:  # type: ignore[union-attr]
            break
    world.check()
    assert read(world.store, PARAMS).end == last_closed  # type: ignore[union-attr]
    assert gaps(world.store, PARAMS, ORIGIN, world.now) == []


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.one_of(
            st.tuples(st.just("tick"), st.sampled_from([5, 30, 60, 61, 240])),
            st.tuples(st.just("start"), st.none()),
            st.tuples(st.just("finish"), st.integers(min_value=0, max_value=5)),
            st.tuples(st.just("crash"), st.none()),
        ),
        max_size=50,
    ),
    limit=st.integers(min_value=1, max_value=5),
)
def test_random_runs_through_start_and_finish_never_overlap_and_converge(
    events: list[tuple[str, Any]], limit: int
) -> None:
    # Given history up to ORIGIN
    store = MemoryObjectStore(BUCKET)
    now = ORIGIN
    initialise(store, PARAMS, end=ORIGIN, run_id="historical", now=now)
    running: dict[str, tuple[datetime, list[Interval]]] = {}
    # When runs start, finish (some UNLOAD failing), crash and time passes
    for number, (kind, value) in enumerate(events):
        if kind == "tick":
            now += timedelta(minutes=value)
            # The state machine's timeout ends runs before their lease expires.
            running = {r: v for r, v in running.items() if now - v[0] < RUN_TTL - HOUR / 12}
        elif kind == "start":
            planned = start_run(
                store,
                PARAMS,
                run_id=f"r{number}",
                now=now,
                started_at=now,
                ttl=RUN_TTL,
                limit=limit,
            )
            # Then no interval is planned by two live runs at once
            for _, other in running.values():
                assert not set(planned) & set(other)
            if planned:
                running[f"r{number}"] = (now, planned)
        elif kind in ("finish", "crash") and running:
            run_id = sorted(running)[0]
            _, planned = running.pop(run_id)
            if kind == "finish":
                landed = [i for n, i in enumerate(planned) if n != value]
                for interval in landed:
                    land(store, interval)
                finish_run(store, PARAMS, run_id=run_id, landed=landed, now=now)
        mark = read(store, PARAMS)
        assert mark is not None
        assert gaps(store, PARAMS, ORIGIN, mark.end) == []
    # And healthy runs afterwards bring the watermark to the last closed interval
    now += RUN_TTL
    for number in range(2000):
        planned = start_run(
            store, PARAMS, run_id=f"after{number}", now=now, started_at=now, ttl=RUN_TTL
        )
        if not planned:
            break
        for interval in planned:
            land(store, interval)
        finish_run(store, PARAMS, run_id=f"after{number}", landed=planned, now=now)
    final = read(store, PARAMS)
    assert final is not None
    assert (final.end, final.lease) == (last_closed_interval(now, PARAMS.frequency).end, None)
    assert gaps(store, PARAMS, ORIGIN, final.end) == []


def test_find_gaps_tells_apart_the_two_intervals_of_a_repeated_hour() -> None:
    # Given New York's fall-back night, where 05:00Z and 06:00Z both start at 01:00
    params = make_params(detector__timezone="America/New_York")
    night = [
        Interval(datetime(2026, 11, 1, h, tzinfo=UTC), datetime(2026, 11, 1, h + 1, tzinfo=UTC))
        for h in (4, 5, 6, 7)
    ]
    folder = "ecommerce/live/20261101/"
    keys = [folder + "0000/000", folder + "0100/T0500Z_000", folder + "0200/000"]
    # Then the second 01:00 is a gap until its own file lands
    assert find_gaps(params, "demo-bucket", night, keys) == [night[2]]
    assert find_gaps(params, "demo-bucket", night, [*keys, folder + "0100/T0600Z_000"]) == []
    # And a file of the first does not count for the second, nor a folder-less one
    assert find_gaps(params, "demo-bucket", night[1:3], [folder + "0100/000"]) == night[1:3]
