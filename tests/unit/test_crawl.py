"""Planning the crawls: windows, targets, idempotency tokens, payload size, params publishing."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.config import Params, load_params
from connector.crawl import (
    MAX_PLAN_BYTES,
    check_plan_size,
    client_token,
    historical_window,
    plan_continuous,
    plan_historical,
    publish_params,
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


@pytest.mark.parametrize(
    "scheduled",
    [datetime(2026, 11, 24, 11, 0, tzinfo=UTC), datetime(2026, 11, 24, 11, 2, tzinfo=UTC)],
)
def test_continuous_unloads_the_interval_that_closed_into_its_start_folder(
    params: Params, scheduled: datetime
) -> None:
    [statement] = plan_continuous(params, scheduled_time=scheduled, bucket=BUCKET, role_arn=ROLE)
    assert statement["window_start"] == "2026-11-24T10:00:00+00:00"
    assert statement["window_end"] == "2026-11-24T11:00:00+00:00"
    assert statement["target"] == "s3://connector-data/ecommerce/live/20261124/1000/"
    assert split_unload(statement["sql"])[1] == statement["target"]


def test_continuous_tokens_are_deterministic_for_duplicate_deliveries(params: Params) -> None:
    first = plan_continuous(params, scheduled_time=NOW, bucket=BUCKET, role_arn=ROLE)
    again = plan_continuous(params, scheduled_time=NOW, bucket=BUCKET, role_arn=ROLE)
    forced = plan_continuous(params, scheduled_time=NOW, bucket=BUCKET, role_arn=ROLE, run_id="x")
    assert first == again
    assert first[0]["client_token"] != forced[0]["client_token"]


def test_restatement_recrawls_earlier_intervals_oldest_first(params: Params) -> None:
    restating = _with(params, restatement_intervals=2)
    statements = plan_continuous(restating, scheduled_time=NOW, bucket=BUCKET, role_arn=ROLE)
    assert [s["target"].rsplit("/", 2)[-2] for s in statements] == ["0800", "0900", "1000"]
    capped = _with(params, restatement_intervals=5, max_intervals_per_run=2)
    statements = plan_continuous(capped, scheduled_time=NOW, bucket=BUCKET, role_arn=ROLE)
    assert [s["target"].rsplit("/", 2)[-2] for s in statements] == ["0900", "1000"]


def test_daily_intervals_follow_the_detector_time_zone(params: Params) -> None:
    daily = params.model_copy(
        update={
            "detector_frequency": "P1D",
            "detector": params.detector.model_copy(update={"timezone": "America/New_York"}),
        }
    )
    # 01:00 in New York on Nov 24 = 06:00 UTC
    scheduled = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    [statement] = plan_continuous(daily, scheduled_time=scheduled, bucket=BUCKET, role_arn=ROLE)
    assert statement["window_start"] == "2026-11-23T00:00:00-05:00"
    assert statement["window_end"] == "2026-11-24T00:00:00-05:00"
    assert statement["target"].endswith("/live/20261123/0000/")


def test_naive_scheduled_time_is_refused(params: Params) -> None:
    with pytest.raises(PlanError, match="no time zone"):
        plan_continuous(
            params,
            scheduled_time=datetime(2026, 11, 24, 11),
            bucket=BUCKET,
            role_arn=ROLE,
        )


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
