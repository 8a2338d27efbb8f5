"""The stack's resources and outputs, from the synthesized template."""

from __future__ import annotations

from typing import Any

import pytest
from infra_support import PROVISIONED, resources_of, template_of

pytestmark = pytest.mark.infra


def test_outputs_name_everything_a_user_and_the_local_runtime_need(
    provisioned: dict[str, Any],
) -> None:
    # Given the provisioned-cluster stack
    outputs = provisioned["Outputs"]
    # Then the state machines, bucket, role, topics and commands are exported
    assert {
        "DataBucketName",
        "HistoricalCrawlStateMachineArn",
        "ContinuousCrawlStateMachineArn",
        "UnloadRoleArn",
        "FailureTopicArn",
        "AlertTopicArn",
        "RecrawlCommand",
        "AttachUnloadRoleCommand",
    } <= set(outputs)
    machines = resources_of(provisioned, "AWS::StepFunctions::StateMachine")
    for output in ("HistoricalCrawlStateMachineArn", "ContinuousCrawlStateMachineArn"):
        assert outputs[output]["Value"]["Ref"] in machines
    recrawl = outputs["RecrawlCommand"]["Value"]["Fn::Join"][1]
    assert recrawl[0] == "aws stepfunctions start-execution --state-machine-arn "
    assert recrawl[1] == outputs["HistoricalCrawlStateMachineArn"]["Value"]
    assert '"start"' in recrawl[2] and '"end"' in recrawl[2]
    attach = "".join(
        p for p in outputs["AttachUnloadRoleCommand"]["Value"]["Fn::Join"][1] if isinstance(p, str)
    )
    assert "aws redshift modify-cluster-iam-roles --cluster-identifier redshift-cluster-1" in attach


def test_serverless_attach_command_updates_the_workgroups_namespace(
    serverless: dict[str, Any],
) -> None:
    parts = serverless["Outputs"]["AttachUnloadRoleCommand"]["Value"]["Fn::Join"][1]
    text = "".join(p for p in parts if isinstance(p, str))
    assert text.startswith("aws redshift-serverless update-namespace --namespace-name ")
    assert "--workgroup-name analytics" in text


def test_data_bucket_is_private_encrypted_tls_only_and_retained(
    provisioned: dict[str, Any],
) -> None:
    # Given the created buckets (data and its access logs)
    buckets = resources_of(provisioned, "AWS::S3::Bucket")
    data = next(b for b in buckets.values() if "LoggingConfiguration" in b["Properties"])
    props = data["Properties"]
    # Then the data bucket blocks public access, encrypts, versions, expires old versions
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LifecycleConfiguration"]["Rules"][0]["NoncurrentVersionExpiration"]
    assert data["DeletionPolicy"] == "Retain"
    # And its policy denies every request without TLS
    policies = resources_of(provisioned, "AWS::S3::BucketPolicy").values()
    denies = [
        s
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
    ]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_existing_bucket_from_params_is_used_not_created() -> None:
    # Given params.json naming an existing bucket
    template = template_of(PROVISIONED, s3_bucket="team-data-bucket")
    # Then no bucket is created and the roles point at the named one
    assert resources_of(template, "AWS::S3::Bucket") == {}
    assert template["Outputs"]["DataBucketName"]["Value"] == "team-data-bucket"
    unload = _policy_text(template, "Unload")
    assert 'arn:", {"Ref": "AWS::Partition"}, ":s3:::team-data-bucket/ecommerce/live/*' in unload


def test_lambdas_run_python_312_with_powertools_settings_and_own_log_groups(
    provisioned: dict[str, Any],
) -> None:
    functions = resources_of(provisioned, "AWS::Lambda::Function")
    handlers = {f["Properties"]["Handler"] for f in functions.values()}
    assert handlers == {
        "lambdas.plan_historical.handler",
        "lambdas.plan_continuous.handler",
        "lambdas.finish_run.handler",
        "lambdas.build_detector.handler",
        "lambdas.score_interval.handler",
    }
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_SERVICE_NAME"]
        assert variables["DATA_BUCKET"] == {"Ref": _bucket_id(provisioned)}
        assert "LogGroup" in props["LoggingConfig"]
        # Env vars hold only strings, Ref and GetAtt: the local runtime resolves those.
        for value in variables.values():
            assert isinstance(value, str) or set(value) <= {"Ref", "Fn::GetAtt"}
    planners = [
        f
        for f in functions.values()
        if f["Properties"]["Handler"].startswith(("lambdas.plan_", "lambdas.finish_"))
    ]
    for planner in planners:
        variables = planner["Properties"]["Environment"]["Variables"]
        # Relative to the task root, in Lambda and in the offline runtime alike.
        assert variables["PARAMS_PATH"] == "params.json"
        assert variables["PARAMS_KEY"] == "ecommerce/params.json"
        assert set(variables["UNLOAD_ROLE_ARN"]) == {"Fn::GetAtt"}


def test_lookoutmetrics_backend_has_no_scoring_function() -> None:
    template = template_of(PROVISIONED, detector={"backend": "lookoutmetrics"})
    handlers = {
        f["Properties"]["Handler"] for f in resources_of(template, "AWS::Lambda::Function").values()
    }
    assert "lambdas.score_interval.handler" not in handlers


def test_topics_are_encrypted_and_tls_only(provisioned: dict[str, Any]) -> None:
    topics = resources_of(provisioned, "AWS::SNS::Topic")
    assert len(topics) == 2
    for topic in topics.values():
        assert "alias/aws/sns" in str(topic["Properties"]["KmsMasterKeyId"])


def _bucket_id(template: dict[str, Any]) -> str:
    return next(
        name
        for name, b in resources_of(template, "AWS::S3::Bucket").items()
        if "LoggingConfiguration" in b["Properties"]
    )


def _policy_text(template: dict[str, Any], prefix: str) -> str:
    import json

    return json.dumps(
        [
            p["Properties"]["PolicyDocument"]
            for name, p in resources_of(template, "AWS::IAM::Policy").items()
            if name.startswith(prefix)
        ]
    )
