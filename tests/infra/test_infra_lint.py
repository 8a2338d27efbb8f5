"""cdk-nag (AWS Solutions) and cfn-lint on the synthesized app: both must be clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cfnlint.api
import pytest
from infra_support import PROVISIONED, SERVERLESS, params_variant, retired_backend, template_of

pytestmark = pytest.mark.infra

_VARIANTS = {
    "provisioned": (PROVISIONED, {}),
    "serverless": (SERVERLESS, {}),
    "lookoutmetrics": (PROVISIONED, {"detector": {"backend": "lookoutmetrics"}}),
    "existing-bucket": (
        PROVISIONED,
        {
            "s3_bucket": "team-data-bucket",
            "alert_lambda_arn": ("arn:aws:lambda:eu-west-1:123456789012:function:on-anomaly"),
        },
    ),
}


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_cdk_nag_aws_solutions_has_no_unacknowledged_finding(variant: str) -> None:
    from connector.infra.synth import build_app

    # Given the app with cdk-nag's AWS Solutions pack (v3: findings fail synthesis)
    base, changes = _VARIANTS[variant]
    path = params_variant(base, changes) if changes else base
    app, _ = build_app(path, bundle=False, nag=True, validate=not retired_backend(changes))
    # When it is synthesized, Then validation passes (a finding would raise here)
    assembly = app.synth()
    # And the report lists no violation, and a reason for every acknowledged one
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    [plugin] = report["pluginReports"]
    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    for acknowledged in plugin["suppressedViolations"]:
        assert len(acknowledged["reason"]) > 40, acknowledged["ruleName"]


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_cfn_lint_is_clean(variant: str) -> None:
    # Given the synthesized template of a variant
    base, changes = _VARIANTS[variant]
    template: dict[str, Any] = template_of(base, **changes)
    # When cfn-lint checks it for errors and warnings; W3005 is left out: CDK makes a
    # function (or state machine) depend on its role's policy and also lists the role,
    # which GetAtt already orders, a redundancy with no effect on the deployment.
    matches = cfnlint.api.lint(
        json.dumps(template),
        config=cfnlint.api.ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=["W3005"]),
    )
    # Then it finds nothing
    assert [str(match) for match in matches] == []
