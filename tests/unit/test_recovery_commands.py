"""``connector recrawl|redrive|status`` against AWS, with every AWS call stubbed.

The commands are registered on a local typer app and their errors turned into exit
codes as ``connector.cli.main`` does. ``_client`` is replaced by Stubber-wrapped boto3
clients (which check each request's shape) and S3 by the in-memory store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer
from botocore.stub import ANY, Stubber
from typer.testing import CliRunner

from connector.cli import recovery as cli_recovery
from connector.errors import ConnectorError
from connector.storage import MemoryObjectStore
from connector.watermark import advance, initialise

REPO = Path(__file__).resolve().parents[2]
BUCKET = "demo-bucket"
HOUR = timedelta(hours=1)
T0 = datetime(2026, 1, 3, tzinfo=UTC)
HISTORICAL_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:Historical"
CONTINUOUS_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:Continuous"
EXEC = "arn:aws:states:us-east-1:123456789012:execution:Historical:recrawl-1"
ROLE = "arn:aws:iam::123456789012:role/unload"

APP = typer.Typer()
cli_recovery.register(APP)


def invoke(*args: str) -> tuple[int, str]:
    """Run a command; a ConnectorError becomes its exit code and message, as main() does."""
    result = CliRunner().invoke(APP, list(args))
    if isinstance(result.exception, ConnectorError):
        return result.exception.exit_code, str(result.exception)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    data: dict[str, Any] = json.loads((REPO / "params.json").read_text())
    data.pop("$schema", None)
    data["s3_bucket"] = BUCKET
    data["crawl"]["queries_dir"] = str(REPO / "queries")
    data["crawl"]["chunk_intervals"] = 12
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> MemoryObjectStore:
    memory = MemoryObjectStore(BUCKET)
    monkeypatch.setattr(cli_recovery, "S3ObjectStore", lambda client, bucket: memory)
    return memory


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Stubber]]:
    """One stubbed client per service; the stack's outputs are answered once by default."""
    clients = {
        name: boto3.client(name, region_name="us-east-1")
        for name in ("cloudformation", "stepfunctions", "redshift-data", "s3")
    }
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    monkeypatch.setattr(cli_recovery, "_client", lambda service, endpoint_url: clients[service])
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers
    for stubber in stubbers.values():
        stubber.deactivate()


def answer_stack(stubs: dict[str, Stubber]) -> None:
    outputs = {
        "HistoricalCrawlStateMachineArn": HISTORICAL_SM,
        "ContinuousCrawlStateMachineArn": CONTINUOUS_SM,
        "DataBucketName": BUCKET,
        "UnloadRoleArn": ROLE,
    }
    stubs["cloudformation"].add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "AnomalyConnector-ecommerce-anomalies",
                    "CreationTime": T0,
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                }
            ]
        },
        {"StackName": "AnomalyConnector-ecommerce-anomalies"},
    )


def landed(store: MemoryObjectStore, hours: int, skip: frozenset[int] = frozenset()) -> None:
    """History in 12-hour chunks for two days before T0, the watermark, live folders after."""
    for index in range(4):
        start = T0 - 48 * HOUR + index * 12 * HOUR
        store.put(f"ecommerce/historical/{start:%Y%m%dT%H%M}_000", b"h\n")
    mark = initialise(store, _params(), end=T0, run_id="history")
    advance(store, _params(), expected=mark, to=T0 + hours * HOUR, run_id="live")
    for hour in range(hours):
        if hour not in skip:
            start = T0 + hour * HOUR
            store.put(f"ecommerce/live/{start:%Y%m%d}/{start:%H%M}/000", b"h\n")


def _params() -> Any:
    from connector.config import params_from_json

    data = json.loads((REPO / "params.json").read_text())
    data["s3_bucket"] = BUCKET
    return params_from_json(json.dumps(data), base_dir=REPO)


# --- recrawl ----------------------------------------------------------------------------


