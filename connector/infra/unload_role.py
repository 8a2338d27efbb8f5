"""The role Redshift assumes to UNLOAD into the data bucket."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from connector.infra.nag import acknowledge, iam5, object_arn_finding

__all__ = ["UnloadRole"]


class UnloadRole(Construct):
    """A role trusted by Redshift that may only list and write the connector's prefixes.

    Attach it to the cluster or Serverless namespace once (docs/deploy.md gives the
    one-line command); the crawlers name it in every ``UNLOAD ... IAM_ROLE``.

    Attributes:
        role: the role; its ARN is the ``UnloadRoleArn`` stack output.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        write_prefixes: Sequence[str],
        read_prefix: str | None = None,
        trust_lookoutmetrics: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        principals: list[iam.IPrincipal] = [iam.ServicePrincipal("redshift.amazonaws.com")]
        if trust_lookoutmetrics:
            # The Lookout for Metrics backend names this role in its metric set's
            # S3SourceConfig.RoleArn (as the 2022 sample did), so the service reads with it.
            principals.append(iam.ServicePrincipal("lookoutmetrics.amazonaws.com"))
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.CompositePrincipal(*principals),
            description="Redshift UNLOAD into the anomaly connector's data prefixes",
        )
        object_arns = [bucket.arn_for_objects(f"{prefix}*") for prefix in write_prefixes]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteConnectorPrefixes",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=object_arns,
            )
        )
        listed = [f"{prefix}*" for prefix in write_prefixes]
        if read_prefix:
            listed.append(f"{read_prefix}*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListConnectorPrefixes",
                # UNLOAD lists the target prefix before writing (and ALLOWOVERWRITE
                # decides from that listing).
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": listed}},
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="LocateBucket",
                actions=["s3:GetBucketLocation"],
                resources=[bucket.bucket_arn],
            )
        )
        if read_prefix:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="ReadConnectorData",
                    actions=["s3:GetObject"],
                    resources=[bucket.arn_for_objects(f"{read_prefix}*")],
                )
            )
        acknowledge(
            self.role,
            "UNLOAD writes files whose names Redshift generates (<prefix>0000_part_00); the "
            "wildcard is limited to the connector's own prefixes in its bucket.",
            *(iam5(object_arn_finding(bucket, f"{prefix}*")) for prefix in write_prefixes),
            *([iam5(object_arn_finding(bucket, f"{read_prefix}*"))] if read_prefix else []),
        )
