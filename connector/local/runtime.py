"""The embedded runtime: the deployed state machines, executed offline against DuckDB.

:class:`LocalRuntime` starts moto in-process with Step Functions in executing mode,
creates the stack's resources through the ordinary boto3 APIs under the names
:mod:`connector.local.resolve` gives them, and registers the synthesized state machine
definitions unchanged. Lambda tasks call the real handlers in-process, one at a time
(environment variables are process-wide); a handler that runs past its function's
``Timeout`` is reported as Lambda reports it (``Sandbox.Timedout``), though it was not
stopped. Redshift Data API tasks run on
:class:`~connector.local.redshift_data.DuckDBDataApi` over the user's DuckDB file; the
bucket is moto's S3 and can be exported to a folder.

EventBridge Scheduler does not fire in moto, so :meth:`LocalRuntime.drive_schedule`
plays its part: it starts the continuous crawl once per closed interval with the
schedule's input, on a simulated clock (as fast as the crawl runs) or in real time.
Poll waits are set to zero through the execution input (``poll_seconds``), which the
plan Lambdas pass on to the state machines' Wait states.

Faults for the fault-injection tests are injected through public controls only:
:meth:`LocalRuntime.inject_lambda_error` makes a handler's next invocations fail (before
or after it did its work), :meth:`DuckDBDataApi.inject
<connector.local.redshift_data.DuckDBDataApi.inject>` (``runtime.data_api``) makes
statements fail, abort or be throttled, and ``environment`` overrides the functions'
variables (e.g. a short ``LEASE_SECONDS``).
"""

from __future__ import annotations

import gc
import importlib
import itertools
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from zoneinfo import ZoneInfo

import boto3
import duckdb
from moto import mock_aws
from moto.core.config import DefaultConfig

from connector.config import Params, load_params
from connector.errors import ConnectorError
from connector.intervals import Interval, next_boundary
from connector.local import moto_hooks
from connector.local.moto_hooks import LambdaResult
from connector.local.redshift_data import DuckDBDataApi
from connector.local.resolve import (
    LOCAL_ACCOUNT,
    LOCAL_REGION,
    LocalFunction,
    LocalStack,
    LocalStateMachine,
    resolve_template,
)

__all__ = [
    "CONTINUOUS_OUTPUT",
    "HISTORICAL_OUTPUT",
    "ExecutionResult",
    "HistorySummary",
    "InjectedFault",
    "LocalRuntime",
    "LocalRuntimeError",
    "Tick",
]

HISTORICAL_OUTPUT = "HistoricalCrawlStateMachineArn"
CONTINUOUS_OUTPUT = "ContinuousCrawlStateMachineArn"
_MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
# For every boto3 client in the process, handlers' included: botocore would otherwise
# send bodies aws-chunked with a trailing CRC, which moto decodes slowly in Python, and
# moto would spill every object over 5 MB to a temporary file.
_AWS_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(1 << 31),
}
# How long a describeStatement of a running statement may wait for its end: long enough
# to spare the poll loop most turns, short enough that a status still moves visibly.
_DESCRIBE_WAIT = 0.25
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_WAIT_CHECK = 0.25  # seconds between DescribeExecution checks while waiting for a run
_LOCAL_SECRET = {"username": "local", "password": "local", "engine": "duckdb"}

Handler = Callable[[Any, Any], Any]
Clock = Literal["simulated", "realtime"]


class LocalRuntimeError(ConnectorError):
    """The local runtime cannot start or run what it was asked to."""


class InjectedFault(RuntimeError):
    """A failure :meth:`LocalRuntime.inject_lambda_error` asked for."""


@dataclass(frozen=True)
class HistorySummary:
    """What an execution did, from its event history."""

    events: int
    states_entered: Mapping[str, int]
    """State name → how many times it was entered (Map iterations count each time)."""
    failures: tuple[str, ...]
    """``"<event type>: <error>: <cause>"`` for each failure event, in order."""


