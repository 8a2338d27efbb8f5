"""The detector Lambdas on real-shape events, over moto: settings, parsing, one call each."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from connector.detector import service
from connector.errors import DetectorError
from connector.storage import S3ObjectStore

# The handlers live in the top-level ``lambdas`` directory (the Lambda asset root), which
# is not an installed package; the shared fixtures in the sibling test module.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from test_detector_service import (
    BUCKET,
    COMBOS,
    StandInModel,
    make_params,
    next_interval,
    write_history,
    write_interval,
)

from lambdas import build_detector, score_interval


class Context:
    function_name = "detector"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:detector"
    aws_request_id = "req-1"


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3ObjectStore]:
    monkeypatch.setattr(service, "_model_class", lambda: StandInModel)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("DATA_BUCKET", BUCKET)
    monkeypatch.setenv("PARAMS_KEY", "config/params.json")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        store = S3ObjectStore(s3, BUCKET)
        store.put("config/params.json", make_params().to_json().encode())
        write_history(store)
        yield store


def test_build_handler_builds_and_returns_the_report(deployed: S3ObjectStore) -> None:
    # Given params.json and history in the bucket / When the builder Lambda runs
    result = build_detector.handler({}, Context())
    # Then the report is JSON and the detector is ACTIVE
    json.dumps(result)
    assert (result["action"], result["status"], result["series"]) == ("created", "ACTIVE", 6)
    # And a second run (retry) changes nothing; force retrains
    assert build_detector.handler({}, Context())["action"] == "unchanged"
    assert build_detector.handler({"force": True}, Context())["version"] == 2


def test_score_handler_scores_the_window(deployed: S3ObjectStore) -> None:
    build_detector.handler({}, Context())
    start = next_interval()
    write_interval(deployed, start, COMBOS)
    event = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=1)).isoformat(),
    }
    result = score_interval.handler(event, Context())
    json.dumps(result)
    assert result["status"] == "scored" and result["interval_start"] == event["window_start"]


@pytest.mark.parametrize(
    "event",
    [
        {"window_start": "2024-01-03T00:00:00", "window_end": "2024-01-03T01:00:00"},
        {"window_start": "2024-01-03T01:00:00Z", "window_end": "2024-01-03T00:00:00Z"},
        {},
    ],
)
def test_score_handler_rejects_malformed_windows(deployed: S3ObjectStore, event: Any) -> None:
    with pytest.raises(ValidationError):
        score_interval.handler(event, Context())


def test_missing_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_BUCKET", raising=False)
    with pytest.raises(ValidationError, match="DATA_BUCKET"):
        build_detector.Settings.model_validate({})


def test_build_handler_with_lookoutmetrics_fails_with_the_way_out(
    deployed: S3ObjectStore,
) -> None:
    # Given params.json asking for the retired service
    deployed.put(
        "config/params.json",
        make_params(detector={"backend": "lookoutmetrics"}).to_json().encode(),
    )
    # Then the builder raises the domain error, not botocore's UnknownServiceError
    with pytest.raises(DetectorError, match="ended in October 2025"):
        build_detector.handler({}, Context())


def test_deploy_time_values_filled_differently_do_not_block_scoring(
    deployed: S3ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the sample's params.json as shipped (no bucket) under the data prefix, and a
    # builder that fills RoleArn from its environment while the scorer does not
    original = (Path(__file__).resolve().parents[1] / "data/original_params.json").read_text()
    data = json.loads(original)
    data["detector_name"] = "shop"
    deployed.put("config/params.json", json.dumps(data).encode())
    monkeypatch.setenv("DETECTOR_ROLE_ARN", "arn:aws:iam::123456789012:role/from-env")
    assert build_detector.handler({}, Context())["action"] == "created"
    start = next_interval()
    write_interval(deployed, start, COMBOS)
    event = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=1)).isoformat(),
    }
    # Then scoring accepts the detector as built from the same params.json
    assert score_interval.handler(event, Context())["status"] == "scored"
