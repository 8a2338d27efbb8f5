"""The two state machine definitions: states, loop, retries, catches, and statelint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import PROVISIONED, definition_of, resources_of, template_of
from statelint.config import Config
from statelint.linter import Linter
from statelint.problem import ProblemType

from connector.infra.statement import DESCRIBE_RETRY_ERRORS, EXECUTE_RETRY_ERRORS

pytestmark = pytest.mark.infra

HISTORICAL = "HistoricalCrawlStateMachineArn"
CONTINUOUS = "ContinuousCrawlStateMachineArn"


@pytest.fixture(scope="module")
def historical(provisioned: dict[str, Any]) -> dict[str, Any]:
    return definition_of(provisioned, HISTORICAL)


def unload_loop(machine: dict[str, Any]) -> dict[str, Any]:
    """The UNLOAD loop's states: the Map's item processor, or the Parallel's branch in it."""
    unload = next(
        s for s in machine["States"].values() if s.get("ItemsPath") == "$.plan.statements"
    )
    states: dict[str, Any] = unload["ItemProcessor"]["States"]
    if "UnloadInterval" in states:
        [branch] = states["UnloadInterval"]["Branches"]
        states = branch["States"]
    return states


@pytest.fixture(scope="module")
def continuous(provisioned: dict[str, Any]) -> dict[str, Any]:
    return definition_of(provisioned, CONTINUOUS)


def test_historical_plans_unloads_in_a_map_then_builds_the_detector(
    historical: dict[str, Any],
) -> None:
    # Given the historical definition
    states = historical["States"]
    # Then it plans, maps over the planned statements, and builds the detector after
    assert historical["StartAt"] == "PlanChunks"
    assert states["PlanChunks"]["Next"] == "UnloadChunks"
    assert states["PlanChunks"]["Parameters"]["Payload"] == {
        "input.$": "$",
        "execution_id.$": "$$.Execution.Id",
        "execution_name.$": "$$.Execution.Name",
    }
    unload = states["UnloadChunks"]
    assert unload["Type"] == "Map"
    assert unload["ItemsPath"] == "$.plan.statements"
    assert unload["MaxConcurrency"] == 4  # crawl.max_concurrency
    assert unload["ItemSelector"] == {
        "statement.$": "$$.Map.Item.Value",
        "poll_seconds.$": "$.plan.poll_seconds",
    }
    assert unload["ResultPath"] is None
    # And once every chunk landed it sets the watermark where history ends, then builds
    assert unload["Next"] == "RecordHistory"
    record = states["RecordHistory"]
    assert record["Parameters"]["Payload"] == {
        "crawl": "historical",
        "execution_name.$": "$$.Execution.Name",
        "window_end.$": "$.plan.window_end",
        "reset.$": "$.plan.reset_watermark",
    }
    assert record["ResultPath"] == "$.watermark"
    assert record["Next"] == "BuildDetector?"
    choice = states["BuildDetector?"]
    assert choice["Choices"][0]["Next"] == "BuildDetector"
    assert states["BuildDetector"]["Next"] == "Summary"
    assert historical["TimeoutSeconds"] == 24 * 3600


def test_map_concurrency_follows_params() -> None:
    template = template_of(PROVISIONED, crawl={"max_concurrency": 7})
    for output in (HISTORICAL, CONTINUOUS):
        states = definition_of(template, output)["States"]
        maps = [s for s in states.values() if s["Type"] == "Map" and "ItemSelector" in s]
        assert [m["MaxConcurrency"] for m in maps] == [7]


@pytest.mark.parametrize("output", [HISTORICAL, CONTINUOUS])
def test_each_statement_is_executed_then_polled_until_it_ends(
    provisioned: dict[str, Any], output: str
) -> None:
    # Given the UNLOAD loop of either machine
    loop = unload_loop(definition_of(provisioned, output))
    # Then executeStatement carries the SQL, the idempotency token and the warehouse
    execute = loop["StartUnload"]
    assert execute["Resource"] == "arn:aws:states:::aws-sdk:redshiftdata:executeStatement"
    assert execute["Parameters"]["Sql.$"] == "$.statement.sql"
    assert execute["Parameters"]["ClientToken.$"] == "$.statement.client_token"
    assert execute["Parameters"]["ClusterIdentifier"] == "redshift-cluster-1"
    assert execute["Parameters"]["SecretArn"] == "redshift-l4mintegration"
    assert execute["Parameters"]["Database"] == "dev"
    # And only JSON-safe fields of the responses are kept
    assert execute["ResultSelector"] == {"Id.$": "$.Id"}
    assert loop["CheckUnload"]["ResultSelector"] == {"Status.$": "$.Status"}
    assert loop["GetUnloadError"]["ResultSelector"] == {"Error.$": "$.Error"}
    # And the wait comes from the input, so local runs can poll without sleeping
    assert loop["WaitForUnload"] == {
        "Type": "Wait",
        "SecondsPath": "$.poll_seconds",
        "Next": "CheckUnload",
    }
    # And the Choice ends the loop on FINISHED, FAILED or ABORTED, else polls again
    choice = loop["UnloadStatus"]
    assert {(c["StringEquals"], c["Next"]) for c in choice["Choices"]} == {
        ("FINISHED", "UnloadFinished"),
        ("FAILED", "GetUnloadError"),
        ("ABORTED", "UnloadAborted"),
    }
    assert choice["Default"] == "WaitForUnload"
    assert loop["GetUnloadError"]["Next"] == "UnloadFailed"
    assert "$.failure.Error" in loop["UnloadFailed"]["CausePath"]
    assert loop["UnloadAborted"]["Type"] == "Fail"


