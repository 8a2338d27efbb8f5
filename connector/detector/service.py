"""The detector service: build ("create and activate") and score, over an object store.

Both backends are reached from here. ``builtin`` (the default) trains
:class:`~connector.detector.model.DetectorModel` on the crawled history and scores
each interval folder; ``lookoutmetrics`` drives the retired AWS service for the
record (:mod:`connector.detector.lookoutmetrics`).

What the built-in detector keeps in the bucket, under ``<data prefix>/``::

    detector/model/current.json          pointer: version, params hash, last scored interval
    detector/model/v000003/state-*.bin   model state (one object per update, old ones deleted)
    detector/model/v000003/series-*.json the dimension combinations, in series order
    detector/model/v000003/params.json   the params it was trained with (for change reports)
    detector/status.json                 what ``connector detector status`` shows
    detector/backtest/v000003.jsonl      anomaly groups the backtest raised
    anomalies/yyyyMMdd/HHmm.jsonl        anomaly groups per interval (by interval START)

The pointer is written with a conditional put, so two writers (a rebuild racing a
scoring run, a retried scoring run) cannot both win: the loser raises and Step
Functions retries it against the new state. Scoring an interval at or before the
last scored one is a no-op that returns the stored result: retries do not alert
twice and do not feed the model the same interval twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from connector.detector.alerts import AlertSender, SeriesAnomaly, alert_payload, group_anomalies
from connector.detector.data import (
    DatasetSpec,
    SeriesTable,
    read_history,
    read_interval,
    wall_clock,
)
from connector.errors import DetectorError
from connector.intervals import align, expand_path
from connector.storage import ObjectNotFoundError, PreconditionFailedError

if TYPE_CHECKING:
    from connector.config import Params
    from connector.intervals import Interval
    from connector.storage import ObjectStore

NO_DETECTOR = (
    "no detector yet: the interval is landed but not scored; run the historical crawl "
    "with build_detector (or connector detector build) to create it"
)
# Series scoring at least this are recorded as anomalies, as Lookout for Metrics recorded
# anomalies below its alert threshold: 50 is a tail-adjusted deviation of about 4 sigma
# (the model's severity scale). Lower costs more than it finds: on the demo's 27-day
# backtest, 20 records 89 series-intervals of which 76 match no label (50: 18, 6).
# alert_threshold below it lowers it, or those alerts could never fire.
MIN_SEVERITY = 50.0
# The share of history the backtest replays, as Lookout for Metrics split it (70/30).
BACKTEST_SHARE = 0.3
# The model indexes its seasons by the detector zone's wall clock (data.wall_clock).
SEASON_CLOCK = "wall"
# Fewer history intervals than this and the backtest is skipped: nothing to learn from.
MIN_BACKTEST_INTERVALS = 20
# Params that change what the model learned; any other change applies without retraining
# (alerts, crawl settings, the live folder template, the role Lookout for Metrics used).
_TRAINING_FIELDS = (
    "detector_frequency",
    "timestamp_column",
    "dimension_list",
    "metrics_set",
    "metric_source.S3SourceConfig.HistoricalDataPathList",
    "detector.timezone",
    "detector.builtin",
)


def check_backend_available(params: Params) -> None:
    """Raise :class:`DetectorError` if ``params.detector.backend`` cannot run here.

    Called by ``connector validate``, the CDK app (at synth) and the builder, so that
    a ``lookoutmetrics`` backend fails before deployment, with what to do.
    """
    if params.detector.backend == "lookoutmetrics":
        from connector.detector.lookoutmetrics import require_client_support

        require_client_support()


def load_deployed_params(store: ObjectStore, key: str, *, role_arn: str = "") -> Params:
    """params.json as uploaded to the deployment bucket, with deploy-time values filled in.

    The sample shipped empty ``s3_bucket``/paths/``RoleArn``; they are the bucket the
    file was found in and ``role_arn``.
    """
    from connector.config import params_from_json

    try:
        text = store.get(key).body.decode("utf-8")
    except ObjectNotFoundError as exc:
        raise DetectorError(
            f"s3://{store.bucket}/{key} not found; upload params.json there (the deployment "
            "does) or set PARAMS_KEY"
        ) from exc
    params = params_from_json(text, source=f"s3://{store.bucket}/{key}")
    if params.s3_bucket:
        return params
    return params.with_deployment(
        store.bucket, role_arn or params.metric_source.s3_source_config.role_arn
    )


# --- Keys ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the detector's objects live for one params.json."""

    prefix: str

    @classmethod
    def of(cls, params: Params) -> Layout:
        return cls(prefix=params.data_prefix.strip("/"))

    @property
    def pointer(self) -> str:
        return f"{self.prefix}/detector/model/current.json"

    @property
    def status(self) -> str:
        return f"{self.prefix}/detector/status.json"

    def version_dir(self, version: int) -> str:
        return f"{self.prefix}/detector/model/v{version:06d}"

    def backtest(self, version: int) -> str:
        return f"{self.prefix}/detector/backtest/v{version:06d}.jsonl"

    def anomalies(self, local_start: datetime) -> str:
        return f"{self.prefix}/anomalies/{local_start:%Y%m%d}/{local_start:%H%M}.jsonl"


