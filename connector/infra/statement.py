"""The one Step Functions loop that runs an UNLOAD through the Redshift Data API.

Step Functions has no ``.sync`` integration for the Data API, so each statement is
started with ``executeStatement`` and polled: Wait → ``describeStatement`` → Choice,
until FINISHED, FAILED or ABORTED. Both crawlers run this same loop as the item
processor of a Map state; :func:`unload_until_done` builds it.

Input of the loop (one Map item)::

    {"statement": {"sql", "client_token", "window_start", "window_end", "target"},
     "poll_seconds": 10}

Task results are cut down with ``ResultSelector`` to JSON-safe fields: the Data API
returns datetimes (``CreatedAt``), which Step Functions carries as strings but an
emulator may fail to serialise, and nothing downstream needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from connector.config import Params

__all__ = [
    "DESCRIBE_RETRY_ERRORS",
    "EXECUTE_RETRY_ERRORS",
    "DataApiTarget",
    "failure_notification",
    "unload_until_done",
]

# Errors worth retrying: throttling, capacity and transient service faults. A
# statement that ran and FAILED is not retried (see the Choice): Catch reports it.
# "RedshiftData.RedshiftDataException" is how Step Functions names errors the SDK does
# not model, throttling among them.
EXECUTE_RETRY_ERRORS = (
    "RedshiftData.ActiveStatementsExceededException",
    "RedshiftData.ActiveSessionsExceededException",
    "RedshiftData.ExecuteStatementException",
    "RedshiftData.InternalServerException",
    "RedshiftData.ThrottlingException",
    "RedshiftData.RedshiftDataException",
)
DESCRIBE_RETRY_ERRORS = (
    "RedshiftData.ActiveWaitingRequestsExceededException",
    "RedshiftData.InternalServerException",
    "RedshiftData.ThrottlingException",
    "RedshiftData.RedshiftDataException",
)


@dataclass(frozen=True)
class DataApiTarget:
    """Where statements run, and the IAM statements that allow running them there.

    ``parameters`` are the Data API arguments naming the warehouse: ``Database``,
    ``ClusterIdentifier`` or ``WorkgroupName``, ``SecretArn`` (a name or ARN; the Data
    API accepts both) or ``DbUser``.
    """

    parameters: Mapping[str, str]
    execute_resources: tuple[str, ...]
    secret_resources: tuple[str, ...] = ()
    db_user_resources: tuple[str, ...] = ()
    serverless: bool = False

    @classmethod
    def from_params(cls, scope: Construct, params: Params) -> DataApiTarget:
        """Raises ParamsError when params.json names no cluster or workgroup."""
        stack = Stack.of(scope)
        parameters = params.data_api_target()
        warehouse = params.warehouse

        def arn(service: str, resource: str, name: str, sep: ArnFormat) -> str:
            return stack.format_arn(
                service=service, resource=resource, resource_name=name, arn_format=sep
            )

        colon = ArnFormat.COLON_RESOURCE_NAME
        if warehouse.workgroup_name:
            # Workgroup ARNs end in a generated id, not the name: the name cannot scope them.
            execute = (arn("redshift-serverless", "workgroup", "*", ArnFormat.SLASH_RESOURCE_NAME),)
        else:
            execute = (arn("redshift", "cluster", str(warehouse.cluster_identifier), colon),)
        secrets: tuple[str, ...] = ()
        if "SecretArn" in parameters:
            secret = parameters["SecretArn"]
            if secret.startswith("arn:"):
                # A partial ARN (without the 6-character suffix) matches only with "-??????".
                secrets = (secret, f"{secret}-??????")
            else:
                secrets = (arn("secretsmanager", "secret", f"{secret}-??????", colon),)
        users: tuple[str, ...] = ()
        if warehouse.db_user:
            cluster = warehouse.cluster_identifier
            users = (
                arn("redshift", "dbuser", f"{cluster}/{warehouse.db_user}", colon),
                arn("redshift", "dbname", f"{cluster}/{warehouse.database}", colon),
            )
        return cls(dict(parameters), execute, secrets, users, warehouse.is_serverless)

    def policy_statements(self) -> list[iam.PolicyStatement]:
        """What a role needs, besides ExecuteStatement, to run and watch its statements."""
        statements = [
            iam.PolicyStatement(
                sid="DescribeOwnStatements",
                actions=["redshift-data:DescribeStatement"],
                # DescribeStatement has no resource-level permissions; the condition
                # limits it to statements this role started.
                resources=["*"],
                conditions={
                    "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
                },
            )
        ]
        if self.secret_resources:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadWarehouseSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=list(self.secret_resources),
                )
            )
        if self.db_user_resources:
            statements.append(
                iam.PolicyStatement(
                    sid="TemporaryDatabaseCredentials",
                    actions=["redshift:GetClusterCredentials"],
                    resources=list(self.db_user_resources),
                )
            )
        return statements


def _retry(errors: tuple[str, ...]) -> dict[str, Any]:
    return {
        "errors": list(errors),
        "interval": Duration.seconds(2),
        "backoff_rate": 2.0,
        "max_attempts": 6,
        "max_delay": Duration.seconds(60),
        "jitter_strategy": sfn.JitterType.FULL,
    }


def _describe(
    scope: Construct, construct_id: str, *, selector: Mapping[str, str], result_path: str
) -> sfn.CustomState:
    # A custom state rather than CallAwsService, which would grant DescribeStatement on
    # "*" without the owner condition of DataApiTarget.policy_statements().
    resource = f"arn:{Stack.of(scope).partition}:states:::aws-sdk:redshiftdata:describeStatement"
    state = sfn.CustomState(
        scope,
        construct_id,
        state_json={
            "Type": "Task",
            "Resource": resource,
            "Parameters": {"Id.$": "$.execution.Id"},
            "ResultSelector": dict(selector),
            "ResultPath": result_path,
        },
    )
    state.add_retry(**_retry(DESCRIBE_RETRY_ERRORS))
    return state


def unload_until_done(
    scope: Construct, *, target: DataApiTarget, statement_label: str
) -> sfn.IChainable:
    """Execute ``$.statement.sql`` and poll it until it ends; FAILED/ABORTED fail the item.

    ``ClientToken`` comes from the plan, so a retried ``executeStatement`` returns the
    statement already started instead of running a second UNLOAD. The Fail states carry
    the Data API's error text as their cause, which the crawl's Catch publishes.
    The caller's role needs ``ExecuteStatement`` (granted here) and
    :meth:`DataApiTarget.policy_statements`.
    """
    execute = tasks.CallAwsService(
        scope,
        "StartUnload",
        service="redshiftdata",
        action="executeStatement",
        iam_action="redshift-data:ExecuteStatement",
        iam_resources=list(target.execute_resources),
        parameters={
            **target.parameters,
            "Sql": sfn.JsonPath.string_at("$.statement.sql"),
            "ClientToken": sfn.JsonPath.string_at("$.statement.client_token"),
            "StatementName": sfn.JsonPath.format(
                f"{statement_label} {{}}", sfn.JsonPath.string_at("$.statement.window_start")
            ),
        },
        result_selector={"Id.$": "$.Id"},
        result_path="$.execution",
    )
    execute.add_retry(**_retry(EXECUTE_RETRY_ERRORS))
    wait = sfn.Wait(scope, "WaitForUnload", time=sfn.WaitTime.seconds_path("$.poll_seconds"))
    check = _describe(
        scope, "CheckUnload", selector={"Status.$": "$.Status"}, result_path="$.status"
    )
    # Only a FAILED statement is sure to carry "Error"; selecting it earlier would fail.
    get_error = _describe(
        scope, "GetUnloadError", selector={"Error.$": "$.Error"}, result_path="$.failure"
    )

    def fail(error: str, outcome: str, *outcome_args: str) -> sfn.Fail:
        # The cause names the item's window and target, then what became of the UNLOAD.
        return sfn.Fail(
            scope,
            error,
            error=error,
            cause_path=sfn.JsonPath.format(
                f"UNLOAD of [{{}}, {{}}) into {{}} {outcome}",
                sfn.JsonPath.string_at("$.statement.window_start"),
                sfn.JsonPath.string_at("$.statement.window_end"),
                sfn.JsonPath.string_at("$.statement.target"),
                *outcome_args,
            ),
        )

    failed = fail("UnloadFailed", "failed: {}", sfn.JsonPath.string_at("$.failure.Error"))
    aborted = fail("UnloadAborted", "was cancelled in Redshift")
    status = sfn.JsonPath.string_at("$.status.Status")
    done = (
        sfn.Choice(scope, "UnloadStatus")
        .when(sfn.Condition.string_equals(status, "FINISHED"), sfn.Succeed(scope, "UnloadFinished"))
        .when(sfn.Condition.string_equals(status, "FAILED"), get_error.next(failed))
        .when(sfn.Condition.string_equals(status, "ABORTED"), aborted)
        .otherwise(wait)
    )
    return execute.next(wait).next(check).next(done)


def failure_notification(scope: Construct, *, topic: sns.ITopic, what: str) -> sfn.IChainable:
    """Publish a readable message about ``$.error`` (a Catch result), then fail.

    ``what`` names the run in the message, e.g. "historical crawl of detector X".
    """
    execution = sfn.JsonPath.execution_id
    publish = tasks.SnsPublish(
        scope,
        "NotifyFailure",
        topic=topic,
        subject=f"Anomaly connector: {what} failed"[:100],
        message=sfn.TaskInput.from_text(
            sfn.JsonPath.format(
                f"The {what} failed. Error: {{}}. Cause: {{}}. Execution: {{}}. "
                "After fixing the cause, resume from the failed step with: "
                "aws stepfunctions redrive-execution --execution-arn {}",
                sfn.JsonPath.string_at("$.error.Error"),
                sfn.JsonPath.string_at("$.error.Cause"),
                execution,
                execution,
            )
        ),
        result_path=sfn.JsonPath.DISCARD,
    )
    publish.add_retry(errors=["States.TaskFailed"], interval=Duration.seconds(2), max_attempts=3)
    fail = sfn.Fail(scope, "CrawlFailed", error_path="$.error.Error", cause_path="$.error.Cause")
    return publish.next(fail)
