"""Every hook the embedded runtime puts into moto's internals, and nothing else.

moto (pinned exactly in pyproject.toml) executes Step Functions definitions, but
three things our state machines need are missing (1-3), and six paths are far slower
than the DuckDB work they wrap (4-9: a 1M-row crawl took twice as long; see
bench/crawl.md). Each is bridged here, in one place, and each has a test in
``tests/unit/test_local_moto_hooks.py`` that fails loudly when a moto upgrade moves
what it relies on:

1. **Service name.** CDK's ``CallAwsService(service="redshiftdata")`` emits
   ``arn:aws:states:::aws-sdk:redshiftdata:*``; the interpreter passes ``redshiftdata``
   to boto3, which only knows ``redshift-data``. The interpreter's SFN→boto name map
   learns the alias, and its error-name map learns ``RedshiftData`` so errors are named
   ``RedshiftData.<Exception>`` as in AWS (which Retry/Catch match on).
2. **Lambda.** Without Docker, moto's simple Lambda backend echoes its input. Its
   ``invoke`` is replaced by a callable that runs our real handler in-process; a
   handler's exception comes back as a function error (``X-Amz-Function-Error``) so
   the state machine's Retry/Catch see it exactly as they would in AWS.
3. **Redshift Data API.** moto stores statements but never runs them (a poll loop
   would spin forever). Its ``redshift-data`` responses are routed to an object with
   the Data API's shape, :class:`connector.local.redshift_data.DuckDBDataApi`.
4. **UNLOAD's uploads.** Sent through botocore, every file is serialised into an HTTP
   request that moto parses again in pure Python (aws-chunked decoding alone costs
   seconds per 100 MB; see bench/crawl.md). :class:`MotoS3Writer` hands the files to
   moto's S3 backend directly: ``put_file`` makes the file DuckDB wrote the object's
   own storage (moto's ``FakeKey._value_buffer``, a spooled temporary file that moto
   reads, hashes and closes), so not one byte is copied and the emulated UNLOAD costs
   what DuckDB's own COPY costs.
5. **Execution end.** moto runs an execution on a thread and only lets a caller poll
   ``DescribeExecution``; each poll is a request served on this process's GIL, and a
   back-off makes a waiter late by up to its last pause. The interpreter's end-of-run
   callback (``BaseExecutionWorkerCommunication.terminated``) also calls a listener
   with the execution ARN, so :meth:`LocalRuntime.wait` wakes the moment a run ends.
6. **The interpreter's clients.** For every task it runs (each Lambda invoke, each
   ``executeStatement`` and ``describeStatement``), moto's interpreter builds a new
   boto3 client (``asl.utils.boto_client.boto_client_for``): 5-40 ms of CPU on the
   GIL the statements and handlers also need, more than a small crawl's own work.
   The clients are kept per region and service, for the process's life, as AWS's
   own service integrations keep their connections; botocore clients are thread-safe.
7. **Definition parsing.** Every execution re-parses its state machine's definition
   with moto's ANTLR grammar in pure Python (about 15-25 ms for the historical crawl,
   before the first state runs). The parse tree depends only on the definition text
   and is only read afterwards, so it is kept per definition; the evaluation
   components are still built fresh from it for each execution
   (``AmazonStateLanguageParser.parse``).
8. **Execution history.** ``GetExecutionHistory`` goes through moto's generic response
   serialiser, which takes longer than a small crawl itself (hundreds of events, each
   timestamp formatted and parsed back). :func:`execution_history` reads the same
   events from the backend, as Python objects; not a patch, only a read.
9. **JSONPath parsing.** Every path a state evaluates (``InputPath``, each ``.$``
   parameter, ``ResultSelector``, ``ResultPath``) is parsed again by jsonpath-ng, which
   builds a new PLY parser for it: a third of the interpreter's CPU in a crawl. The
   parsed expressions are kept per path text (they are only read by ``find`` and
   ``update_or_create``), in moto's two modules that call ``parse``.

:func:`installed` applies hooks 1-3, 5-7 and 9 for the duration of a ``with`` block and
restores moto afterwards; 4 is an object the Data API writes through, 8 a function.
The patches are process-wide (moto's backends are), so one runtime at a time per
process.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError
from moto.core.models import botocore_stubber
from moto.redshiftdata.responses import RedshiftDataAPIServiceResponse
from moto.s3.models import s3_backends
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_sns,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
    StateTaskService,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from connector.local.redshift_data import DataApiError

__all__ = [
    "DataApi",
    "LambdaInvoker",
    "LambdaResult",
    "MotoS3Writer",
    "client_cache_hook",
    "execution_end_hook",
    "installed",
    "json_path_cache_hook",
    "lambda_invoke_hook",
    "parse_cache_hook",
    "redshift_data_hook",
    "service_name_hook",
]

SFN_SERVICE = "redshiftdata"
BOTO_SERVICE = "redshift-data"
ERROR_PREFIX = "RedshiftData"

_active = threading.Lock()


class LambdaResult(NamedTuple):
    """What a Lambda invocation returns: the payload, and the function error if any."""

    payload: bytes
    function_error: str | None = None


LambdaInvoker = Callable[[str, str | None, str], LambdaResult]
"""``invoker(function_name_or_arn, qualifier, payload_json) -> LambdaResult``."""


class DataApi(Protocol):
    """The four Data API calls the hook routes (boto3 keyword names and shapes)."""

    @property
    def execute_statement(self) -> Callable[..., dict[str, Any]]: ...

    def describe_statement(self, *, Id: str) -> dict[str, Any]: ...

    def get_statement_result(self, *, Id: str, NextToken: str | None = None) -> dict[str, Any]: ...

    def cancel_statement(self, *, Id: str) -> dict[str, Any]: ...


@contextmanager
def service_name_hook() -> Iterator[None]:
    """Teach the interpreter that SFN's ``redshiftdata`` is boto3's ``redshift-data``."""
    names = StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES
    errors = state_task_service_aws_sdk._SERVICE_ERROR_NAMES
    added_name = SFN_SERVICE not in names
    added_error = SFN_SERVICE not in errors
    names[SFN_SERVICE] = BOTO_SERVICE
    errors[SFN_SERVICE] = ERROR_PREFIX
    try:
        yield
    finally:
        if added_name:
            del names[SFN_SERVICE]
        if added_error:
            del errors[SFN_SERVICE]


@contextmanager
def lambda_invoke_hook(invoker: LambdaInvoker) -> Iterator[None]:
    """Route every synchronous invoke of moto's Docker-less Lambda to ``invoker``."""
    original = LambdaSimpleBackend.invoke

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        # Resolve first so an unknown function is moto's own ResourceNotFound error.
        function = self.get_function(function_name, qualifier)
        payload = body.decode() if isinstance(body, bytes) else (body or "{}")
        result = invoker(function.function_arn, qualifier, payload)
        if result.function_error is not None:
            response_headers["x-amz-function-error"] = result.function_error
        response_headers["Content-Length"] = str(len(result.payload))
        return result.payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    try:
        yield
    finally:
        LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