# --- Reports -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One params.json field that differs from the detector's current one."""

    path: str
    old: Any
    new: Any
    retrains: bool

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new, "retrains": self.retrains}


@dataclass(slots=True)
class BuildReport:
    """What ``build_detector`` did."""

    action: str  # created | retrained | updated | unchanged | activated (lookoutmetrics)
    backend: str
    detector_name: str
    version: int | None = None
    status: str = "ACTIVE"
    changes: list[Change] = field(default_factory=list)
    series: int = 0
    intervals: int = 0
    history_start: str | None = None
    history_end: str | None = None
    backtest: dict[str, Any] | None = None
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "backend": self.backend,
            "detector_name": self.detector_name,
            "status": self.status,
            "version": self.version,
            "changes": [c.to_json() for c in self.changes],
            "series": self.series,
            "intervals": self.intervals,
            "history_start": self.history_start,
            "history_end": self.history_end,
            "backtest": self.backtest,
            "seconds": round(self.seconds, 3),
            **self.details,
        }


# --- Build ---------------------------------------------------------------------------


def build_detector(
    params: Params,
    store: ObjectStore,
    *,
    now: datetime,
    force: bool = False,
    lookoutmetrics_client: Any = None,
    alert_topic_arn: str | None = None,
) -> BuildReport:
    """Create and activate the detector of ``params``; idempotent.

    Built-in backend: with the params it was built with, nothing happens
    (``unchanged``) unless ``force``; changed alert or crawl settings are recorded
    (``updated``); changed data or model settings retrain on the history into a new
    model version (``retrained``). Each change is reported field by field.
    """
    check_backend_available(params)
    if params.detector.backend == "lookoutmetrics":
        from connector.detector.lookoutmetrics import LookoutMetricsBuilder

        if lookoutmetrics_client is None:
            raise DetectorError("the lookoutmetrics backend needs a lookoutmetrics client")
        report = LookoutMetricsBuilder(lookoutmetrics_client).build(
            params, alert_topic_arn=alert_topic_arn
        )
        _write_status(store, Layout.of(params), params, report, now=now, pointer={})
        return report
    return _build_builtin(params, store, now=now, force=force)


