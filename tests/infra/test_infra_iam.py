"""Least privilege, read from the synthesized policies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import PROVISIONED, SERVERLESS, resources_of, template_of

pytestmark = pytest.mark.infra

WATERMARK = "ecommerce/state/watermark.json"


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, policy in resources_of(template, "AWS::IAM::Policy").items():
        found += [(name, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(name, s) for s in inline["PolicyDocument"]["Statement"]]
    return found


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(template: dict[str, Any], policy_name: str) -> str:
    policy = template["Resources"][policy_name]["Properties"]
    [role] = policy["Roles"]
    return str(role["Ref"])


@pytest.fixture(scope="module")
def variants(provisioned: dict[str, Any], serverless: dict[str, Any]) -> list[dict[str, Any]]:
    lookout = template_of(PROVISIONED, detector={"backend": "lookoutmetrics"})
    with_user = template_of(PROVISIONED, warehouse={"db_user": "crawler"})
    return [provisioned, serverless, lookout, with_user]


def test_no_wildcard_actions_and_no_s3_star(variants: list[dict[str, Any]]) -> None:
    # Given every policy statement the connector's own constructs write
    for template in variants:
        for name, statement in _statements(template):
            for action in _listify(statement["Action"]):
                # Then no action is a wildcard
                assert "*" not in action, (name, action)
                assert action != "s3:*"


def test_no_managed_policies_on_any_role(variants: list[dict[str, Any]]) -> None:
    for template in variants:
        for name, role in resources_of(template, "AWS::IAM::Role").items():
            assert "ManagedPolicyArns" not in role["Properties"], name


def test_pass_role_only_on_the_unload_role_and_only_to_lookoutmetrics(
    variants: list[dict[str, Any]],
) -> None:
    for template in variants:
        unload_roles = [
            n for n in resources_of(template, "AWS::IAM::Role") if n.startswith("Unload")
        ]
        [unload_role] = unload_roles
        for _, statement in _statements(template):
            if "iam:PassRole" in _listify(statement["Action"]):
                assert statement["Resource"] == {"Fn::GetAtt": [unload_role, "Arn"]}
                assert statement["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "lookoutmetrics.amazonaws.com"}
                }


def test_unload_role_is_trusted_by_redshift_and_writes_only_connector_prefixes(
    provisioned: dict[str, Any],
) -> None:
    # Given the UNLOAD role and its policy
    roles = resources_of(provisioned, "AWS::IAM::Role")
    [(role_name, role)] = [(n, r) for n, r in roles.items() if n.startswith("Unload")]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "redshift.amazonaws.com"}]
    statements = [
        s for name, s in _statements(provisioned) if _role_of(provisioned, name) == role_name
    ]
    by_sid = {s["Sid"]: s for s in statements}
    # Then it may put objects under historical/ and live/ only
    assert sorted(by_sid["WriteConnectorPrefixes"]["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:PutObject",
    ]
    resources = json.dumps(by_sid["WriteConnectorPrefixes"]["Resource"])
    assert "/ecommerce/historical/*" in resources and "/ecommerce/live/*" in resources
    assert by_sid["ListConnectorPrefixes"]["Condition"] == {
        "StringLike": {"s3:prefix": ["ecommerce/historical/*", "ecommerce/live/*"]}
    }
    assert not any("s3:GetObject" in _listify(s["Action"]) for s in statements)
    assert not any("s3:DeleteObject" in _listify(s["Action"]) for s in statements)


def test_state_machines_describe_only_their_own_statements(
    provisioned: dict[str, Any],
) -> None:
    describes = [
        s
        for _, s in _statements(provisioned)
        if "redshift-data:DescribeStatement" in _listify(s["Action"])
    ]
    assert len(describes) == 2
    for statement in describes:
        assert statement["Condition"] == {
            "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
        }


def test_execute_statement_is_scoped_to_the_cluster_and_secret(
    provisioned: dict[str, Any],
) -> None:
    statements = [s for _, s in _statements(provisioned)]
    executes = [s for s in statements if "redshift-data:ExecuteStatement" in _listify(s["Action"])]
    assert executes
    for statement in executes:
        text = json.dumps(statement["Resource"])
        assert ":cluster:redshift-cluster-1" in text
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in _listify(s["Action"])]
    for statement in secrets:
        assert ":secret:redshift-l4mintegration-??????" in json.dumps(statement["Resource"])


def test_temporary_credentials_are_scoped_to_the_db_user() -> None:
    template = template_of(PROVISIONED, warehouse={"db_user": "crawler"})
    statements = [s for _, s in _statements(template)]
    credentials = [
        s for s in statements if "redshift:GetClusterCredentials" in _listify(s["Action"])
    ]
    assert credentials
    text = json.dumps(credentials[0]["Resource"])
    assert "dbuser:redshift-cluster-1/crawler" in text
    assert "dbname:redshift-cluster-1/dev" in text
    assert not any("secretsmanager:GetSecretValue" in _listify(s["Action"]) for s in statements)


def test_serverless_secret_arn_is_used_as_given() -> None:
    template = template_of(SERVERLESS)
    secrets = [
        s
        for _, s in _statements(template)
        if "secretsmanager:GetSecretValue" in _listify(s["Action"])
    ]
    assert secrets
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift-creds"
    for statement in secrets:
        assert statement["Resource"] == [arn, f"{arn}-??????"]


def _function_statements(template: dict[str, Any], handler: str) -> dict[str, dict[str, Any]]:
    """The policy statements (by Sid) of the role of the function running ``handler``."""
    functions = resources_of(template, "AWS::Lambda::Function")
    [function] = [f for f in functions.values() if f["Properties"]["Handler"] == handler]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    found = [s for name, s in _statements(template) if _role_of(template, name) == role]
    return {s.get("Sid", f"#{i}"): s for i, s in enumerate(found)}


@pytest.mark.parametrize(
    ("handler", "listed"),
    [
        ("lambdas.plan_continuous.handler", ["ecommerce/params.json", WATERMARK]),
        ("lambdas.finish_run.handler", [WATERMARK]),
    ],
)
def test_watermark_keepers_read_and_write_the_watermark_object_only(
    provisioned: dict[str, Any], handler: str, listed: list[str]
) -> None:
    # Given the role of a function that keeps the watermark
    by_sid = _function_statements(provisioned, handler)
    # Then it may get and put exactly <prefix>/state/watermark.json
    keep = by_sid["KeepWatermark"]
    assert sorted(keep["Action"]) == ["s3:GetObject", "s3:PutObject"]
    [resource] = _listify(keep["Resource"])
    assert json.dumps(resource).endswith(f'/{WATERMARK}"]]}}')
    # And may list only those keys (so that a missing one reads as 404, not 403)
    assert by_sid["SeeStateObjects"]["Action"] == "s3:ListBucket"
    assert by_sid["SeeStateObjects"]["Condition"] == {"StringEquals": {"s3:prefix": listed}}
    # And it deletes nothing and reads no data
    for statement in by_sid.values():
        assert "s3:DeleteObject" not in _listify(statement["Action"])
        assert "/live/" not in json.dumps(statement.get("Resource"))


def test_historical_planner_does_not_touch_the_watermark(provisioned: dict[str, Any]) -> None:
    by_sid = _function_statements(provisioned, "lambdas.plan_historical.handler")
    assert "KeepWatermark" not in by_sid
    assert WATERMARK not in json.dumps(list(by_sid.values()))


def test_scorer_may_delete_only_replaced_model_state(provisioned: dict[str, Any]) -> None:
    by_sid = _function_statements(provisioned, "lambdas.score_interval.handler")
    delete = by_sid["ReplaceModelState"]
    assert delete["Action"] == "s3:DeleteObject"
    [resource] = _listify(delete["Resource"])
    assert json.dumps(resource).endswith('/ecommerce/detector/model/*"]]}')
    deleting = [s for s in by_sid.values() if "s3:DeleteObject" in _listify(s["Action"])]
    assert deleting == [delete]
