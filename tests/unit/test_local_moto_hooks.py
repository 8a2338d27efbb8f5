"""Each hook into moto's internals works, and says so loudly when a moto upgrade breaks it.

If one of these fails after changing the moto pin, read the docstring of
``connector/local/moto_hooks.py``: the test names the internal that moved.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.redshiftdata.responses import RedshiftDataAPIServiceResponse
from moto.s3.models import FakeKey, S3Backend, s3_backends
from moto.stepfunctions.parser.asl.parse.asl_parser import (
    AmazonStateLanguageParser,
    ASLParserException,
)
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

from connector.local import moto_hooks
from connector.local.moto_hooks import LambdaResult
from connector.local.redshift_data import DataApiError

REGION = "us-east-1"
CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


class FakeDataApi:
    """Records requests; FAILS statements whose SQL says so."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def execute_statement(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if request["Sql"] == "throttle":
            raise DataApiError("ActiveStatementsExceededException", "too many")
        return {"Id": "statement-1", "CreatedAt": datetime(2026, 1, 1, tzinfo=UTC)}

    def describe_statement(self, *, Id: str) -> dict[str, Any]:
        return {"Id": Id, "Status": "FINISHED", "CreatedAt": datetime(2026, 1, 1, tzinfo=UTC)}

    def get_statement_result(self, *, Id: str, NextToken: str | None = None) -> dict[str, Any]:
        return {"Records": [[{"longValue": 1}]], "ColumnMetadata": [], "TotalNumRows": 1}

    def cancel_statement(self, *, Id: str) -> dict[str, Any]:
        raise DataApiError("ResourceNotFoundException", f"Query does not exist: {Id}")


def echo_invoker(function: str, qualifier: str | None, payload: str) -> LambdaResult:
    event = json.loads(payload)
    if event.get("fail"):
        error = {"errorType": "PlanError", "errorMessage": "cannot plan"}
        return LambdaResult(json.dumps(error).encode(), "Unhandled")
    return LambdaResult(json.dumps({"function": function, "event": event}).encode())


@pytest.fixture
def aws() -> Iterator[boto3.Session]:
    with mock_aws(config=CONFIG):
        yield boto3.Session(region_name=REGION)