_DATA_API_ACTIONS: dict[str, tuple[str, ...]] = {
    "execute_statement": (
        "Sql",
        "Database",
        "ClusterIdentifier",
        "WorkgroupName",
        "SecretArn",
        "DbUser",
        "ClientToken",
        "StatementName",
        "Parameters",
        "WithEvent",
        "SessionKeepAliveSeconds",
        "SessionId",
        "ResultFormat",
    ),
    "describe_statement": ("Id",),
    "get_statement_result": ("Id", "NextToken"),
    "cancel_statement": ("Id",),
}


@contextmanager
def redshift_data_hook(api: DataApi) -> Iterator[None]:
    """Answer moto's ``redshift-data`` requests from ``api`` instead of moto's stub."""
    originals = {name: getattr(RedshiftDataAPIServiceResponse, name) for name in _DATA_API_ACTIONS}

    def route(action: str, fields: tuple[str, ...]) -> Callable[..., Any]:
        def respond(self: RedshiftDataAPIServiceResponse) -> tuple[int, dict[str, str], str]:
            request = {f: v for f in fields if (v := self._get_param(f)) is not None}
            try:
                response = getattr(api, action)(**request)
            except DataApiError as exc:
                raise JsonRESTError(exc.code, exc.message) from exc
            return 200, {}, json.dumps(response, default=_json_timestamp)

        return respond

    for action, fields in _DATA_API_ACTIONS.items():
        setattr(RedshiftDataAPIServiceResponse, action, route(action, fields))
    try:
        yield
    finally:
        for action, original in originals.items():
            setattr(RedshiftDataAPIServiceResponse, action, original)


def _json_timestamp(value: object) -> float:
    # The Data API is a JSON-protocol service: botocore reads timestamps as epoch seconds.
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class MotoS3Writer:
    """The two S3 calls UNLOAD makes, with ``put_object`` going into moto's backend.

    ``client`` is a boto3 S3 client of the same mock (listing stays an ordinary call:
    it is cheap and keeps the ALLOWOVERWRITE check on the public API).
    """

    def __init__(self, client: Any, account_id: str, partition: str = "aws") -> None:
        self._client = client
        self._account_id = account_id
        self._partition = partition

    def list_objects_v2(self, **request: Any) -> Any:
        return self._client.list_objects_v2(**request)

    def put_object(self, *, Bucket: str, Key: str, Body: BinaryIO) -> None:
        self._backend().put_object(Bucket, Key, Body.read())

    def put_file(self, *, Bucket: str, Key: str, path: Path) -> None:
        """Store the file at ``path`` as the object without copying it, and remove its name.

        The object is created through moto's own ``put_object`` (so bucket checks,
        default encryption, versioning and notifications behave as for any upload),
        empty, then its buffer is swapped for the open file, exactly as moto's spooled
        buffer would hold a large object on disk. Its ETag is computed from the file when
        first asked for. The data stays on disk until moto disposes of the key (deleted,
        overwritten or the mock reset). Where an open file cannot be unlinked (Windows),
        the bytes are copied as by :meth:`put_object`.
        """
        handle = path.open("r+b")
        try:
            path.unlink()
        except OSError:
            handle.close()
            with path.open("rb") as body:
                self.put_object(Bucket=Bucket, Key=Key, Body=body)
            return
        try:
            key = self._backend().put_object(Bucket, Key, b"")
            with key.lock:
                key._value_buffer.close()
                key._value_buffer = handle
                key.contentsize = os.fstat(handle.fileno()).st_size
                key._etag = None
        except BaseException:
            handle.close()
            raise

    def _backend(self) -> Any:
        return s3_backends[self._account_id][self._partition]


