"""Build and synthesize the CDK app in-process (no CDK CLI).

``app.py`` (what ``cdk synth``/``cdk deploy`` run) calls :func:`build_app`; the offline
runtime and the tests call :func:`synth_template` to get exactly the template that
would be deployed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from connector.config import Params, load_params
from connector.errors import ConnectorError, TemplateError
from connector.infra.stack import ConnectorStack, stack_name

__all__ = [
    "DEFAULT_PARAMS",
    "ContextError",
    "build_app",
    "check_params",
    "context_flag",
    "synth_template",
]

DEFAULT_PARAMS = "params.json"
# Feature flags set here rather than in cdk.json, so that an in-process synth (tests,
# the offline runtime) produces the same template as `cdk synth`.
FEATURE_FLAGS = {
    # Grant S3 access-log delivery through the bucket policy, not the legacy ACL.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


class ContextError(ConnectorError):
    """A CDK context value (``-c name=value``) is not usable."""


def context_flag(value: object, *, default: bool) -> bool:
    """A boolean from CDK context: ``-c bundle=false`` arrives as the string "false"."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ContextError(
        f"context value {value!r} is not a boolean; use true or false (e.g. -c bundle=false)"
    )


def check_params(params: Params, source: Path) -> None:
    """Run ``connector validate``'s checks; raise its error if any fails.

    Templates render for a sample window, their SELECT outputs every column params.json
    names, the UNLOAD round-trips, and the detector backend can run: a mismatch stops
    synth instead of failing in the first crawl.
    """
    # The checks live with the CLI command; imported here, so that only a validating
    # synth loads the CLI's modules.
    from connector.validation import validate_params

    failures = [c for c in validate_params(params, now=datetime.now(UTC)) if not c.ok]
    if failures:
        raise TemplateError(
            f"{source}: {len(failures)} check(s) failed:\n"
            + "\n".join(f"  - {check.what}: {check.detail}" for check in failures)
        )


def build_app(
    params_path: str | Path | None = None,
    *,
    bundle: bool | None = None,
    nag: bool = True,
    validate: bool = True,
    app: App | None = None,
) -> tuple[App, ConnectorStack]:
    """The app with its one stack, validated with cdk-nag's AWS Solutions rules.

    ``params_path`` and ``bundle`` default to the context values ``params`` and
    ``bundle`` (``cdk synth -c params=my.json -c bundle=false``), then to
    ``params.json`` and bundling on. Raises :class:`ParamsError` for an invalid file
    and, unless ``validate`` is false, :class:`TemplateError` when a check of
    ``connector validate`` fails (:func:`check_params`).
    """
    app = app or App(context=FEATURE_FLAGS)
    if params_path is None:
        params_path = app.node.try_get_context("params") or DEFAULT_PARAMS
    if bundle is None:
        bundle = context_flag(app.node.try_get_context("bundle"), default=True)
    params = load_params(Path(params_path))
    if validate:
        check_params(params, Path(params_path))
    stack = ConnectorStack(
        app,
        stack_name(params),
        params=params,
        bundle=bundle,
        build_dir=Path(app.outdir) / "lambda-build",
        dependency_cache=Path(app.outdir) / "lambda-dependencies",
        description=f"Redshift to S3 anomaly connector for detector {params.detector_name}",
    )
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def synth_template(
    params_path: Path, *, bundle: bool = False, validate: bool = True
) -> dict[str, Any]:
    """The CloudFormation template (a dict) of the stack for ``params_path``.

    Without bundling, Lambda assets hold the handler code but no dependencies: fine for
    reading the template and running the state machines offline, not for deploying.
    ``validate=False`` skips :func:`check_params` (params.json is still validated).
    """
    app, stack = build_app(params_path, bundle=bundle, nag=False, validate=validate)
    template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template
