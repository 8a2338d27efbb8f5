"""The connector's stack: storage, UNLOAD role, crawlers, detector functions, outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from connector.config import Params
from connector.infra.bundling import (
    DETECTOR_REQUIREMENTS,
    PLAN_REQUIREMENTS,
    build_asset,
)
from connector.infra.crawls import ContinuousCrawl, HistoricalCrawl, lease_seconds
from connector.infra.data_bucket import DataBucket
from connector.infra.functions import ConnectorFunction
from connector.infra.nag import acknowledge, iam5, object_arn_finding
from connector.infra.prefixes import key_prefixes
from connector.infra.schedule import cron_fields, fire_delay_minutes
from connector.infra.statement import DataApiTarget
from connector.infra.unload_role import UnloadRole
from connector.watermark import watermark_key

__all__ = ["ConnectorStack", "stack_name"]

# The bundled params.json, next to the handlers at the asset root (LAMBDA_TASK_ROOT).
BUNDLED_PARAMS = "params.json"
# Where the detector Lambdas read params.json in the bucket (their PARAMS_KEY); the
# plan Lambdas publish the bundled copy there before each run (see lambdas/).
PARAMS_OBJECT = "params.json"


def stack_name(params: Params) -> str:
    """One stack per detector, so that several detectors can share an account."""
    return f"AnomalyConnector-{params.detector_name.replace('_', '-')}"


def _allow(
    role: iam.IRole,
    sid: str,
    actions: list[str],
    resource: str,
    *,
    conditions: dict[str, Any] | None = None,
) -> None:
    """Grant ``role`` the ``actions`` on one resource, as a statement named ``sid``."""
    role.add_to_principal_policy(
        iam.PolicyStatement(sid=sid, actions=actions, resources=[resource], conditions=conditions)
    )


class ConnectorStack(Stack):
    """Everything ``cdk deploy`` installs for one params.json.

    Attributes:
        data: the data bucket construct; ``data.bucket`` is the bucket.
        unload_role: the role Redshift assumes for UNLOAD.
        failure_topic, alert_topic: crawl failures, and anomalies over the threshold.
        plan_historical, plan_continuous, finish_run, build_detector, score_interval: the
            functions (``score_interval`` is ``None`` unless detector.backend is ``builtin``).
        historical, continuous: the two crawls (state machines, schedule).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        params: Params,
        bundle: bool,
        build_dir: Path,
        dependency_cache: Path | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id, description=description)
        self.params = params
        builtin = params.detector.backend == "builtin"
        prefixes = key_prefixes(params)
        target = DataApiTarget.from_params(self, params)

        self.data = DataBucket(self, "Data", existing_bucket_name=params.s3_bucket or None)
        bucket = self.data.bucket
        params_object = f"{prefixes.root}{PARAMS_OBJECT}"
        self.unload_role = UnloadRole(
            self,
            "Unload",
            bucket=bucket,
            write_prefixes=[prefixes.historical, prefixes.live],
            read_prefix=None if builtin else prefixes.root,
            trust_lookoutmetrics=not builtin,
        )
        self.failure_topic = self._topic("CrawlFailures", "Anomaly connector crawl failures")
        self.alert_topic = self._topic("AnomalyAlerts", f"Anomalies: {params.alert_name}")

        def code(name: str, requirements: tuple[str, ...]) -> lambda_.Code:
            asset = build_asset(
                build_dir / name,
                params=params,
                requirements=requirements,
                install=bundle,
                cache_dir=dependency_cache or build_dir / "dependencies",
            )
            return lambda_.Code.from_asset(str(asset))

        plan_code = code("plan", PLAN_REQUIREMENTS)
        detector_code = code("detector", DETECTOR_REQUIREMENTS)
        plan_env = {
            "PARAMS_PATH": BUNDLED_PARAMS,
            "PARAMS_KEY": params_object,
            "DATA_BUCKET": bucket.bucket_name,
            "UNLOAD_ROLE_ARN": self.unload_role.role.role_arn,
        }
        detector_env = {
            "DATA_BUCKET": bucket.bucket_name,
            "PARAMS_KEY": params_object,
            "DETECTOR_ROLE_ARN": self.unload_role.role.role_arn,
            "ALERT_TOPIC_ARN": self.alert_topic.topic_arn,
        }

        def plan_function(
            construct_id: str,
            module: str,
            description: str,
            *,
            timeout_minutes: int,
            environment: dict[str, str] = plan_env,
        ) -> ConnectorFunction:
            # The crawl's own small functions: one code asset, one size, named by module.
            return ConnectorFunction(
                self,
                construct_id,
                handler=f"lambdas.{module}.handler",
                code=plan_code,
                description=description,
                service_name=module.replace("_", "-"),
                environment=environment,
                memory_size=512,
                timeout=Duration.minutes(timeout_minutes),
            )

        self.plan_historical = plan_function(
            "PlanHistorical",
            "plan_historical",
            "Plans the historical crawl: one UNLOAD per chunk",
            timeout_minutes=2,
        )
        self.plan_continuous = plan_function(
            "PlanContinuous",
            "plan_continuous",
            "Plans the continuous crawl: every interval due since the watermark",
            timeout_minutes=1,
            environment={**plan_env, "LEASE_SECONDS": str(lease_seconds())},
        )
        self.finish_run = plan_function(
            "FinishRun",
            "finish_run",
            "Records on the watermark what a crawl landed",
            timeout_minutes=1,
        )
        watermark_object = watermark_key(params)
        read_write = ["s3:GetObject", "s3:PutObject"]
        for planner in (self.plan_historical, self.plan_continuous):
            _allow(planner.role, "PublishParams", read_write, bucket.arn_for_objects(params_object))
        for keeper in (self.plan_continuous, self.finish_run):
            # Conditional writes (If-Match / If-None-Match) need nothing beyond PutObject.
            _allow(
                keeper.role, "KeepWatermark", read_write, bucket.arn_for_objects(watermark_object)
            )
        for reader, keys in (
            (self.plan_historical, [params_object]),
            (self.plan_continuous, [params_object, watermark_object]),
            (self.finish_run, [watermark_object]),
        ):
            # Without ListBucket, S3 answers a GET of a missing key with 403, not 404:
            # the first run (no params.json or watermark yet) could not tell "absent".
            _allow(
                reader.role,
                "SeeStateObjects",
                ["s3:ListBucket"],
                bucket.bucket_arn,
                conditions={"StringEquals": {"s3:prefix": keys}},
            )
        self.build_detector = ConnectorFunction(
            self,
            "BuildDetector",
            handler="lambdas.build_detector.handler",
            code=detector_code,
            description="Creates, trains and activates the anomaly detector",
            service_name="detector-builder",
            environment=detector_env,
            memory_size=3008,
            timeout=Duration.minutes(15),
        )
        self._grant_detector_data(self.build_detector.role, bucket, prefixes.root)
        if not builtin:
            self._grant_lookoutmetrics(self.build_detector.role, params)
        self.score_interval: ConnectorFunction | None = None
        if builtin:
            self.score_interval = ConnectorFunction(
                self,
                "ScoreInterval",
                handler="lambdas.score_interval.handler",
                code=detector_code,
                description="Scores one crawled interval and sends alerts",
                service_name="detector-scorer",
                environment=detector_env,
                memory_size=1769,
                timeout=Duration.minutes(5),
            )
            self._grant_detector_data(self.score_interval.role, bucket, prefixes.root)
            # Scoring replaces the model state object and deletes the one it replaced.
            model_objects = f"{prefixes.root}detector/model/*"
            _allow(
                self.score_interval.role,
                "ReplaceModelState",
                ["s3:DeleteObject"],
                bucket.arn_for_objects(model_objects),
            )
            acknowledge(
                self.score_interval.role,
                "Each scoring writes a new model state object named by its interval and "
                "deletes the previous one; the wildcard is limited to the model's folder.",
                iam5(object_arn_finding(bucket, model_objects)),
            )
            self.alert_topic.grant_publish(self.score_interval.role)
            if params.alert_lambda_arn:
                _allow(
                    self.score_interval.role,
                    "InvokeAlertLambda",
                    ["lambda:InvokeFunction"],
                    params.alert_lambda_arn,
                )

        self.historical = HistoricalCrawl(
            self,
            "HistoricalCrawl",
            plan_function=self.plan_historical.function,
            finish_function=self.finish_run.function,
            build_function=self.build_detector.function,
            target=target,
            failure_topic=self.failure_topic,
            max_concurrency=params.crawl.max_concurrency,
            detector_name=params.detector_name,
        )
        delay = fire_delay_minutes(params.frequency, params.offset)
        cron = cron_fields(params.frequency, delay)
        self.continuous = ContinuousCrawl(
            self,
            "ContinuousCrawl",
            plan_function=self.plan_continuous.function,
            finish_function=self.finish_run.function,
            score_function=self.score_interval.function if self.score_interval else None,
            target=target,
            failure_topic=self.failure_topic,
            max_concurrency=params.crawl.max_concurrency,
            detector_name=params.detector_name,
            cron_minute=cron.minute,
            cron_hour=cron.hour,
            time_zone=params.detector.timezone,
        )
        self._outputs(params)

    def _topic(self, construct_id: str, display_name: str) -> sns.Topic:
        return sns.Topic(
            self,
            construct_id,
            display_name=display_name[:100],
            enforce_ssl=True,
            # The AWS managed key: publishers in this account need no KMS grant.
            master_key=kms.Alias.from_alias_name(self, f"{construct_id}Key", "alias/aws/sns"),
        )

    @staticmethod
    def _grant_detector_data(role: iam.IRole, bucket: s3.IBucket, root: str) -> None:
        _allow(
            role,
            "ReadWriteConnectorData",
            ["s3:GetObject", "s3:PutObject"],
            bucket.arn_for_objects(f"{root}*"),
        )
        _allow(
            role,
            "ListConnectorData",
            ["s3:ListBucket"],
            bucket.bucket_arn,
            conditions={"StringLike": {"s3:prefix": [f"{root}*"]}},
        )
        acknowledge(
            role,
            "The detector reads crawled files and writes model state and anomalies under "
            "keys named by interval; the wildcard is limited to the connector's own prefix.",
            iam5(object_arn_finding(bucket, f"{root}*")),
        )

    def _grant_lookoutmetrics(self, role: iam.IRole, params: Params) -> None:
        def arn(resource: str, name: str, sep: ArnFormat) -> str:
            return self.format_arn(
                service="lookoutmetrics", resource=resource, resource_name=name, arn_format=sep
            )

        colon = ArnFormat.COLON_RESOURCE_NAME
        resources = [
            arn("AnomalyDetector", params.detector_name, colon),
            arn("MetricSet", f"{params.detector_name}/*", ArnFormat.SLASH_RESOURCE_NAME),
            arn("Alert", params.alert_name, colon),
        ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ManageDetector",
                actions=[
                    "lookoutmetrics:CreateAnomalyDetector",
                    "lookoutmetrics:DescribeAnomalyDetector",
                    "lookoutmetrics:ActivateAnomalyDetector",
                    "lookoutmetrics:CreateMetricSet",
                    "lookoutmetrics:DescribeMetricSet",
                    "lookoutmetrics:UpdateMetricSet",
                    "lookoutmetrics:ListMetricSets",
                    "lookoutmetrics:CreateAlert",
                    "lookoutmetrics:DescribeAlert",
                    "lookoutmetrics:ListAlerts",
                ],
                resources=resources,
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListDetectors",
                # List calls take no resource ARN.
                actions=["lookoutmetrics:ListAnomalyDetectors"],
                resources=["*"],
            )
        )
        acknowledge(
            role,
            "Lookout for Metrics names metric sets under their detector "
            "(MetricSet/<detector>/<id>) and lists detectors without a resource ARN.",
            iam5("Resource::*"),
            iam5(
                "Resource::arn:<AWS::Partition>:lookoutmetrics:<AWS::Region>:<AWS::AccountId>:"
                f"MetricSet/{params.detector_name}/*"
            ),
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassSourceRole",
                actions=["iam:PassRole"],
                resources=[self.unload_role.role.role_arn],
                conditions={
                    "StringEquals": {"iam:PassedToService": "lookoutmetrics.amazonaws.com"}
                },
            )
        )

    def _outputs(self, params: Params) -> None:
        historical_arn = self.historical.state_machine.state_machine_arn
        CfnOutput(self, "DataBucketName", value=self.data.bucket.bucket_name)
        CfnOutput(self, "HistoricalCrawlStateMachineArn", value=historical_arn)
        CfnOutput(
            self,
            "ContinuousCrawlStateMachineArn",
            value=self.continuous.state_machine.state_machine_arn,
        )
        CfnOutput(self, "UnloadRoleArn", value=self.unload_role.role.role_arn)
        CfnOutput(self, "FailureTopicArn", value=self.failure_topic.topic_arn)
        CfnOutput(self, "AlertTopicArn", value=self.alert_topic.topic_arn)
        CfnOutput(
            self,
            "RecrawlCommand",
            description=(
                "Re-crawl a range before the first live interval (replace the times); "
                "for live intervals use connector recrawl (docs/recovery-commands.md)"
            ),
            value=Fn.join(
                "",
                [
                    "aws stepfunctions start-execution --state-machine-arn ",
                    historical_arn,
                    ' --input \'{"start": "2026-01-01T00:00:00Z", '
                    '"end": "2026-01-02T00:00:00Z", "build_detector": false}\'',
                ],
            ),
        )
        warehouse = params.warehouse
        role_arn = self.unload_role.role.role_arn
        if warehouse.workgroup_name:
            attach = [
                "aws redshift-serverless update-namespace --namespace-name "
                "$(aws redshift-serverless get-workgroup --workgroup-name "
                f"{warehouse.workgroup_name} --query workgroup.namespaceName --output text) "
                "--iam-roles ",
                role_arn,
                " <every role already attached>",
            ]
        else:
            attach = [
                "aws redshift modify-cluster-iam-roles --cluster-identifier "
                f"{warehouse.cluster_identifier} --add-iam-roles ",
                role_arn,
            ]
        CfnOutput(
            self,
            "AttachUnloadRoleCommand",
            description="Run once so that Redshift may assume the UNLOAD role",
            value=Fn.join("", attach),
        )
