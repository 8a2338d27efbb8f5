"""CloudFormation template → local definitions: every intrinsic resolved, or a loud error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.local.resolve import ResolveError, resolve_template

ACCOUNT, REGION = "123456789012", "us-east-1"


def template(definition: Any, **extra: Any) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
        "Named": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "my-data"}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": "lambdas.plan.handler",
                "Timeout": 60,
                "MemorySize": 512,
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Environment": {
                    "Variables": {
                        "DATA_BUCKET": {"Ref": "Bucket"},
                        "OPTIONAL": {"Ref": "AWS::NoValue"},
                    }
                },
            },
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"DefinitionString": definition},
        },
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {}},
    }
    return {
        "Parameters": {"BootstrapVersion": {"Type": "String", "Default": "/cdk/version"}},
        "Resources": resources,
        "Outputs": {"MachineArn": {"Value": {"Ref": "Machine"}}},
        **extra,
    }


def definition_of(value: Any, **extra: Any) -> Any:
    stack = resolve_template(template(value, **extra), account=ACCOUNT, region=REGION)
    return stack.state_machines["Machine"].definition


def join(*parts: Any) -> dict[str, Any]:
    return {"Fn::Join": ["", list(parts)]}


def test_join_of_refs_and_getatts_becomes_the_local_arns() -> None:
    # Given a definition the way CDK emits it: JSON text around Ref / Fn::GetAtt
    definition = join(
        '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"',
        {"Fn::GetAtt": ["Fn", "Arn"]},
        '","Next":"B"},"B":{"Type":"Pass","Result":"',
        {"Ref": "Topic"},
        " ",
        {"Ref": "Bucket"},
        " ",
        {"Ref": "AWS::Partition"},
        '","End":true}}}',
    )
    # When it is resolved
    resolved = definition_of(definition)

    # Then every reference is the local resource's value
    assert resolved["States"]["A"]["Resource"] == (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Fn")
    assert resolved["States"]["B"]["Result"] == (f"arn:aws:sns:{REGION}:{ACCOUNT}:Topic bucket aws")


def test_sub_resolves_refs_attributes_variables_and_keeps_escaped_literals() -> None:
    text = {
        "Fn::Sub": [
            '{"Comment":"${AWS::Region}|${Named}|${Role.Arn}|${Extra}|${!Literal}",'
            '"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}',
            {"Extra": {"Ref": "BootstrapVersion"}},
        ]
    }
    assert definition_of(text)["Comment"] == (
        f"{REGION}|my-data|arn:aws:iam::{ACCOUNT}:role/Role|/cdk/version|${{Literal}}"
    )


def test_select_split_find_in_map_and_conditions() -> None:
    comment = join(
        {"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]},
        {"Fn::FindInMap": ["Sizes", "small", "value"]},
        {"Fn::If": ["IsLocal", "-local", "-cloud"]},
    )
    definition = join(
        '{"Comment":"', comment, '","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}'
    )
    resolved = definition_of(
        definition,
        Mappings={"Sizes": {"small": {"value": "1"}}},
        Conditions={"IsLocal": {"Fn::Equals": [{"Ref": "AWS::AccountId"}, ACCOUNT]}},
    )
    assert resolved["Comment"] == "b1-local"


def test_definition_substitutions_are_applied() -> None:
    resources = template(
        '{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"${T}","End":true}}}'
    )
    resources["Resources"]["Machine"]["Properties"]["DefinitionSubstitutions"] = {
        "T": {"Ref": "Topic"}
    }
    stack = resolve_template(resources, account=ACCOUNT, region=REGION)
    assert stack.state_machines["Machine"].definition["States"]["P"]["Result"] == (
        f"arn:aws:sns:{REGION}:{ACCOUNT}:Topic"
    )


def test_functions_outputs_and_resources_are_resolved() -> None:
    stack = resolve_template(template('{"StartAt":"P","States":{}}'), account=ACCOUNT)
    function = stack.functions["Fn"]
    assert function.handler == "lambdas.plan.handler"
    assert function.environment == {"DATA_BUCKET": "bucket"}  # NoValue dropped
    assert (function.timeout_seconds, function.memory_mb) == (60, 512)
    assert function.role_arn == f"arn:aws:iam::{ACCOUNT}:role/Role"
    assert stack.state_machine_for_output("MachineArn").name == "Machine"
    assert [b.name for b in stack.of_type("AWS::S3::Bucket")] == ["bucket", "my-data"]


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"Fn::ImportValue": "Shared"}, "cannot resolve Fn::ImportValue"),
        ({"Fn::GetAZs": ""}, "cannot resolve Fn::GetAZs"),
        ({"Ref": "Vpc"}, "AWS::EC2::VPC"),
        ({"Ref": "Nowhere"}, "no resource or defaulted parameter"),
        ({"Fn::GetAtt": ["Topic", "Nope"]}, "Topic.Nope"),
        ({"Fn::GetAtt": ["Ghost", "Arn"]}, "unknown resource 'Ghost'"),
    ],
)
def test_what_cannot_be_resolved_fails_loudly_with_its_location(node: Any, message: str) -> None:
    # Given a definition that uses something the local runtime cannot resolve
    definition = join('{"Comment":"', node, '","StartAt":"P","States":{}}')

    # Then resolving names the problem and where it is
    with pytest.raises(ResolveError, match=message) as raised:
        definition_of(definition)
    assert "Resources.Machine.Properties.DefinitionString" in str(raised.value)


def test_a_definition_that_is_not_json_is_reported() -> None:
    with pytest.raises(ResolveError, match="not JSON"):
        definition_of("{not json")


def test_an_unknown_output_is_reported_with_the_known_ones() -> None:
    stack = resolve_template(template(json.dumps({"StartAt": "P", "States": {}})))
    with pytest.raises(ResolveError, match="MachineArn"):
        stack.state_machine_for_output("HistoricalCrawlStateMachineArn")