@contextmanager
def execution_end_hook(listener: Callable[[str], None]) -> Iterator[None]:
    """Call ``listener(execution_arn)`` once an execution has ended and its status is set.

    It runs on the execution's own thread, after moto has recorded the final status,
    output, error and cause, for every ending (succeeded, failed, aborted, timed out).
    """
    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        try:
            original(self)
        finally:
            listener(self.execution.exec_arn)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseExecutionWorkerCommunication.terminated = original  # type: ignore[method-assign]


# Every interpreter module that calls boto_client_for by its imported name.
_CLIENT_USERS = (lambda_eval_utils, state_task_service_aws_sdk, state_task_service_sns)


# Kept across runtimes: the clients hold no mock state (moto's stubber is process-wide,
# switched on and off by each mock), and building one costs up to 40 ms.
_interpreter_clients: dict[tuple[str, str, bool], Any] = {}
_interpreter_clients_lock = threading.Lock()


@contextmanager
def client_cache_hook() -> Iterator[dict[tuple[str, str, bool], Any]]:
    """Make the interpreter reuse one boto3 client per region and service; yields the cache."""
    original = boto_client.boto_client_for
    cache, lock = _interpreter_clients, _interpreter_clients_lock

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # Credentials (a state's Credentials field) change nothing under moto: not keyed.
        key = (region, service, bool(botocore_stubber.enabled))
        with lock:
            client = cache.get(key)
            if client is None:
                client = cache[key] = original(region, service, state_credentials)
            return client

    for module in _CLIENT_USERS:
        module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    try:
        yield cache
    finally:
        for module in _CLIENT_USERS:
            module.boto_client_for = original  # type: ignore[attr-defined]


def execution_history(account_id: str, region: str, execution_arn: str) -> list[dict[str, Any]]:
    """The execution's history events, as ``GetExecutionHistory`` lists them (one page)."""
    backend = stepfunctions_parser_backends[account_id][region]
    # The backend keeps each event's type as an enum member; the API sends its value.
    return [
        {**event, "type": getattr(event["type"], "value", event["type"])}
        for event in backend.get_execution_history(execution_arn)["events"]
    ]


_PARSE_CACHE_SIZE = 32


@contextmanager
def parse_cache_hook() -> Iterator[dict[str, Any]]:
    """Parse each definition once; build fresh evaluation components per call.

    Yields the cache (definition text -> parse tree). A definition with syntax errors
    is not cached: it raises as before, every time.
    """
    original = AmazonStateLanguageParser.__dict__["parse"]
    trees: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            _, tree = original.__func__(definition)
            with lock:
                if len(trees) >= _PARSE_CACHE_SIZE:
                    trees.pop(next(iter(trees)))
                trees[definition] = tree
        return Preprocessor().visit(tree), tree

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
    try:
        yield trees
    finally:
        AmazonStateLanguageParser.parse = original  # type: ignore[method-assign]


# The modules of moto's interpreter that parse JSONPath, each with its own parse().
_JSON_PATH_USERS = (json_path, result_path)


@contextmanager
def json_path_cache_hook() -> Iterator[None]:
    """Parse each JSONPath text once per ``with`` block, in each module that parses."""
    originals = {module: module.parse for module in _JSON_PATH_USERS}
    for module, original in originals.items():
        module.parse = functools.lru_cache(maxsize=1024)(original)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, original in originals.items():
            module.parse = original  # type: ignore[attr-defined]


@contextmanager
def installed(
    *,
    lambda_invoker: LambdaInvoker,
    data_api: DataApi,
    on_execution_end: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """All hooks at once, for one runtime; a second concurrent runtime is refused."""
    if not _active.acquire(blocking=False):
        raise RuntimeError("another local runtime is already running in this process")
    try:
        with ExitStack() as stack:
            stack.enter_context(service_name_hook())
            stack.enter_context(lambda_invoke_hook(lambda_invoker))
            stack.enter_context(redshift_data_hook(data_api))
            stack.enter_context(client_cache_hook())
            stack.enter_context(parse_cache_hook())
            stack.enter_context(json_path_cache_hook())
            if on_execution_end is not None:
                stack.enter_context(execution_end_hook(on_execution_end))
            yield
    finally:
        _active.release()