def _build_builtin(
    params: Params, store: ObjectStore, *, now: datetime, force: bool
) -> BuildReport:
    began = time.perf_counter()
    spec = DatasetSpec.from_params(params)
    layout = Layout.of(params)
    new_params = _params_view(params)
    pointer = _read_json(store, layout.pointer)
    report = BuildReport(action="created", backend="builtin", detector_name=params.detector_name)
    if pointer is not None:
        old_params = _read_json(store, f"{layout.version_dir(pointer['version'])}/params.json")
        report.changes = _diff(old_params or {}, new_params)
        retrain = force or any(change.retrains for change in report.changes)
        if not retrain:
            report.version = int(pointer["version"])
            report.action = "updated" if report.changes else "unchanged"
            if report.changes:
                store.put(
                    f"{layout.version_dir(report.version)}/params.json",
                    _dumps(new_params),
                    content_type="application/json",
                )
            status = _read_json(store, layout.status) or {}
            report.series = int(pointer.get("n_series", 0))
            report.intervals = int(status.get("history", {}).get("intervals", 0))
            report.history_start = status.get("history", {}).get("start")
            report.history_end = status.get("history", {}).get("end")
            report.backtest = status.get("backtest")
            _write_status(store, layout, params, report, now=now, pointer=pointer)
            report.seconds = time.perf_counter() - began
            return report
        report.action = "retrained"
    version = int(pointer["version"]) + 1 if pointer else 1

    table = read_history(store, params.historical_path, spec)
    model_cls = _model_class()
    report.backtest = _backtest(params, store, layout, version, table, spec, model_cls)
    model = model_cls.fit(
        table.values,
        wall_clock(table.starts, spec.timezone),
        params.frequency,
        **_model_options(params),
    )

    stamp = _stamp(now)
    folder = layout.version_dir(version)
    state_key = f"{folder}/state-{stamp}.bin"
    series_key = f"{folder}/series-{stamp}.json"
    store.put(state_key, model.to_bytes(), content_type="application/octet-stream")
    store.put(
        series_key, _dumps(_series_doc(params, table.combinations)), content_type="application/json"
    )
    store.put(f"{folder}/params.json", _dumps(new_params), content_type="application/json")
    new_pointer = {
        "version": version,
        "state_key": state_key,
        "series_key": series_key,
        "params_hash": _hash(new_params),
        "n_series": int(table.values.shape[0]),
        "trained_at": now.astimezone(UTC).isoformat(),
        "trained_through": _iso(table.starts[-1]),
        "last_scored": None,
        # Seasons follow the detector zone's wall clock; a model without this key (built
        # before) learned them by the UTC clock and is scored that way until rebuilt.
        "season_clock": SEASON_CLOCK,
    }
    _put_pointer(store, layout, new_pointer, previous=pointer)

    report.version = version
    report.series = int(table.values.shape[0])
    report.intervals = int(table.values.shape[1])
    report.history_start = _iso(table.starts[0])
    report.history_end = _iso(table.starts[-1])
    report.seconds = time.perf_counter() - began
    _write_status(store, layout, params, report, now=now, pointer=new_pointer)
    return report


def _backtest(
    params: Params,
    store: ObjectStore,
    layout: Layout,
    version: int,
    table: SeriesTable,
    spec: DatasetSpec,
    model_cls: Any,
) -> dict[str, Any] | None:
    """Train on the first 70% of history, score the last 30%, keep the groups it raised."""
    n = table.values.shape[1]
    if n < MIN_BACKTEST_INTERVALS:
        return None
    result = model_cls.backtest(
        table.values,
        wall_clock(table.starts, spec.timezone),
        params.frequency,
        share=BACKTEST_SHARE,
        **_model_options(params),
    )
    lines: list[bytes] = []
    raised = alerts = 0
    for i, t in enumerate(range(result.split, n)):
        scored = _Scored(result.score[:, i], result.expected[:, i], result.status[:, i])
        groups = _groups(scored, table.values[:, t], table.combinations, params)
        raised += len(groups)
        alerts += sum(1 for g in groups if g["severity"] >= params.alert_threshold)
        start = _aware(table.starts[t], spec)
        lines.extend(_jsonl_lines(groups, start, start + _step(spec)))
    key = layout.backtest(version)
    store.put(key, b"".join(lines), content_type="application/x-ndjson")
    return {
        "intervals": n - result.split,
        "from": _iso(table.starts[result.split]),
        "to": _iso(table.starts[-1]),
        "anomaly_groups": raised,
        "alerts": alerts,
        "uri": f"s3://{store.bucket}/{key}",
    }


class _Scored(NamedTuple):
    score: np.ndarray
    expected: np.ndarray
    status: np.ndarray


