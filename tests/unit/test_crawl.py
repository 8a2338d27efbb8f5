"""Planning the crawls: windows, targets, idempotency tokens, payload size, params publishing."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector import watermark
from connector.config import Params, load_params
from connector.crawl import (
    MAX_PLAN_BYTES,
    check_plan_size,
    client_token,
    finish_continuous,
    historical_window,
    plan_continuous,
    plan_historical,
    publish_params,
    record_history,
    start_continuous,
)
from connector.errors import PlanError
from connector.intervals import Interval, historical_range
from connector.sql import split_unload
from connector.storage import MemoryObjectStore, ObjectStore, StoredObject

PARAMS = Path(__file__).resolve().parents[1] / "data" / "infra" / "params_provisioned.json"
BUCKET = "connector-data"
ROLE = "arn:aws:iam::123456789012:role/unload"
NOW = datetime(2026, 11, 24, 11, 2, tzinfo=UTC)
TOKEN = re.compile(r"^[0-9a-f]{64}$")
HISTORY_END = datetime(2026, 11, 24, 8, tzinfo=UTC)
LEASE = timedelta(hours=1)


@pytest.fixture(scope="module")
def params() -> Params:
    return load_params(PARAMS)


def _with(params: Params, **crawl: Any) -> Params:
    return params.model_copy(update={"crawl": params.crawl.model_copy(update=crawl)})


# --- historical ----------------------------------------------------------------------


def test_historical_chunks_tile_the_history_up_to_the_open_interval(params: Params) -> None:
    # Given the provisioned params (PT1H, 90 days, 720 intervals a chunk)
    # When the default history is planned at 11:02
    statements = plan_historical(params, now=NOW, bucket=BUCKET, role_arn=ROLE)
    # Then chunks tile [history start, 11:00) with no gap or overlap
    expected = historical_range(params.crawl.historical_start, NOW, params.frequency)
    assert statements[0]["window_start"] == expected.start.isoformat()
    assert statements[-1]["window_end"] == "2026-11-24T11:00:00+00:00"
    for before, after in itertools.pairwise(statements):
        assert before["window_end"] == after["window_start"]
    assert len(statements) == 3  # 2160 hours / 720


def test_historical_statement_unloads_its_window_into_the_historical_prefix(
    params: Params,
) -> None:
    [first, *_] = plan_historical(params, now=NOW, bucket=BUCKET, role_arn=ROLE)
    assert set(first) == {"sql", "client_token", "window_start", "window_end", "target"}
    assert first["target"] == "s3://connector-data/ecommerce/historical/20260826T1100_"
    query, s3_uri, role, _ = split_unload(first["sql"])
    assert s3_uri == first["target"]
    assert role == ROLE
    assert "'2026-08-26 11:00:00'" in query and "'2026-09-25 11:00:00'" in query
    assert TOKEN.fullmatch(first["client_token"])


def test_explicit_range_is_floored_to_intervals(params: Params) -> None:
    # Given a re-crawl of one unaligned day
    start = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    end = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)
    # When planned
    statements = plan_historical(
        params, start=start, end=end, now=NOW, bucket=BUCKET, role_arn=ROLE
    )
    # Then it covers the whole intervals [00:00, 00:00 next day)
    assert [(s["window_start"], s["window_end"]) for s in statements] == [
        ("2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00")
    ]


def test_run_id_gives_a_recrawl_its_own_tokens(params: Params) -> None:
    window = {"start": datetime(2026, 11, 1, tzinfo=UTC), "end": datetime(2026, 11, 2, tzinfo=UTC)}
    first = plan_historical(params, now=NOW, bucket=BUCKET, role_arn=ROLE, run_id="a", **window)
    again = plan_historical(params, now=NOW, bucket=BUCKET, role_arn=ROLE, run_id="a", **window)
    other = plan_historical(params, now=NOW, bucket=BUCKET, role_arn=ROLE, run_id="b", **window)
    assert first == again
    assert first[0]["client_token"] != other[0]["client_token"]
    assert first[0]["sql"] == other[0]["sql"]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (None, datetime(2026, 11, 24, 12, tzinfo=UTC), "still open"),
        (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), "before start"),
        (datetime(2026, 11, 1), None, "no time zone"),
    ],
)
def test_bad_ranges_are_refused(
    params: Params, start: datetime | None, end: datetime | None, message: str
) -> None:
    with pytest.raises(PlanError, match=message):
        historical_window(params, start=start, end=end, now=NOW)


def test_empty_range_plans_nothing(params: Params) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    assert plan_historical(params, start=at, end=at, now=NOW, bucket=BUCKET, role_arn=ROLE) == []


# --- continuous ----------------------------------------------------------------------


def _start(
    store: ObjectStore, params: Params, scheduled: datetime, run_id: str, **kwargs: Any
) -> dict[str, Any]:
    return start_continuous(
        store,
        params,
        scheduled_time=scheduled,
        run_id=run_id,
        lease=LEASE,
        bucket=BUCKET,
        role_arn=ROLE,
        started_at=kwargs.pop("started_at", NOW),
        **kwargs,
    )


def _landed(plan: dict[str, Any], *, failed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """What the UnloadIntervals Map returns: one outcome per planned interval."""
    outcomes: list[dict[str, Any]] = []
    for item in plan["intervals"]:
        window = {k: item[k] for k in ("window_start", "window_end")}
        if item["window_start"] in failed:
            outcomes.append({**window, "landed": False, "error": "UnloadFailed", "cause": "boom"})
        else:
            outcomes.append({**window, "landed": True})
    return outcomes


def _finish(
    store: ObjectStore, params: Params, plan: dict[str, Any], unloaded: list[dict[str, Any]]
) -> dict[str, Any]:
    return finish_continuous(
        store,
        params,
        run_id=plan["run_id"],
        planned=plan["intervals"],
        unloaded=unloaded,
        now=NOW,
    )


@pytest.fixture
def store(params: Params) -> MemoryObjectStore:
    # Given history crawled up to 08:00 on the day of NOW
    memory = MemoryObjectStore(BUCKET)
    record_history(memory, params, window_end=HISTORY_END, run_id="historical-1", now=NOW)
    return memory


def test_continuous_unloads_each_interval_into_its_start_folder(params: Params) -> None:
    window = Interval(NOW.replace(hour=10, minute=0), NOW.replace(hour=11, minute=0))
    [statement] = plan_continuous(params, [window], bucket=BUCKET, role_arn=ROLE, run_id="r")
    assert statement["window_start"] == "2026-11-24T10:00:00+00:00"
    assert statement["window_end"] == "2026-11-24T11:00:00+00:00"
    assert statement["target"] == "s3://connector-data/ecommerce/live/20261124/1000/"
    assert split_unload(statement["sql"])[1] == statement["target"]


def test_continuous_tokens_belong_to_the_run(params: Params) -> None:
    # The same run (a retried task, a resumed execution) gets its statements back; a
    # later run restating the interval gets new ones, so the UNLOAD runs again.
    window = [Interval(NOW.replace(hour=10, minute=0), NOW.replace(hour=11, minute=0))]
    first = plan_continuous(params, window, bucket=BUCKET, role_arn=ROLE, run_id="a")
    again = plan_continuous(params, window, bucket=BUCKET, role_arn=ROLE, run_id="a")
    other = plan_continuous(params, window, bucket=BUCKET, role_arn=ROLE, run_id="b")
    assert first == again
    assert first[0]["client_token"] != other[0]["client_token"]


def test_a_run_plans_every_interval_since_the_watermark_and_claims_them(
    params: Params, store: MemoryObjectStore
) -> None:
    # When the schedule fires at 11:02 (the 08:00, 09:00 and 10:00 intervals have closed)
    plan = _start(store, params, NOW, "run-1")
    # Then all three are planned, oldest first, and leased to this run
    assert [i["target"].rsplit("/", 2)[-2] for i in plan["intervals"]] == ["0800", "0900", "1000"]
    assert [s["target"] for s in plan["statements"]] == [i["target"] for i in plan["intervals"]]
    assert plan["reason"] == ""
    mark = watermark.read(store, params)
    assert mark is not None and mark.lease is not None and mark.lease.run_id == "run-1"
    # And a second run at the same time (manual start, duplicate delivery) plans nothing
    other = _start(store, params, NOW, "run-2")
    assert other["statements"] == [] and "run-1" in other["reason"]


def test_finishing_advances_over_what_landed_and_scores_in_order(
    params: Params, store: MemoryObjectStore
) -> None:
    plan = _start(store, params, NOW, "run-1")
    # When the 09:00 UNLOAD failed and the others landed
    result = _finish(store, params, plan, _landed(plan, failed=("2026-11-24T09:00:00+00:00",)))
    # Then the watermark stops at the failed interval, only 08:00 is scored
    assert result["watermark"] == "2026-11-24T09:00:00+00:00"
    assert [i["window_start"] for i in result["score"]] == ["2026-11-24T08:00:00+00:00"]
    assert result["landed"] == 2
    assert result["failure"]["Error"] == "UnloadFailed"
    assert "1 of 3 intervals did not land" in result["failure"]["Cause"]
    mark = watermark.read(store, params)
    assert mark is not None and mark.lease is None
    # And the next run catches up from it
    again = _start(store, params, NOW + timedelta(hours=1), "run-2")
    assert [i["window_start"][11:16] for i in again["intervals"]] == ["09:00", "10:00", "11:00"]
    done = _finish(store, params, again, _landed(again))
    assert done["watermark"] == "2026-11-24T12:00:00+00:00" and "failure" not in done


def test_a_run_that_failed_before_unloading_releases_its_claim(
    params: Params, store: MemoryObjectStore
) -> None:
    plan = _start(store, params, NOW, "run-1")
    # When the Catch path finishes it with nothing unloaded
    result = finish_continuous(store, params, run_id="run-1", planned=[], unloaded=[], now=NOW)
    # Then the watermark stays, the lease is gone and another run may plan at once
    assert result == {"watermark": HISTORY_END.isoformat(), "landed": 0, "score": []}
    assert _start(store, params, NOW, "run-2")["intervals"] == plan["intervals"]


def test_nothing_is_planned_before_history_sets_the_watermark(params: Params) -> None:
    empty = MemoryObjectStore(BUCKET)
    plan = _start(empty, params, NOW, "run-1")
    assert plan["statements"] == [] and "historical crawl" in plan["reason"]
    # And finishing such a run is a no-op
    assert _finish(empty, params, plan, []) == {"watermark": None, "landed": 0, "score": []}


def test_restatement_recrawls_intervals_before_the_watermark(
    params: Params, store: MemoryObjectStore
) -> None:
    first = _start(store, params, NOW, "run-1")
    _finish(store, params, first, _landed(first))
    restating = _with(params, restatement_intervals=2)
    plan = _start(store, restating, NOW + timedelta(hours=1), "run-2")
    assert [i["window_start"][11:16] for i in plan["intervals"]] == ["09:00", "10:00", "11:00"]
    # And a duplicate of a finished run only restates: nothing new is due
    dup = _start(store, restating, NOW + timedelta(hours=1), "run-3")
    assert dup["statements"] == [] and "run-2" in dup["reason"]


def test_catch_up_is_bounded_per_run(params: Params, store: MemoryObjectStore) -> None:
    capped = _with(params, max_intervals_per_run=2)
    plan = _start(store, capped, NOW + timedelta(hours=5), "run-1")
    assert [i["window_start"][11:16] for i in plan["intervals"]] == ["08:00", "09:00"]


def test_daily_intervals_follow_the_detector_time_zone(params: Params) -> None:
    daily = params.model_copy(
        update={
            "detector_frequency": "P1D",
            "detector": params.detector.model_copy(update={"timezone": "America/New_York"}),
        }
    )
    store = MemoryObjectStore(BUCKET)
    # History ends at midnight in New York on Nov 23 (05:00 UTC)
    record_history(store, daily, window_end=datetime(2026, 11, 23, 5, tzinfo=UTC), run_id="h")
    # 01:00 in New York on Nov 24 = 06:00 UTC
    plan = _start(store, daily, datetime(2026, 11, 24, 6, 0, tzinfo=UTC), "run-1")
    [statement] = plan["statements"]
    assert statement["window_start"] == "2026-11-23T00:00:00-05:00"
    assert statement["window_end"] == "2026-11-24T00:00:00-05:00"
    assert statement["target"].endswith("/live/20261123/0000/")


def test_naive_scheduled_time_is_refused(params: Params, store: MemoryObjectStore) -> None:
    with pytest.raises(PlanError, match="no time zone"):
        _start(store, params, datetime(2026, 11, 24, 11), "run-1")


def test_history_sets_the_watermark_once_and_a_recrawl_leaves_it(params: Params) -> None:
    store = MemoryObjectStore(BUCKET)
    # When the first historical crawl ends at an unaligned time
    first = record_history(
        store, params, window_end=HISTORY_END + timedelta(minutes=30), run_id="h-1"
    )
    # Then the watermark starts at the interval boundary before it
    assert first == {
        "watermark": HISTORY_END.isoformat(),
        "origin": HISTORY_END.isoformat(),
        "set": True,
    }
    # And a re-crawl of a range ending earlier or later does not move it
    for end in (HISTORY_END - timedelta(days=1), HISTORY_END + timedelta(hours=2)):
        again = record_history(store, params, window_end=end, run_id="h-2")
        assert again["watermark"] == HISTORY_END.isoformat() and again["set"] is False


def test_a_deliberate_reset_restarts_the_watermark_even_for_another_frequency(
    params: Params,
) -> None:
    # Given a watermark written for hourly intervals
    store = MemoryObjectStore(BUCKET)
    record_history(store, params, window_end=HISTORY_END, run_id="h-1")
    daily = params.model_copy(update={"detector_frequency": "P1D"})
    # When history is crawled again for daily intervals without a reset, it is refused
    with pytest.raises(watermark.WatermarkError, match="written for PT1H"):
        record_history(store, daily, window_end=datetime(2026, 11, 24, tzinfo=UTC), run_id="h-2")
    # Then a reset sets it where the new history ends, on the new grid
    done = record_history(
        store, daily, window_end=datetime(2026, 11, 24, tzinfo=UTC), run_id="h-3", reset=True
    )
    assert done == {
        "watermark": "2026-11-24T00:00:00+00:00",
        "origin": "2026-11-24T00:00:00+00:00",
        "set": True,
    }


# --- tokens and sizes ----------------------------------------------------------------


def test_client_token_is_a_valid_data_api_token() -> None:
    window = Interval(NOW, NOW + timedelta(hours=1))
    token = client_token("SELECT 1", window)
    assert TOKEN.fullmatch(token) and len(token) <= 64
    assert token != client_token("SELECT 2", window)
    assert token != client_token("SELECT 1", Interval(NOW, NOW + timedelta(hours=2)))


def test_a_plan_too_large_for_step_functions_is_refused() -> None:
    plan = {"statements": [{"sql": "x" * 1000}] * (MAX_PLAN_BYTES // 1000 + 1)}
    with pytest.raises(PlanError, match="chunk_intervals"):
        check_plan_size(plan)
    check_plan_size({"statements": [{"sql": "x" * 1000}] * 10})


# --- publishing params.json ----------------------------------------------------------


def test_params_are_published_once_and_rewritten_only_when_changed() -> None:
    store = MemoryObjectStore("bucket")
    assert publish_params(store, "p/params.json", "{}") is True
    assert publish_params(store, "p/params.json", "{}") is False
    assert publish_params(store, "p/params.json", '{"a": 1}') is True
    assert store.get("p/params.json").body == b'{"a": 1}'


class _RacingStore(MemoryObjectStore):
    """Another run writes ``winner`` between our read and our conditional write."""

    def __init__(self, winner: bytes) -> None:
        super().__init__("bucket")
        self.winner = winner
        self.raced = False

    def get(self, key: str) -> StoredObject:
        found = super().get(key)
        if not self.raced:
            self.raced = True
            MemoryObjectStore.put(self, key, self.winner)
        return found


@pytest.mark.parametrize(("winner", "published"), [(b"mine", False), (b"theirs", None)])
def test_a_concurrent_publish_is_detected(winner: bytes, published: bool | None) -> None:
    store: ObjectStore = _RacingStore(winner)
    MemoryObjectStore.put(store, "params.json", b"old")  # type: ignore[arg-type]
    if published is None:
        with pytest.raises(PlanError, match="changed while"):
            publish_params(store, "params.json", "mine")
    else:
        assert publish_params(store, "params.json", "mine") is published
