"""Lambda packages built without Docker: content, pip invocation, caching."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from infra_support import PROVISIONED, REPO

from connector.config import load_params
from connector.infra.bundling import (
    LAMBDA_PLATFORMS,
    PLAN_REQUIREMENTS,
    BundlingError,
    build_asset,
    pinned,
    pip_command,
)

pytestmark = pytest.mark.infra


class FakePip:
    """Stands in for pip: records the command and drops a marker package in --target."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> None:
        self.commands.append(list(command))
        target = Path(command[command.index("--target") + 1])
        (target / "pydantic").mkdir(parents=True)
        (target / "pydantic" / "__init__.py").write_text("")


def test_pip_downloads_lambda_platform_wheels_only() -> None:
    # Given the requirements of the plan functions
    command = pip_command(["pydantic==2.0"], Path("/tmp/x"))
    # Then pip targets CPython 3.12 on manylinux x86_64, binary wheels only
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in command
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms == list(LAMBDA_PLATFORMS)
    assert "manylinux2014_x86_64" in platforms
    assert command[-1] == "pydantic==2.0"


def test_requirements_are_pinned_to_the_tested_versions() -> None:
    pins = pinned(PLAN_REQUIREMENTS)
    assert all("==" in pin for pin in pins)
    assert any(pin.startswith("pydantic==2.") for pin in pins)


def test_unknown_requirement_is_a_clear_error() -> None:
    with pytest.raises(BundlingError, match="not installed"):
        pinned(["surely-not-an-installed-package"])


def test_asset_holds_runtime_code_templates_and_the_validated_params(tmp_path: Path) -> None:
    # Given params whose templates live elsewhere than the asset's queries/
    params = load_params(PROVISIONED)
    pip = FakePip()
    # When a package is built with dependencies
    asset = build_asset(
        tmp_path / "plan",
        params=params,
        requirements=PLAN_REQUIREMENTS,
        install=True,
        cache_dir=tmp_path / "cache",
        run=pip,
    )
    # Then it holds the handlers, the runtime package without CDK/CLI/local code,
    # the templates, the dependencies and params.json pointing at the bundled queries
    assert (asset / "lambdas" / "plan_historical.py").exists()
    assert (asset / "connector" / "crawl.py").exists()
    assert not (asset / "connector" / "infra").exists()
    assert not (asset / "connector" / "cli").exists()
    assert not (asset / "connector" / "local").exists()
    assert sorted(p.name for p in (asset / "queries").iterdir()) == sorted(
        p.name for p in (REPO / "queries").iterdir() if p.suffix == ".j2"
    )
    assert (asset / "pydantic" / "__init__.py").exists()
    assert not list(asset.rglob("__pycache__"))
    bundled = json.loads((asset / "params.json").read_text())
    assert bundled["crawl"]["queries_dir"] == "queries"
    assert bundled["detector_name"] == params.detector_name
    assert load_params(asset / "params.json").queries_path == asset / "queries"


def test_dependencies_are_downloaded_once_per_requirement_set(tmp_path: Path) -> None:
    params = load_params(PROVISIONED)
    pip = FakePip()
    for name in ("first", "second"):
        build_asset(
            tmp_path / name,
            params=params,
            requirements=PLAN_REQUIREMENTS,
            install=True,
            cache_dir=tmp_path / "cache",
            run=pip,
        )
    assert len(pip.commands) == 1


def test_without_install_no_pip_runs(tmp_path: Path) -> None:
    params = load_params(PROVISIONED)
    pip = FakePip()
    asset = build_asset(
        tmp_path / "plan",
        params=params,
        requirements=PLAN_REQUIREMENTS,
        install=False,
        cache_dir=tmp_path / "cache",
        run=pip,
    )
    assert pip.commands == []
    assert not (asset / "pydantic").exists()
    assert (asset / "lambdas" / "plan_continuous.py").exists()


def test_a_failing_pip_leaves_no_half_filled_cache(tmp_path: Path) -> None:
    params = load_params(PROVISIONED)

    def failing(command: Sequence[str]) -> None:
        Path(command[command.index("--target") + 1]).mkdir(parents=True)
        raise BundlingError("pip could not download")

    with pytest.raises(BundlingError):
        build_asset(
            tmp_path / "plan",
            params=params,
            requirements=PLAN_REQUIREMENTS,
            install=True,
            cache_dir=tmp_path / "cache",
            run=failing,
        )
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".partial")]


def test_bundled_synth_packages_dependencies_and_reads_the_bundled_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_cdk import App

    from connector.infra import bundling
    from connector.infra.synth import FEATURE_FLAGS, build_app

    # Given pip replaced by a fake (no network in tests)
    pip = FakePip()
    monkeypatch.setattr(bundling, "_run", pip)
    # When the app is synthesized with bundling on
    app = App(outdir=str(tmp_path / "cdk.out"), context=FEATURE_FLAGS)
    _, stack = build_app(PROVISIONED, bundle=True, nag=False, app=app)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    # Then pip ran once per requirement set (plan, detector) for the Lambda platform
    assert len(pip.commands) == 2
    assert all("--platform" in command for command in pip.commands)
    # And each function's asset holds its dependencies and params.json at the task root
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    for function in functions:
        variables = function["Properties"]["Environment"]["Variables"]
        if "PARAMS_PATH" in variables:
            assert variables["PARAMS_PATH"] == "params.json"
        asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
        root = Path(assembly.directory) / f"asset.{asset_hash}"
        assert (root / "pydantic" / "__init__.py").exists()
        assert (root / "params.json").exists()
        assert (
            (root / function["Properties"]["Handler"].rsplit(".", 1)[0].replace(".", "/"))
            .with_suffix(".py")
            .exists()
        )