def test_recrawl_of_history_starts_the_historical_state_machine(
    params_file: Path, store: MemoryObjectStore, stubs: dict[str, Stubber]
) -> None:
    # Given a deployed stack and two days of history in 12-hour chunks
    landed(store, 6)
    answer_stack(stubs)
    expected_input = {
        "start": "2026-01-02T00:00:00Z",
        "end": "2026-01-03T00:00:00Z",
        "build_detector": False,
    }
    stubs["stepfunctions"].add_response(
        "start_execution",
        {"executionArn": EXEC, "startDate": T0},
        {"stateMachineArn": HISTORICAL_SM, "name": ANY, "input": json.dumps(expected_input)},
    )
    # When the second day is re-crawled without rebuilding the detector
    code, out = invoke(
        "recrawl",
        "--start",
        "2026-01-02T00:00Z",
        "--end",
        "2026-01-03",
        "-p",
        str(params_file),
        "--no-build-detector",
    )
    # Then the historical state machine is started with that range, and the ARN printed
    assert code == 0, out
    assert EXEC in out
    stubs["stepfunctions"].assert_no_pending_responses()


def test_recrawl_of_a_live_interval_rewrites_its_folder_through_the_data_api(
    params_file: Path, store: MemoryObjectStore, stubs: dict[str, Stubber]
) -> None:
    # Given live folders after the watermark origin
    landed(store, 6)
    answer_stack(stubs)
    stubs["redshift-data"].add_response(
        "execute_statement",
        {"Id": "s-1"},
        {
            "Sql": ANY,
            "ClientToken": ANY,
            "ClusterIdentifier": "redshift-cluster-1",
            "Database": "dev",
            "SecretArn": ANY,
        },
    )
    stubs["redshift-data"].add_response(
        "describe_statement", {"Id": "s-1", "Status": "FINISHED"}, {"Id": "s-1"}
    )
    # When one live hour is re-crawled
    code, out = invoke(
        "recrawl",
        "--start",
        "2026-01-03T02:00Z",
        "--end",
        "2026-01-03T03:00Z",
        "-p",
        str(params_file),
    )
    # Then its folder is unloaded again, and no execution is started for it
    assert code == 0, out
    assert "Live folders rewritten: 1 of 1" in out
    stubs["redshift-data"].assert_no_pending_responses()


def test_a_failed_live_unload_is_exit_1(
    params_file: Path, store: MemoryObjectStore, stubs: dict[str, Stubber]
) -> None:
    landed(store, 6)
    answer_stack(stubs)
    stubs["redshift-data"].add_response("execute_statement", {"Id": "s-1"})
    stubs["redshift-data"].add_response(
        "describe_statement", {"Id": "s-1", "Status": "FAILED", "Error": "permission denied"}
    )
    code, message = invoke(
        "recrawl",
        "--start",
        "2026-01-03T02:00Z",
        "--end",
        "2026-01-03T03:00Z",
        "-p",
        str(params_file),
    )
    assert code == 1
    assert "permission denied" in message


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-01-03T05:00Z", "2026-01-03T02:00Z", "is not after --start"),
        ("2026-01-03", "2999-01-01", "re-crawl only closed intervals"),
        ("2019-01-01", "2026-01-01", "longer than the"),
        ("yesterday", "2026-01-01", "--start 'yesterday' is not an ISO-8601"),
    ],
)
def test_recrawl_bad_ranges_are_exit_2_before_any_aws_call(
    params_file: Path, stubs: dict[str, Stubber], start: str, end: str, message: str
) -> None:
    # Given no AWS answer at all (a call would fail the Stubber)
    # When an invalid range is re-crawled, then it is refused with exit 2 and a clear message
    code, text = invoke("recrawl", "--start", start, "--end", end, "-p", str(params_file))
    assert code == 2
    assert message in text


def test_recrawl_against_a_missing_stack_is_exit_2(
    params_file: Path, stubs: dict[str, Stubber]
) -> None:
    stubs["cloudformation"].add_client_error("describe_stacks", "ValidationError", "not exist")
    code, text = invoke(
        "recrawl", "--start", "2026-01-02", "--end", "2026-01-03", "-p", str(params_file)
    )
    assert code == 2
    assert "AnomalyConnector-ecommerce-anomalies" in text