@pytest.mark.parametrize("output", [HISTORICAL, CONTINUOUS])
def test_data_api_calls_retry_with_backoff_on_transient_errors(
    provisioned: dict[str, Any], output: str
) -> None:
    loop = unload_loop(definition_of(provisioned, output))
    for state, errors in (
        ("StartUnload", EXECUTE_RETRY_ERRORS),
        ("CheckUnload", DESCRIBE_RETRY_ERRORS),
        ("GetUnloadError", DESCRIBE_RETRY_ERRORS),
    ):
        [retry] = loop[state]["Retry"]
        assert retry["ErrorEquals"] == list(errors)
        assert retry["BackoffRate"] == 2
        assert retry["MaxAttempts"] == 6
        assert retry["JitterStrategy"] == "FULL"
        assert "RedshiftData.ValidationException" not in retry["ErrorEquals"]


@pytest.mark.parametrize("output", [HISTORICAL, CONTINUOUS])
def test_every_top_level_task_is_caught_into_a_readable_sns_message(
    provisioned: dict[str, Any], output: str
) -> None:
    # Given a machine's top-level states
    states = definition_of(provisioned, output)["States"]
    # Then every Task and Map catches all errors into $.error and notifies; before the
    # continuous run has finished, by way of releasing its claim on the watermark
    releasing = {"PlanIntervals", "UnloadIntervals"} if output == CONTINUOUS else set()
    for name, state in states.items():
        if state["Type"] in ("Task", "Map") and name not in ("NotifyFailure", "ReleaseRun"):
            handler = "ReleaseRun" if name in releasing else "NotifyFailure"
            assert state["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": handler}
            ], name
    if output == CONTINUOUS:
        release = states["ReleaseRun"]
        assert release["Next"] == "NotifyFailure"
        # A failing release keeps the original $.error for the message
        assert release["Catch"] == [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.release_error",
                "Next": "NotifyFailure",
            }
        ]
        assert release["Parameters"]["Payload"]["unloaded"] == []
    notify = states["NotifyFailure"]
    assert notify["Resource"] == "arn:aws:states:::sns:publish"
    message = notify["Parameters"]["Message.$"]
    assert message.startswith("States.Format('The ")
    assert "$.error.Error, $.error.Cause" in message
    assert "redrive-execution" in message
    assert notify["Next"] == "CrawlFailed"
    assert states["CrawlFailed"] == {
        "Type": "Fail",
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_continuous_unloads_records_the_watermark_then_scores_in_order(
    continuous: dict[str, Any],
) -> None:
    states = continuous["States"]
    # Given the continuous definition: it plans from the watermark
    assert continuous["StartAt"] == "PlanIntervals"
    assert states["PlanIntervals"]["ResultSelector"] == {
        "run_id.$": "$.Payload.run_id",
        "statements.$": "$.Payload.statements",
        "poll_seconds.$": "$.Payload.poll_seconds",
        "intervals.$": "$.Payload.intervals",
        "reason.$": "$.Payload.reason",
    }
    # Then each UNLOAD's outcome is recorded per interval, a failure failing only itself
    unload = states["UnloadIntervals"]
    assert unload["ResultPath"] == "$.unloaded"
    items = unload["ItemProcessor"]["States"]
    assert unload["ItemProcessor"]["StartAt"] == "UnloadInterval"
    one = items["UnloadInterval"]
    assert one["Type"] == "Parallel" and one["Next"] == "IntervalLanded"
    assert one["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "IntervalNotLanded"}
    ]
    assert items["IntervalLanded"]["Parameters"]["landed"] is True
    assert items["IntervalNotLanded"]["Parameters"]["landed"] is False
    # And FinishRun moves the watermark over what landed before anything is scored
    assert unload["Next"] == "FinishRun"
    finish = states["FinishRun"]
    assert finish["Parameters"]["Payload"] == {
        "crawl": "continuous",
        "execution_name.$": "$$.Execution.Name",
        "input.$": "$$.Execution.Input",
        "planned.$": "$.plan.intervals",
        "unloaded.$": "$.unloaded",
    }
    assert finish["Next"] == "ScoreIntervals"
    # And only the intervals the watermark covers are scored, one at a time, in order
    score = states["ScoreIntervals"]
    assert score["ItemsPath"] == "$.finish.result.score"
    assert score["MaxConcurrency"] == 1
    task = score["ItemProcessor"]["States"]["ScoreInterval"]
    assert task["Parameters"]["Payload"] == {
        "execution_id.$": "$$.Execution.Id",
        "window_start.$": "$.window_start",
        "window_end.$": "$.window_end",
        "target.$": "$.target",
    }
    # And a rebuild racing the scoring (DetectorError) is retried
    detector_retry = [r for r in task["Retry"] if r["ErrorEquals"] == ["DetectorError"]]
    assert detector_retry and detector_retry[0]["MaxAttempts"] == 3
    # And a run where an interval did not land fails after scoring what did
    assert score["Next"] == "AllLanded?"
    [failed] = states["AllLanded?"]["Choices"]
    assert failed == {
        "Variable": "$.finish.result.failure",
        "IsPresent": True,
        "Next": "IntervalsNotLanded",
    }
    assert states["IntervalsNotLanded"]["Next"] == "NotifyFailure"
    assert states["AllLanded?"]["Default"] == "Summary"


def test_continuous_without_builtin_detector_does_not_score() -> None:
    template = template_of(PROVISIONED, detector={"backend": "lookoutmetrics"})
    states = definition_of(template, CONTINUOUS)["States"]
    assert "ScoreIntervals" not in states
    assert states["FinishRun"]["Next"] == "AllLanded?"


def test_serverless_statements_name_the_workgroup(serverless: dict[str, Any]) -> None:
    machine = definition_of(serverless, HISTORICAL)
    loop = machine["States"]["UnloadChunks"]["ItemProcessor"]["States"]
    parameters = loop["StartUnload"]["Parameters"]
    assert parameters["WorkgroupName"] == "analytics"
    assert "ClusterIdentifier" not in parameters
    assert parameters["SecretArn"].startswith("arn:aws:secretsmanager:")


def test_definitions_reference_only_resources_of_the_same_template(
    provisioned: dict[str, Any],
) -> None:
    # The local runtime resolves Ref/GetAtt of the template's own resources generically.
    def intrinsics(value: Any) -> list[dict[str, Any]]:
        if isinstance(value, dict):
            if set(value) & {"Ref", "Fn::GetAtt"}:
                return [value]
            return [i for v in value.values() for i in intrinsics(v)]
        if isinstance(value, list):
            return [i for v in value for i in intrinsics(v)]
        return []

    for machine in resources_of(provisioned, "AWS::StepFunctions::StateMachine").values():
        definition = machine["Properties"]["DefinitionString"]
        assert set(definition) == {"Fn::Join"}
        for intrinsic in intrinsics(definition):
            name = intrinsic.get("Ref") or intrinsic["Fn::GetAtt"][0]
            assert name in provisioned["Resources"] or name == "AWS::Partition", intrinsic


@pytest.mark.parametrize("variant", ["provisioned", "serverless", "lookoutmetrics"])
@pytest.mark.parametrize("output", [HISTORICAL, CONTINUOUS])
def test_statelint_finds_no_problem(
    provisioned: dict[str, Any], serverless: dict[str, Any], variant: str, output: str
) -> None:
    template = {
        "provisioned": provisioned,
        "serverless": serverless,
        "lookoutmetrics": template_of(PROVISIONED, detector={"backend": "lookoutmetrics"})
        if variant == "lookoutmetrics"
        else None,
    }[variant]
    assert template is not None
    definition = json.dumps(definition_of(template, output))
    # FLOAT is one of statelint's own ignorable types (its CLI's --ignore): ASL defines
    # BackoffRate as a number, and JSON writes 2.0 as 2.
    config = Config(ignored_problem_types={ProblemType.FLOAT})
    assert Linter.validate(definition, config) == []


@pytest.mark.parametrize("output", [HISTORICAL, CONTINUOUS])
def test_lambda_tasks_retry_service_errors_and_throttling_only(
    provisioned: dict[str, Any], output: str
) -> None:
    states = definition_of(provisioned, output)["States"]
    tasks = [s for s in states.values() if s.get("Resource") == "arn:aws:states:::lambda:invoke"]
    assert tasks
    for task in tasks:
        retried = {error for retry in task["Retry"] for error in retry["ErrorEquals"]}
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried
        assert not retried & {"States.ALL", "States.TaskFailed", "PlanError", "WatermarkError"}
