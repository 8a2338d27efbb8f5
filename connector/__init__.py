"""Redshift → S3 interval crawler and anomaly detector.

Runtime code lives here; the CDK constructs live in ``connector.infra`` and are
the only part that imports ``aws_cdk``.
"""

__version__ = "0.1.0"
