"""The two crawl state machines and the schedule of the continuous one.

Historical crawl (one ``StartExecution`` = one crawl or re-crawl of a range)::

    PlanChunks (Lambda) → UnloadChunks (Map: executeStatement / Wait / describeStatement)
      → RecordHistory (Lambda: set the watermark where history ends, once)
      → BuildDetector? → BuildDetector (Lambda) → Summary

Continuous crawl (started by EventBridge Scheduler after each interval closes)::

    PlanIntervals (Lambda: plan from the watermark, claim the intervals)
      → UnloadIntervals (Map; each item: UnloadInterval (Parallel around the same loop)
                         → IntervalLanded | IntervalNotLanded)
      → FinishRun (Lambda: advance the watermark over what landed, release the claim)
      → [ScoreIntervals (Map, one at a time: Lambda)] → AllLanded? → Summary

An UNLOAD that fails does not stop the others: its item records ``landed: false``,
FinishRun holds the watermark at its start and the run fails after scoring what did
land, so the next run unloads it again. A failure before FinishRun releases the claim
(ReleaseRun) before it is reported. Any error caught on the way is published to the
failure topic, then the run fails.
Inputs, outputs and handler events are documented in docs/deploy.md and in the
handlers (``lambdas/plan_historical.py``, ``lambdas/plan_continuous.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, TimeZone
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from connector.infra.nag import acknowledge, iam5, token_name
from connector.infra.statement import DataApiTarget, failure_notification, unload_until_done

__all__ = ["CONTINUOUS_TIMEOUT_HOURS", "ContinuousCrawl", "HistoricalCrawl", "lease_seconds"]

CONTINUOUS_TIMEOUT_HOURS = 1


def lease_seconds(timeout_hours: int = CONTINUOUS_TIMEOUT_HOURS) -> int:
    """How long a continuous run's claim lasts: its timeout plus a margin.

    Longer than any run can take (the state machine stops it at its timeout), so a
    lease never expires under a run still unloading; short enough that a run that
    died holding it delays the catch-up by about one timeout only.
    """
    return timeout_hours * 3600 + 600


_CATCH: dict[str, Any] = {"errors": ["States.ALL"], "result_path": "$.error"}
# The plan Lambdas' event: the execution input as given, plus who is asking.
_PLAN_PAYLOAD = sfn.TaskInput.from_object(
    {
        "input": sfn.JsonPath.entire_payload,
        "execution_id": sfn.JsonPath.execution_id,
        "execution_name": sfn.JsonPath.execution_name,
    }
)


def _invoke(
    scope: Construct,
    construct_id: str,
    *,
    function: lambda_.IFunction,
    payload: sfn.TaskInput,
    selector: dict[str, Any],
    result_path: str,
) -> tasks.LambdaInvoke:
    # LambdaInvoke retries Lambda's transient service errors by default; throttling is
    # added here. Errors the handler raises are not retried: Catch reports them.
    task = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=payload,
        result_selector=selector,
        result_path=result_path,
    )
    task.add_retry(
        errors=["Lambda.TooManyRequestsException"],
        interval=Duration.seconds(2),
        backoff_rate=2.0,
        max_attempts=6,
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


def _plan(
    scope: Construct, construct_id: str, *, function: lambda_.IFunction, fields: Sequence[str]
) -> tasks.LambdaInvoke:
    """The plan Lambda's task: keeps the named fields of its answer at ``$.plan``."""
    return _invoke(
        scope,
        construct_id,
        function=function,
        payload=_PLAN_PAYLOAD,
        selector={f"{name}.$": f"$.Payload.{name}" for name in fields},
        result_path="$.plan",
    )


def _call(
    scope: Construct,
    construct_id: str,
    *,
    function: lambda_.IFunction,
    payload: dict[str, Any],
    result_path: str,
) -> tasks.LambdaInvoke:
    """A Lambda task whose whole answer is kept at ``<result_path>.result``."""
    return _invoke(
        scope,
        construct_id,
        function=function,
        payload=sfn.TaskInput.from_object(payload),
        selector={"result.$": "$.Payload"},
        result_path=result_path,
    )


