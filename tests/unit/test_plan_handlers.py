"""The plan Lambdas, called with the events their state machines send."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connector.errors import PlanError
from connector.handler_env import EventError, HandlerSettings, SettingsError, aws_client

# The handlers live in the top-level ``lambdas`` package (the Lambda asset root).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lambdas import finish_run, plan_continuous, plan_historical

PARAMS = Path(__file__).resolve().parents[1] / "data" / "infra" / "params_provisioned.json"
BUCKET = "connector-data"
ROLE = "arn:aws:iam::123456789012:role/unload"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:HistoricalCrawl:run-1"

# A handler that raises before adding a metric makes Powertools warn that it has none.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@dataclass
class FakeContext:
    function_name: str = "plan"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:plan"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Given the environment the stack gives the plan functions, and the data bucket
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("PARAMS_PATH", str(PARAMS))
    monkeypatch.setenv("DATA_BUCKET", BUCKET)
    monkeypatch.setenv("UNLOAD_ROLE_ARN", ROLE)
    monkeypatch.setenv("PARAMS_KEY", "ecommerce/params.json")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield client


def _event(execution_input: dict[str, Any]) -> dict[str, Any]:
    """What the PlanChunks / PlanIntervals states send."""
    return {"input": execution_input, "execution_id": EXECUTION, "execution_name": "run-1"}


def test_historical_recrawl_plans_the_range_and_publishes_params(s3: Any) -> None:
    # When a re-crawl of one day is started with a zero wait (local run)
    output = plan_historical.handler(
        _event(
            {
                "start": "2026-11-01T00:00:00Z",
                "end": "2026-11-02T00:00:00Z",
                "poll_seconds": 0,
                "build_detector": False,
            }
        ),
        FakeContext(),
    )
    # Then the output carries the statements and the loop's settings, as JSON
    assert json.loads(json.dumps(output)) == output
    assert output["poll_seconds"] == 0
    assert output["build_detector"] is False
    assert output["reset_watermark"] is False
    assert output["window_start"] == "2026-11-01T00:00:00+00:00"
    assert output["window_end"] == "2026-11-02T00:00:00+00:00"
    [statement] = output["statements"]
    assert statement["target"] == "s3://connector-data/ecommerce/historical/20261101T0000_"
    assert ROLE in statement["sql"]
    # And params.json is in the bucket for the detector builder
    body = s3.get_object(Bucket=BUCKET, Key="ecommerce/params.json")["Body"].read()
    assert body == PARAMS.read_bytes()


def test_historical_defaults_come_from_params(s3: Any) -> None:
    output = plan_historical.handler(_event({}), FakeContext())
    assert output["poll_seconds"] == 10
    assert output["build_detector"] is True
    assert len(output["statements"]) >= 3


def test_historical_execution_name_salts_the_tokens(s3: Any) -> None:
    window = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}
    first = plan_historical.handler(_event(window), FakeContext())
    other = plan_historical.handler(
        {"input": window, "execution_id": EXECUTION, "execution_name": "run-2"}, FakeContext()
    )
    assert first["statements"][0]["client_token"] != other["statements"][0]["client_token"]


@pytest.mark.parametrize(
    ("execution_input", "field"),
    [
        ({"start": "yesterday"}, "input.start"),
        ({"poll_seconds": -1}, "input.poll_seconds"),
        ({"strat": "2026-11-01T00:00:00Z"}, "input.strat"),
        ({"start": "2026-11-01T00:00:00"}, "input.start"),
    ],
)
def test_historical_bad_input_names_the_field(
    s3: Any, execution_input: dict[str, Any], field: str
) -> None:
    with pytest.raises(EventError, match=field.replace(".", r"\.")):
        plan_historical.handler(_event(execution_input), FakeContext())


def _record_history(window_end: str, execution_name: str = "historical-1") -> dict[str, Any]:
    """What the historical crawl's RecordHistory state sends."""
    event = {"crawl": "historical", "execution_name": execution_name, "window_end": window_end}
    return finish_run.handler(event, FakeContext())


def _finish(plan: dict[str, Any], *, execution_name: str = "run-1") -> dict[str, Any]:
    """What FinishRun sends after every planned UNLOAD FINISHED."""
    event = {
        "crawl": "continuous",
        "execution_name": execution_name,
        "input": {"scheduled_time": "2026-11-24T11:02:00Z"},
        "planned": plan["intervals"],
        "unloaded": [
            {"window_start": i["window_start"], "window_end": i["window_end"], "landed": True}
            for i in plan["intervals"]
        ],
    }
    return finish_run.handler(event, FakeContext())


def test_continuous_waits_for_the_historical_crawl(s3: Any) -> None:
    # When the schedule fires before any history was crawled
    output = plan_continuous.handler(
        _event({"scheduled_time": "2026-11-24T11:02:00Z"}), FakeContext()
    )
    # Then nothing is planned, and the output says why
    assert output["statements"] == [] and output["intervals"] == []
    assert "historical crawl" in output["reason"]


