"""Recovery domain: stack outputs, re-crawl planning, redrive refusals, status and gaps.

AWS calls go through botocore's Stubber, which checks each request's exact shape; the
bucket is the in-memory store (or a folder, for the ``--local`` store).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from connector import recovery
from connector.config import Params, params_from_json
from connector.errors import PlanError
from connector.intervals import Interval
from connector.recovery import (
    ExecutionInfo,
    FolderObjectStore,
    RecoveryError,
    build_status,
    check_chunks,
    plan_recrawl,
    recrawl_input,
    recrawl_window,
)
from connector.storage import MemoryObjectStore, PreconditionFailedError
from connector.watermark import initialise, read

REPO = Path(__file__).resolve().parents[2]
BUCKET = "demo-bucket"
HOUR = timedelta(hours=1)
T0 = datetime(2026, 1, 3, tzinfo=UTC)
NOW = datetime(2026, 1, 10, tzinfo=UTC)
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:Historical"
EXEC = "arn:aws:states:us-east-1:123456789012:execution:Historical:recrawl-1"


def make_params(**crawl: Any) -> Params:
    """The shipped params.json (PT1H, UTC, prefix ecommerce) deployed to demo-bucket."""
    data: dict[str, Any] = json.loads((REPO / "params.json").read_text())
    data["s3_bucket"] = BUCKET
    data["crawl"].update(crawl)
    return params_from_json(json.dumps(data), base_dir=REPO)


PARAMS = make_params(chunk_intervals=12)


def sfn_client() -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1")


def live_key(start: datetime) -> str:
    return f"ecommerce/live/{start:%Y%m%d}/{start:%H%M}/000"


def land_live(
    store: MemoryObjectStore, start: datetime, hours: int, skip: frozenset[int] = frozenset()
) -> None:
    for hour in range(hours):
        if hour not in skip:
            store.put(live_key(start + hour * HOUR), b"header\n")


def land_history(store: MemoryObjectStore, start: datetime, chunks: int) -> None:
    for index in range(chunks):
        chunk_start = start + index * 12 * HOUR
        store.put(f"ecommerce/historical/{chunk_start:%Y%m%dT%H%M}_000", b"header\n")


# --- stack outputs ----------------------------------------------------------------------


def test_stack_outputs_read_the_state_machines_and_bucket() -> None:
    # Given a deployed stack with the connector's outputs
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    outputs = [
        {"OutputKey": "HistoricalCrawlStateMachineArn", "OutputValue": SM},
        {"OutputKey": "ContinuousCrawlStateMachineArn", "OutputValue": SM + "2"},
        {"OutputKey": "DataBucketName", "OutputValue": BUCKET},
        {"OutputKey": "UnloadRoleArn", "OutputValue": "arn:aws:iam::1:role/unload"},
    ]
    stack = {
        "StackName": "AnomalyConnector-ecommerce-anomalies",
        "CreationTime": NOW,
        "StackStatus": "CREATE_COMPLETE",
        "Outputs": outputs,
    }
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "describe_stacks",
            {"Stacks": [stack]},
            {"StackName": recovery.default_stack_name(PARAMS)},
        )
        # When its outputs are read under the default stack name
        found = recovery.stack_outputs(cloudformation, recovery.default_stack_name(PARAMS))
    # Then both state machines, the bucket and the UNLOAD role are known
    assert found == recovery.StackOutputs(SM, SM + "2", BUCKET, "arn:aws:iam::1:role/unload")


def test_a_missing_stack_is_a_clear_error() -> None:
    # Given no such stack
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    with Stubber(cloudformation) as stub:
        stub.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id nope does not exist"
        )
        # When it is looked up, then the error names it and says what to do
        with pytest.raises(RecoveryError, match=r"'nope' cannot be read.*deploy it first"):
            recovery.stack_outputs(cloudformation, "nope")


# --- recrawl ----------------------------------------------------------------------------


def test_recrawl_window_floors_bounds_to_intervals() -> None:
    # Given bounds inside intervals, when planned, then they are floored like the Lambda does
    window = recrawl_window(PARAMS, T0 + 10 * timedelta(minutes=1), T0 + 2.5 * HOUR, NOW)
    assert window == Interval(T0, T0 + 2 * HOUR)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T0 + HOUR, T0, "is not after --start"),
        (T0, T0 + timedelta(minutes=30), "at least one whole interval"),
        (T0, NOW + 2 * HOUR, "re-crawl only closed intervals"),
        (T0 - timedelta(days=2000), T0, "longer than the"),
    ],
)
def test_recrawl_window_refuses_what_the_state_machine_would(
    start: datetime, end: datetime, message: str
) -> None:
    # Given a range the historical crawl would refuse, when planned, then it is a PlanError
    with pytest.raises(PlanError, match=message):
        recrawl_window(PARAMS, start, end, NOW)


def test_recrawl_input_is_the_historical_state_machine_input() -> None:
    # Given a window, when the input is built and started, then StartExecution gets it as JSON
    document = recrawl_input(Interval(T0, T0 + HOUR), build_detector=False)
    assert document == {
        "start": "2026-01-03T00:00:00Z",
        "end": "2026-01-03T01:00:00Z",
        "build_detector": False,
    }
    sfn = sfn_client()
    with Stubber(sfn) as stub:
        stub.add_response(
            "start_execution",
            {"executionArn": EXEC, "startDate": NOW},
            {"stateMachineArn": SM, "name": "recrawl-1", "input": json.dumps(document)},
        )
        assert recovery.start_execution(sfn, SM, document, name="recrawl-1") == EXEC
        stub.assert_no_pending_responses()


def test_recrawl_splits_history_from_live_folders_at_the_watermark_origin() -> None:
    # Given history chunks up to T0, the watermark's origin, and live folders after it
    store = MemoryObjectStore(BUCKET)
    land_history(store, T0 - 48 * HOUR, 4)
    initialise(store, PARAMS, end=T0, run_id="history", now=NOW)
    land_live(store, T0, 6)
    # When a range across both is planned
    plan = plan_recrawl(PARAMS, store, Interval(T0 - 24 * HOUR, T0 + 2 * HOUR))
    # Then history is re-crawled as its chunks and each live interval in its folder
    assert plan.historical == Interval(T0 - 24 * HOUR, T0)
    assert plan.live == (Interval(T0, T0 + HOUR), Interval(T0 + HOUR, T0 + 2 * HOUR))
    assert plan.boundary == T0


def test_without_watermark_live_folders_begin_at_the_first_one_found() -> None:
    # Given live folders but no watermark (the historical crawl has not set it)
    store = MemoryObjectStore(BUCKET)
    land_live(store, T0, 6)
    # When a live range is planned, then it is all live
    plan = plan_recrawl(PARAMS, store, Interval(T0 + 2 * HOUR, T0 + 3 * HOUR))
    assert plan.historical is None
    assert plan.live == (Interval(T0 + 2 * HOUR, T0 + 3 * HOUR),)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0 - 42 * HOUR, T0 - 36 * HOUR),  # starts mid-chunk: a second file, rows twice
        (T0 - 48 * HOUR, T0 - 42 * HOUR),  # ends mid-chunk: the chunk would lose rows
    ],
)
def test_historical_recrawl_must_rewrite_whole_existing_chunks(
    start: datetime, end: datetime
) -> None:
    # Given history crawled in 12-hour chunks
    store = MemoryObjectStore(BUCKET)
    land_history(store, T0 - 48 * HOUR, 4)
    # When a re-crawl would not line up with them, then it is refused with a range that does
    with pytest.raises(PlanError, match=r"Re-crawl whole chunks, e\.g\. --start 2026-01-01T00:00"):
        check_chunks(PARAMS, store, Interval(start, end), T0)


def test_whole_chunks_and_an_empty_prefix_pass_the_chunk_check() -> None:
    store = MemoryObjectStore(BUCKET)
    # Given nothing crawled yet, then any range passes
    check_chunks(PARAMS, store, Interval(T0 - 42 * HOUR, T0 - 36 * HOUR), T0)
    # Given 12-hour chunks, then whole ones pass, up to the live boundary
    land_history(store, T0 - 48 * HOUR, 4)
    check_chunks(PARAMS, store, Interval(T0 - 36 * HOUR, T0), T0)


# --- executions and redrive -------------------------------------------------------------


def described(status: str, stop: datetime | None = None, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "executionArn": EXEC,
        "stateMachineArn": SM,
        "name": "recrawl-1",
        "status": status,
        "startDate": NOW - HOUR,
        "input": json.dumps({"start": "2026-01-03T00:00:00Z"}),
        **extra,
    }
    if stop is not None:
        response["stopDate"] = stop
    return response


@pytest.mark.parametrize(
    ("status", "stop", "extra", "message"),
    [
        ("SUCCEEDED", NOW, {}, "is SUCCEEDED; only FAILED, TIMED_OUT or ABORTED"),
        ("RUNNING", None, {}, "still running"),
        ("FAILED", NOW - timedelta(days=15), {}, "more than 14 days ago"),
        (
            "FAILED",
            NOW,
            {"redriveStatus": "NOT_REDRIVABLE", "redriveStatusReason": "Execution is EXPRESS"},
            "cannot be redriven: Execution is EXPRESS",
        ),
    ],
)
def test_redrive_refuses_what_step_functions_would_not_redrive(
    status: str, stop: datetime | None, extra: dict[str, Any], message: str
) -> None:
    # Given an execution that cannot be redriven
    sfn = sfn_client()
    with Stubber(sfn) as stub:
        stub.add_response("describe_execution", described(status, stop, **extra))
        info = recovery.describe_execution(sfn, EXEC)
        # When it is redriven, then nothing is called and the refusal says why
        with pytest.raises(RecoveryError, match=message):
            recovery.redrive_execution(sfn, info, NOW)
        stub.assert_no_pending_responses()


def test_redrive_of_a_failed_execution_calls_redrive_execution() -> None:
    # Given a failed execution within the window
    sfn = sfn_client()
    with Stubber(sfn) as stub:
        stub.add_response("describe_execution", described("FAILED", NOW - timedelta(days=2)))
        stub.add_response("redrive_execution", {"redriveDate": NOW}, {"executionArn": EXEC})
        info = recovery.describe_execution(sfn, EXEC, {SM: "historical"})
        # When it is redriven, then RedriveExecution is called with its ARN
        assert recovery.redrive_execution(sfn, info, NOW) == NOW
        assert info.machine == "historical"
        assert info.input == {"start": "2026-01-03T00:00:00Z"}


def test_a_redrive_step_functions_refuses_is_a_clear_error() -> None:
    sfn = sfn_client()
    with Stubber(sfn) as stub:
        stub.add_response("describe_execution", described("FAILED", NOW))
        stub.add_client_error(
            "redrive_execution", "ExecutionNotRedrivable", "The execution is not redrivable"
        )
        info = recovery.describe_execution(sfn, EXEC)
        with pytest.raises(RecoveryError, match=r"refused to redrive recrawl-1.*not redrivable"):
            recovery.redrive_execution(sfn, info, NOW)


def test_an_unknown_execution_is_a_clear_error() -> None:
    sfn = sfn_client()
    with Stubber(sfn) as stub:
        stub.add_client_error("describe_execution", "ExecutionDoesNotExist", "no such execution")
        with pytest.raises(RecoveryError, match=r"cannot be read.*ExecutionDoesNotExist"):
            recovery.describe_execution(sfn, EXEC)


def test_wait_polls_until_the_execution_ends() -> None:
    # Given an execution running twice, then failing
    sfn = sfn_client()
    slept: list[float] = []
    with Stubber(sfn) as stub:
        for _ in range(2):
            stub.add_response("describe_execution", described("RUNNING"))
        stub.add_response("describe_execution", described("FAILED", NOW, error="States.TaskFailed"))
        # When waited for, then it polls with the given pause and returns the outcome
        info = recovery.wait_for_execution(sfn, EXEC, poll_seconds=3, sleep=slept.append)
    assert (info.status, info.error, slept) == ("FAILED", "States.TaskFailed", [3, 3])


def test_last_executions_come_newest_first_per_machine() -> None:
    sfn = sfn_client()
    listed = [
        {
            "executionArn": EXEC + str(i),
            "stateMachineArn": SM,
            "name": f"run-{i}",
            "status": status,
            "startDate": NOW - i * HOUR,
        }
        for i, status in enumerate(["FAILED", "SUCCEEDED"])
    ]
    with Stubber(sfn) as stub:
        stub.add_response(
            "list_executions", {"executions": listed}, {"stateMachineArn": SM, "maxResults": 5}
        )
        runs = recovery.last_executions(sfn, SM, "continuous")
    assert [(run.name, run.status, run.machine) for run in runs] == [
        ("run-0", "FAILED", "continuous"),
        ("run-1", "SUCCEEDED", "continuous"),
    ]


# --- status -----------------------------------------------------------------------------


def run(status: str, machine: str = "continuous") -> ExecutionInfo:
    return ExecutionInfo(arn=EXEC, name="run", machine=machine, status=status, start=NOW)


def test_status_is_healthy_with_every_folder_landed_and_last_runs_succeeded() -> None:
    # Given a watermark six hours past its origin and the six folders landed
    store = MemoryObjectStore(BUCKET)
    mark = initialise(store, PARAMS, end=T0, run_id="history", now=NOW)
    from connector.watermark import advance

    advance(store, PARAMS, expected=mark, to=T0 + 6 * HOUR, run_id="live", now=NOW)
    land_live(store, T0, 6)
    # When the status is built
    report = build_status(
        PARAMS, store, {"historical": [run("SUCCEEDED", "historical")], "continuous": []}, now=NOW
    )
    # Then the watermark range is checked, with no gap, and the report is healthy
    assert report.checked == Interval(T0, T0 + 6 * HOUR)
    assert (report.gaps, report.healthy) == ([], True)
    assert report.to_json()["watermark"]["end"] == "2026-01-03T06:00:00Z"


def test_status_reports_a_deleted_folder_as_a_gap() -> None:
    # Given one folder between origin and end deleted
    store = MemoryObjectStore(BUCKET)
    mark = initialise(store, PARAMS, end=T0, run_id="history", now=NOW)
    from connector.watermark import advance

    advance(store, PARAMS, expected=mark, to=T0 + 6 * HOUR, run_id="live", now=NOW)
    land_live(store, T0, 6, skip=frozenset({3}))
    # When the status is built, then that interval is the one gap and the report unhealthy
    report = build_status(PARAMS, store, {}, now=NOW)
    assert report.gaps == [Interval(T0 + 3 * HOUR, T0 + 4 * HOUR)]
    assert not report.healthy
    assert report.to_json()["gaps"] == [
        {"start": "2026-01-03T03:00:00Z", "end": "2026-01-03T04:00:00Z"}
    ]


def test_status_is_unhealthy_when_the_last_run_failed() -> None:
    # Given no gap but a continuous run that failed last (an older one succeeded)
    store = MemoryObjectStore(BUCKET)
    land_live(store, T0, 3)
    report = build_status(PARAMS, store, {"continuous": [run("FAILED"), run("SUCCEEDED")]}, now=NOW)
    # Then the report is unhealthy because of that run; the folders are checked anyway
    assert report.gaps == []
    assert [r.status for r in report.failed_last_runs] == ["FAILED"]
    assert not report.healthy
    assert report.basis == "first live folder → last live folder"


def test_status_since_and_until_choose_the_range() -> None:
    store = MemoryObjectStore(BUCKET)
    land_live(store, T0, 3)
    report = build_status(PARAMS, store, {}, now=NOW, since=T0 - HOUR, until=T0 + 2 * HOUR)
    assert report.checked == Interval(T0 - HOUR, T0 + 2 * HOUR)
    assert report.gaps == [Interval(T0 - HOUR, T0)]
    assert report.basis == "--since → --until"


def test_status_with_nothing_crawled_checks_nothing() -> None:
    report = build_status(PARAMS, MemoryObjectStore(BUCKET), {}, now=NOW)
    assert (report.checked, report.gaps, report.healthy) == (None, [], True)


# --- local work folders -----------------------------------------------------------------


def test_folder_store_behaves_like_s3_for_the_watermark(tmp_path: Path) -> None:
    # Given an exported bucket folder
    store = FolderObjectStore(tmp_path, BUCKET)
    # When the watermark is created there, then it reads back, and a stale write loses
    mark = initialise(store, PARAMS, end=T0, run_id="history", now=NOW)
    assert read(store, PARAMS) == mark
    store.put("ecommerce/state/watermark.json", b"{}", if_match=mark.etag)
    with pytest.raises(PreconditionFailedError):
        store.put("ecommerce/state/watermark.json", b"{}", if_match=mark.etag)
    with pytest.raises(RecoveryError, match="escapes"):
        store.get("../outside")


def test_live_folder_starts_read_folder_names_back(tmp_path: Path) -> None:
    store = FolderObjectStore(tmp_path, BUCKET)
    land_live(store, T0 + 22 * HOUR, 3)  # type: ignore[arg-type]
    store.put("ecommerce/live/notadate/0000/000", b"x")
    assert recovery.live_folder_starts(PARAMS, store) == [
        T0 + 22 * HOUR,
        T0 + 23 * HOUR,
        T0 + 24 * HOUR,
    ]


def test_execution_log_round_trips_newest_first(tmp_path: Path) -> None:
    # Given two logged executions
    first = ExecutionInfo(EXEC, "one", "historical", "FAILED", NOW, NOW, "E", "C", {"a": 1})
    second = ExecutionInfo(EXEC + "2", "two", "historical", "SUCCEEDED", NOW, NOW, redrive_of=EXEC)
    recovery.append_execution(tmp_path, first)
    recovery.append_execution(tmp_path, second)
    # When read back, then newest first, with input and times intact
    logged = recovery.read_executions(tmp_path)
    assert logged == [second, first]
    # And the failed one reads as its redrive ended, as Step Functions reports it
    assert recovery.as_redriven(first, logged).status == "SUCCEEDED"
    assert recovery.as_redriven(second, logged) == second
    (tmp_path / recovery.EXECUTIONS_LOG).write_text("not json\n")
    with pytest.raises(RecoveryError, match="line 1 is not an execution record"):
        recovery.read_executions(tmp_path)


def test_replace_folder_swaps_in_a_complete_export(tmp_path: Path) -> None:
    # Given an existing bucket folder
    folder = tmp_path / "bucket"
    (folder / "old").mkdir(parents=True)

    def export(dest: Path) -> None:
        (dest / "new.txt").write_text("x")

    # When replaced, then only the new export is there and no temporary folder is left
    recovery.replace_folder(folder, export)
    assert [p.name for p in folder.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bucket"]


def test_a_deleted_chunk_can_be_recrawled_alone() -> None:
    # Given four 12-hour chunks, the third deleted by mistake
    store = MemoryObjectStore(BUCKET)
    land_history(store, T0 - 48 * HOUR, 4)
    store.delete(f"ecommerce/historical/{T0 - 24 * HOUR:%Y%m%dT%H%M}_000")
    # When exactly its range is re-crawled, then nothing stands in the way
    check_chunks(PARAMS, store, Interval(T0 - 24 * HOUR, T0 - 12 * HOUR), T0)
    # But a range reaching into the chunk before it is still refused
    with pytest.raises(PlanError, match=r"cuts across the chunk 2026-01-01T12:00:00Z"):
        check_chunks(PARAMS, store, Interval(T0 - 30 * HOUR, T0 - 12 * HOUR), T0)


def test_status_counts_closed_intervals_behind_the_watermark() -> None:
    # Given a watermark at T0 + 6 h and a clock 10.5 hours past T0
    store = MemoryObjectStore(BUCKET)
    mark = initialise(store, PARAMS, end=T0, run_id="history", now=NOW)
    from connector.watermark import advance

    advance(store, PARAMS, expected=mark, to=T0 + 6 * HOUR, run_id="live", now=NOW)
    land_live(store, T0, 6)
    now = T0 + 10.5 * HOUR
    # When the status is built, then four closed intervals are behind; it stays healthy
    report = build_status(PARAMS, store, {}, now=now)
    assert (report.behind, report.healthy) == (4, True)
    # And locally (no live clock) nothing is counted
    assert build_status(PARAMS, store, {}, now=now, count_behind=False).behind is None