# --- redrive ----------------------------------------------------------------------------


def test_redrive_of_a_succeeded_execution_is_refused_with_exit_2(
    params_file: Path, stubs: dict[str, Stubber]
) -> None:
    stubs["stepfunctions"].add_response(
        "describe_execution",
        {
            "executionArn": EXEC,
            "stateMachineArn": HISTORICAL_SM,
            "name": "recrawl-1",
            "status": "SUCCEEDED",
            "startDate": T0,
            "stopDate": datetime.now(UTC),
        },
    )
    code, text = invoke("redrive", EXEC, "-p", str(params_file))
    assert code == 2
    assert "only FAILED, TIMED_OUT or ABORTED" in text


def test_redrive_with_wait_reports_the_outcome(
    params_file: Path, stubs: dict[str, Stubber]
) -> None:
    # Given a failed execution that succeeds once redriven
    base = {"executionArn": EXEC, "stateMachineArn": HISTORICAL_SM, "name": "recrawl-1"}
    now = datetime.now(UTC)
    stubs["stepfunctions"].add_response(
        "describe_execution", {**base, "status": "FAILED", "startDate": now, "stopDate": now}
    )
    stubs["stepfunctions"].add_response(
        "redrive_execution", {"redriveDate": now}, {"executionArn": EXEC}
    )
    stubs["stepfunctions"].add_response(
        "describe_execution", {**base, "status": "SUCCEEDED", "startDate": now, "stopDate": now}
    )
    # When redriven with --wait, then it resumes and its success is printed
    code, out = invoke("redrive", EXEC, "-p", str(params_file), "--wait", "--poll", "0.1")
    assert code == 0, out
    assert "Redriven recrawl-1" in out
    assert "recrawl-1 SUCCEEDED" in out


# --- status -----------------------------------------------------------------------------


def answer_executions(stubs: dict[str, Stubber], continuous_status: str) -> None:
    for arn, status in ((HISTORICAL_SM, "SUCCEEDED"), (CONTINUOUS_SM, continuous_status)):
        stubs["stepfunctions"].add_response(
            "list_executions",
            {
                "executions": [
                    {
                        "executionArn": arn.replace("stateMachine", "execution") + ":x",
                        "stateMachineArn": arn,
                        "name": "x",
                        "status": status,
                        "startDate": T0,
                    }
                ]
            },
            {"stateMachineArn": arn, "maxResults": 5},
        )


