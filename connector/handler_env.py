"""The plan Lambdas' environment variables as a typed settings model.

The CDK stack sets these on each function (``connector/infra/stack.py``); the offline
runtime sets the same names when it calls the handlers in-process.

- ``PARAMS_PATH``: the validated params.json bundled with the function (relative paths
  are resolved against ``LAMBDA_TASK_ROOT``, else the working directory);
- ``DATA_BUCKET``: the data bucket;
- ``UNLOAD_ROLE_ARN``: the role Redshift assumes for UNLOAD;
- ``PARAMS_KEY``: where the detector functions read params.json in the bucket.

:func:`aws_client` gives the handlers their boto3 clients, made once per warm container.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import boto3
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.errors import ConnectorError, PlanError

__all__ = ["EventError", "HandlerSettings", "SettingsError", "aws_client", "parse_event"]

EventModel = TypeVar("EventModel", bound=BaseModel)


class SettingsError(ConnectorError):
    """A Lambda's environment lacks a variable the deployment sets: redeploy the stack."""


class EventError(PlanError):
    """A Lambda event (e.g. a state machine's execution input) has the wrong shape."""


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or '(event)'}: {error['msg']}"
        for error in exc.errors()
    )


def parse_event(model: type[EventModel], event: Any) -> EventModel:
    """Validate ``event``; raises :class:`EventError` naming each wrong field."""
    try:
        return model.model_validate(event if event is not None else {})
    except ValidationError as exc:
        raise EventError(f"the event is not valid: {_describe(exc)}") from exc


class HandlerSettings(BaseModel):
    """Settings of the plan Lambdas, read from the environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    params_path: Path = Field(Path("params.json"), alias="PARAMS_PATH")
    bucket: str = Field(alias="DATA_BUCKET", min_length=3, max_length=63)
    unload_role_arn: str = Field(
        alias="UNLOAD_ROLE_ARN", pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/"
    )
    params_key: str = Field("params.json", alias="PARAMS_KEY", min_length=1)
    task_root: Path | None = Field(None, alias="LAMBDA_TASK_ROOT")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HandlerSettings:
        """Read ``environ`` (default: ``os.environ``); raises :class:`SettingsError`."""
        try:
            return cls.model_validate(dict(os.environ if environ is None else environ))
        except ValidationError as exc:
            raise SettingsError(
                f"the function's environment is incomplete ({_describe(exc)}); "
                "redeploy the stack, or set these variables when running the handler locally"
            ) from exc

    @property
    def resolved_params_path(self) -> Path:
        """``PARAMS_PATH``, relative to the Lambda task root when relative."""
        if self.params_path.is_absolute():
            return self.params_path
        return (self.task_root or Path.cwd()) / self.params_path


_CLIENT_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()


def aws_client(service: str) -> Any:
    """A boto3 client for ``service``, made on first use and kept for later invocations.

    Creating a client loads its service model (10-15 ms); Lambda reuses a warm
    container's module state, so handlers keep their clients, as AWS recommends. The
    client is keyed by the region and endpoint variables it was made under, so a
    process that changes them (the offline runtime, tests) gets a matching client.
    """
    key = (service, *(os.environ.get(name) for name in _CLIENT_VARIABLES))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = boto3.client(service)
        return client