def _unload_map(
    scope: Construct,
    construct_id: str,
    *,
    target: DataApiTarget,
    max_concurrency: int,
    statement_label: str,
    record_outcome: bool = False,
) -> sfn.Map:
    """Run each planned statement; with ``record_outcome`` a failed one fails only itself.

    Then each item ends as ``{"window_start", "window_end", "landed": bool, "error"?,
    "cause"?}`` and the Map's result (at ``$.unloaded``) says which intervals landed;
    without it, the first failure fails the Map and the result is discarded.
    """
    unload = sfn.Map(
        scope,
        construct_id,
        items_path="$.plan.statements",
        item_selector={
            "statement": sfn.JsonPath.string_at("$$.Map.Item.Value"),
            "poll_seconds": sfn.JsonPath.number_at("$.plan.poll_seconds"),
        },
        max_concurrency=max_concurrency,
        result_path="$.unloaded" if record_outcome else sfn.JsonPath.DISCARD,
    )
    loop = unload_until_done(scope, target=target, statement_label=statement_label)
    if not record_outcome:
        unload.item_processor(loop)
        return unload
    window = {
        "window_start": sfn.JsonPath.string_at("$.statement.window_start"),
        "window_end": sfn.JsonPath.string_at("$.statement.window_end"),
    }
    # Catch exists on Parallel, not on a chain of states: one branch wraps the loop.
    one = sfn.Parallel(scope, "UnloadInterval", result_path=sfn.JsonPath.DISCARD)
    one.branch(loop)
    landed = sfn.Pass(scope, "IntervalLanded", parameters={**window, "landed": True})
    not_landed = sfn.Pass(
        scope,
        "IntervalNotLanded",
        parameters={
            **window,
            "landed": False,
            "error": sfn.JsonPath.string_at("$.error.Error"),
            "cause": sfn.JsonPath.string_at("$.error.Cause"),
        },
    )
    one.add_catch(not_landed, errors=["States.ALL"], result_path="$.error")
    unload.item_processor(one.next(landed))
    return unload


def _state_machine(
    scope: Construct,
    *,
    definition: sfn.IChainable,
    timeout: Duration,
    target: DataApiTarget,
    functions: Sequence[lambda_.IFunction],
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    log_group = logs.LogGroup(
        scope,
        "ExecutionLogs",
        retention=logs.RetentionDays.THREE_MONTHS,
        removal_policy=RemovalPolicy.DESTROY,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
        ),
    )
    for statement in target.policy_statements():
        machine.add_to_role_policy(statement)
    acknowledge(
        machine.role,
        "No narrower resource exists: X-Ray and the CloudWatch Logs delivery APIs take no "
        "resource ARN, and redshift-data:DescribeStatement takes none either (it is "
        "conditioned on the statement's owner being this role).",
        iam5("Resource::*"),
    )
    acknowledge(
        machine.role,
        "Invoking a function's versions and aliases (<function ARN>:*) is how Step "
        "Functions' Lambda integration is granted; the functions are this stack's own.",
        *(iam5(f"Resource::{token_name(function)}:*") for function in functions),
    )
    if target.serverless:
        acknowledge(
            machine.role,
            "A Serverless workgroup ARN ends in a generated id, not the workgroup name given "
            "in params.json, so ExecuteStatement is allowed on this account's workgroups in "
            "this region.",
            iam5(
                "Resource::arn:<AWS::Partition>:redshift-serverless:<AWS::Region>:"
                "<AWS::AccountId>:workgroup/*"
            ),
        )
    return machine, log_group


