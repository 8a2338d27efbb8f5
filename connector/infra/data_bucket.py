"""The bucket the crawlers write and the detector reads."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

__all__ = ["DataBucket"]


class DataBucket(Construct):
    """A private, encrypted, TLS-only bucket, or the existing bucket params.json names.

    Attributes:
        bucket: where ``<prefix>/historical/``, ``<prefix>/live/``, the model state and
            anomalies go.
        access_logs: the server access log bucket (``None`` for an existing bucket,
            whose logging its owner manages).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        existing_bucket_name: str | None = None,
        noncurrent_version_days: int = 30,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs: s3.Bucket | None = None
        if existing_bucket_name:
            self.bucket: s3.IBucket = s3.Bucket.from_bucket_name(
                self, "Existing", existing_bucket_name
            )
            return
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # No ACLs: S3 log delivery is granted through the bucket policy.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Data",
            # SSE-S3: Redshift UNLOAD writes to it without a KMS grant on the cluster role.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Versioning protects the detector's model state from a bad write; re-crawls
            # overwrite interval files (ALLOWOVERWRITE), so old versions expire.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data-bucket/",
            # The data outlives the stack: it is the detector's history.
            removal_policy=RemovalPolicy.RETAIN,
        )