@dataclass(frozen=True)
class ExecutionResult:
    """How one state machine execution ended."""

    execution_arn: str
    status: str
    input: Mapping[str, Any]
    output: Any
    error: str | None
    cause: str | None
    duration: float
    """Wall-clock seconds from StartExecution to the terminal status."""
    history: HistorySummary

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


@dataclass(frozen=True)
class Tick:
    """One firing of the emulated schedule."""

    index: int
    interval: Interval
    """The interval that closed; the crawl derives its window(s) from ``scheduled_time``."""
    scheduled_time: datetime
    result: ExecutionResult


@dataclass
class _LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalRuntime:
    """The connector's stack, emulated in this process; use it as a context manager.

    ``params_path`` is the params.json the app is synthesised from; ``warehouse`` the
    DuckDB file standing in for Redshift; ``workdir`` a folder for scratch files.
    ``template`` skips synthesis (tests synthesise once and reuse it); ``handlers``
    maps a ``Handler`` string of the template to a callable, replacing the import;
    ``environment`` is added to every function's variables (over the template's).
    """

    def __init__(
        self,
        params_path: Path | str,
        warehouse: Path | str,
        workdir: Path | str,
        *,
        template: Mapping[str, Any] | None = None,
        handlers: Mapping[str, Handler] | None = None,
        poll_seconds: int = 0,
        statement_workers: int = 2,
        execution_timeout: float = 600.0,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.params_path = Path(params_path)
        self.warehouse = Path(warehouse)
        self.workdir = Path(workdir)
        self.params: Params = load_params(self.params_path)
        self._template = template
        self._handler_overrides = dict(handlers or {})
        self._handlers: dict[str, Handler] = {}
        self.poll_seconds = poll_seconds
        self._statement_workers = statement_workers
        self._execution_timeout = execution_timeout
        self._stack: ExitStack | None = None
        self._lambda_lock = threading.Lock()
        self._names = (f"local-{i:05d}" for i in itertools.count(1))
        self.session: boto3.Session | None = None
        self.stack: LocalStack | None = None
        self.data_api: DuckDBDataApi | None = None
        self.data_bucket = ""
        self._functions: dict[str, LocalFunction] = {}
        self._sns_queue_urls: list[str] = []
        self._sns_messages: list[dict[str, Any]] = []
        self._task_root = self.workdir / "task"
        self._clients: dict[str, Any] = {}
        self._environment = dict(environment or {})
        self._started: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lambda_faults: dict[str, list[bool]] = {}
        self._ended: dict[str, float] = {}  # execution ARN -> perf_counter() at its end
        self._ended_changed = threading.Condition()

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> LocalRuntime:
        if not self.warehouse.is_file():
            raise LocalRuntimeError(
                f"warehouse {self.warehouse} does not exist; create it with "
                "'connector demo' or point --warehouse at a DuckDB file"
            )
        template = self._template if self._template is not None else self._synth()
        self.workdir.mkdir(parents=True, exist_ok=True)
        stack = ExitStack()
        try:
            mock = mock_aws(config=_MOTO_CONFIG)
            mock.start()
            stack.callback(mock.stop)
            stack.enter_context(_environment(_AWS_ENVIRONMENT))
            # The interpreter logs every caught task failure with a dump of its parse
            # tree; ExecutionResult carries the error and cause readably instead.
            stack.enter_context(_silenced("moto.stepfunctions.parser"))
            self.session = boto3.Session(region_name=LOCAL_REGION)
            self.stack = resolve_template(template, account=LOCAL_ACCOUNT, region=LOCAL_REGION)
            scratch = self.workdir / "scratch"
            scratch.mkdir(exist_ok=True)
            try:
                self.data_api = DuckDBDataApi(
                    self.warehouse,
                    s3=moto_hooks.MotoS3Writer(self.client("s3"), LOCAL_ACCOUNT),
                    workers=self._statement_workers,
                    scratch_dir=scratch,
                    describe_wait=_DESCRIBE_WAIT,
                )
            except duckdb.Error as exc:
                raise LocalRuntimeError(
                    f"cannot open the warehouse {self.warehouse}: {exc}; is it a DuckDB "
                    "database, and is no other program holding it open for writing?"
                ) from exc
            stack.callback(self.data_api.close)
            stack.enter_context(
                moto_hooks.installed(
                    lambda_invoker=self._invoke,
                    data_api=self.data_api,
                    on_execution_end=self._execution_ended,
                )
            )
            self._create_resources(self.stack)
            self._task_root = self._bundle_params()
            stack.enter_context(_frozen_heap())
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            self._clients.clear()
            self.session = None

    def client(self, service: str) -> Any:
        """A boto3 client of the emulated account (only while the runtime runs)."""
        if self.session is None:
            raise LocalRuntimeError("the local runtime is not running; use it in a with block")
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=LOCAL_REGION)
        return self._clients[service]

    def _synth(self) -> dict[str, Any]:
        # The CDK app (and with it aws_cdk) is only imported when no template is given.
        from connector.infra.synth import synth_template

        template: dict[str, Any] = synth_template(self.params_path, bundle=False)
        return template

    # --- resources --------------------------------------------------------------------

    def _create_resources(self, stack: LocalStack) -> None:
        s3, sns, sqs = self.client("s3"), self.client("sns"), self.client("sqs")
        buckets = [r.name for r in stack.of_type("AWS::S3::Bucket")]
        if self.params.s3_bucket:
            buckets.append(self.params.s3_bucket)
        for bucket in dict.fromkeys(buckets):
            s3.create_bucket(Bucket=bucket)
        self.data_bucket = self._pick_data_bucket(stack, buckets)

        secrets = self.client("secretsmanager")
        secret_names = [r.name for r in stack.of_type("AWS::SecretsManager::Secret")]
        if not self.params.warehouse.db_user:
            # The Data API tasks name it (a name or an ARN); it holds nothing real here.
            secret_names.append(self.params.secret.rsplit(":secret:", 1)[-1])
        for name in dict.fromkeys(secret_names):
            secrets.create_secret(Name=name, SecretString=json.dumps(_LOCAL_SECRET))

        for topic in stack.of_type("AWS::SNS::Topic"):
            arn = sns.create_topic(Name=topic.name)["TopicArn"]
            # SNS keeps nothing readable; an SQS subscription records every message.
            queue_url = sqs.create_queue(QueueName=f"{topic.name[:70]}-inbox")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
            self._sns_queue_urls.append(queue_url)
        for queue in stack.of_type("AWS::SQS::Queue"):
            sqs.create_queue(QueueName=queue.name)

        iam = self.client("iam")
        for role in stack.of_type("AWS::IAM::Role"):
            iam.create_role(RoleName=role.name, AssumeRolePolicyDocument="{}")
        fallback_role = iam.create_role(RoleName="local-runtime", AssumeRolePolicyDocument="{}")[
            "Role"
        ]["Arn"]

        lambda_ = self.client("lambda")
        for function in stack.functions.values():
            lambda_.create_function(
                FunctionName=function.name,
                Runtime="python3.12",
                Role=fallback_role,
                Handler=function.handler,
                Code={"ZipFile": b"local"},
                Timeout=function.timeout_seconds,
                MemorySize=function.memory_mb,
                Environment={"Variables": dict(function.environment)},
            )
            self._functions[function.arn] = function

        sfn = self.client("stepfunctions")
        for machine in stack.state_machines.values():
            sfn.create_state_machine(
                name=machine.name,
                definition=json.dumps(machine.definition),
                roleArn=fallback_role,
                type=machine.type,
            )

    def _bundle_params(self) -> Path:
        """The Lambda task root: params.json as the asset bundles it, next to nothing else.

        Handlers read ``PARAMS_PATH`` relative to ``LAMBDA_TASK_ROOT``; the bundled copy
        points ``queries_dir`` at the templates, here the user's own folder.
        """
        root = self.workdir / "task"
        root.mkdir(parents=True, exist_ok=True)
        crawl = self.params.crawl.model_copy(
            update={"queries_dir": str(self.params.queries_path.resolve())}
        )
        bundled = self.params.model_copy(update={"crawl": crawl})
        (root / "params.json").write_text(bundled.to_json(), encoding="utf-8")
        return root

    def _pick_data_bucket(self, stack: LocalStack, buckets: list[str]) -> str:
        if self.params.s3_bucket:
            return self.params.s3_bucket
        in_outputs = [b for b in buckets if b in stack.outputs.values()]
        candidates = in_outputs or buckets
        if len(candidates) != 1:
            raise LocalRuntimeError(
                "cannot tell the data bucket from the template: "
                f"{', '.join(candidates) or 'no bucket'}; name it in a stack output"
            )
        return candidates[0]

    # --- Lambda -----------------------------------------------------------------------

    def _invoke(self, function_arn: str, qualifier: str | None, payload: str) -> LambdaResult:
        function = self._functions.get(function_arn.split(":$")[0])
        if function is None:
            return _lambda_error(LocalRuntimeError(f"no local handler for {function_arn}"))
        try:
            handler = self._handler(function.handler)
            event = json.loads(payload)
        except Exception as exc:  # reported to the state machine
            return _lambda_error(exc)
        context = _LambdaContext(
            function_name=function.name,
            invoked_function_arn=function.arn,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
        )
        variables = {
            **function.environment,
            "AWS_REGION": LOCAL_REGION,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "LAMBDA_TASK_ROOT": str(self._task_root),
            **self._environment,
        }
        # Environment variables are process-wide: one handler runs at a time.
        with self._lambda_lock, _environment(variables):
            fault = self._next_lambda_fault(function.handler)
            try:
                if fault is not None and not fault:
                    raise InjectedFault(f"{function.handler} failed before running (injected)")
                began = time.monotonic()
                result = handler(event, context)
                if time.monotonic() - began > function.timeout_seconds:
                    # Lambda stops a function at its timeout; here it ran to the end, but
                    # the state machine sees the failure AWS would report.
                    return _timed_out(context)
                if fault:
                    raise InjectedFault(f"{function.handler} died after its work (injected)")
                return LambdaResult(json.dumps(result).encode())
            except Exception as exc:  # a handler error is a Lambda error
                return _lambda_error(exc)

    def inject_lambda_error(self, handler: str, *, times: int = 1, after: bool = False) -> None:
        """Make the next ``times`` invocations of ``handler`` fail with ``InjectedFault``.

        ``handler`` is the template's ``Handler`` string (``lambdas.finish_run.handler``).
        ``after=True`` runs the handler first, so its writes happen and only the
        response is lost, as when a function times out after doing its work.
        """
        with self._lambda_lock:
            self._lambda_faults.setdefault(handler, []).extend([after] * times)

    def _next_lambda_fault(self, handler: str) -> bool | None:
        pending = self._lambda_faults.get(handler)
        return pending.pop(0) if pending else None

    def _handler(self, name: str) -> Handler:
        if name in self._handler_overrides:
            return self._handler_overrides[name]
        if name not in self._handlers:
            module_name, _, attribute = name.rpartition(".")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                # Handlers live in the repository's lambdas/, beside the connector package.
                root = str(Path(__file__).resolve().parents[2])
                if root in sys.path:
                    raise
                sys.path.append(root)
                module = importlib.import_module(module_name)
            self._handlers[name] = getattr(module, attribute)
        return self._handlers[name]

    # --- executions -------------------------------------------------------------------

    def state_machine(self, output_name: str) -> LocalStateMachine:
        """The state machine a stack output names (e.g. :data:`HISTORICAL_OUTPUT`)."""
        if self.stack is None:
            raise LocalRuntimeError("the local runtime is not running; use it in a with block")
        return self.stack.state_machine_for_output(output_name)

    def execute(
        self, output_name: str, execution_input: Mapping[str, Any], *, name: str | None = None
    ) -> ExecutionResult:
        """Start the state machine of ``output_name`` and wait for it to end."""
        return self.wait(self.start(output_name, execution_input, name=name))

    def start(
        self, output_name: str, execution_input: Mapping[str, Any], *, name: str | None = None
    ) -> str:
        """Start the state machine of ``output_name``; return the execution ARN at once."""
        machine = self.state_machine(output_name)
        # moto treats a missing name as the literal name "None": always pass one.
        arn: str = self.client("stepfunctions").start_execution(
            stateMachineArn=machine.arn,
            name=name or next(self._names),
            input=json.dumps(execution_input),
        )["executionArn"]
        self._started[arn] = (time.perf_counter(), dict(execution_input))
        return arn

    def wait(self, execution_arn: str) -> ExecutionResult:
        """Wait for an execution :meth:`start` started to end."""
        sfn = self.client("stepfunctions")
        began, execution_input = self._started.pop(execution_arn, (time.perf_counter(), {}))
        deadline = time.monotonic() + self._execution_timeout
        # moto_hooks tells the moment a run ends (_execution_ended); asking moto every
        # _WAIT_CHECK seconds as well covers an ending the hook could not see.
        while (described := sfn.describe_execution(executionArn=execution_arn))[
            "status"
        ] not in _TERMINAL:
            if time.monotonic() > deadline:
                sfn.stop_execution(executionArn=execution_arn, error="LocalTimeout")
                raise LocalRuntimeError(
                    f"{execution_arn} did not finish within {self._execution_timeout:.0f} s"
                )
            with self._ended_changed:
                self._ended_changed.wait_for(lambda: execution_arn in self._ended, _WAIT_CHECK)
        with self._ended_changed:
            ended = self._ended.pop(execution_arn, time.perf_counter())
        duration = ended - began
        output = described.get("output")
        return ExecutionResult(
            execution_arn=execution_arn,
            status=described["status"],
            input=execution_input,
            output=json.loads(output) if output else None,
            error=described.get("error"),
            cause=described.get("cause"),
            duration=duration,
            history=self._history(execution_arn),
        )

    def _execution_ended(self, execution_arn: str) -> None:
        with self._ended_changed:
            self._ended[execution_arn] = time.perf_counter()
            self._ended_changed.notify_all()

    def run_historical(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        build_detector: bool = True,
    ) -> ExecutionResult:
        """Crawl ``[start, end)`` (or the default historical range), then build the detector."""
        execution_input: dict[str, Any] = {
            "poll_seconds": self.poll_seconds,
            "build_detector": build_detector,
        }
        if start is not None:
            execution_input["start"] = _iso(start)
        if end is not None:
            execution_input["end"] = _iso(end)
        return self.execute(HISTORICAL_OUTPUT, execution_input)

    def run_continuous(
        self, scheduled_time: datetime, *, name: str | None = None, run_id: str | None = None
    ) -> ExecutionResult:
        """One run of the continuous crawl, with the input its schedule sends at that time."""
        return self.wait(self.start_continuous(scheduled_time, name=name, run_id=run_id))

    def start_continuous(
        self, scheduled_time: datetime, *, name: str | None = None, run_id: str | None = None
    ) -> str:
        """Start a continuous run (see :meth:`run_continuous`) without waiting for it.

        ``run_id`` resumes an earlier execution of that name: it holds that run's lease
        and gets its statements back (their ClientTokens), as a redrive would.
        """
        schedule = self._continuous_schedule()
        execution_input: dict[str, Any] = (
            schedule.execution_input(scheduled_time)
            if schedule is not None
            else {"scheduled_time": _iso(scheduled_time)}
        )
        execution_input["poll_seconds"] = self.poll_seconds
        if run_id is not None:
            execution_input["run_id"] = run_id
        return self.start(CONTINUOUS_OUTPUT, execution_input, name=name)

    def _continuous_schedule(self) -> _Schedule | None:
        """The template's schedule (Scheduler or EventBridge rule) of the continuous crawl."""
        if self.stack is None:
            raise LocalRuntimeError("the local runtime is not running; use it in a with block")
        arn = self.state_machine(CONTINUOUS_OUTPUT).arn
        for resource in self.stack.resources.values():
            if resource.type == "AWS::Scheduler::Schedule":
                targets = [resource.properties.get("Target", {})]
            elif resource.type == "AWS::Events::Rule":
                targets = list(resource.properties.get("Targets", []))
            else:
                continue
            for target in targets:
                if target.get("Arn") == arn and "ScheduleExpression" in resource.properties:
                    return _Schedule.parse(
                        resource.logical_id,
                        resource.properties["ScheduleExpression"],
                        resource.properties.get("ScheduleExpressionTimezone", "UTC"),
                        target.get("Input", "{}"),
                    )
        return None

    def drive_schedule(
        self,
        start: datetime,
        *,
        until: datetime | None = None,
        intervals: int | None = None,
        clock: Clock = "simulated",
        on_tick: Callable[[Tick], None] | None = None,
    ) -> list[Tick]:
        """Fire the continuous crawl after each interval from ``start`` closes.

        It plays the template's schedule: after each interval closes, the crawl starts
        at the schedule's next cron time, with the schedule's input (its
        ``<aws.scheduler.scheduled-time>`` filled in). A template without a schedule
        for the crawl fires ``offset`` seconds after each close. It stops after
        ``intervals`` firings or at the last interval ending by ``until``.
        ``clock="realtime"`` sleeps until each firing time; ``"simulated"`` fires at
        once, one after the other. Without ``until`` or ``intervals`` only a real-time
        clock may run (until interrupted).
        """
        if until is None and intervals is None and clock == "simulated":
            raise LocalRuntimeError("a simulated schedule needs --until or --intervals")
        freq, tz = self.params.frequency, self.params.timezone
        offset = timedelta(seconds=self.params.offset)
        schedule = self._continuous_schedule()
        ticks: list[Tick] = []
        boundary = start
        for index in itertools.count():
            if intervals is not None and index >= intervals:
                break
            closes = next_boundary(boundary, freq, tz)
            if until is not None and closes > until:
                break
            fires = schedule.first_at_or_after(closes) if schedule else closes + offset
            if clock == "realtime":
                time.sleep(max(0.0, (fires - datetime.now(UTC)).total_seconds()))
            result = self.run_continuous(fires)
            tick = Tick(index, Interval(boundary, closes), fires, result)
            ticks.append(tick)
            if on_tick is not None:
                on_tick(tick)
            boundary = closes
        return ticks

    def _history(self, execution_arn: str) -> HistorySummary:
        events = moto_hooks.execution_history(LOCAL_ACCOUNT, LOCAL_REGION, execution_arn)
        entered: Counter[str] = Counter()
        failures: list[str] = []
        for event in events:
            details = event.get("stateEnteredEventDetails")
            if details:
                entered[details["name"]] += 1
            for key, value in event.items():
                if key.endswith("EventDetails") and isinstance(value, dict) and "error" in value:
                    failures.append(
                        f"{event['type']}: {value.get('error')}: {value.get('cause', '')}"
                    )
        return HistorySummary(len(events), dict(entered), tuple(failures))

    # --- outputs ----------------------------------------------------------------------

    def sns_messages(self) -> list[dict[str, Any]]:
        """Every message published to the stack's topics so far: Subject, Message, TopicArn."""
        sqs = self.client("sqs")
        for queue_url in self._sns_queue_urls:
            while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    envelope = json.loads(message["Body"])
                    self._sns_messages.append(
                        {
                            "TopicArn": envelope.get("TopicArn"),
                            "Subject": envelope.get("Subject"),
                            "Message": envelope.get("Message"),
                        }
                    )
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self._sns_messages)

    def export_bucket(self, dest: Path | str, *, bucket: str | None = None) -> list[Path]:
        """Copy every object of the data bucket (or ``bucket``) into ``dest``; return the files."""
        dest = Path(dest)
        s3 = self.client("s3")
        name = bucket or self.data_bucket
        written: list[Path] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                target = dest / item["Key"]
                if not target.resolve().is_relative_to(dest.resolve()):
                    raise LocalRuntimeError(f"object key {item['Key']!r} escapes {dest}")
                target.parent.mkdir(parents=True, exist_ok=True)
                # One GET per object: download_file's ranged, threaded transfer only
                # adds requests for moto to parse.
                body = s3.get_object(Bucket=name, Key=item["Key"])["Body"]
                with target.open("wb") as out:
                    shutil.copyfileobj(body, out, 1 << 20)
                written.append(target)
        return written


_SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
_CRON = re.compile(r"cron\((?P<fields>[^)]+)\)")


@dataclass(frozen=True)
class _Schedule:
    """A cron schedule of the template, as EventBridge would fire it.

    Only what a schedule of the connector uses is read: minute and hour fields
    (values, lists, ranges, steps) every day, in the schedule's time zone. Anything
    else is refused rather than fired at the wrong times.
    """

    name: str
    minutes: frozenset[int]
    hours: frozenset[int]
    zone: ZoneInfo
    input_template: str

    @classmethod
    def parse(cls, name: str, expression: str, zone: str, input_template: str) -> _Schedule:
        match = _CRON.fullmatch(expression.strip())
        fields = match.group("fields").split() if match else []
        every_day = (
            len(fields) == 6
            and fields[2] in ("*", "?")
            and fields[3] == "*"
            and fields[4] in ("*", "?")
            and fields[5] == "*"
        )
        if not every_day:
            raise LocalRuntimeError(
                f"schedule {name}: {expression!r} is not a daily cron the local runtime "
                "can fire (minute and hour fields, every day)"
            )
        try:
            return cls(
                name,
                _cron_values(fields[0], 0, 59),
                _cron_values(fields[1], 0, 23),
                ZoneInfo(zone),
                input_template,
            )
        except (ValueError, KeyError) as exc:
            raise LocalRuntimeError(f"schedule {name}: cannot read {expression!r} ({exc})") from exc

    def first_at_or_after(self, instant: datetime) -> datetime:
        """The first firing at or after ``instant`` (UTC, whole minutes)."""
        candidate = instant.astimezone(UTC)
        if candidate.second or candidate.microsecond:
            candidate = candidate.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(2 * 24 * 60):
            local = candidate.astimezone(self.zone)
            if local.minute in self.minutes and local.hour in self.hours:
                return candidate
            candidate += timedelta(minutes=1)
        raise LocalRuntimeError(f"schedule {self.name} never fires within two days")

    def execution_input(self, fires: datetime) -> dict[str, Any]:
        stamp = fires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rendered = json.loads(self.input_template.replace(_SCHEDULED_TIME, stamp))
        if not isinstance(rendered, dict):
            raise LocalRuntimeError(f"schedule {self.name}: its input is not a JSON object")
        return rendered