def _model_options(params: Params) -> dict[str, Any]:
    return {
        "sensitivity": params.detector.builtin.sensitivity,
        "warmup": params.detector.builtin.min_history_intervals,
    }


# --- Score ---------------------------------------------------------------------------


def score_interval(
    params: Params,
    store: ObjectStore,
    interval: Interval,
    *,
    sns_client: Any = None,
    lambda_client: Any = None,
    alert_topic_arn: str | None = None,
) -> dict[str, Any]:
    """Score one interval, record its anomaly groups, alert, and update the model online.

    ``interval`` is named by its start, like the folder the crawler wrote. A missing
    folder scores as missing data (not an error), and so does a missing detector
    (status ``no_detector`` with :data:`NO_DETECTOR` as message). Returns a
    JSON-serialisable summary.
    """
    if params.detector.backend != "builtin":
        raise DetectorError(
            "scoring runs with the built-in detector only; set detector.backend to "
            '"builtin" in params.json'
        )
    spec = DatasetSpec.from_params(params)
    layout = Layout.of(params)
    start, end = interval.start, interval.end
    if align(start, params.frequency, params.timezone) != start:
        raise DetectorError(
            f"{start.isoformat()} is not the start of a {params.detector_frequency} interval "
            f"in {params.detector.timezone}; pass the window the crawler unloaded"
        )
    local_start = start.astimezone(spec.timezone)
    anomalies_key = layout.anomalies(local_start)
    try:
        pointer, etag = _read_pointer(store, layout)
    except ObjectNotFoundError:
        # The continuous crawl may land data before any detector exists (history crawled
        # without building it): the data stays landed, the run does not fail each interval.
        return {
            "detector_name": params.detector_name,
            "interval_start": start.isoformat(),
            "interval_end": end.isoformat(),
            "status": "no_detector",
            "message": NO_DETECTOR,
            "anomaly_groups": 0,
            "max_severity": 0.0,
            "alerts": [],
        }
    if pointer.get("params_hash") != _hash(_params_view(params)):
        raise DetectorError(
            "params.json changed what the detector reads or learns since it was built "
            f"(model v{pointer['version']}); build it again (connector detector build, or "
            "the builder Lambda) before scoring"
        )
    summary: dict[str, Any] = {
        "detector_name": params.detector_name,
        "interval_start": start.isoformat(),
        "interval_end": end.isoformat(),
        "anomalies_key": anomalies_key,
        "model_version": pointer["version"],
    }
    # The model has seen every interval up to the last scored one (or the end of the
    # history it was trained on): feeding one again would count it twice.
    last = pointer.get("last_scored") or pointer.get("trained_through")
    if last is not None and datetime.fromisoformat(last) >= start:
        previous = _read_jsonl(store, anomalies_key)
        return {
            **summary,
            "status": "already_scored",
            "anomaly_groups": len(previous),
            "max_severity": max((g["severity"] for g in previous), default=0.0),
            "alerts": [],
        }

    model_cls = _model_class()
    model = model_cls.from_bytes(store.get(pointer["state_key"]).body)
    series_doc = json.loads(store.get(pointer["series_key"]).body)
    known = [tuple(c) for c in series_doc["combinations"]]
    folder = expand_path(params.live_path_template, local_start)
    values, combinations, rows = read_interval(store, folder, start, spec, known)
    added = len(combinations) - len(known)
    if added:
        model.extend(added * len(spec.measures))
    start64 = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "s")
    if pointer.get("season_clock") == SEASON_CLOCK:
        start64 = wall_clock(np.array([start64]), spec.timezone)[0]
    result = model.score_update(values, start64)

    groups = _groups(result, values, combinations, params)
    if groups:
        store.put(
            anomalies_key,
            b"".join(_jsonl_lines(groups, start, end)),
            content_type="application/x-ndjson",
        )
    alerting = [g for g in groups if g["severity"] >= params.alert_threshold]
    channels: list[str] = []
    if alerting:
        sender = AlertSender(
            sns_client=sns_client,
            topic_arn=alert_topic_arn,
            lambda_client=lambda_client,
            lambda_arn=params.alert_lambda_arn or None,
        )
        channels = sender.send(
            alert_payload(
                detector_name=params.detector_name,
                alert_name=params.alert_name,
                alert_description=params.alert_description,
                threshold=params.alert_threshold,
                interval_start=start.isoformat(),
                interval_end=end.isoformat(),
                groups=alerting,
                anomalies_uri=f"s3://{store.bucket}/{anomalies_key}",
            )
        )

    stamp = _stamp(start)
    folder_key = layout.version_dir(int(pointer["version"]))
    new_pointer = dict(pointer, last_scored=start.isoformat(), n_series=len(values))
    new_pointer["state_key"] = f"{folder_key}/state-{stamp}.bin"
    store.put(new_pointer["state_key"], model.to_bytes(), content_type="application/octet-stream")
    if added:
        new_pointer["series_key"] = f"{folder_key}/series-{stamp}.json"
        store.put(
            new_pointer["series_key"],
            _dumps(_series_doc(params, combinations)),
            content_type="application/json",
        )
    try:
        store.put(
            layout.pointer, _dumps(new_pointer), content_type="application/json", if_match=etag
        )
    except PreconditionFailedError as exc:
        raise DetectorError(
            f"the detector changed while {start.isoformat()} was being scored "
            "(a rebuild or another run); score the interval again"
        ) from exc
    for key in {pointer["state_key"], pointer["series_key"]} - {
        new_pointer["state_key"],
        new_pointer["series_key"],
    }:
        store.delete(key)

    statuses = np.asarray(result.status)
    status = "scored"
    if rows == 0:
        status = "missing"
    elif statuses.size and bool(np.all(statuses == "learning")):
        status = "learning"
    return {
        **summary,
        "status": status,
        "rows": rows,
        "series": len(values),
        "new_series": added * len(spec.measures),
        "learning_series": int(np.sum(statuses == "learning")) if statuses.size else 0,
        "anomaly_groups": len(groups),
        "max_severity": max((g["severity"] for g in groups), default=0.0),
        "alerts": channels,
    }


