"""The Lookout for Metrics builder against the service's last published API model.

The client comes from a botocore session whose data path includes ``tests/data``
(``lookoutmetrics/2017-07-25/service-2.json``, from botocore 1.40.60), so that
``Stubber`` validates each request's shape; a stricter walk of the model also
checks what Stubber does not: patterns, maximum lengths, enums and ranges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel, Shape
from botocore.stub import Stubber

from connector.config import Params, load_params
from connector.detector.lookoutmetrics import (
    LookoutMetricsBuilder,
    metric_set_request,
    require_client_support,
)
from connector.detector.service import build_detector, detector_status
from connector.errors import DetectorError
from connector.storage import MemoryObjectStore

DATA = Path(__file__).resolve().parents[1] / "data"
BUCKET = "test-bucket"
ROLE = "arn:aws:iam::123456789012:role/connector"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
ACCOUNT = "arn:aws:lookoutmetrics:us-east-1:123456789012"
DETECTOR_ARN = f"{ACCOUNT}:AnomalyDetector:l4m-custom-connector-detector-redshift"
METRIC_SET_ARN = f"{ACCOUNT}:MetricSet:l4m-custom-connector-detector-redshift/ms1"
ALERT_ARN = f"{ACCOUNT}:Alert:alerter"


def strict_problems(shape: Shape, value: Any, path: str = "") -> list[str]:
    """What the API model forbids in ``value`` beyond what botocore's validator checks."""
    problems: list[str] = []
    meta = shape.metadata
    if shape.type_name == "structure":
        for name in getattr(shape, "required_members", []):
            if name not in value:
                problems.append(f"{path}.{name} is required")
        for name, member in value.items():
            problems += strict_problems(shape.members[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        if not meta.get("min", 0) <= len(value) <= meta.get("max", 1 << 30):
            problems.append(f"{path} has {len(value)} items")
        for i, item in enumerate(value):
            problems += strict_problems(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "string":
        if "pattern" in meta and not re.search(meta["pattern"], value):
            problems.append(f"{path}={value!r} does not match {meta['pattern']}")
        if not meta.get("min", 0) <= len(value) <= meta.get("max", 1 << 30):
            problems.append(f"{path}={value!r} has a bad length")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}={value!r} not in {shape.enum}")
    elif shape.type_name == "integer" and not (
        meta.get("min", -(1 << 62)) <= value <= meta.get("max", 1 << 62)
    ):
        problems.append(f"{path}={value} out of range")
    return problems


@pytest.fixture
def client() -> Iterator[Any]:
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(DATA))
    made = session.create_client(
        "lookoutmetrics",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # never sent: the Stubber answers
    )
    checked: list[str] = []

    def validate(params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        problems = strict_problems(model.input_shape, params, model.name)
        assert not problems, problems
        checked.append(model.name)

    made.meta.events.register("provide-client-params.lookoutmetrics", validate)
    made.checked = checked
    yield made


def make_params(**changes: Any) -> Params:
    params = load_params(DATA / "original_params.json").with_deployment(BUCKET, ROLE)
    data = params.model_dump(by_alias=True, exclude_none=True)
    data.update({"detector": {"backend": "lookoutmetrics", "timezone": "Europe/Berlin"}, **changes})
    return Params.model_validate(data)


def expect_fresh_build(stub: Stubber, params: Params) -> None:
    stub.add_response("list_anomaly_detectors", {"AnomalyDetectorSummaryList": []}, {})
    stub.add_response(
        "create_anomaly_detector",
        {"AnomalyDetectorArn": DETECTOR_ARN},
        {
            "AnomalyDetectorName": "l4m-custom-connector-detector-redshift",
            "AnomalyDetectorDescription": "A quick sample config of how to use L4M.",
            "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        },
    )
    stub.add_response(
        "list_metric_sets", {"MetricSetSummaryList": []}, {"AnomalyDetectorArn": DETECTOR_ARN}
    )
    stub.add_response(
        "create_metric_set",
        {"MetricSetArn": METRIC_SET_ARN},
        {
            "AnomalyDetectorArn": DETECTOR_ARN,
            "MetricSetName": "l4m-custom-connector-detector-redshift-metric-set-1",
            "MetricSetDescription": "A quick sample config of how to use L4M.",
            "MetricList": [
                {"MetricName": "views", "AggregationFunction": "SUM"},
                {"MetricName": "revenue", "AggregationFunction": "SUM"},
            ],
            "DimensionList": ["platform", "marketplace"],
            "TimestampColumn": {"ColumnName": "timestamp", "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
            "Offset": 300,
            "MetricSetFrequency": "PT1H",
            "Timezone": "Europe/Berlin",
            "MetricSource": {
                "S3SourceConfig": {
                    "RoleArn": ROLE,
                    # Named by interval START, in the deployment bucket.
                    "TemplatedPathList": [
                        f"s3://{BUCKET}/l4m-custom-connector-detector/live/"
                        "{{yyyyMMdd}}/{{HHmm}}/"
                    ],
                    "HistoricalDataPathList": [
                        f"s3://{BUCKET}/l4m-custom-connector-detector/historical/"
                    ],
                    "FileFormatDescriptor": {
                        "CsvFormatDescriptor": {
                            "FileCompression": "NONE",
                            "Charset": "UTF-8",
                            "ContainsHeader": True,
                            "Delimiter": ",",
                            "QuoteSymbol": '"',
                        }
                    },
                }
            },
        },
    )
    stub.add_response("list_alerts", {"AlertSummaryList": []}, {"AnomalyDetectorArn": DETECTOR_ARN})
    stub.add_response(
        "create_alert",
        {"AlertArn": ALERT_ARN},
        {
            "AlertName": "alerter",
            "AlertSensitivityThreshold": 1,
            "AlertDescription": "Exports anomalies into s3 for visualization",
            "AnomalyDetectorArn": DETECTOR_ARN,
            "Action": {
                "SNSConfiguration": {
                    "RoleArn": ROLE,
                    "SnsTopicArn": TOPIC,
                    "SnsFormat": "LONG_TEXT",
                }
            },
        },
    )


def describe(stub: Stubber, status: str, **extra: Any) -> None:
    stub.add_response(
        "describe_anomaly_detector",
        {
            "AnomalyDetectorArn": DETECTOR_ARN,
            "AnomalyDetectorName": "l4m-custom-connector-detector-redshift",
            "AnomalyDetectorDescription": "A quick sample config of how to use L4M.",
            "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
            "Status": status,
            **extra,
        },
        {"AnomalyDetectorArn": DETECTOR_ARN},
    )


def builder(client: Any) -> LookoutMetricsBuilder:
    return LookoutMetricsBuilder(client, sleep=lambda _: None, poll_seconds=0, timeout_seconds=60)


def test_fresh_build_makes_the_original_calls_plus_alert_and_polls(client: Any) -> None:
    # Given no detector in the account
    params = make_params()
    with Stubber(client) as stub:
        expect_fresh_build(stub, params)
        describe(stub, "INACTIVE")
        stub.add_response("activate_anomaly_detector", {}, {"AnomalyDetectorArn": DETECTOR_ARN})
        describe(stub, "ACTIVATING")
        describe(stub, "ACTIVE")
        # When built
        report = builder(client).build(params, alert_topic_arn=TOPIC)
        stub.assert_no_pending_responses()
    # Then every call matched the API model and the detector is ACTIVE
    assert (report.action, report.status) == ("created", "ACTIVE")
    assert report.details["metric_set_arn"] == METRIC_SET_ARN
    assert "CreateMetricSet" in client.checked and "CreateAlert" in client.checked


def test_existing_detector_is_not_created_twice(client: Any) -> None:
    # Given the detector, its metric set and alert exist as params.json says
    params = make_params()
    wanted = metric_set_request(params)
    with Stubber(client) as stub:
        stub.add_response(
            "list_anomaly_detectors",
            {
                "AnomalyDetectorSummaryList": [
                    {"AnomalyDetectorName": "other", "AnomalyDetectorArn": f"{ACCOUNT}:x"}
                ],
                "NextToken": "page-2",
            },
            {},
        )
        stub.add_response(
            "list_anomaly_detectors",
            {
                "AnomalyDetectorSummaryList": [
                    {
                        "AnomalyDetectorName": "l4m-custom-connector-detector-redshift",
                        "AnomalyDetectorArn": DETECTOR_ARN,
                    }
                ]
            },
            {"NextToken": "page-2"},
        )
        describe(stub, "ACTIVE")
        stub.add_response(
            "list_metric_sets",
            {
                "MetricSetSummaryList": [
                    {"MetricSetName": wanted["MetricSetName"], "MetricSetArn": METRIC_SET_ARN}
                ]
            },
            {"AnomalyDetectorArn": DETECTOR_ARN},
        )
        stub.add_response(
            "describe_metric_set",
            {k: v for k, v in wanted.items() if k != "MetricSetName"},
            {"MetricSetArn": METRIC_SET_ARN},
        )
        stub.add_response(
            "list_alerts",
            {"AlertSummaryList": [{"AlertName": "alerter", "AlertArn": ALERT_ARN}]},
            {"AnomalyDetectorArn": DETECTOR_ARN},
        )
        stub.add_response(
            "describe_alert",
            {
                "Alert": {
                    "AlertName": "alerter",
                    "AlertSensitivityThreshold": 1,
                    "AlertDescription": "Exports anomalies into s3 for visualization",
                    "Action": {
                        "SNSConfiguration": {
                            "RoleArn": ROLE,
                            "SnsTopicArn": TOPIC,
                            "SnsFormat": "LONG_TEXT",
                        }
                    },
                }
            },
            {"AlertArn": ALERT_ARN},
        )
        describe(stub, "ACTIVE")
        describe(stub, "ACTIVE")
        # When built again
        report = builder(client).build(params, alert_topic_arn=TOPIC)
        stub.assert_no_pending_responses()
    # Then nothing was created, updated or re-activated
    assert (report.action, report.changes) == ("unchanged", [])


def test_changed_params_update_the_metric_set_and_alert(client: Any) -> None:
    # Given the metric set had a 600 s offset and the alert threshold 50, to a Lambda
    params = make_params(
        alert_lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:on-anomaly"
    )
    wanted = metric_set_request(params)
    action = {
        "LambdaConfiguration": {
            "RoleArn": ROLE,
            "LambdaArn": "arn:aws:lambda:us-east-1:123456789012:function:on-anomaly",
        }
    }
    with Stubber(client) as stub:
        stub.add_response(
            "list_anomaly_detectors",
            {
                "AnomalyDetectorSummaryList": [
                    {
                        "AnomalyDetectorName": "l4m-custom-connector-detector-redshift",
                        "AnomalyDetectorArn": DETECTOR_ARN,
                    }
                ]
            },
            {},
        )
        describe(stub, "ACTIVE")
        stub.add_response(
            "list_metric_sets",
            {
                "MetricSetSummaryList": [
                    {"MetricSetName": wanted["MetricSetName"], "MetricSetArn": METRIC_SET_ARN}
                ]
            },
            {"AnomalyDetectorArn": DETECTOR_ARN},
        )
        stub.add_response(
            "describe_metric_set",
            {**{k: v for k, v in wanted.items() if k != "MetricSetName"}, "Offset": 600},
            {"MetricSetArn": METRIC_SET_ARN},
        )
        stub.add_response(
            "update_metric_set",
            {"MetricSetArn": METRIC_SET_ARN},
            {"MetricSetArn": METRIC_SET_ARN, "Offset": 300},
        )
        stub.add_response(
            "list_alerts",
            {"AlertSummaryList": [{"AlertName": "alerter", "AlertArn": ALERT_ARN}]},
            {"AnomalyDetectorArn": DETECTOR_ARN},
        )
        stub.add_response(
            "describe_alert",
            {
                "Alert": {
                    "AlertName": "alerter",
                    "AlertSensitivityThreshold": 50,
                    "AlertDescription": "Exports anomalies into s3 for visualization",
                    "Action": action,
                }
            },
            {"AlertArn": ALERT_ARN},
        )
        stub.add_response(
            "update_alert",
            {"AlertArn": ALERT_ARN},
            {"AlertArn": ALERT_ARN, "AlertSensitivityThreshold": 1},
        )
        describe(stub, "ACTIVE")
        describe(stub, "ACTIVE")
        report = builder(client).build(params)
        stub.assert_no_pending_responses()
    assert report.action == "updated"
    assert [(c.path, c.old, c.new) for c in report.changes] == [
        ("Offset", 600, 300),
        ("alert.AlertSensitivityThreshold", 50, 1),
    ]


def test_activation_failure_is_reported_with_its_reason(client: Any) -> None:
    params = make_params()
    with Stubber(client) as stub:
        expect_fresh_build(stub, params)
        describe(stub, "INACTIVE")
        stub.add_response("activate_anomaly_detector", {}, {"AnomalyDetectorArn": DETECTOR_ARN})
        describe(stub, "FAILED")
        describe(stub, "FAILED", FailureReason="Access denied to s3://test-bucket")
        with pytest.raises(DetectorError, match="FAILED: Access denied"):
            builder(client).build(params, alert_topic_arn=TOPIC)


def test_service_dispatches_to_the_builder(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a botocore that knows the service (as 1.40.60 did)
    monkeypatch.setattr("connector.detector.lookoutmetrics.require_client_support", lambda: None)
    params = make_params()
    with Stubber(client) as stub:
        expect_fresh_build(stub, params)
        describe(stub, "INACTIVE")
        stub.add_response("activate_anomaly_detector", {}, {"AnomalyDetectorArn": DETECTOR_ARN})
        describe(stub, "LEARNING")
        store = MemoryObjectStore(BUCKET)
        report = build_detector(
            params,
            store,
            now=datetime(2026, 1, 1, tzinfo=UTC),
            lookoutmetrics_client=client,
            alert_topic_arn=TOPIC,
        )
    assert (report.backend, report.status) == ("lookoutmetrics", "LEARNING")
    # And the status records the detector's ARNs for `connector detector status`
    status = detector_status(params, store)
    assert status["backend"] == "lookoutmetrics"
    assert status["anomaly_detector_arn"] == DETECTOR_ARN


def test_installed_botocore_has_no_client_and_says_what_to_do() -> None:
    with pytest.raises(DetectorError, match=r"October 2025.*botocore 1\.40\.60.*builtin"):
        require_client_support()