def test_continuous_plans_from_the_watermark_to_the_scheduled_time(s3: Any) -> None:
    # Given history crawled up to 10:00
    recorded = _record_history("2026-11-24T10:00:00Z")
    assert recorded["watermark"] == "2026-11-24T10:00:00+00:00" and recorded["set"] is True
    # When the schedule fires 2 minutes after 11:00 (EventBridge Scheduler's input)
    output = plan_continuous.handler(
        _event({"scheduled_time": "2026-11-24T11:02:00Z"}), FakeContext()
    )
    # Then the 10:00 interval is unloaded into its START folder and handed to scoring
    assert json.loads(json.dumps(output)) == output
    [statement] = output["statements"]
    assert statement["target"] == "s3://connector-data/ecommerce/live/20261124/1000/"
    assert output["intervals"] == [
        {
            "window_start": "2026-11-24T10:00:00+00:00",
            "window_end": "2026-11-24T11:00:00+00:00",
            "target": "s3://connector-data/ecommerce/live/20261124/1000/",
        }
    ]
    assert output["poll_seconds"] == 10
    assert output["run_id"] == "run-1"
    assert s3.head_object(Bucket=BUCKET, Key="ecommerce/params.json")
    # And the watermark advances once FinishRun reports it landed
    finished = _finish(output)
    assert finished["watermark"] == "2026-11-24T11:00:00+00:00"
    assert finished["score"] == output["intervals"]
    body = s3.get_object(Bucket=BUCKET, Key="ecommerce/state/watermark.json")["Body"].read()
    assert json.loads(body)["end"] == "2026-11-24T11:00:00Z"


def test_a_run_id_in_the_input_resumes_that_run(s3: Any) -> None:
    # Given a run that claimed its interval and failed before finishing
    _record_history("2026-11-24T10:00:00Z")
    first = plan_continuous.handler(
        _event({"scheduled_time": "2026-11-24T11:02:00Z"}), FakeContext()
    )
    # When it is started again under another execution name with its run_id
    again = plan_continuous.handler(
        {
            "input": {"scheduled_time": "2026-11-24T11:02:00Z", "run_id": "run-1"},
            "execution_id": EXECUTION,
            "execution_name": "run-1-resumed",
        },
        FakeContext(),
    )
    # Then it holds the same lease and gets the same statements (same ClientTokens)
    assert again["statements"] == first["statements"]
    # While an unrelated run finds the intervals leased
    other = plan_continuous.handler(
        {**_event({"scheduled_time": "2026-11-24T11:02:00Z"}), "execution_name": "run-2"},
        FakeContext(),
    )
    assert other["statements"] == [] and "run-1" in other["reason"]


def test_a_recrawl_does_not_move_the_watermark(s3: Any) -> None:
    _record_history("2026-11-24T10:00:00Z")
    again = _record_history("2026-11-20T00:00:00Z", execution_name="recrawl-1")
    assert again["watermark"] == "2026-11-24T10:00:00+00:00" and again["set"] is False


@pytest.mark.parametrize(
    "event",
    [
        {"crawl": "sideways", "execution_name": "x"},
        {"crawl": "historical", "execution_name": "x"},
        {"crawl": "continuous", "unloaded": [{"window_start": "a"}]},
    ],
)
def test_finish_bad_events_are_refused(s3: Any, event: dict[str, Any]) -> None:
    with pytest.raises(EventError):
        finish_run.handler(event, FakeContext())


def test_continuous_needs_the_scheduled_time(s3: Any) -> None:
    with pytest.raises(EventError, match=r"input\.scheduled_time"):
        plan_continuous.handler(_event({}), FakeContext())


def test_domain_errors_propagate_for_the_state_machine_to_catch(s3: Any) -> None:
    with pytest.raises(PlanError, match="still open"):
        plan_historical.handler(_event({"end": "2099-01-01T00:00:00Z"}), FakeContext())


def test_missing_environment_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="DATA_BUCKET"):
        HandlerSettings.from_env({"UNLOAD_ROLE_ARN": ROLE})


def test_relative_params_path_is_read_from_the_task_root() -> None:
    settings = HandlerSettings.from_env(
        {"DATA_BUCKET": BUCKET, "UNLOAD_ROLE_ARN": ROLE, "LAMBDA_TASK_ROOT": "/var/task"}
    )
    assert settings.resolved_params_path == Path("/var/task/params.json")


def test_handlers_keep_one_client_per_service_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the variables Lambda sets
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    first, again = aws_client("s3"), aws_client("s3")
    # When the region changes (the offline runtime, a test), the client follows it
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    other = aws_client("s3")
    assert first is again
    assert first.meta.region_name == "eu-west-1"
    assert other is not first and other.meta.region_name == "us-east-2"
    assert aws_client("sns") is not first
