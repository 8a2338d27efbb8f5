"""Fault injection: whatever fails, every interval lands exactly once with exactly its rows.

Each scenario runs the synthesized state machines through the embedded runtime on the
demo warehouse, breaks something on the way with the runtime's own controls
(``DuckDBDataApi.inject``, ``LocalRuntime.inject_lambda_error``, a short lease), and
then checks the invariant by comparing the bucket with the warehouse interval by
interval (:meth:`Crawl.check`): every live folder holds exactly the warehouse rows of
its interval ``[start, end)`` (none missing, none twice), and ``watermark.gaps``
finds no interval without a folder between where history ended and the watermark.
A property-based test draws random sequences of these events and checks after each.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import watermark
from connector.local.demo_warehouse import generate
from connector.local.redshift_data import DataApiError, DuckDBDataApi
from connector.local.runtime import ExecutionResult, LocalRuntime
from connector.storage import S3ObjectStore

pytestmark = [
    pytest.mark.e2e,
    # Handlers that raise (injected) before adding a metric make Powertools warn.
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

HOUR = timedelta(hours=1)
START = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = timedelta(days=1)
LIVE_START = START + HISTORY
# Any time after an interval closes and before the next one does plans that interval.
FIRE_DELAY = timedelta(minutes=3)
Row = tuple[datetime, int, Decimal, str, str]


def _rows_from_csv(text: str) -> list[Row]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["timestamp", "views", "revenue", "platform", "marketplace"], rows[0]
    return [
        (datetime.fromisoformat(ts), int(views), Decimal(revenue), platform, marketplace)
        for ts, views, revenue, platform, marketplace in rows[1:]
    ]


def _value(field: dict[str, Any]) -> Any:
    return next(iter(field.values()))


@dataclass
class Crawl:
    """A running stack with history crawled up to :data:`LIVE_START`; ``now`` is the clock."""

    runtime: LocalRuntime
    closed: datetime = LIVE_START
    """The end of the last interval the schedule has reached (closed intervals)."""

    @property
    def store(self) -> S3ObjectStore:
        return S3ObjectStore(self.runtime.client("s3"), self.runtime.data_bucket)

    def mark(self) -> watermark.Watermark:
        mark = watermark.read(self.store, self.runtime.params)
        assert mark is not None, "the historical crawl did not set the watermark"
        return mark

    # --- the schedule -------------------------------------------------------------

    def next_fire(self, skip: int = 0) -> datetime:
        """The firing after the next ``skip + 1`` intervals close (``skip`` missed)."""
        self.closed += (skip + 1) * HOUR
        return self.closed + FIRE_DELAY

    def tick(self, skip: int = 0, **kwargs: Any) -> ExecutionResult:
        return self.runtime.run_continuous(self.next_fire(skip), **kwargs)

    def catch_up(self) -> None:
        """Run (at the current time) until the watermark reaches the last closed interval."""
        for _ in range(5):
            if self.mark().end == self.closed:
                return
            result = self.runtime.run_continuous(self.closed + FIRE_DELAY)
            assert result.succeeded, (result.error, result.cause)
        assert self.mark().end == self.closed

    # --- the warehouse ------------------------------------------------------------

    def query(self, sql: str) -> list[list[Any]]:
        api = self.runtime.data_api
        assert api is not None
        statement = api.execute_statement(Sql=sql, **self.runtime.params.data_api_target())
        described = api.wait(statement["Id"])
        assert described["Status"] == "FINISHED", described.get("Error")
        if not described["HasResultSet"]:
            return []
        result = api.get_statement_result(Id=statement["Id"])
        return [[_value(field) for field in record] for record in result["Records"]]

    def late_rows(self, interval_start: datetime, count: int = 3) -> None:
        """Rows reach Redshift after their interval was crawled."""
        stamp = f"{interval_start + timedelta(minutes=7):%Y-%m-%d %H:%M:%S}"
        values = ", ".join(
            f"({900_000_000 + i}, TIMESTAMP '{stamp}', 1, 1, {11 + i}, {i}.25)"
            for i in range(count)
        )
        self.query(f"INSERT INTO ecommerce VALUES {values}")

    def warehouse(self, start: datetime, end: datetime) -> dict[datetime, Counter[Row]]:
        records = self.query(
            "SELECT e.ts, e.views, e.revenue, p.name, m.name FROM ecommerce AS e "
            "JOIN platform AS p ON p.id = e.platform JOIN marketplace AS m ON m.id = e.marketplace "
            f"WHERE e.ts >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' "
            f"AND e.ts < TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}'"
        )
        by_hour: dict[datetime, Counter[Row]] = {}
        for ts, views, revenue, platform, marketplace in records:
            moment = datetime.fromisoformat(str(ts))
            hour = moment.replace(minute=0, second=0, tzinfo=UTC)
            row = (moment, int(views), Decimal(str(revenue)), platform, marketplace)
            by_hour.setdefault(hour, Counter())[row] += 1
        return by_hour

    # --- the bucket ---------------------------------------------------------------

    def folders(self) -> dict[datetime, Counter[Row]]:
        """Every live folder's rows, by interval start (named by START, yyyyMMdd/HHmm)."""
        live = f"{self.runtime.params.data_prefix}/live/"
        found: dict[datetime, Counter[Row]] = {}
        for info in self.store.list(live):
            day, hhmm, _ = info.key.removeprefix(live).split("/", 2)
            start = datetime.strptime(day + hhmm, "%Y%m%d%H%M").replace(tzinfo=UTC)
            rows = _rows_from_csv(self.store.get(info.key).body.decode("utf-8"))
            found.setdefault(start, Counter()).update(rows)
        return found

    def check(self) -> watermark.Watermark:
        """The invariant: no interval lost, none duplicated, each with exactly its rows."""
        params, mark = self.runtime.params, self.mark()
        assert mark.origin == LIVE_START
        assert LIVE_START <= mark.end <= self.closed
        # No interval between where history ended and the watermark is missing
        assert watermark.gaps(self.store, params, mark.origin, mark.end) == []
        folders = self.folders()
        expected = [mark.origin + i * HOUR for i in range((mark.end - mark.origin) // HOUR)]
        assert set(expected) <= set(folders)
        # Every folder (landed ones past the watermark too) holds exactly its rows, once
        assert min(folders, default=LIVE_START) >= LIVE_START, "live folder inside history"
        truth = self.warehouse(LIVE_START, max(folders, default=LIVE_START) + HOUR)
        for start, rows in folders.items():
            assert rows == truth.get(start, Counter()), f"folder {start:%Y%m%d/%H%M}"
        return mark


@pytest.fixture
def crawl_params(tmp_path: Path, params_writer: Callable[..., Path], repo: Path) -> Path:
    return _params(tmp_path, params_writer, repo)


def _params(tmp_path: Path, params_writer: Callable[..., Path], repo: Path, **crawl: Any) -> Path:
    path = params_writer(tmp_path / "params.json", queries_dir=repo / "queries")
    params = json.loads(path.read_text(encoding="utf-8"))
    params["crawl"].update(crawl)
    path.write_text(json.dumps(params), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "warehouse.duckdb"
    generate(path, start=START, days=2, anomalies=False)
    return path


@contextmanager
def crawling(
    template: dict[str, Any],
    params: Path,
    small_warehouse: Path,
    workdir: Path,
    **runtime: Any,
) -> Iterator[Crawl]:
    """A runtime on a private copy of the warehouse, history crawled (no detector built)."""
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "warehouse.duckdb"
    warehouse.write_bytes(small_warehouse.read_bytes())
    with LocalRuntime(params, warehouse, workdir / "work", template=template, **runtime) as rt:
        history = rt.run_historical(START, LIVE_START, build_detector=False)
        assert history.succeeded, (history.error, history.cause)
        assert history.output["watermark"]["watermark"] == LIVE_START.isoformat()
        yield Crawl(rt)


@pytest.fixture
def crawl(
    template: dict[str, Any], crawl_params: Path, small_warehouse: Path, tmp_path: Path
) -> Iterator[Crawl]:
    with crawling(template, crawl_params, small_warehouse, tmp_path / "crawl") as running:
        yield running


def _planned(result: ExecutionResult) -> int:
    return int(result.history.states_entered.get("UnloadInterval", 0))


def _failure_messages(crawl: Crawl) -> list[str]:
    return [m["Message"] for m in crawl.runtime.sns_messages() if "failed" in m["Subject"]]


# --- scenarios ---------------------------------------------------------------------


class _NoS3:
    """An UNLOAD target that must not be reached: injected faults write nothing."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"S3 {name} called")


def test_injected_statement_faults_match_their_target_and_are_used_up_in_order() -> None:
    # Given the Data API emulation with two faults, one only for the 01:00 folder
    with DuckDBDataApi(":memory:", s3=_NoS3()) as api:
        api.inject(abort=1, match="/0100/")
        api.inject(fail=1, throttle=1)
        target = {"Database": "dev", "ClusterIdentifier": "local"}
        unload = "UNLOAD ('SELECT 1 AS a') TO 's3://b/live/20260102/{}/' IAM_ROLE 'r' CSV"

        def run(folder: str) -> dict[str, Any]:
            statement = api.execute_statement(Sql=unload.format(folder), **target)
            return api.wait(statement["Id"])

        # When describe is called, it is throttled once, as the service does
        with pytest.raises(DataApiError, match="Rate exceeded"):
            api.describe_statement(Id="any")
        # Then the first UNLOAD takes the first fault that matches it, the next the other
        first = run("0000")
        assert first["Status"] == "FAILED" and "injected" in first["Error"]
        assert run("0100")["Status"] == "ABORTED"
        # And queries other than UNLOAD are never faulted
        assert api.wait(api.execute_statement(Sql="SELECT 1", **target)["Id"])["Status"] == (
            "FINISHED"
        )
        assert api.pending_faults() == 0


@pytest.mark.parametrize(("fault", "error"), [("fail", "UnloadFailed"), ("abort", "UnloadAborted")])
def test_a_statement_that_does_not_finish_is_unloaded_again_by_the_next_run(
    crawl: Crawl, fault: str, error: str
) -> None:
    # Given a run that lands its interval
    assert crawl.tick().succeeded
    # When the next run's UNLOAD ends FAILED (or ABORTED) in the warehouse
    assert crawl.runtime.data_api is not None
    crawl.runtime.data_api.inject(**{fault: 1})
    failed = crawl.tick()
    # Then that run fails and says so, and the watermark stays before the interval
    assert failed.status == "FAILED" and failed.error == error
    assert crawl.check().end == LIVE_START + HOUR
    [message] = _failure_messages(crawl)
    assert "did not land" in message and "next run" in message
    # And the next run unloads it again along with its own: nothing lost
    caught_up = crawl.tick()
    assert caught_up.succeeded and _planned(caught_up) == 2
    assert crawl.check().end == crawl.closed


def test_only_the_failed_interval_and_those_after_it_are_held_back(crawl: Crawl) -> None:
    # Given three due intervals, the middle one failing
    assert crawl.runtime.data_api is not None
    crawl.runtime.data_api.inject(fail=1, match="live/20260102/0100/")
    result = crawl.tick(skip=2)
    # Then the first lands and the watermark moves over it only; the third landed too
    assert result.status == "FAILED"
    mark = crawl.check()
    assert mark.end == LIVE_START + HOUR
    assert set(crawl.folders()) == {LIVE_START, LIVE_START + 2 * HOUR}
    # And the next run fills the gap
    assert crawl.tick().succeeded
    assert crawl.check().end == crawl.closed


def test_throttled_describe_is_retried(crawl: Crawl) -> None:
    assert crawl.runtime.data_api is not None
    crawl.runtime.data_api.inject(throttle=1)
    result = crawl.tick()
    assert result.succeeded, (result.error, result.cause)
    # (Step Functions names an error the SDK does not model <Service>Exception)
    [throttled] = result.history.failures
    assert throttled.startswith("TaskFailed: RedshiftData.RedshiftDataException: Rate exceeded")
    assert crawl.runtime.data_api.pending_faults() == 0
    assert crawl.check().end == crawl.closed


@pytest.mark.parametrize("after", [False, True], ids=["before-claim", "after-claim"])
def test_a_plan_lambda_raising_releases_the_claim(crawl: Crawl, after: bool) -> None:
    # When the plan Lambda raises (after=True: it claimed the intervals, then died)
    crawl.runtime.inject_lambda_error("lambdas.plan_continuous.handler", after=after)
    failed = crawl.tick()
    # Then the run fails through ReleaseRun: no lease is left behind
    assert failed.status == "FAILED" and failed.error == "InjectedFault"
    assert failed.history.states_entered["ReleaseRun"] == 1
    assert crawl.mark().lease is None
    # And the next run catches up at once
    assert crawl.tick().succeeded
    assert crawl.check().end == crawl.closed


def test_a_run_dying_after_unload_is_resumed_by_its_run_id(crawl: Crawl) -> None:
    # Given a run that landed its intervals and died before moving the watermark
    crawl.runtime.inject_lambda_error("lambdas.finish_run.handler")
    fires = crawl.next_fire(skip=1)
    died = crawl.runtime.run_continuous(fires, name="died-1")
    assert died.status == "FAILED"
    mark = crawl.check()
    assert mark.end == LIVE_START and mark.lease is not None and mark.lease.run_id == "died-1"
    # When the next scheduled run fires, it leaves the leased intervals alone
    blocked = crawl.runtime.run_continuous(fires + HOUR)
    assert blocked.succeeded and _planned(blocked) == 0
    assert "died-1" in blocked.output["reason"]
    crawl.check()
    # When the failed execution is resumed (redrive, emulated: same input and run id)
    resumed = crawl.runtime.run_continuous(fires, name="died-1-redrive", run_id="died-1")
    # Then it plans the same statements (same ClientTokens: the Data API hands back the
    # ones already FINISHED), and the watermark moves over both intervals
    assert resumed.succeeded, (resumed.error, resumed.cause)
    assert _planned(resumed) == 2
    assert crawl.check().end == LIVE_START + 2 * HOUR
    assert crawl.mark().lease is None


def test_a_lease_left_by_a_dead_run_expires(
    template: dict[str, Any], crawl_params: Path, small_warehouse: Path, tmp_path: Path
) -> None:
    # Given leases of one second (the stack sets the state machine's timeout + 10 min)
    with crawling(
        template,
        crawl_params,
        small_warehouse,
        tmp_path / "crawl",
        environment={"LEASE_SECONDS": "1"},
    ) as crawl:
        crawl.runtime.inject_lambda_error("lambdas.finish_run.handler")
        assert crawl.tick().status == "FAILED"
        assert crawl.mark().lease is not None
        # When the lease has expired, the next run takes the intervals over
        time.sleep(1.1)
        result = crawl.tick()
        assert result.succeeded and _planned(result) == 2
        assert crawl.check().end == crawl.closed


def test_missed_firings_are_caught_up_by_the_next_run(crawl: Crawl) -> None:
    assert crawl.tick().succeeded
    # When five firings are missed (schedule paused, scheduler outage)
    result = crawl.tick(skip=5)
    # Then the next run unloads all six intervals, in order
    assert result.succeeded and _planned(result) == 6
    assert [i["window_start"][11:13] for i in result.output["intervals"]] == [
        f"{h:02d}" for h in range(1, 7)
    ]
    assert crawl.check().end == crawl.closed


def test_two_runs_at_once_do_not_both_unload(crawl: Crawl) -> None:
    # When a manual start coincides with the schedule
    fires = crawl.next_fire(skip=2)
    first = crawl.runtime.start_continuous(fires)
    second = crawl.runtime.start_continuous(fires + timedelta(minutes=1))
    results = [crawl.runtime.wait(first), crawl.runtime.wait(second)]
    # Then both succeed, one unloads the three intervals, the other plans nothing
    assert all(r.succeeded for r in results), [(r.error, r.cause) for r in results]
    assert sorted(_planned(r) for r in results) == [0, 3]
    assert crawl.check().end == crawl.closed


def test_a_duplicate_delivery_of_the_same_event_is_harmless(crawl: Crawl) -> None:
    fires = crawl.next_fire()
    # When the same scheduled event is delivered twice at once, then once more later
    arns = [crawl.runtime.start_continuous(fires) for _ in range(2)]
    results = [crawl.runtime.wait(arn) for arn in arns]
    late = crawl.runtime.run_continuous(fires)
    # Then the interval is unloaded once, and the watermark moved once over it
    assert all(r.succeeded for r in [*results, late])
    assert sum(_planned(r) for r in [*results, late]) == 1
    assert crawl.check().end == crawl.closed


def test_late_rows_land_within_the_restatement_window(
    template: dict[str, Any],
    small_warehouse: Path,
    tmp_path: Path,
    params_writer: Callable[..., Path],
    repo: Path,
) -> None:
    params = _params(tmp_path, params_writer, repo, restatement_intervals=2)
    with crawling(template, params, small_warehouse, tmp_path / "crawl") as crawl:
        assert crawl.tick().succeeded
        # When rows of the interval just crawled reach the warehouse late
        crawl.late_rows(LIVE_START)
        # Then the next run re-unloads it (restatement) and the folder holds them
        result = crawl.tick()
        assert result.succeeded and _planned(result) == 2
        assert crawl.check().end == crawl.closed


def test_without_restatement_late_rows_are_not_crawled(crawl: Crawl) -> None:
    # The documented trade-off (docs/recovery.md): restatement_intervals = 0 crawls
    # each interval once, so rows arriving after that are only in a re-crawl.
    assert crawl.tick().succeeded
    crawl.late_rows(LIVE_START)
    assert crawl.tick().succeeded
    with pytest.raises(AssertionError, match="folder 20260102/0000"):
        crawl.check()


def test_a_recrawl_overlapping_live_crawling_moves_nothing(crawl: Crawl) -> None:
    assert crawl.tick().succeeded
    # When a re-crawl of a range reaching into the live intervals runs at the same time
    recrawl = crawl.runtime.start(
        "HistoricalCrawlStateMachineArn",
        {
            "start": (LIVE_START - 6 * HOUR).isoformat(),
            "end": (LIVE_START + HOUR).isoformat(),
            "poll_seconds": 0,
            "build_detector": False,
        },
    )
    live = crawl.tick()
    recrawled = crawl.runtime.wait(recrawl)
    # Then both succeed, the re-crawl leaves the watermark where the live crawl put it
    assert live.succeeded and recrawled.succeeded, (recrawled.error, recrawled.cause)
    assert recrawled.output["watermark"]["set"] is False
    assert crawl.check().end == crawl.closed


def test_scoring_without_a_detector_lands_the_data_and_says_why(crawl: Crawl) -> None:
    result = crawl.tick()
    assert result.succeeded
    [score] = result.output["scores"]
    assert score["score"]["result"]["status"] == "no_detector"
    assert "historical crawl" in score["score"]["result"]["message"]
    assert _failure_messages(crawl) == []


# --- random sequences --------------------------------------------------------------

EVENTS = st.sampled_from(
    ["tick", "miss", "fail", "abort", "throttle", "plan_dies", "finish_dies", "twice", "late"]
)


def _play(crawl: Crawl, event: str) -> None:
    runtime = crawl.runtime
    assert runtime.data_api is not None
    if event == "tick":
        crawl.tick()
    elif event == "miss":
        crawl.next_fire()  # the schedule fires for nobody
    elif event in ("fail", "abort", "throttle"):
        runtime.data_api.inject(**{event: 1})
        crawl.tick()
    elif event == "plan_dies":
        runtime.inject_lambda_error("lambdas.plan_continuous.handler", after=True)
        crawl.tick()
    elif event == "finish_dies":
        runtime.inject_lambda_error("lambdas.finish_run.handler")
        fires = crawl.next_fire()
        died = runtime.run_continuous(fires, name=f"died-{fires:%d%H}")
        if died.status == "FAILED":
            crawl.check()
            resumed = runtime.run_continuous(fires, run_id=f"died-{fires:%d%H}")
            assert resumed.succeeded, (resumed.error, resumed.cause)
    elif event == "twice":
        fires = crawl.next_fire()
        arns = [runtime.start_continuous(fires) for _ in range(2)]
        assert all(runtime.wait(arn).succeeded for arn in arns)
    elif event == "late":
        # Late rows of the last landed interval, then the run whose restatement lands them
        crawl.late_rows(crawl.mark().end - HOUR)
        crawl.tick()


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=st.lists(EVENTS, min_size=3, max_size=6))
def test_any_sequence_of_faults_keeps_every_interval_exactly_once(
    template: dict[str, Any],
    small_warehouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
    params_writer: Callable[..., Path],
    repo: Path,
    events: list[str],
) -> None:
    # Given a crawl that restates the last interval (so late rows of it land)
    workdir = tmp_path_factory.mktemp("sequence")
    params = _params(workdir, params_writer, repo, restatement_intervals=1)
    with crawling(template, params, small_warehouse, workdir / "crawl") as crawl:
        # When the events happen one after the other, Then the invariant holds after each
        for event in events:
            _play(crawl, event)
            crawl.check()
        # And once the faults stop, the crawl catches up to the last closed interval
        assert crawl.runtime.data_api is not None
        assert crawl.runtime.data_api.pending_faults() == 0
        crawl.catch_up()
        assert crawl.check().lease is None