def _cron_values(field_text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in field_text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (int(bound) for bound in base.split("-", 1))
        else:
            first = int(base)
            last = high if step else first
        if not low <= first <= last <= high:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, int(step) if step else 1))
    return frozenset(values)


def _iso(instant: datetime) -> str:
    if instant.tzinfo is None:
        raise LocalRuntimeError(f"{instant.isoformat()} has no time zone; pass an aware datetime")
    return instant.isoformat()


def _lambda_error(exc: BaseException) -> LambdaResult:
    # The shape Lambda returns for an unhandled error; Step Functions names the error
    # after errorType, which is what Retry/Catch match.
    body = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc)[-5:],
    }
    return LambdaResult(json.dumps(body).encode(), "Unhandled")


def _timed_out(context: _LambdaContext) -> LambdaResult:
    # What Lambda answers for a function stopped at its timeout (FunctionError
    # "Unhandled"); Step Functions names the error Sandbox.Timedout.
    body = {
        "errorType": "Sandbox.Timedout",
        "errorMessage": (
            f"RequestId: {context.aws_request_id} Error: Task timed out after "
            f"{context.timeout_seconds:.2f} seconds"
        ),
    }
    return LambdaResult(json.dumps(body).encode(), "Unhandled")


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep what exists now (moto, botocore's models, the template...) out of the cyclic GC.

    A process that has synthesised the app holds millions of long-lived objects; each
    full collection walks them all (0.3-0.4 s, measured in bench/crawl_throughput.py),
    and one lands in the middle of a run every few executions. Frozen, they are skipped
    until the runtime ends; objects the runs create are collected as usual. A heap the
    caller froze itself is left frozen.
    """
    ours = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()


@contextmanager
def _silenced(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)
