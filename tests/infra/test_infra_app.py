"""app.py as the CDK CLI runs it: offline synth, and a clear stop on a bad params.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_support import PROVISIONED, REPO, params_variant

from connector.errors import TemplateError

pytestmark = pytest.mark.infra

CDK = REPO / "node_modules" / ".bin" / "cdk"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # cdk.json runs "python3 app.py": the venv's interpreter must come first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = env.get(
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"
    )
    env.update(extra)
    return env


@pytest.mark.skipif(
    not CDK.exists(), reason="node_modules is missing: run `npm ci` for the pinned CDK CLI"
)
def test_pinned_cdk_cli_synthesizes_offline(tmp_path: Path) -> None:
    # Given the pinned CLI, no AWS credentials and no Docker
    env = _env(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="", AWS_PROFILE="", DOCKER="false")
    # When it synthesizes without bundling
    result = subprocess.run(
        [
            str(CDK),
            "synth",
            "--quiet",
            "--no-notices",
            "--no-version-reporting",
            "-c",
            "bundle=false",
            "-c",
            f"params={PROVISIONED}",
            "-o",
            str(tmp_path / "cdk.out"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Then the cloud assembly holds the stack's template with both state machines
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads(
        (tmp_path / "cdk.out" / "AnomalyConnector-ecommerce-anomalies.template.json").read_text()
    )
    assert {"HistoricalCrawlStateMachineArn", "ContinuousCrawlStateMachineArn"} <= set(
        template["Outputs"]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"detector_name": "x"', "is not valid JSON"),
        (
            json.dumps({"detector_name": "x", "detector_frequency": "PT2M"}),
            "detector_frequency",
        ),
    ],
)
def test_bad_params_stop_synth_with_the_validation_message(
    tmp_path: Path, content: str, message: str
) -> None:
    # Given a broken params.json passed as CDK context
    params = tmp_path / "params.json"
    params.write_text(content)
    context = json.dumps({"params": str(params), "bundle": "false"})
    # When app.py runs as the CLI would run it
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=REPO,
        env=_env(CDK_CONTEXT_JSON=context, CDK_OUTDIR=str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then it stops with exit code 2 and the validation message, no traceback
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_params_without_a_warehouse_stop_synth(tmp_path: Path) -> None:
    # Given params.json naming neither a cluster nor a workgroup (the 2022 sample's file)
    data = json.loads(PROVISIONED.read_text())
    data["warehouse"] = {"database": "dev"}
    data["crawl"]["queries_dir"] = str(REPO / "queries")
    params = tmp_path / "params.json"
    params.write_text(json.dumps(data))
    context = json.dumps({"params": str(params), "bundle": False})
    result = subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=REPO,
        env=_env(CDK_CONTEXT_JSON=context, CDK_OUTDIR=str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "warehouse.cluster_identifier" in result.stderr
    assert "Traceback" not in result.stderr


def test_retired_lookoutmetrics_backend_stops_synth() -> None:
    from connector.infra.synth import build_app

    # Given params.json asking for Lookout for Metrics, whose client boto3 no longer has
    path = params_variant(PROVISIONED, {"detector": {"backend": "lookoutmetrics"}})
    # When the app is built, Then synth stops with connector validate's message
    with pytest.raises(TemplateError, match="Lookout for Metrics ended"):
        build_app(path, bundle=False, nag=False)


def test_template_that_misses_a_column_stops_synth(tmp_path: Path) -> None:
    from connector.infra.synth import build_app

    # Given a query template whose SELECT lacks the "views" measure
    queries = tmp_path / "queries"
    queries.mkdir()
    source = (REPO / "queries" / "ecommerce.sql.j2").read_text()
    (queries / "ecommerce.sql.j2").write_text(source.replace('AS "views"', 'AS "page_views"'))
    data = json.loads(PROVISIONED.read_text())
    data["crawl"]["queries_dir"] = str(queries)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data))
    # When the app is built, Then synth stops naming the missing column
    with pytest.raises(TemplateError, match="views"):
        build_app(path, bundle=False, nag=False)
