"""The real ``connector`` entry point: usage and domain errors exit 2 without a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("no-such-command",), "No such command"),
        (("render", "--crawl", "sideways", "--role-arn", "default"), "--crawl 'sideways'"),
        (("validate", "missing.json"), "missing.json not found"),
    ],
)
def test_usage_and_domain_errors_exit_2_without_traceback(
    args: tuple[str, ...], expected: str
) -> None:
    # Given a command line a user could mistype
    # When the real entry point runs it
    result = run_cli(*args)
    # Then it says what is wrong, exits 2 and shows no traceback
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_refuses_lookoutmetrics_backend_with_what_to_do(tmp_path: Path) -> None:
    # Given the shipped params.json switched to the retired Lookout for Metrics backend
    params = json.loads((ROOT / "params.json").read_text())
    params["detector"]["backend"] = "lookoutmetrics"
    params.pop("$schema", None)
    (tmp_path / "params.json").write_text(json.dumps(params))
    shutil.copytree(ROOT / "queries", tmp_path / "queries")
    # When it is validated
    result = run_cli("validate", "params.json", cwd=tmp_path)
    # Then validation fails before deploy, naming the end of service and the switch to builtin
    assert result.returncode == 2
    assert "October 2025" in result.stderr
    assert '"backend": "builtin"' in result.stderr
    assert "Traceback" not in result.stderr
