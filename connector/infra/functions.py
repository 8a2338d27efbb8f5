"""Python Lambda functions with their own role and log group."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from connector.infra.nag import acknowledge

__all__ = ["LAMBDA_RUNTIME", "ConnectorFunction"]

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12


class ConnectorFunction(Construct):
    """A Lambda function whose role holds only what it is granted, plus its own logs.

    The role is created here (rather than by ``lambda.Function``) so that it carries no
    AWS managed policy: log writing is granted on this function's log group only.

    Attributes:
        function: the Lambda function (Python 3.12, x86_64, Powertools-configured).
        role: its execution role; callers grant it what the handler needs.
        log_group: its log group (three months by default).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        description: str,
        service_name: str,
        environment: Mapping[str, str],
        memory_size: int = 512,
        timeout: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {handler}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=code,
            description=description,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            memory_size=memory_size,
            timeout=timeout or Duration.minutes(1),
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_METRICS_NAMESPACE": "RedshiftAnomalyConnector",
                **environment,
            },
        )
        self.log_group.grant_write(self.role)
        acknowledge(
            self.function,
            "Python 3.12 on purpose: the bundled wheels are built for cp312 and the code is "
            "tested on it; a newer runtime is a deliberate upgrade with a re-test, not a "
            "silent default.",
            "AwsSolutions::AwsSolutions-L1",
        )
