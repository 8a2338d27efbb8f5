"""The stack through CDK's own assertions API (``Template.from_stack``, Match, Capture)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Capture, Match, Template
from infra_support import PROVISIONED

from connector.infra.synth import build_app

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def template() -> Template:
    _, stack = build_app(PROVISIONED, bundle=False, nag=False)
    return Template.from_stack(stack)


def test_schedule_starts_the_continuous_machine_with_its_scheduled_time(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "cron(2 * * * ? *)",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": Match.object_like(
                {
                    "Input": json.dumps(
                        {"scheduled_time": "<aws.scheduler.scheduled-time>"}, separators=(",", ":")
                    )
                }
            ),
        },
    )


def test_two_standard_state_machines_with_logging_and_tracing(template: Template) -> None:
    template.resource_count_is("AWS::StepFunctions::StateMachine", 2)
    template.all_resources_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
        },
    )


def test_map_concurrency_and_loop_are_in_the_definition(template: Template) -> None:
    definition = Capture()
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine", {"DefinitionString": definition}
    )
    parts = definition.as_object()["Fn::Join"][1]
    text = "".join(part for part in parts if isinstance(part, str))
    assert '"MaxConcurrency":4' in text
    assert '"SecondsPath":"$.poll_seconds"' in text
    assert '"ClientToken.$":"$.statement.client_token"' in text


def test_unload_role_trusts_redshift_only(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "redshift.amazonaws.com"},
                    }
                ],
                "Version": Match.any_value(),
            },
            "Description": Match.string_like_regexp("UNLOAD"),
        },
    )


def test_outputs_for_the_runtime_and_the_user(template: Template) -> None:
    for name in (
        "HistoricalCrawlStateMachineArn",
        "ContinuousCrawlStateMachineArn",
        "DataBucketName",
        "UnloadRoleArn",
        "FailureTopicArn",
        "RecrawlCommand",
    ):
        template.has_output(name, {"Value": Match.any_value()})