@pytest.fixture
def role(aws: boto3.Session) -> str:
    iam = aws.client("iam")
    return str(iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def run_state_machine(
    aws: boto3.Session,
    role: str,
    definition: dict[str, Any],
    execution_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")
    name = f"m{uuid.uuid4().hex[:8]}"
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(
        stateMachineArn=arn, name=name, input=json.dumps(execution_input or {})
    )["executionArn"]
    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution never ended"
        time.sleep(0.01)
    return described


def sdk_task(action: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::aws-sdk:redshiftdata:{action}",
        "Parameters": parameters,
        **extra,
    }


def statement_states(**after_describe: Any) -> dict[str, Any]:
    """``Run`` (executeStatement), then ``Describe`` (its Status), then ``after_describe``."""
    return {
        "Run": sdk_task(
            "executeStatement",
            {"Sql": "SELECT 1", "Database": "dev", "ClusterIdentifier": "c"},
            ResultSelector={"Id.$": "$.Id"},
            Next="Describe",
        ),
        "Describe": sdk_task(
            "describeStatement",
            {"Id.$": "$.Id"},
            ResultSelector={"Status.$": "$.Status"},
            **after_describe,
        ),
    }


# --- the internals each hook patches still exist with the shape it expects -----------


def test_moto_internals_the_hooks_patch_still_exist() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )

    assert isinstance(StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES, dict), (
        "moto's SFN→boto service-name map moved: hook 1 (service_name_hook) needs updating"
    )
    assert isinstance(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, dict), (
        "moto's aws-sdk error-name map moved: hook 1 (service_name_hook) needs updating"
    )
    assert list(inspect.signature(LambdaSimpleBackend.invoke).parameters) == [
        "self",
        "function_name",
        "qualifier",
        "body",
        "headers",
        "response_headers",
    ], "moto's simple Lambda backend invoke() changed: hook 2 (lambda_invoke_hook) needs updating"
    for action in ("execute_statement", "describe_statement", "get_statement_result"):
        assert callable(getattr(RedshiftDataAPIServiceResponse, action, None)), (
            f"moto's redshift-data response {action} moved: hook 3 (redshift_data_hook)"
        )
    assert callable(getattr(RedshiftDataAPIServiceResponse, "cancel_statement", None))
    assert list(inspect.signature(S3Backend.put_object).parameters)[:4] == [
        "self",
        "bucket_name",
        "key_name",
        "value",
    ], "moto's S3Backend.put_object changed: hook 4 (MotoS3Writer) needs updating"
    key = FakeKey("k", b"abc", DEFAULT_ACCOUNT_ID, REGION)
    for attribute in ("_value_buffer", "contentsize", "_etag", "lock"):
        assert hasattr(key, attribute), (
            f"moto's FakeKey has no {attribute}: hook 4 (MotoS3Writer.put_file) needs updating"
        )
    key.dispose()
    assert callable(BaseExecutionWorkerCommunication.terminated), (
        "moto's execution-end callback moved: hook 5 (execution_end_hook) needs updating"
    )
    for module in moto_hooks._CLIENT_USERS:
        assert module.boto_client_for is boto_client.boto_client_for, (
            f"{module.__name__} no longer calls boto_client_for: hook 6 (client_cache_hook)"
        )
    assert isinstance(AmazonStateLanguageParser.__dict__["parse"], staticmethod), (
        "moto's ASL parser entry point changed: hook 7 (parse_cache_hook) needs updating"
    )
    for module in moto_hooks._JSON_PATH_USERS:
        assert callable(getattr(module, "parse", None)), (
            f"{module.__name__} no longer parses JSONPath with parse(): hook 9 needs updating"
        )


# --- hook 1: the redshiftdata service name -------------------------------------------


def test_without_the_service_name_hook_redshiftdata_tasks_fail(
    aws: boto3.Session, role: str
) -> None:
    # Given only the Data API hook (so a fix in moto itself would show up here)
    definition = {"StartAt": "Run", "States": {"Run": sdk_task("executeStatement", {}, End=True)}}
    with moto_hooks.redshift_data_hook(FakeDataApi()):
        described = run_state_machine(aws, role, definition)
    # Then moto still does not know "redshiftdata"; if this starts to pass, drop hook 1
    assert described["status"] == "FAILED"


def test_service_name_hook_runs_redshiftdata_tasks_and_names_their_errors(
    aws: boto3.Session, role: str
) -> None:
    # Given a state machine with the aws-sdk:redshiftdata integration CDK emits
    api = FakeDataApi()
    definition = {
        "StartAt": "Run",
        "States": {
            **statement_states(Next="Throttled"),
            "Throttled": sdk_task(
                "executeStatement",
                {"Sql": "throttle", "Database": "dev", "ClusterIdentifier": "c"},
                Catch=[
                    {
                        "ErrorEquals": ["RedshiftData.ActiveStatementsExceededException"],
                        "ResultPath": "$.caught",
                        "Next": "Done",
                    }
                ],
                End=True,
            ),
            "Done": {"Type": "Pass", "End": True},
        },
    }
    # When it runs with the hooks
    with moto_hooks.service_name_hook(), moto_hooks.redshift_data_hook(api):
        described = run_state_machine(aws, role, definition)

    # Then the calls reached the Data API and the error is named as AWS names it
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["Status"] == "FINISHED"
    assert output["caught"]["Error"] == "RedshiftData.ActiveStatementsExceededException"
    request = api.requests[0]
    assert {k: request[k] for k in ("Sql", "Database", "ClusterIdentifier")} == {
        "Sql": "SELECT 1",
        "Database": "dev",
        "ClusterIdentifier": "c",
    }


# --- hook 2: Lambda tasks call our handlers -----------------------------------------


def test_lambda_hook_returns_the_handler_payload_and_function_errors(
    aws: boto3.Session, role: str
) -> None:
    # Given a function created through the ordinary API
    client = aws.client("lambda")
    arn = client.create_function(
        FunctionName="plan",
        Runtime="python3.12",
        Role=role,
        Handler="lambdas.plan.handler",
        Code={"ZipFile": b"local"},
    )["FunctionArn"]

    with moto_hooks.lambda_invoke_hook(echo_invoker):
        ok = client.invoke(FunctionName="plan", Payload=b'{"a": 1}')
        failed = client.invoke(FunctionName="plan", Payload=b'{"fail": true}')

    # Then the invoker saw the function's ARN and event, and its error is a function error
    assert json.loads(ok["Payload"].read()) == {"function": arn, "event": {"a": 1}}
    assert "FunctionError" not in ok
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "PlanError"


def test_lambda_errors_reach_retry_and_catch_by_their_error_type(
    aws: boto3.Session, role: str
) -> None:
    aws.client("lambda").create_function(
        FunctionName="plan",
        Runtime="python3.12",
        Role=role,
        Handler="lambdas.plan.handler",
        Code={"ZipFile": b"local"},
    )
    definition = {
        "StartAt": "Plan",
        "States": {
            "Plan": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "plan", "Payload": {"fail": True}},
                "Catch": [{"ErrorEquals": ["PlanError"], "ResultPath": "$.e", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    with moto_hooks.lambda_invoke_hook(echo_invoker):
        described = run_state_machine(aws, role, definition)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["e"]["Error"] == "PlanError"


def test_lambda_hook_restores_moto_on_exit() -> None:
    original = LambdaSimpleBackend.invoke
    with moto_hooks.lambda_invoke_hook(echo_invoker):
        assert LambdaSimpleBackend.invoke is not original
    assert LambdaSimpleBackend.invoke is original


# --- hook 3: the Redshift Data API ---------------------------------------------------


def test_redshift_data_hook_routes_boto3_calls_with_their_shapes(aws: boto3.Session) -> None:
    api = FakeDataApi()
    client = aws.client("redshift-data")
    with moto_hooks.redshift_data_hook(api):
        submitted = client.execute_statement(
            Sql="SELECT 1",
            Database="dev",
            WorkgroupName="local-wg",
            ClientToken="t-1",
            StatementName="name",
        )
        described = client.describe_statement(Id=submitted["Id"])
        result = client.get_statement_result(Id=submitted["Id"])
        with pytest.raises(ClientError) as raised:
            client.cancel_statement(Id="gone")

    # Then every field arrived, timestamps parse, and errors keep their code
    assert api.requests == [
        {
            "Sql": "SELECT 1",
            "Database": "dev",
            "WorkgroupName": "local-wg",
            "ClientToken": "t-1",
            "StatementName": "name",
        }
    ]
    assert described["CreatedAt"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert result["Records"] == [[{"longValue": 1}]]
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_redshift_data_hook_restores_moto_on_exit() -> None:
    original = RedshiftDataAPIServiceResponse.execute_statement
    with moto_hooks.redshift_data_hook(FakeDataApi()):
        assert RedshiftDataAPIServiceResponse.execute_statement is not original
    assert RedshiftDataAPIServiceResponse.execute_statement is original


def test_only_one_runtime_may_hook_moto_at_a_time() -> None:
    first = moto_hooks.installed(lambda_invoker=echo_invoker, data_api=FakeDataApi())
    second = moto_hooks.installed(lambda_invoker=echo_invoker, data_api=FakeDataApi())
    with first, pytest.raises(RuntimeError, match="already running"), second:
        pass


# --- hook 4: UNLOAD's files straight into moto's S3 ----------------------------------


def test_s3_writer_puts_objects_that_the_s3_api_serves(aws: boto3.Session) -> None:
    # Given a bucket made through the API
    client = aws.client("s3")
    client.create_bucket(Bucket="data")
    writer = moto_hooks.MotoS3Writer(client, DEFAULT_ACCOUNT_ID)

    # When a file is written through the backend
    writer.put_object(Bucket="data", Key="live/000", Body=io.BytesIO(b"a,b\n1,2\n"))

    # Then the ordinary API lists and serves it, with a proper ETag
    listed = writer.list_objects_v2(Bucket="data", Prefix="live/")
    assert [o["Key"] for o in listed["Contents"]] == ["live/000"]
    got = client.get_object(Bucket="data", Key="live/000")
    assert got["Body"].read() == b"a,b\n1,2\n"
    assert got["ETag"] == '"' + hashlib.md5(b"a,b\n1,2\n").hexdigest() + '"'


def test_s3_writer_adopts_a_file_without_copying_it(aws: boto3.Session, tmp_path: Path) -> None:
    # Given a file as DuckDB's COPY leaves it
    client = aws.client("s3")
    client.create_bucket(Bucket="data")
    writer = moto_hooks.MotoS3Writer(client, DEFAULT_ACCOUNT_ID)
    body = b"id,ts\n" + b"".join(b"%d,2026-01-01\n" % i for i in range(50_000))
    path = tmp_path / "data_0.csv"
    path.write_bytes(body)

    # When it is put as an object
    writer.put_file(Bucket="data", Key="historical/000", path=path)

    # Then its name is gone (moto's key owns the open file) and the API serves it whole
    assert not path.exists()
    listed = client.list_objects_v2(Bucket="data", Prefix="historical/")["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("historical/000", len(body))]
    assert listed[0]["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"'
    assert client.get_object(Bucket="data", Key="historical/000")["Body"].read() == body
    ranged = client.get_object(Bucket="data", Key="historical/000", Range="bytes=0-5")
    assert ranged["Body"].read() == body[:6]

    # And overwriting and deleting it work as for any object, closing the adopted file
    key = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object("data", "historical/000")
    adopted = key._value_buffer
    client.put_object(Bucket="data", Key="historical/000", Body=b"new")
    assert client.get_object(Bucket="data", Key="historical/000")["Body"].read() == b"new"
    client.delete_object(Bucket="data", Key="historical/000")
    assert adopted.closed


def test_s3_writer_put_file_into_a_missing_bucket_fails_as_put_object_does(
    aws: boto3.Session, tmp_path: Path
) -> None:
    writer = moto_hooks.MotoS3Writer(aws.client("s3"), DEFAULT_ACCOUNT_ID)
    path = tmp_path / "data_0.csv"
    path.write_bytes(b"a\n1\n")
    with pytest.raises(Exception, match="bucket does not exist") as put_file_error:
        writer.put_file(Bucket="nope", Key="k", path=path)
    with pytest.raises(Exception, match="bucket does not exist") as put_object_error:
        writer.put_object(Bucket="nope", Key="k", Body=io.BytesIO(b"a\n1\n"))
    assert type(put_file_error.value) is type(put_object_error.value)


# --- hook 5: the end of an execution -------------------------------------------------


def test_execution_end_hook_reports_each_ending_after_its_status_is_set(
    aws: boto3.Session, role: str
) -> None:
    sfn = aws.client("stepfunctions")
    seen: list[tuple[str, str]] = []

    def listener(arn: str) -> None:
        # The status is final when the listener runs
        seen.append((arn, sfn.describe_execution(executionArn=arn)["status"]))

    ok = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}}
    with moto_hooks.execution_end_hook(listener):
        succeeded = run_state_machine(aws, role, ok)
        failed = run_state_machine(aws, role, failing)
    assert seen == [
        (succeeded["executionArn"], "SUCCEEDED"),
        (failed["executionArn"], "FAILED"),
    ]
    assert BaseExecutionWorkerCommunication.terminated is not None


def test_execution_end_hook_restores_moto_on_exit() -> None:
    original = BaseExecutionWorkerCommunication.terminated
    with moto_hooks.execution_end_hook(lambda arn: None):
        assert BaseExecutionWorkerCommunication.terminated is not original
    assert BaseExecutionWorkerCommunication.terminated is original


# --- hook 6: the interpreter keeps its boto3 clients ---------------------------------


def test_client_cache_hook_builds_one_client_per_service_for_every_task(
    aws: boto3.Session, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    original = boto_client.boto_client_for

    def counting(region: str, service: str, state_credentials: Any = None) -> Any:
        built.append(service)
        return original(region, service, state_credentials)

    monkeypatch.setattr(boto_client, "boto_client_for", counting)
    monkeypatch.setattr(moto_hooks, "_interpreter_clients", {})
    definition = {"StartAt": "Run", "States": statement_states(End=True)}
    with (
        moto_hooks.service_name_hook(),
        moto_hooks.redshift_data_hook(FakeDataApi()),
        moto_hooks.client_cache_hook() as cache,
    ):
        first = run_state_machine(aws, role, definition)
        second = run_state_machine(aws, role, definition)
    # Four tasks over two runs, one client
    assert (first["status"], second["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert built == ["redshift-data"]
    assert list(cache) == [(REGION, "redshift-data", True)]
    for module in moto_hooks._CLIENT_USERS:
        assert module.boto_client_for is counting


# --- hook 7: each definition is parsed once ------------------------------------------


def test_parse_cache_hook_parses_once_and_builds_fresh_components() -> None:
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    original = AmazonStateLanguageParser.__dict__["parse"]
    with moto_hooks.parse_cache_hook() as trees:
        first_program, first_tree = AmazonStateLanguageParser.parse(definition)
        second_program, second_tree = AmazonStateLanguageParser.parse(definition)
        # A definition with a syntax error still raises, every time, and is not kept
        for _ in range(2):
            with pytest.raises(ASLParserException):
                AmazonStateLanguageParser.parse('{"StartAt": ')
        assert list(trees) == [definition]
    assert first_tree is second_tree
    assert first_program is not second_program
    assert AmazonStateLanguageParser.__dict__["parse"] is original


def test_parsed_once_state_machines_still_run(aws: boto3.Session, role: str) -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.r", "End": True}},
    }
    with moto_hooks.parse_cache_hook():
        runs = [run_state_machine(aws, role, definition) for _ in range(3)]
    assert [json.loads(r["output"]) for r in runs] == [{"r": {"n": 1}}] * 3


# --- 8: the execution history, read from the backend ---------------------------------


def test_execution_history_is_what_get_execution_history_lists(
    aws: boto3.Session, role: str
) -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Next": "F"},
            "F": {"Type": "Fail", "Error": "E", "Cause": "why"},
        },
    }
    described = run_state_machine(aws, role, definition)
    arn = described["executionArn"]
    api = aws.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    read = moto_hooks.execution_history(DEFAULT_ACCOUNT_ID, REGION, arn)
    # Same events, with types as plain strings (an f-string shows "TaskFailed" as in AWS)
    assert [(e["id"], f"{e['type']}") for e in read] == [(e["id"], e["type"]) for e in api]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in read if "stateEnteredEventDetails" in e
    ]
    assert entered == ["P", "F"]
    assert read[-1]["executionFailedEventDetails"] == {"error": "E", "cause": "why"}


# --- hook 9: each JSONPath is parsed once ---------------------------------------------


def test_json_path_cache_hook_parses_each_path_once_and_restores_moto() -> None:
    originals = [module.parse for module in moto_hooks._JSON_PATH_USERS]
    with moto_hooks.json_path_cache_hook():
        for module in moto_hooks._JSON_PATH_USERS:
            assert module.parse("$.statement.sql") is module.parse("$.statement.sql")
            assert module.parse("$.a") is not module.parse("$.b")
    assert [module.parse for module in moto_hooks._JSON_PATH_USERS] == originals


def test_cached_json_paths_still_read_and_write_each_executions_own_data(
    aws: boto3.Session, role: str
) -> None:
    # Given paths in InputPath, Parameters, ResultSelector and ResultPath
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Pass",
                "InputPath": "$.job",
                "Parameters": {"sql.$": "$.sql", "n.$": "$.n"},
                "ResultPath": "$.picked",
                "Next": "Keep",
            },
            "Keep": {"Type": "Pass", "OutputPath": "$.picked", "End": True},
        },
    }
    with moto_hooks.json_path_cache_hook():
        runs = [
            run_state_machine(aws, role, definition, {"job": {"sql": f"SELECT {n}", "n": n}})
            for n in range(3)
        ]
    outputs = [json.loads(run["output"]) for run in runs]
    # Then each execution saw its own input through the same parsed paths
    assert outputs == [{"sql": f"SELECT {n}", "n": n} for n in range(3)]