def _groups(
    result: Any, values: np.ndarray, combinations: list[tuple[str, ...]], params: Params
) -> list[dict[str, Any]]:
    n = len(values)
    scores = np.broadcast_to(np.asarray(result.score, dtype=np.float64), (n,))
    expected = np.broadcast_to(np.asarray(result.expected, dtype=np.float64), (n,))
    statuses = np.broadcast_to(np.asarray(result.status), (n,))
    floor = min(MIN_SEVERITY, params.alert_threshold)
    flagged = np.flatnonzero((scores >= floor) & (statuses == "ok"))
    if flagged.size == 0:
        return []
    dims, measures = params.dimensions, params.measures
    anomalies = [
        SeriesAnomaly(
            dimensions=dict(zip(dims, combinations[s // len(measures)], strict=True)),
            measure=measures[s % len(measures)],
            score=float(scores[s]),
            expected=float(expected[s]),
            actual=float(values[s]),
        )
        for s in flagged
    ]
    return group_anomalies(anomalies)


def _jsonl_lines(groups: list[dict[str, Any]], start: datetime, end: datetime) -> list[bytes]:
    return [
        json.dumps(
            {"interval_start": start.isoformat(), "interval_end": end.isoformat(), **group},
            separators=(",", ":"),
        ).encode()
        + b"\n"
        for group in groups
    ]


# --- Status --------------------------------------------------------------------------


def detector_status(params: Params, store: ObjectStore) -> dict[str, Any]:
    """The recorded status of the detector (``NOT_BUILT`` if there is none)."""
    layout = Layout.of(params)
    status = _read_json(store, layout.status)
    if status is None:
        return {"detector_name": params.detector_name, "status": "NOT_BUILT"}
    pointer = _read_json(store, layout.pointer) or {}
    status["last_scored"] = pointer.get("last_scored")
    status["series"] = pointer.get("n_series", status.get("series"))
    return status


def _write_status(
    store: ObjectStore,
    layout: Layout,
    params: Params,
    report: BuildReport,
    *,
    now: datetime,
    pointer: dict[str, Any],
) -> None:
    doc = {
        "detector_name": params.detector_name,
        "backend": report.backend,
        "status": report.status,
        "frequency": params.detector_frequency,
        "timezone": params.detector.timezone,
        "model_version": report.version,
        "params_hash": pointer.get("params_hash"),
        "built_at": now.astimezone(UTC).isoformat(),
        "last_action": report.action,
        "changes": [c.to_json() for c in report.changes],
        "series": report.series,
        "history": {
            "intervals": report.intervals,
            "start": report.history_start,
            "end": report.history_end,
        },
        "backtest": report.backtest,
        **report.details,
    }
    store.put(layout.status, _dumps(doc), content_type="application/json")


# --- Helpers -------------------------------------------------------------------------


def _model_class() -> Any:
    # Imported late so that validating params (and the lookoutmetrics backend) does not
    # pay for the model's imports.
    from connector.detector.model import DetectorModel

    return DetectorModel


def _params_view(params: Params) -> dict[str, Any]:
    return dict(params.model_dump(mode="json", by_alias=True, exclude_none=True))


def _hash(doc: dict[str, Any]) -> str:
    training = {k: v for k, v in _flatten(doc).items() if _retrains(k)}
    text = json.dumps(training, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _retrains(path: str) -> bool:
    return any(path == f or path.startswith((f + ".", f + "[")) for f in _TRAINING_FIELDS)


def _flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, dict):
        flat: dict[str, Any] = {}
        for key, value in doc.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(doc, list):
        flat = {}
        for i, value in enumerate(doc):
            flat.update(_flatten(value, f"{prefix}[{i}]"))
        return flat or {prefix: []}
    return {prefix: doc}


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    before, after = _flatten(old), _flatten(new)
    return [
        Change(path=path, old=before.get(path), new=after.get(path), retrains=_retrains(path))
        for path in sorted(set(before) | set(after))
        if before.get(path) != after.get(path)
    ]


def _series_doc(params: Params, combinations: list[tuple[str, ...]]) -> dict[str, Any]:
    return {
        "dimensions": params.dimensions,
        "measures": params.measures,
        "order": "series = combination * len(measures) + measure",
        "combinations": [list(c) for c in combinations],
    }


def _read_json(store: ObjectStore, key: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(store.get(key).body))
    except ObjectNotFoundError:
        return None


def _read_pointer(store: ObjectStore, layout: Layout) -> tuple[dict[str, Any], str]:
    """The model pointer and its ETag; raises ObjectNotFoundError before the first build."""
    stored = store.get(layout.pointer)
    return dict(json.loads(stored.body)), stored.etag


def _put_pointer(
    store: ObjectStore, layout: Layout, pointer: dict[str, Any], *, previous: dict[str, Any] | None
) -> None:
    try:
        if previous is None:
            store.put(
                layout.pointer, _dumps(pointer), content_type="application/json", if_none_match=True
            )
        else:
            current = store.get(layout.pointer)
            if json.loads(current.body).get("version") != previous.get("version"):
                raise PreconditionFailedError("rebuilt concurrently")
            store.put(
                layout.pointer,
                _dumps(pointer),
                content_type="application/json",
                if_match=current.etag,
            )
    except PreconditionFailedError as exc:
        raise DetectorError(
            "another build of this detector finished first; run the build again"
        ) from exc


def _read_jsonl(store: ObjectStore, key: str) -> list[dict[str, Any]]:
    try:
        body = store.get(key).body
    except ObjectNotFoundError:
        return []
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=False, default=str).encode() + b"\n"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _iso(start: np.datetime64) -> str:
    return datetime.fromtimestamp(
        int(start.astype("datetime64[s]").astype(np.int64)), UTC
    ).isoformat()


def _aware(start: np.datetime64, spec: DatasetSpec) -> datetime:
    seconds = int(start.astype("datetime64[s]").astype(np.int64))
    return datetime.fromtimestamp(seconds, UTC).astimezone(spec.timezone)


def _step(spec: DatasetSpec) -> timedelta:
    return timedelta(seconds=spec.step)
