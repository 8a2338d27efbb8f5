"""Lambda packages built locally, without Docker.

An asset holds the handler code (``connector/`` runtime modules, ``lambdas/``), the
query templates, the validated params.json, and — when installing — the wheels the
function imports, downloaded for the Lambda platform with pip::

    pip install --target DIR --platform manylinux2014_x86_64 --only-binary=:all:
        --python-version 3.12 --implementation cp <requirements>

Requirements are pinned to the versions installed here, i.e. the ones the tests ran.
Installed wheels are cached per requirement set, so a second synth does not run pip.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from connector.config import Params
from connector.errors import ConnectorError

__all__ = [
    "DETECTOR_REQUIREMENTS",
    "LAMBDA_PLATFORMS",
    "LAMBDA_PYTHON",
    "PLAN_REQUIREMENTS",
    "REPO_ROOT",
    "BundlingError",
    "build_asset",
    "pinned",
    "pip_command",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_PYTHON = "3.12"
# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34); pip does not widen an
# explicit --platform to older manylinux tags, so list the ones wheels are built for.
LAMBDA_PLATFORMS = (
    "manylinux2014_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_34_x86_64",
)
# What each kind of function imports. boto3 is bundled although the runtime has one:
# conditional S3 writes (IfMatch/IfNoneMatch) need a recent botocore.
PLAN_REQUIREMENTS = (
    "aws-lambda-powertools",
    "pydantic",
    "jinja2",
    "sqlglot",
    "boto3",
    "botocore",
)
DETECTOR_REQUIREMENTS = (*PLAN_REQUIREMENTS, "numpy")
# Runtime code only: the CDK app, the CLI and the offline runtime never run in Lambda.
_EXCLUDED_PACKAGES = ("infra", "cli", "local")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")

Runner = Callable[[Sequence[str]], None]


class BundlingError(ConnectorError):
    """pip could not fetch a Lambda function's dependencies."""


def pinned(requirements: Sequence[str]) -> list[str]:
    """``name==version`` of each requirement as installed in this environment."""
    pins = []
    for name in requirements:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError as exc:
            raise BundlingError(
                f"{name} is not installed here, so its tested version is unknown; run "
                "`pip install -e '.[cdk]'` before synthesizing with bundling"
            ) from exc
    return pins


def pip_command(requirements: Sequence[str], target: Path) -> list[str]:
    """The pip invocation that downloads Lambda-platform wheels into ``target``."""
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        *platforms,
        "--only-binary=:all:",
        "--python-version",
        LAMBDA_PYTHON,
        "--implementation",
        "cp",
        *requirements,
    ]


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BundlingError(
            "pip could not download the Lambda dependencies "
            f"({' '.join(command[4:])}):\n{result.stderr.strip()}\n"
            "Check network access to PyPI, or synthesize without bundling "
            "(`cdk synth -c bundle=false`) when you only need the template."
        )


def _dependencies(requirements: Sequence[str], cache_dir: Path, run: Runner) -> Path:
    pins = pinned(requirements)
    key = hashlib.sha256("\n".join([LAMBDA_PYTHON, *LAMBDA_PLATFORMS, *pins]).encode())
    target = cache_dir / f"deps-{key.hexdigest()[:16]}"
    if (target / ".complete").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    run(pip_command(pins, partial))
    (partial / ".complete").write_text("\n".join(pins) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def build_asset(
    destination: Path,
    *,
    params: Params,
    requirements: Sequence[str],
    install: bool,
    cache_dir: Path,
    source_root: Path = REPO_ROOT,
    run: Runner | None = None,
) -> Path:
    """Fill ``destination`` with one function's package and return it.

    params.json goes in as validated (its ``crawl.queries_dir`` pointing at the bundled
    ``queries/``), so a Lambda reads exactly what ``cdk synth`` checked.
    """
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    if install:
        shutil.copytree(
            _dependencies(requirements, cache_dir, run or _run),
            destination,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".complete"),
        )
    package = source_root / "connector"
    shutil.copytree(
        package,
        destination / "connector",
        ignore=lambda directory, names: [
            *_IGNORED(directory, names),
            *(n for n in names if Path(directory) == package and n in _EXCLUDED_PACKAGES),
        ],
    )
    shutil.copytree(source_root / "lambdas", destination / "lambdas", ignore=_IGNORED)
    shutil.copytree(params.queries_path, destination / "queries", ignore=_IGNORED)
    bundled = params.model_copy(
        update={"crawl": params.crawl.model_copy(update={"queries_dir": "queries"})}
    )
    (destination / "params.json").write_text(bundled.to_json(), encoding="utf-8")
    return destination