class HistoricalCrawl(Construct):
    """Unloads a range of history in chunks, then builds the detector.

    Attributes:
        state_machine: the Standard state machine (output ``HistoricalCrawlStateMachineArn``).
        log_group: its execution log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan_function: lambda_.IFunction,
        finish_function: lambda_.IFunction,
        build_function: lambda_.IFunction,
        target: DataApiTarget,
        failure_topic: sns.ITopic,
        max_concurrency: int,
        detector_name: str,
        timeout_hours: int = 24,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = failure_notification(
            self, topic=failure_topic, what=f"historical crawl of detector {detector_name}"
        )
        plan = _plan(
            self,
            "PlanChunks",
            function=plan_function,
            fields=(
                "statements",
                "poll_seconds",
                "window_start",
                "window_end",
                "build_detector",
                "reset_watermark",
            ),
        ).add_catch(notify, **_CATCH)
        unload = _unload_map(
            self,
            "UnloadChunks",
            target=target,
            max_concurrency=max_concurrency,
            statement_label=f"{detector_name} historical",
        ).add_catch(notify, **_CATCH)
        # Right after the data landed, before the detector: a build that fails must not
        # hold the live crawl back, and a re-crawl leaves an existing watermark alone.
        record = _call(
            self,
            "RecordHistory",
            function=finish_function,
            payload={
                "crawl": "historical",
                "execution_name": sfn.JsonPath.execution_name,
                "window_end": sfn.JsonPath.string_at("$.plan.window_end"),
                "reset.$": "$.plan.reset_watermark",
            },
            result_path="$.watermark",
        ).add_catch(notify, **_CATCH)
        build = _call(
            self,
            "BuildDetector",
            function=build_function,
            payload={
                "execution_id": sfn.JsonPath.execution_id,
                "window_start": sfn.JsonPath.string_at("$.plan.window_start"),
                "window_end": sfn.JsonPath.string_at("$.plan.window_end"),
            },
            result_path="$.detector",
        ).add_catch(notify, **_CATCH)
        skip = sfn.Pass(
            self,
            "SkipDetector",
            result=sfn.Result.from_object({"skipped": True}),
            result_path="$.detector",
        )
        summary = sfn.Pass(
            self,
            "Summary",
            parameters={
                "window_start": sfn.JsonPath.string_at("$.plan.window_start"),
                "window_end": sfn.JsonPath.string_at("$.plan.window_end"),
                "chunks": sfn.JsonPath.array_length(sfn.JsonPath.list_at("$.plan.statements")),
                "detector": sfn.JsonPath.object_at("$.detector"),
                "watermark": sfn.JsonPath.object_at("$.watermark.result"),
            },
        )
        definition = (
            plan.next(unload)
            .next(record)
            .next(
                sfn.Choice(self, "BuildDetector?")
                .when(
                    sfn.Condition.boolean_equals("$.plan.build_detector", True),
                    build.next(summary),
                )
                .otherwise(skip.next(summary))
            )
        )
        self.state_machine, self.log_group = _state_machine(
            self,
            definition=definition,
            timeout=Duration.hours(timeout_hours),
            target=target,
            functions=[plan_function, finish_function, build_function],
        )


class ContinuousCrawl(Construct):
    """Unloads each interval once it closed, then scores it (built-in detector).

    Attributes:
        state_machine: the Standard state machine (output ``ContinuousCrawlStateMachineArn``).
        schedule: the EventBridge Scheduler schedule that starts it.
        log_group: its execution log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan_function: lambda_.IFunction,
        finish_function: lambda_.IFunction,
        score_function: lambda_.IFunction | None,
        target: DataApiTarget,
        failure_topic: sns.ITopic,
        max_concurrency: int,
        detector_name: str,
        cron_minute: str,
        cron_hour: str,
        time_zone: str,
        timeout_hours: int = CONTINUOUS_TIMEOUT_HOURS,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = failure_notification(
            self, topic=failure_topic, what=f"continuous crawl of detector {detector_name}"
        )
        finish_payload: dict[str, Any] = {
            "crawl": "continuous",
            "execution_name": sfn.JsonPath.execution_name,
            "input": sfn.JsonPath.object_at("$$.Execution.Input"),
        }
        # On the Catch path nothing is known to have landed: only the claim is released.
        release = _invoke(
            self,
            "ReleaseRun",
            function=finish_function,
            payload=sfn.TaskInput.from_object({**finish_payload, "planned": [], "unloaded": []}),
            selector={"watermark.$": "$.Payload.watermark"},
            result_path="$.release",
        ).add_catch(notify, errors=["States.ALL"], result_path="$.release_error")
        release.next(notify)
        plan = _plan(
            self,
            "PlanIntervals",
            function=plan_function,
            fields=("run_id", "statements", "poll_seconds", "intervals", "reason"),
        ).add_catch(release, **_CATCH)
        unload = _unload_map(
            self,
            "UnloadIntervals",
            target=target,
            max_concurrency=max_concurrency,
            statement_label=f"{detector_name} continuous",
            record_outcome=True,
        ).add_catch(release, **_CATCH)
        finish = _call(
            self,
            "FinishRun",
            function=finish_function,
            payload={
                **finish_payload,
                "planned": sfn.JsonPath.list_at("$.plan.intervals"),
                "unloaded": sfn.JsonPath.list_at("$.unloaded"),
            },
            result_path="$.finish",
        ).add_catch(notify, **_CATCH)
        summary: dict[str, Any] = {
            "intervals": sfn.JsonPath.list_at("$.plan.intervals"),
            "reason": sfn.JsonPath.string_at("$.plan.reason"),
            "watermark": sfn.JsonPath.string_at("$.finish.result.watermark"),
        }
        chain = plan.next(unload).next(finish)
        if score_function is not None:
            score = sfn.Map(
                self,
                "ScoreIntervals",
                items_path="$.finish.result.score",
                # In order: scoring updates the model state online.
                max_concurrency=1,
                result_path="$.scores",
            ).add_catch(notify, **_CATCH)
            score_task = _call(
                self,
                "ScoreInterval",
                function=score_function,
                payload={
                    "execution_id": sfn.JsonPath.execution_id,
                    "window_start": sfn.JsonPath.string_at("$.window_start"),
                    "window_end": sfn.JsonPath.string_at("$.window_end"),
                    "target": sfn.JsonPath.string_at("$.target"),
                },
                result_path="$.score",
            )
            # A rebuild racing this run makes the model pointer's conditional write fail;
            # scoring again reads the new model (an interval already scored is skipped).
            score_task.add_retry(
                errors=["DetectorError"],
                interval=Duration.seconds(1),
                backoff_rate=2.0,
                max_attempts=3,
                jitter_strategy=sfn.JitterType.FULL,
            )
            score.item_processor(score_task)
            summary["scores"] = sfn.JsonPath.list_at("$.scores")
            chain = chain.next(score)
        report_failure = sfn.Pass(
            self,
            "IntervalsNotLanded",
            parameters={
                "Error": sfn.JsonPath.string_at("$.finish.result.failure.Error"),
                "Cause": sfn.JsonPath.string_at("$.finish.result.failure.Cause"),
            },
            result_path="$.error",
        ).next(notify)
        definition = chain.next(
            sfn.Choice(self, "AllLanded?")
            .when(sfn.Condition.is_present("$.finish.result.failure"), report_failure)
            .otherwise(sfn.Pass(self, "Summary", parameters=summary))
        )
        self.state_machine, self.log_group = _state_machine(
            self,
            definition=definition,
            timeout=Duration.hours(timeout_hours),
            target=target,
            functions=[
                plan_function,
                finish_function,
                *([score_function] if score_function else []),
            ],
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=f"Crawl each closed {detector_name} interval",
            schedule=scheduler.ScheduleExpression.cron(
                minute=cron_minute, hour=cron_hour, time_zone=TimeZone.of(time_zone)
            ),
            target=targets.StepFunctionsStartExecution(
                self.state_machine,
                input=scheduler.ScheduleTargetInput.from_object(
                    {"scheduled_time": scheduler.ContextAttribute.scheduled_time}
                ),
                retry_attempts=3,
                max_event_age=Duration.hours(1),
            ),
        )