def test_status_exit_0_when_healthy(
    params_file: Path, store: MemoryObjectStore, stubs: dict[str, Stubber]
) -> None:
    landed(store, 6)
    answer_stack(stubs)
    answer_executions(stubs, "SUCCEEDED")
    code, out = invoke("status", "-p", str(params_file), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert (report["healthy"], report["gaps"]) == (True, [])
    assert report["watermark"]["end"] == "2026-01-03T06:00:00Z"


def test_status_exit_1_with_a_gap(
    params_file: Path, store: MemoryObjectStore, stubs: dict[str, Stubber]
) -> None:
    # Given the 03:00 folder deleted after it landed
    landed(store, 6, skip=frozenset({3}))
    answer_stack(stubs)
    answer_executions(stubs, "SUCCEEDED")
    # When the status is shown as a table, then the gap and the command to fill it are printed
    code, out = invoke("status", "-p", str(params_file))
    assert code == 1
    assert "2026-01-03T03:00:00+00:00" in out
    assert "connector recrawl --start 2026-01-03T03:00:00+00:00" in out


def test_status_exit_1_when_the_last_run_failed(
    params_file: Path, store: MemoryObjectStore, stubs: dict[str, Stubber]
) -> None:
    landed(store, 6)
    answer_stack(stubs)
    answer_executions(stubs, "FAILED")
    code, out = invoke("status", "-p", str(params_file), "--json")
    assert code == 1
    assert json.loads(out)["failed_last_runs"] == [
        CONTINUOUS_SM.replace("stateMachine", "execution") + ":x"
    ]


def test_status_local_without_a_work_folder_is_exit_2(params_file: Path, tmp_path: Path) -> None:
    code, text = invoke(
        "status", "--local", "--workdir", str(tmp_path / "none"), "-p", str(params_file)
    )
    assert code == 2
    assert "run `connector run --local" in text


# --- redrive --local --------------------------------------------------------------------


@pytest.fixture
def local_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """Stand-ins for the embedded runtime: record what would be executed, succeed."""
    from contextlib import contextmanager

    from connector.recovery import ExecutionInfo

    executed: list[dict[str, Any]] = []

    @contextmanager
    def runtime(params_path: Path, warehouse: Path, workdir: Path) -> Iterator[object]:
        yield object()

    def execute(runtime: object, machine: str, execution_input: dict[str, Any], name: str) -> Any:
        executed.append({"machine": machine, "input": execution_input, "name": name})
        now = datetime.now(UTC)
        return ExecutionInfo(f"arn:{name}", name, machine, "SUCCEEDED", now, now)

    monkeypatch.setattr(cli_recovery, "_local_runtime", runtime)
    monkeypatch.setattr(cli_recovery, "_execute_local", execute)
    return executed


def log_failed(workdir: Path, status: str = "FAILED") -> None:
    from connector.recovery import ExecutionInfo, append_execution

    (workdir / "bucket").mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    failed = ExecutionInfo(
        "arn:recrawl-1",
        "recrawl-1",
        "historical",
        status,
        now,
        now,
        "States.TaskFailed",
        None,
        {"start": "2026-01-02T00:00:00Z", "end": "2026-01-03T00:00:00Z"},
    )
    append_execution(workdir, failed)


def test_local_redrive_reruns_the_failed_input_with_its_run_id(
    params_file: Path, tmp_path: Path, local_runs: list[dict[str, Any]]
) -> None:
    # Given a failed local re-crawl in the work folder's log
    work = tmp_path / "work"
    log_failed(work)
    warehouse = tmp_path / "w.duckdb"
    warehouse.write_bytes(b"")
    # When it is redriven by name
    code, out = invoke(
        "redrive",
        "recrawl-1",
        "--local",
        "--workdir",
        str(work),
        "--warehouse",
        str(warehouse),
        "-p",
        str(params_file),
    )
    # Then the same state machine runs its input again, salted with the failed run's id
    assert code == 0, out
    assert local_runs[0]["machine"] == "historical"
    assert local_runs[0]["input"] == {
        "run_id": "recrawl-1",
        "start": "2026-01-02T00:00:00Z",
        "end": "2026-01-03T00:00:00Z",
    }
    # And the new execution is logged as its redrive, newest first
    from connector.recovery import EXECUTIONS_LOG

    last = json.loads((work / EXECUTIONS_LOG).read_text().splitlines()[-1])
    assert (last["status"], last["redrive_of"]) == ("SUCCEEDED", "arn:recrawl-1")
    # And, as on AWS, a second redrive of the now-succeeded execution is refused
    code, text = invoke(
        "redrive",
        "recrawl-1",
        "--local",
        "--workdir",
        str(work),
        "--warehouse",
        str(warehouse),
        "-p",
        str(params_file),
    )
    assert (code, "is SUCCEEDED" in text, len(local_runs)) == (2, True, 1)


def test_local_redrive_refuses_a_succeeded_or_unknown_execution(
    params_file: Path, tmp_path: Path, local_runs: list[dict[str, Any]]
) -> None:
    work = tmp_path / "work"
    log_failed(work, status="SUCCEEDED")
    common = ("--local", "--workdir", str(work), "-p", str(params_file))
    code, text = invoke("redrive", "recrawl-1", *common)
    assert (code, "is SUCCEEDED" in text) == (2, True)
    code, text = invoke("redrive", "nope", *common)
    assert (code, "'nope' is not in" in text) == (2, True)
    assert local_runs == []
