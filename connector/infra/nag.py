"""Acknowledging cdk-nag findings, each with the reason a reviewer needs.

cdk-nag v3 acknowledges one finding at a time (``AwsSolutions-IAM5[Resource::...]``),
through CDK's own ``Validations.of(scope).acknowledge``; an acknowledgment covers the
scope and its children. Findings about IAM resources name CloudFormation tokens as
``<LogicalId.Arn>``: :func:`token_name` spells them for a construct.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk.aws_s3 import IBucket
from constructs import IConstruct

__all__ = ["acknowledge", "iam5", "object_arn_finding", "token_name"]


def acknowledge(scope: IConstruct, reason: str, *findings: str) -> None:
    """Acknowledge ``findings`` on ``scope``, e.g. ``AwsSolutions::AwsSolutions-L1``."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=f, reason=reason) for f in findings))


def token_name(construct: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag prints ``Fn::GetAtt`` of ``construct``'s resource: ``<LogicalId.Arn>``."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CFN resource"
    return f"<{Stack.of(resource).get_logical_id(resource)}.{attribute}>"


def object_arn_finding(bucket: IBucket, key_pattern: str) -> str:
    """The IAM5 finding detail for ``bucket.arn_for_objects(key_pattern)``."""
    resource = bucket.node.default_child
    if isinstance(resource, CfnResource):
        return f"Resource::{token_name(resource)}/{key_pattern}"
    return f"Resource::arn:<AWS::Partition>:s3:::{bucket.bucket_name}/{key_pattern}"


def iam5(detail: str) -> str:
    """The acknowledgment id of one AwsSolutions-IAM5 (wildcard permission) finding."""
    return f"AwsSolutions::AwsSolutions-IAM5[{detail}]"
