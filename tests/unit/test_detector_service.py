"""The detector service end to end over moto S3/SNS: build, rebuild, score, alert.

The service is tested against a tiny stand-in model (mean ± k·std per series) so
that these tests pin the service's behaviour — files, pointers, groups, alerts —
independently of the real algorithm, which has its own tests.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import boto3
import numpy as np
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from connector.config import Params, load_params
from connector.detector import service
from connector.detector.alerts import SeriesAnomaly, alert_payload, group_anomalies
from connector.detector.service import (
    build_detector,
    check_backend_available,
    detector_status,
    score_interval,
)
from connector.errors import DetectorError
from connector.intervals import Frequency, Interval
from connector.storage import S3ObjectStore

BUCKET = "test-bucket"
ROLE = "arn:aws:iam::123456789012:role/connector"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:on-anomaly"
HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY_HOURS = 48
COMBOS = [("web", "us"), ("web", "de"), ("app", "us")]


class StandInResult(NamedTuple):
    score: np.ndarray
    expected: np.ndarray
    actual: np.ndarray
    status: np.ndarray


class StandInModel:
    """Per-series mean and spread; score 0-100 from the z-score; learning under 5 points."""

    def __init__(self, total: np.ndarray, square: np.ndarray, count: np.ndarray) -> None:
        self.total, self.square, self.count = total, square, count

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        starts: np.ndarray,
        frequency: Frequency,
        *,
        sensitivity: float = 0.5,
        warmup: int | None = None,
    ) -> StandInModel:
        assert values.shape[1] == len(starts)
        assert isinstance(frequency, Frequency)
        present = ~np.isnan(values)
        filled = np.where(present, values, 0.0)
        return cls(filled.sum(1), (filled**2).sum(1), present.sum(1).astype(float))

    @classmethod
    def backtest(
        cls,
        values: np.ndarray,
        starts: np.ndarray,
        frequency: Frequency,
        *,
        share: float,
        **options: Any,
    ) -> Any:
        n = values.shape[1]
        split = n - max(1, round(n * share))
        model = cls.fit(values[:, :split], starts[:split], frequency, **options)
        results = [model.score_update(values[:, t], starts[t]) for t in range(split, n)]
        stacked = [
            np.stack([getattr(r, f) for r in results], axis=1)
            for f in ("score", "expected", "status")
        ]
        return SimpleNamespace(
            split=split, score=stacked[0], expected=stacked[1], status=stacked[2]
        )

    @property
    def n_series(self) -> int:
        return len(self.total)

    def extend(self, count: int) -> None:
        self.total, self.square, self.count = (
            np.concatenate([a, np.zeros(count)]) for a in (self.total, self.square, self.count)
        )

    def score_update(self, values: np.ndarray, start: np.datetime64) -> StandInResult:
        assert values.shape == (self.n_series,)
        assert isinstance(start, np.datetime64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.total / self.count
            std = np.sqrt(np.maximum(self.square / self.count - mean**2, 0)) + 1.0
            score = np.clip(np.abs(values - mean) / std * 10, 0, 100)
        status = np.where(np.isnan(values), "missing", np.where(self.count < 5, "learning", "ok"))
        score = np.where(status == "ok", score, 0.0)
        present = ~np.isnan(values)
        self.total[present] += values[present]
        self.square[present] += values[present] ** 2
        self.count[present] += 1
        return StandInResult(score, mean, values, status)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, total=self.total, square=self.square, count=self.count)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> StandInModel:
        arrays = np.load(io.BytesIO(data))
        return cls(arrays["total"], arrays["square"], arrays["count"])


@pytest.fixture(autouse=True)
def stand_in_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "_model_class", lambda: StandInModel)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        yield {
            "store": S3ObjectStore(s3, BUCKET),
            "sns": sns,
            "sqs": sqs,
            "topic": topic,
            "queue": queue,
        }


def make_params(**changes: Any) -> Params:
    params = load_params(
        Path(__file__).resolve().parents[1] / "data" / "original_params.json"
    ).with_deployment(BUCKET, ROLE)
    data = params.model_dump(by_alias=True, exclude_none=True)
    data.update({"detector_name": "shop", "alert_threshold": 60, **changes})
    data["metric_source"]["S3SourceConfig"]["HistoricalDataPathList"] = [
        f"s3://{BUCKET}/shop/historical/"
    ]
    data["metric_source"]["S3SourceConfig"]["TemplatedPathList"] = [
        f"s3://{BUCKET}/shop/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}/"
    ]
    return Params.model_validate(data)


def _rows(hour: datetime, combos: list[tuple[str, str]], views: float = 100.0) -> str:
    # Two rows per combination and hour, so that SUM adds them.
    return "".join(
        f"{(hour + timedelta(minutes=m)):%Y-%m-%d %H:%M:%S},{p},{mk},{views / 2 + i},"
        f"{views * 0.15 + i}\n"
        for i, (p, mk) in enumerate(combos)
        for m in (10, 40)
    )


def write_history(store: S3ObjectStore, hours: int = HISTORY_HOURS) -> None:
    header = "timestamp,platform,marketplace,views,revenue\n"
    for day in range(0, hours, 24):
        body = header + "".join(
            _rows(HISTORY_START + timedelta(hours=h), COMBOS)
            for h in range(day, min(day + 24, hours))
        )
        store.put(f"shop/historical/part_{day:04d}_000", body.encode())


def write_interval(
    store: S3ObjectStore, start: datetime, combos: list[tuple[str, str]], views: float = 100.0
) -> Interval:
    header = "timestamp,platform,marketplace,views,revenue\n"
    store.put(
        f"shop/live/{start:%Y%m%d}/{start:%H%M}/part_000",
        (header + _rows(start, combos, views)).encode(),
    )
    return Interval(start, start + timedelta(hours=1))


def next_interval(hours_after_history: int = 0) -> datetime:
    return HISTORY_START + timedelta(hours=HISTORY_HOURS + hours_after_history)


def received(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = (
        aws["sqs"]
        .receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    return [json.loads(m["Body"]) for m in messages]


NOW = datetime(2024, 1, 3, 1, tzinfo=UTC)


def test_build_trains_persists_and_records_active(aws: dict[str, Any]) -> None:
    # Given two days of crawled history
    store = aws["store"]
    write_history(store)
    # When the detector is built
    report = build_detector(make_params(), store, now=NOW)
    # Then it is created, ACTIVE, with 3 combinations x 2 measures over 48 hours
    assert (report.action, report.status, report.version) == ("created", "ACTIVE", 1)
    assert (report.series, report.intervals) == (6, HISTORY_HOURS)
    assert report.history_end == "2024-01-02T23:00:00+00:00"
    pointer = json.loads(store.get("shop/detector/model/current.json").body)
    assert store.exists(pointer["state_key"]) and store.exists(pointer["series_key"])
    series = json.loads(store.get(pointer["series_key"]).body)
    assert series["combinations"] == [["app", "us"], ["web", "de"], ["web", "us"]]
    status = detector_status(make_params(), store)
    assert status["status"] == "ACTIVE" and status["model_version"] == 1
    # And the backtest replayed the last 30% of history
    assert report.backtest is not None and report.backtest["intervals"] == 14
    assert store.exists("shop/detector/backtest/v000001.jsonl")


def test_rebuild_is_idempotent_and_reports_changes(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    build_detector(make_params(), store, now=NOW)
    # When built again with the same params / Then nothing changes
    again = build_detector(make_params(), store, now=NOW)
    assert (again.action, again.version, again.changes) == ("unchanged", 1, [])
    # When only the alert threshold changes / Then it applies without retraining
    updated = build_detector(make_params(alert_threshold=80), store, now=NOW)
    assert (updated.action, updated.version) == ("updated", 1)
    assert [(c.path, c.old, c.new, c.retrains) for c in updated.changes] == [
        ("alert_threshold", 60.0, 80.0, False)
    ]
    # When an aggregation changes / Then a new model version is trained and the field named
    metrics = [
        {"AggregationFunction": "AVG", "MetricName": "views"},
        {"AggregationFunction": "SUM", "MetricName": "revenue"},
    ]
    retrained = build_detector(make_params(alert_threshold=80, metrics_set=metrics), store, now=NOW)
    assert (retrained.action, retrained.version) == ("retrained", 2)
    assert [c.path for c in retrained.changes] == ["metrics_set[0].AggregationFunction"]
    assert detector_status(make_params(), store)["last_action"] == "retrained"


def test_score_normal_interval_writes_nothing_and_alerts_nobody(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    params = make_params()
    build_detector(params, store, now=NOW)
    interval = write_interval(store, next_interval(), COMBOS)
    # When a normal interval is scored
    result = score_interval(
        params, store, interval, sns_client=aws["sns"], alert_topic_arn=aws["topic"]
    )
    # Then it is scored with all 6 series, no anomaly file, no alert
    assert result["status"] == "scored" and result["series"] == 6 and result["rows"] == 6
    assert result["anomaly_groups"] == 0 and result["alerts"] == []
    assert not store.exists(result["anomalies_key"])
    assert received(aws) == []


def test_spike_is_grouped_written_and_alerted(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    params = make_params(alert_description="Views and revenue of the shop")
    build_detector(params, store, now=NOW)
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    captured: list[dict[str, Any]] = []
    lambda_client.meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **_: captured.append(params)
    )
    start = next_interval()
    interval = write_interval(store, start, COMBOS, views=100.0)
    # Given web/us and web/de spiking tenfold
    header = "timestamp,platform,marketplace,views,revenue\n"
    spike = header + _rows(start, [("web", "us"), ("web", "de")], views=1000.0)
    store.put(f"shop/live/{start:%Y%m%d}/{start:%H%M}/part_000", spike.encode())
    store.put(
        f"shop/live/{start:%Y%m%d}/{start:%H%M}/part_001",
        (header + _rows(start, [("app", "us")])).encode(),
    )
    params = make_params(
        alert_description="Views and revenue of the shop", alert_lambda_arn=LAMBDA_ARN
    )
    # When scored
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": LAMBDA_ARN, "InvocationType": "Event", "Payload": ANY},
        )
        result = score_interval(
            params,
            store,
            interval,
            sns_client=aws["sns"],
            lambda_client=lambda_client,
            alert_topic_arn=aws["topic"],
        )
        stub.assert_no_pending_responses()
    # Then one group "platform=web" with both measures is written, as JSON lines
    assert result["anomaly_groups"] == 1 and result["alerts"] == ["sns", "lambda"]
    assert result["anomalies_key"] == "shop/anomalies/20240103/0000.jsonl"
    lines = store.get(result["anomalies_key"]).body.decode().splitlines()
    group = json.loads(lines[0])
    assert group["group_by"] == {"platform": "web"}
    assert group["interval_start"] == "2024-01-03T00:00:00+00:00"
    assert {m["measure"] for m in group["measures"]} == {"views", "revenue"}
    assert 60 <= group["severity"] <= 100
    assert set(group["contributions"]["marketplace"]) == {"us", "de"}
    views = next(m for m in group["measures"] if m["measure"] == "views")
    assert views["actual"] == pytest.approx(2002.0) and views["expected"] == pytest.approx(202.0)
    # And the SNS alert is readable and carries the alert's name and description
    (message,) = received(aws)
    assert message["Subject"].startswith("alerter: 1 anomaly in shop")
    assert "Views and revenue of the shop" in message["Message"]
    assert "platform=web" in message["Message"]
    assert "views: actual 2002, expected 202" in message["Message"]
    # And the Lambda got the same payload as JSON
    payload = json.loads(captured[0]["Payload"])
    assert payload["alert_name"] == "alerter" and payload["message"] == message["Message"]
    assert payload["anomaly_groups"][0]["group_by"] == {"platform": "web"}


def test_below_threshold_is_recorded_but_not_alerted(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    params = make_params(alert_threshold=80)
    build_detector(params, store, now=NOW)
    # Given views 7% above normal: a severity-70 anomaly under an 80 threshold
    interval = write_interval(store, next_interval(), COMBOS, views=107.0)
    result = score_interval(
        params, store, interval, sns_client=aws["sns"], alert_topic_arn=aws["topic"]
    )
    assert result["anomaly_groups"] >= 1 and result["max_severity"] == pytest.approx(70.0)
    assert store.exists(result["anomalies_key"])
    assert result["alerts"] == [] and received(aws) == []


def test_rescoring_is_a_no_op_without_second_alert(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    params = make_params()
    build_detector(params, store, now=NOW)
    interval = write_interval(store, next_interval(), COMBOS, views=1000.0)
    first = score_interval(
        params, store, interval, sns_client=aws["sns"], alert_topic_arn=aws["topic"]
    )
    # When the same interval is scored again (a Step Functions retry)
    second = score_interval(
        params, store, interval, sns_client=aws["sns"], alert_topic_arn=aws["topic"]
    )
    # Then the stored result comes back and only one alert was ever sent
    assert second["status"] == "already_scored"
    assert second["anomaly_groups"] == first["anomaly_groups"] >= 1
    assert len(received(aws)) == 1
    # And an interval inside the trained history is not fed to the model again
    old = Interval(HISTORY_START, HISTORY_START + timedelta(hours=1))
    assert score_interval(params, store, old)["status"] == "already_scored"


def test_series_appear_and_vanish(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    params = make_params()
    build_detector(params, store, now=NOW)
    # Given an interval where app/us vanished and app/fr appeared
    interval = write_interval(store, next_interval(), [("web", "us"), ("web", "de"), ("app", "fr")])
    result = score_interval(params, store, interval)
    # Then the new combination's two series are appended, the vanished one scores missing
    assert (result["series"], result["new_series"]) == (8, 2)
    pointer = json.loads(store.get("shop/detector/model/current.json").body)
    series = json.loads(store.get(pointer["series_key"]).body)
    assert series["combinations"][-1] == ["app", "fr"]
    assert StandInModel.from_bytes(store.get(pointer["state_key"]).body).n_series == 8
    # And only the latest state and series objects are kept
    kept = [i.key for i in store.list("shop/detector/model/v000001/")]
    assert len([k for k in kept if "/state-" in k]) == 1
    assert len([k for k in kept if "/series-" in k]) == 1


def test_missing_folder_scores_as_missing(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    params = make_params()
    build_detector(params, store, now=NOW)
    start = next_interval()
    result = score_interval(params, store, Interval(start, start + timedelta(hours=1)))
    assert result["status"] == "missing" and result["rows"] == 0 and result["anomaly_groups"] == 0
    assert (
        json.loads(store.get("shop/detector/model/current.json").body)["last_scored"]
        == start.isoformat()
    )


def test_cold_start_reports_learning(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store, hours=3)
    params = make_params()
    report = build_detector(params, store, now=NOW)
    assert report.backtest is None  # too little history to split
    start = HISTORY_START + timedelta(hours=3)
    result = score_interval(params, store, write_interval(store, start, COMBOS, views=5000.0))
    assert result["status"] == "learning" and result["anomaly_groups"] == 0


def test_zeros_are_values_not_missing(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    params = make_params()
    build_detector(params, store, now=NOW)
    result = score_interval(
        params, store, write_interval(store, next_interval(), COMBOS, views=0.0)
    )
    assert result["status"] == "scored" and result["rows"] == 6


def test_score_before_build_reports_no_detector_instead_of_failing(aws: dict[str, Any]) -> None:
    # Given no detector was built yet (the historical crawl has not run)
    start = next_interval()
    # When an interval is scored
    result = score_interval(
        make_params(), aws["store"], Interval(start, start + timedelta(hours=1))
    )
    # Then the run is not failed, and the status says what to run
    assert result["status"] == "no_detector"
    assert "historical crawl" in result["message"]


def test_lookoutmetrics_backend_fails_at_validate_with_the_way_out() -> None:
    params = make_params(detector={"backend": "lookoutmetrics"})
    with pytest.raises(DetectorError, match=r"ended in October 2025.*\"backend\": \"builtin\""):
        check_backend_available(params)
    check_backend_available(make_params())


def test_scoring_refuses_unaligned_windows_and_unbuilt_changes(aws: dict[str, Any]) -> None:
    store = aws["store"]
    write_history(store)
    build_detector(make_params(), store, now=NOW)
    start = next_interval()
    # Given a window that does not start on an hour / Then it is refused
    with pytest.raises(DetectorError, match="not the start of a PT1H interval"):
        score_interval(make_params(), store, Interval(start + timedelta(minutes=5), start))
    # Given params.json changed a dimension without a rebuild / Then scoring says build again
    changed = make_params(dimension_list=["platform"])
    with pytest.raises(DetectorError, match="build it again"):
        score_interval(changed, store, Interval(start, start + timedelta(hours=1)))
    # But an alert-only change needs no rebuild
    assert score_interval(
        make_params(alert_threshold=90), store, Interval(start, start + timedelta(hours=1))
    )


def test_alert_payload_stays_within_the_lambda_limit() -> None:
    # Given a thousand groups in one interval
    group = {
        "severity": 80.0,
        "primary_measure": "views",
        "group_by": {"platform": "web"},
        "measures": [{"measure": "views", "series": 1, "expected": 1.0, "actual": 9.0}],
        "contributions": {"platform": {"web": 100.0}},
        "series": [
            {
                "dimensions": {"platform": "web"},
                "measure": "views",
                "severity": 80.0,
                "expected": 1.0,
                "actual": 9.0,
            }
        ]
        * 5,
    }
    payload = alert_payload(
        detector_name="shop",
        alert_name="alerter",
        alert_description="",
        threshold=70,
        interval_start="s",
        interval_end="e",
        groups=[group] * 1000,
        anomalies_uri="s3://b/k",
    )
    # Then the payload fits, says how many there were, and the text points at the file
    assert len(json.dumps(payload)) < 256_000
    assert payload["total_groups"] == 1000 and len(payload["anomaly_groups"]) < 1000
    assert "alerter: 1000 anomalies in shop" in payload["subject"]
    assert "... and 990 more group(s)." in payload["message"]
    assert "s3://b/k" in payload["message"]


def test_gzip_files_and_local_time_zone_end_to_end(aws: dict[str, Any]) -> None:
    # Given GZIP files and a detector in Berlin time: naive timestamps are Berlin wall clock
    store = aws["store"]
    csv = {
        "Charset": "UTF-8",
        "ContainsHeader": True,
        "Delimiter": ",",
        "FileCompression": "GZIP",
        "QuoteSymbol": '"',
    }
    params = make_params(detector={"timezone": "Europe/Berlin"})
    data = params.model_dump(by_alias=True, exclude_none=True)
    data["metric_source"]["S3SourceConfig"]["FileFormatDescriptor"]["CsvFormatDescriptor"] = csv
    params = Params.model_validate(data)
    header = "timestamp,platform,marketplace,views,revenue\n"
    body = header + "".join(
        _rows(HISTORY_START + timedelta(hours=h), COMBOS) for h in range(HISTORY_HOURS)
    )
    store.put("shop/historical/part_000.gz", gzip.compress(body.encode()))
    report = build_detector(params, store, now=NOW)
    # Then the intervals are Berlin hours (the first row, 00:10 local, is 23:10 UTC)
    assert report.history_start == "2023-12-31T23:00:00+00:00"
    # When the Berlin hour 00:00-01:00 of Jan 3 is scored from its (local) folder
    local = datetime(2024, 1, 3, tzinfo=ZoneInfo("Europe/Berlin"))
    store.put(
        "shop/live/20240103/0000/part_000.gz",
        gzip.compress((header + _rows(local.replace(tzinfo=None), COMBOS, 1000.0)).encode()),
    )
    result = score_interval(params, store, Interval(local, local + timedelta(hours=1)))
    # Then its rows are read and the anomalies are filed under the local date and hour
    assert result["rows"] == 6 and result["anomaly_groups"] >= 1
    assert result["anomalies_key"] == "shop/anomalies/20240103/0000.jsonl"


def test_grouping_keeps_a_combination_together_and_names_what_is_shared() -> None:
    def anomaly(platform: str, market: str, measure: str, score: float = 80.0) -> SeriesAnomaly:
        dims = {"platform": platform, "marketplace": market}
        return SeriesAnomaly(
            dimensions=dims, measure=measure, score=score, expected=1.0, actual=5.0
        )

    # Given web/us and web/de anomalous, and app/us on both measures
    groups = group_anomalies(
        [
            anomaly("web", "us", "views", 90.0),
            anomaly("web", "de", "views"),
            anomaly("app", "us", "views"),
            anomaly("app", "us", "revenue"),
        ]
    )
    # Then web is one group; app/us another with both measures, named by both values
    assert [g["group_by"] for g in groups] == [
        {"platform": "web"},
        {"platform": "app", "marketplace": "us"},
    ]
    assert [m["measure"] for m in groups[1]["measures"]] == ["views", "revenue"]
    # And without dimensions all anomalous measures form one group
    lone = [
        SeriesAnomaly({}, "views", 70.0, 1.0, 2.0),
        SeriesAnomaly({}, "revenue", 60.0, 1.0, 2.0),
    ]
    (only,) = group_anomalies(lone)
    assert only["group_by"] == {} and len(only["series"]) == 2


@pytest.mark.parametrize(("alert_threshold", "recorded"), [(70, [60.0]), (30, [40.0, 60.0])])
def test_records_anomalies_down_to_the_alert_threshold_when_it_is_lower(
    alert_threshold: int, recorded: list[float]
) -> None:
    # Given one interval where two series score 40 and 60 (below the recording floor of
    # 50 and above it) and a third is still learning with a high score
    params = make_params(alert_threshold=alert_threshold)
    n = 2 * len(params.measures)
    scores = np.array([40.0, 60.0, 90.0] + [0.0] * (n - 3))
    statuses = np.array(["ok", "ok", "learning"] + ["ok"] * (n - 3))
    result = SimpleNamespace(score=scores, expected=np.ones(n), status=statuses)
    combinations = [tuple(f"{d}{i}" for d in params.dimensions) for i in range(2)]
    # When the interval's anomaly groups are formed
    groups = service._groups(result, np.ones(n), combinations, params)
    # Then series are recorded from 50, or from the alert threshold when it is lower
    # (or those alerts could never fire), and a learning series never
    severities = sorted(s["severity"] for g in groups for s in g["series"])
    assert severities == recorded


def test_the_model_sees_wall_clock_times_and_older_models_keep_the_utc_clock(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Berlin detector (UTC+1 in January) whose model records the times it is given
    seen: list[np.datetime64] = []
    fit, score_update = StandInModel.fit.__func__, StandInModel.score_update  # type: ignore[attr-defined]

    def recording_fit(cls: type, values: np.ndarray, starts: np.ndarray, *a: Any, **k: Any) -> Any:
        seen.extend(np.asarray(starts)[:1])
        return fit(cls, values, starts, *a, **k)

    def recording_score(self: StandInModel, values: np.ndarray, start: np.datetime64) -> Any:
        seen.append(start)
        return score_update(self, values, start)

    monkeypatch.setattr(StandInModel, "fit", classmethod(recording_fit))
    monkeypatch.setattr(StandInModel, "score_update", recording_score)
    store = aws["store"]
    write_history(store)
    params = make_params(detector={"timezone": "Europe/Berlin"})
    build_detector(params, store, now=NOW)
    local = datetime(2024, 1, 3, 2, tzinfo=ZoneInfo("Europe/Berlin"))
    score_interval(params, store, write_interval_local(store, local))
    # Then training and scoring both index the Berlin wall clock (the first hour of
    # history, 00:00 Berlin, is 23:00Z on Dec 31)
    assert seen[0] == np.datetime64("2024-01-01T00:00:00")
    assert seen[-1] == np.datetime64("2024-01-03T02:00:00")

    # And a model built before (no season_clock in its pointer) is scored by UTC clock
    pointer_key = "shop/detector/model/current.json"
    pointer = json.loads(store.get(pointer_key).body)
    pointer.pop("season_clock")
    store.put(pointer_key, json.dumps(pointer).encode())
    later = local + timedelta(hours=2)
    score_interval(params, store, write_interval_local(store, later))
    assert seen[-1] == np.datetime64("2024-01-03T03:00:00")  # 04:00 Berlin = 03:00Z


def write_interval_local(store: S3ObjectStore, local: datetime) -> Interval:
    """An interval of naive local rows in its local folder (as a non-UTC crawl writes)."""
    header = "timestamp,platform,marketplace,views,revenue\n"
    store.put(
        f"shop/live/{local:%Y%m%d}/{local:%H%M}/part_000",
        (header + _rows(local.replace(tzinfo=None), COMBOS)).encode(),
    )
    return Interval(local, local + timedelta(hours=1))
