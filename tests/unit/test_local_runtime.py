"""LocalRuntime on a small hand-written stack: resources, Lambda, Data API, SNS, export.

The end-to-end tests (tests/e2e/test_e2e_crawl.py) run the synthesized app; these pin
the runtime's own behaviour on a template whose shape mirrors it (plan Lambda → Map of
executeStatement / Wait / describeStatement / Choice, Catch → SNS) and runs in a second.
"""

from __future__ import annotations

import gc
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connector.local.runtime import LocalRuntime, LocalRuntimeError, Tick
from connector.sql import build_unload

ROLE = "arn:aws:iam::123456789012:role/Unload"


class Csv:
    delimiter = ","
    file_compression = "NONE"
    quote_symbol = '"'


def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A stand-in plan Lambda: one UNLOAD per hour of the requested range."""
    request = event["input"]
    start = datetime.fromisoformat(request.get("start") or request["scheduled_time"])
    end = datetime.fromisoformat(request["end"]) if "end" in request else start + timedelta(hours=1)
    if request.get("explode"):
        raise ValueError("the plan cannot be made")
    statements = []
    hour = start
    while hour < end:
        following = hour + timedelta(hours=1)
        query = (
            "SELECT ts, views FROM events "
            f"WHERE ts >= '{hour:%Y-%m-%d %H:%M:%S}' AND ts < '{following:%Y-%m-%d %H:%M:%S}'"
        )
        if request.get("bad_sql"):
            query = "SELECT nope FROM events"
        target = f"s3://{context_bucket()}/live/{hour:%Y%m%d/%H%M}/"
        statements.append(
            {
                "sql": build_unload(query, s3_uri=target, iam_role_arn=ROLE, csv=Csv()),
                "client_token": f"{hour:%Y%m%d%H}",
                "window_start": hour.isoformat(),
                "window_end": following.isoformat(),
                "target": target,
            }
        )
        hour = following
    return {"statements": statements, "poll_seconds": request.get("poll_seconds", 5)}


def context_bucket() -> str:
    import os

    return os.environ["DATA_BUCKET"]


def _loop() -> dict[str, Any]:
    sdk = "arn:aws:states:::aws-sdk:redshiftdata:"
    return {
        "StartAt": "StartUnload",
        "States": {
            "StartUnload": {
                "Type": "Task",
                "Resource": sdk + "executeStatement",
                "Parameters": {
                    "Database": "dev",
                    "ClusterIdentifier": "local",
                    "Sql.$": "$.statement.sql",
                    "ClientToken.$": "$.statement.client_token",
                },
                "ResultSelector": {"Id.$": "$.Id"},
                "ResultPath": "$.execution",
                "Next": "WaitForUnload",
            },
            "WaitForUnload": {"Type": "Wait", "SecondsPath": "$.poll_seconds", "Next": "Check"},
            "Check": {
                "Type": "Task",
                "Resource": sdk + "describeStatement",
                "Parameters": {"Id.$": "$.execution.Id"},
                "ResultSelector": {"Status.$": "$.Status"},
                "ResultPath": "$.status",
                "Next": "Status",
            },
            "Status": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.status.Status", "StringEquals": "FINISHED", "Next": "Done"},
                    {"Variable": "$.status.Status", "StringEquals": "FAILED", "Next": "Error"},
                ],
                "Default": "WaitForUnload",
            },
            "Done": {"Type": "Succeed"},
            "Error": {
                "Type": "Task",
                "Resource": sdk + "describeStatement",
                "Parameters": {"Id.$": "$.execution.Id"},
                "ResultSelector": {"Error.$": "$.Error"},
                "ResultPath": "$.failure",
                "Next": "Failed",
            },
            "Failed": {
                "Type": "Fail",
                "Error": "UnloadFailed",
                "CausePath": "States.Format('UNLOAD failed: {}', $.failure.Error)",
            },
        },
    }


def _definition_string() -> dict[str, Any]:
    """The definition as CDK emits it: JSON text joined around Refs and GetAtts."""
    definition = {
        "StartAt": "Plan",
        "States": {
            "Plan": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "@FUNCTION@",
                    "Payload": {"input.$": "$"},
                },
                "ResultSelector": {
                    "statements.$": "$.Payload.statements",
                    "poll_seconds.$": "$.Payload.poll_seconds",
                },
                "ResultPath": "$.plan",
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify"}
                ],
                "Next": "Unload",
            },
            "Unload": {
                "Type": "Map",
                "ItemsPath": "$.plan.statements",
                "ItemSelector": {
                    "statement.$": "$$.Map.Item.Value",
                    "poll_seconds.$": "$.plan.poll_seconds",
                },
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **_loop()},
                "MaxConcurrency": 2,
                "ResultPath": None,
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify"}
                ],
                "End": True,
            },
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": "@TOPIC@",
                    "Subject": "crawl failed",
                    "Message.$": (
                        "States.Format('Error: {}. Cause: {}', $.error.Error, $.error.Cause)"
                    ),
                },
                "ResultPath": None,
                "Next": "CrawlFailed",
            },
            "CrawlFailed": {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            },
        },
    }
    text = json.dumps(definition)
    before, rest = text.split("@FUNCTION@")
    middle, after = rest.split("@TOPIC@")
    return {
        "Fn::Join": [
            "",
            [before, {"Fn::GetAtt": ["PlanFunction", "Arn"]}, middle, {"Ref": "Failures"}, after],
        ]
    }


TEMPLATE: dict[str, Any] = {
    "Parameters": {"BootstrapVersion": {"Type": "String", "Default": "/cdk-bootstrap/version"}},
    "Resources": {
        "DataBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Failures": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "PlanFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": "lambdas.plan_local_test.handler",
                "Timeout": 60,
                "Environment": {"Variables": {"DATA_BUCKET": {"Ref": "DataBucket"}}},
            },
        },
        "Crawl": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"DefinitionString": _definition_string()},
        },
    },
    "Outputs": {
        "DataBucketName": {"Value": {"Ref": "DataBucket"}},
        "HistoricalCrawlStateMachineArn": {"Value": {"Ref": "Crawl"}},
        "ContinuousCrawlStateMachineArn": {"Value": {"Ref": "Crawl"}},
    },
}
HANDLERS = {"lambdas.plan_local_test.handler": plan}
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE events AS SELECT TIMESTAMP '2026-01-01' + range * INTERVAL 10 MINUTE "
            "AS ts, range::INTEGER AS views FROM range(36)"
        )
    return path


@pytest.fixture
def runtime(warehouse: Path, tmp_path: Path) -> Any:
    params = Path(__file__).parents[2] / "params.json"
    with LocalRuntime(
        params, warehouse, tmp_path / "work", template=TEMPLATE, handlers=HANDLERS
    ) as local:
        yield local


def test_historical_run_unloads_each_hour_through_the_state_machine(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    # When the crawl runs over three hours
    result = runtime.run_historical(START, START + timedelta(hours=3))

    # Then it succeeded, the Map ran three loops, and each hour's file holds its six rows
    assert result.succeeded, (result.error, result.cause, result.history.failures)
    assert result.history.states_entered["StartUnload"] == 3
    assert result.duration < 10
    files = runtime.export_bucket(tmp_path / "bucket")
    names = sorted(p.relative_to(tmp_path / "bucket").as_posix() for p in files)
    assert names == [f"live/20260101/0{h}00/000" for h in range(3)]
    first = (tmp_path / "bucket/live/20260101/0000/000").read_text().splitlines()
    assert first == ["ts,views"] + [f"2026-01-01 00:{m}0:00,{m}" for m in range(6)]
    assert runtime.sns_messages() == []


def test_a_failing_statement_takes_the_catch_path_and_publishes_why(
    runtime: LocalRuntime,
) -> None:
    # When the planned SQL names a column that does not exist
    result = runtime.execute(
        "HistoricalCrawlStateMachineArn",
        {"start": START.isoformat(), "poll_seconds": 0, "bad_sql": True},
    )

    # Then the execution failed through Catch → SNS with DuckDB's message in the cause
    assert result.status == "FAILED"
    assert result.error == "UnloadFailed"
    assert "nope" in (result.cause or "")
    assert result.history.states_entered["Notify"] == 1
    (message,) = runtime.sns_messages()
    assert message["Subject"] == "crawl failed"
    assert "UnloadFailed" in message["Message"] and "nope" in message["Message"]


def test_a_handler_exception_is_a_lambda_error_named_by_its_type(runtime: LocalRuntime) -> None:
    result = runtime.execute(
        "HistoricalCrawlStateMachineArn", {"start": START.isoformat(), "explode": True}
    )
    assert result.status == "FAILED"
    assert result.error == "ValueError"
    assert "the plan cannot be made" in (result.cause or "")


def test_drive_schedule_fires_once_per_closed_interval(runtime: LocalRuntime) -> None:
    # When the schedule is driven over three simulated hours
    seen: list[Tick] = []
    ticks = runtime.drive_schedule(START, intervals=3, on_tick=seen.append)

    # Then it fired after each hour closed (plus params' offset), in order
    offset = timedelta(seconds=runtime.params.offset)
    assert [t.scheduled_time for t in ticks] == [
        START + timedelta(hours=h + 1) + offset for h in range(3)
    ]
    assert [t.interval.start for t in ticks] == [START + timedelta(hours=h) for h in range(3)]
    assert all(t.result.succeeded for t in ticks)
    assert seen == ticks


def test_drive_schedule_plays_the_template_schedule_and_its_input(
    warehouse: Path, tmp_path: Path
) -> None:
    # Given a template whose crawl is started by a Scheduler schedule at minute 7, in Berlin
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["Schedule"] = {
        "Type": "AWS::Scheduler::Schedule",
        "Properties": {
            "ScheduleExpression": "cron(7 * * * ? *)",
            "ScheduleExpressionTimezone": "Europe/Berlin",
            "Target": {
                "Arn": {"Ref": "Crawl"},
                "Input": '{"scheduled_time": "<aws.scheduler.scheduled-time>"}',
            },
        },
    }
    params = Path(__file__).parents[2] / "params.json"

    # When the schedule is driven over two hours
    with LocalRuntime(
        params, warehouse, tmp_path / "work", template=template, handlers=HANDLERS
    ) as runtime:
        ticks = runtime.drive_schedule(START, intervals=2)

    # Then each run started at the cron time after its interval closed, with that input
    fired = [START + timedelta(hours=h + 1, minutes=7) for h in range(2)]
    assert [t.scheduled_time for t in ticks] == fired
    assert [t.result.input["scheduled_time"] for t in ticks] == [
        f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in fired
    ]
    assert all(t.result.succeeded for t in ticks)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(1 hour)", "not a daily cron"),
        ("cron(0 12 1 * ? *)", "not a daily cron"),
        ("cron(75 * * * ? *)", "outside 0-59"),
    ],
)
def test_schedules_the_runtime_cannot_fire_are_refused(expression: str, message: str) -> None:
    from connector.local.runtime import _Schedule

    with pytest.raises(LocalRuntimeError, match=message):
        _Schedule.parse("Schedule", expression, "UTC", "{}")


def test_drive_schedule_until_stops_at_the_last_interval_closed_by_then(
    runtime: LocalRuntime,
) -> None:
    # When the schedule runs until 02:30 on a real-time clock whose times are all past
    ticks = runtime.drive_schedule(
        START, until=START + timedelta(hours=2, minutes=30), clock="realtime"
    )
    # Then it fired for the two hours that closed by then, without waiting
    assert [t.interval.end for t in ticks] == [START + timedelta(hours=h) for h in (1, 2)]


def test_a_simulated_schedule_needs_an_end(runtime: LocalRuntime) -> None:
    with pytest.raises(LocalRuntimeError, match="--until or --intervals"):
        runtime.drive_schedule(START)


def test_a_missing_warehouse_is_reported(tmp_path: Path) -> None:
    params = Path(__file__).parents[2] / "params.json"
    with pytest.raises(LocalRuntimeError, match="does not exist"):
        LocalRuntime(params, tmp_path / "none.duckdb", tmp_path, template=TEMPLATE).__enter__()


def test_a_file_that_is_not_a_duckdb_database_is_reported(tmp_path: Path, warehouse: Path) -> None:
    # Given a warehouse path holding something else
    params = Path(__file__).parents[2] / "params.json"
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("not a database")

    # Then starting the runtime says which file and what to check
    with pytest.raises(LocalRuntimeError, match="cannot open the warehouse"):
        LocalRuntime(params, bogus, tmp_path / "work", template=TEMPLATE).__enter__()
    # And it let go of moto: a runtime on a real warehouse starts afterwards
    with LocalRuntime(params, warehouse, tmp_path / "work", template=TEMPLATE) as runtime:
        assert runtime.data_bucket == "databucket"


def test_the_runtime_freezes_the_heap_it_starts_with_and_thaws_it_after(
    warehouse: Path, tmp_path: Path
) -> None:
    # Long-lived objects are kept out of full collections only while the runtime runs
    params = Path(__file__).parents[2] / "params.json"
    assert gc.get_freeze_count() == 0
    with LocalRuntime(
        params, warehouse, tmp_path / "work", template=TEMPLATE, handlers=HANDLERS
    ) as local:
        assert gc.get_freeze_count() > 0
        assert local.run_historical(START, START + timedelta(hours=1)).succeeded
    assert gc.get_freeze_count() == 0


def test_a_handler_that_outlives_its_timeout_fails_as_in_aws(
    warehouse: Path, tmp_path: Path
) -> None:
    # Given the plan function with a 1 s timeout and a handler that takes longer
    template = json.loads(json.dumps(TEMPLATE))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Timeout"] = 1

    def slow_plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(1.05)
        return plan(event, context)

    params = Path(__file__).parents[2] / "params.json"
    with LocalRuntime(
        params,
        warehouse,
        tmp_path / "work",
        template=template,
        handlers={"lambdas.plan_local_test.handler": slow_plan},
    ) as local:
        result = local.run_historical(START, START + timedelta(hours=1))
    # Then the state machine got Lambda's timeout error, not the late result
    assert result.status == "FAILED"
    assert result.error == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in (result.cause or "")
