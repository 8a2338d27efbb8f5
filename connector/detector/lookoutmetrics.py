"""The Amazon Lookout for Metrics backend, kept for the record.

AWS ended Lookout for Metrics (end of support 9/10 October 2025); botocore dropped
its client after 1.40.60. This module still builds exactly the requests the 2022
sample made — create_anomaly_detector, create_metric_set, activate_anomaly_detector,
with its names (``<detector_name>-<database_type>`` and ``...-metric-set-1``) — and
what the sample missed: the metric set's ``Timezone``, an alert (SNS or Lambda) at
``alert_threshold``, idempotency by name (list first, update on change instead of a
second create failing with ConflictException), and polling until the detector is
ACTIVE (or LEARNING, when there is no history) or has clearly failed.

The requests are validated against the last published API model in the tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from connector.errors import DetectorError

if TYPE_CHECKING:
    from connector.config import Params
    from connector.detector.service import BuildReport

SERVICE = "lookoutmetrics"
# States in which the detector is running (LEARNING: activated without enough history).
_RUNNING = frozenset({"ACTIVE", "LEARNING"})
_STARTING = frozenset({"ACTIVATING", "BACK_TEST_ACTIVATING"})
_FAILED = frozenset({"FAILED", "DELETING"})
# Fields of a metric set that UpdateMetricSet can change.
_UPDATABLE = (
    "MetricList",
    "Offset",
    "TimestampColumn",
    "DimensionList",
    "MetricSetFrequency",
    "MetricSource",
)

SWITCH_ADVICE = (
    'set "detector": {"backend": "builtin"} in params.json to use the built-in detector, '
    "which reads the same S3 layout and raises the same anomaly groups and alerts"
)


def require_client_support() -> None:
    """Raise :class:`DetectorError` unless the installed botocore knows the service."""
    import botocore
    import botocore.session

    if SERVICE in botocore.session.get_session().get_available_services():
        return
    raise DetectorError(
        'detector.backend is "lookoutmetrics", but Amazon Lookout for Metrics ended in '
        f"October 2025 and botocore {botocore.__version__} has no lookoutmetrics client "
        f"(the last one shipped in botocore 1.40.60); {SWITCH_ADVICE}"
    )


def detector_name(params: Params) -> str:
    """The detector name the 2022 sample used."""
    return f"{params.detector_name}-{params.database_type}"[:63]


def metric_set_name(params: Params) -> str:
    return f"{detector_name(params)[:49]}-metric-set-1"


def metric_set_request(params: Params) -> dict[str, Any]:
    """CreateMetricSet parameters (without the detector ARN) from params.json."""
    source = params.metric_source.s3_source_config
    csv = params.csv
    request: dict[str, Any] = {
        "MetricSetName": metric_set_name(params),
        "MetricList": [
            {"MetricName": m.metric_name, "AggregationFunction": m.aggregation_function}
            for m in params.metrics_set
        ],
        "TimestampColumn": {
            "ColumnName": params.timestamp_name,
            "ColumnFormat": params.timestamp_format,
        },
        "Offset": params.offset,
        "MetricSetFrequency": params.detector_frequency,
        "Timezone": params.detector.timezone,
        "MetricSource": {
            "S3SourceConfig": {
                "RoleArn": source.role_arn,
                "TemplatedPathList": [params.live_path_template],
                "HistoricalDataPathList": [params.historical_path],
                "FileFormatDescriptor": {
                    "CsvFormatDescriptor": {
                        "FileCompression": csv.file_compression,
                        "Charset": csv.charset,
                        "ContainsHeader": csv.contains_header,
                        "Delimiter": csv.delimiter,
                        "QuoteSymbol": csv.quote_symbol,
                    }
                },
            }
        },
    }
    if params.dimension_list:
        request["DimensionList"] = list(params.dimension_list)
    if params.detector_description:
        request["MetricSetDescription"] = params.detector_description
    return request


def alert_action(params: Params, *, topic_arn: str | None, role_arn: str) -> dict[str, Any] | None:
    """The alert's Action: the params' Lambda if set, else the SNS topic, else none."""
    if params.alert_lambda_arn:
        return {"LambdaConfiguration": {"RoleArn": role_arn, "LambdaArn": params.alert_lambda_arn}}
    if topic_arn:
        return {
            "SNSConfiguration": {
                "RoleArn": role_arn,
                "SnsTopicArn": topic_arn,
                "SnsFormat": "LONG_TEXT",
            }
        }
    return None


class LookoutMetricsBuilder:
    """Creates, updates and activates one detector through an injected client."""

    def __init__(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 30.0,
        timeout_seconds: float = 600.0,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._poll = poll_seconds
        self._timeout = timeout_seconds

    def build(
        self,
        params: Params,
        *,
        alert_topic_arn: str | None = None,
        alert_role_arn: str | None = None,
    ) -> BuildReport:
        from connector.detector.service import BuildReport, Change

        began = time.perf_counter()
        role_arn = params.metric_source.s3_source_config.role_arn
        if not role_arn:
            raise DetectorError(
                "metric_source.S3SourceConfig.RoleArn is empty; Lookout for Metrics needs a "
                "role that can read the bucket (deploy first, or set it)"
            )
        name = detector_name(params)
        changes: list[Change] = []
        arn = self._find(
            "list_anomaly_detectors", "AnomalyDetectorSummaryList", "AnomalyDetectorName", name
        )
        action = "unchanged"
        if arn is None:
            create: dict[str, Any] = {
                "AnomalyDetectorName": name,
                "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": params.detector_frequency},
            }
            if params.detector_description:
                create["AnomalyDetectorDescription"] = params.detector_description
            arn = self._client.create_anomaly_detector(**create)["AnomalyDetectorArn"]
            action = "created"
        else:
            current = self._client.describe_anomaly_detector(AnomalyDetectorArn=arn)
            update: dict[str, Any] = {}
            old_frequency = current.get("AnomalyDetectorConfig", {}).get("AnomalyDetectorFrequency")
            if old_frequency != params.detector_frequency:
                update["AnomalyDetectorConfig"] = {
                    "AnomalyDetectorFrequency": params.detector_frequency
                }
                changes.append(
                    Change("detector_frequency", old_frequency, params.detector_frequency, True)
                )
            old_description = current.get("AnomalyDetectorDescription", "")
            if params.detector_description and old_description != params.detector_description:
                update["AnomalyDetectorDescription"] = params.detector_description
                changes.append(
                    Change(
                        "detector_description", old_description, params.detector_description, False
                    )
                )
            if update:
                self._client.update_anomaly_detector(AnomalyDetectorArn=arn, **update)

        metric_set_arn, metric_changes = self._metric_set(params, arn)
        changes += metric_changes
        alert_arn, alert_changes = self._alert(
            params, arn, topic_arn=alert_topic_arn, role_arn=alert_role_arn or role_arn
        )
        changes += alert_changes
        if action == "unchanged" and changes:
            action = "updated"
        status = self._activate(arn)
        return BuildReport(
            action=action,
            backend=SERVICE,
            detector_name=name,
            status=status,
            changes=changes,
            seconds=time.perf_counter() - began,
            details={
                "anomaly_detector_arn": arn,
                "metric_set_arn": metric_set_arn,
                "alert_arn": alert_arn,
            },
        )

    def _metric_set(self, params: Params, detector_arn: str) -> tuple[str, list[Any]]:
        from connector.detector.service import Change

        wanted = metric_set_request(params)
        arn = self._find(
            "list_metric_sets",
            "MetricSetSummaryList",
            "MetricSetName",
            wanted["MetricSetName"],
            AnomalyDetectorArn=detector_arn,
        )
        if arn is None:
            response = self._client.create_metric_set(AnomalyDetectorArn=detector_arn, **wanted)
            return str(response["MetricSetArn"]), []
        current = self._client.describe_metric_set(MetricSetArn=arn)
        if current.get("Timezone", "UTC") != wanted["Timezone"]:
            raise DetectorError(
                f"metric set {wanted['MetricSetName']} records time zone "
                f"{current.get('Timezone')!r}, params.json says {wanted['Timezone']!r}; Lookout "
                "for Metrics cannot change it: delete the detector and build again"
            )
        changed = {k: wanted[k] for k in _UPDATABLE if k in wanted and current.get(k) != wanted[k]}
        if changed:
            self._client.update_metric_set(MetricSetArn=arn, **changed)
        return arn, [Change(k, current.get(k), v, True) for k, v in changed.items()]

    def _alert(
        self, params: Params, detector_arn: str, *, topic_arn: str | None, role_arn: str
    ) -> tuple[str | None, list[Any]]:
        from connector.detector.service import Change

        action = alert_action(params, topic_arn=topic_arn, role_arn=role_arn)
        if action is None:
            return None, []
        threshold = round(params.alert_threshold)
        arn = self._find(
            "list_alerts",
            "AlertSummaryList",
            "AlertName",
            params.alert_name,
            AnomalyDetectorArn=detector_arn,
        )
        if arn is None:
            create: dict[str, Any] = {
                "AlertName": params.alert_name,
                "AlertSensitivityThreshold": threshold,
                "AnomalyDetectorArn": detector_arn,
                "Action": action,
            }
            if params.alert_description:
                create["AlertDescription"] = params.alert_description
            return str(self._client.create_alert(**create)["AlertArn"]), []
        current = self._client.describe_alert(AlertArn=arn).get("Alert", {})
        update: dict[str, Any] = {}
        if current.get("AlertSensitivityThreshold") != threshold:
            update["AlertSensitivityThreshold"] = threshold
        if current.get("Action") != action:
            update["Action"] = action
        if params.alert_description and current.get("AlertDescription") != params.alert_description:
            update["AlertDescription"] = params.alert_description
        if update:
            self._client.update_alert(AlertArn=arn, **update)
        return arn, [Change(f"alert.{k}", current.get(k), v, False) for k, v in update.items()]

    def _activate(self, arn: str) -> str:
        status = self._describe_status(arn)
        if status not in _RUNNING | _STARTING:
            self._client.activate_anomaly_detector(AnomalyDetectorArn=arn)
        deadline = time.monotonic() + self._timeout
        while True:
            status = self._describe_status(arn)
            if status in _RUNNING:
                return status
            if status in _FAILED:
                reason = self._client.describe_anomaly_detector(AnomalyDetectorArn=arn).get(
                    "FailureReason", "no reason given"
                )
                raise DetectorError(f"detector {arn} is {status}: {reason}")
            if time.monotonic() >= deadline:
                raise DetectorError(
                    f"detector {arn} is still {status} after {self._timeout:.0f} s; check it "
                    "in the console and build again"
                )
            self._sleep(self._poll)

    def _describe_status(self, arn: str) -> str:
        return str(self._client.describe_anomaly_detector(AnomalyDetectorArn=arn).get("Status"))

    def _find(
        self, operation: str, list_key: str, name_key: str, name: str, **kwargs: Any
    ) -> str | None:
        arn_key = name_key.replace("Name", "Arn")
        for item in self._pages(operation, list_key, **kwargs):
            if item.get(name_key) == name:
                return str(item[arn_key])
        return None

    def _pages(self, operation: str, list_key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            response = getattr(self._client, operation)(
                **kwargs, **({"NextToken": token} if token else {})
            )
            yield from response.get(list_key, [])
            token = response.get("NextToken")
            if not token:
                return
