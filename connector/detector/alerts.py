"""Anomaly groups and the alerts they raise.

Lookout for Metrics reported, per interval, anomaly *groups*: related anomalous
series with a severity 0-100, the measures affected and the dimension values that
contributed. :func:`group_anomalies` does the same for the built-in detector:
anomalous series of one interval that share a dimension value are grouped under
that value (greedily, the value covering most anomalous series first), so that "all
marketplaces of platform=web dropped" is one group rather than seven.

Alerts go to SNS as readable text and, when ``alert_lambda_arn`` is set, to that
Lambda as JSON; both carry the same payload.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

# SNS subjects are limited to 100 printable ASCII characters.
_SUBJECT_LIMIT = 100
# An alert lists this many groups in full.
_TEXT_GROUPS = 10
# Asynchronous Lambda payloads are capped at 256 KB (SNS messages too): the payload keeps
# the most severe groups that fit and points at the anomalies file for the rest.
_PAYLOAD_BUDGET = 200_000


@dataclass(frozen=True, slots=True)
class SeriesAnomaly:
    """One anomalous series in one interval."""

    dimensions: dict[str, str]
    measure: str
    score: float
    expected: float
    actual: float

    def to_json(self) -> dict[str, Any]:
        return {
            "dimensions": self.dimensions,
            "measure": self.measure,
            "severity": round(self.score, 1),
            "expected": _number(self.expected),
            "actual": _number(self.actual),
        }


def _number(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)


def group_anomalies(anomalies: list[SeriesAnomaly]) -> list[dict[str, Any]]:
    """Group one interval's anomalous series; groups sorted by severity, highest first.

    Each group: ``severity`` (the highest series score), ``group_by`` (the dimension
    values all its series share; empty without dimensions), ``measures``
    (per measure: series count, expected and actual totals), ``contributions``
    (per dimension, each value's share of the absolute deviation, in percent) and
    the ``series`` themselves.
    """
    remaining = list(range(len(anomalies)))
    groups: list[dict[str, Any]] = []
    while remaining:
        # Which combinations each dimension value covers; the measures of one
        # combination always stay together.
        by_value: dict[tuple[str, str], set[tuple[str, ...]]] = defaultdict(set)
        for i in remaining:
            combination = tuple(anomalies[i].dimensions.values())
            for name, value in anomalies[i].dimensions.items():
                by_value[(name, value)].add(combination)
        best = max(by_value.items(), key=lambda kv: len(kv[1]), default=None)
        if best is not None and len(best[1]) > 1:
            name, value = best[0]
            members = [i for i in remaining if anomalies[i].dimensions.get(name) == value]
        else:
            first = anomalies[remaining[0]].dimensions
            members = [i for i in remaining if anomalies[i].dimensions == first]
        chosen = [anomalies[i] for i in members]
        shared = {
            name: value
            for name, value in chosen[0].dimensions.items()
            if all(a.dimensions.get(name) == value for a in chosen)
        }
        groups.append(_group(chosen, shared))
        taken = set(members)
        remaining = [i for i in remaining if i not in taken]
    groups.sort(key=lambda g: -g["severity"])
    return groups


def _group(members: list[SeriesAnomaly], group_by: dict[str, str]) -> dict[str, Any]:
    measures: dict[str, dict[str, Any]] = {}
    deviation: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for item in sorted(members, key=lambda a: -a.score):
        entry = measures.setdefault(
            item.measure, {"measure": item.measure, "series": 0, "expected": 0.0, "actual": 0.0}
        )
        entry["series"] += 1
        entry["expected"] += item.expected if np.isfinite(item.expected) else 0.0
        entry["actual"] += item.actual if np.isfinite(item.actual) else 0.0
        gap = abs(item.actual - item.expected)
        weight = float(gap) if np.isfinite(gap) and gap > 0 else 1e-12
        for name, value in item.dimensions.items():
            deviation[name][value] += weight
    contributions = {
        name: {
            value: round(100.0 * share / sum(values.values()), 1)
            for value, share in sorted(values.items(), key=lambda kv: -kv[1])
        }
        for name, values in deviation.items()
    }
    for entry in measures.values():
        entry["expected"] = round(entry["expected"], 6)
        entry["actual"] = round(entry["actual"], 6)
    ordered = sorted(members, key=lambda a: -a.score)
    return {
        "severity": round(max(a.score for a in members), 1),
        "primary_measure": ordered[0].measure,
        "group_by": group_by,
        "measures": list(measures.values()),
        "contributions": contributions,
        "series": [a.to_json() for a in ordered],
    }


def alert_payload(
    *,
    detector_name: str,
    alert_name: str,
    alert_description: str,
    threshold: float,
    interval_start: str,
    interval_end: str,
    groups: list[dict[str, Any]],
    anomalies_uri: str,
) -> dict[str, Any]:
    """The JSON an alert carries (to SNS as text, to the alert Lambda as is)."""
    kept: list[dict[str, Any]] = []
    size = 0
    for group in groups:
        size += len(json.dumps(group))
        if kept and size > _PAYLOAD_BUDGET:
            break
        kept.append(group)
    payload: dict[str, Any] = {
        "alert_name": alert_name,
        "alert_description": alert_description,
        "detector_name": detector_name,
        "threshold": threshold,
        "interval_start": interval_start,
        "interval_end": interval_end,
        "anomalies_uri": anomalies_uri,
        "total_groups": len(groups),
        "anomaly_groups": kept,
    }
    payload["subject"], payload["message"] = alert_text(payload)
    return payload


def alert_text(payload: dict[str, Any]) -> tuple[str, str]:
    """A subject line and a plain-text body a person can act on."""
    groups = payload["anomaly_groups"]
    total = payload["total_groups"]
    top = groups[0]
    subject = (
        f"{payload['alert_name']}: {total} anomal{'y' if total == 1 else 'ies'} "
        f"in {payload['detector_name']} (severity {top['severity']:.0f})"
    )
    subject = subject.encode("ascii", "replace").decode()[:_SUBJECT_LIMIT]
    lines = [
        f"Alert {payload['alert_name']} — detector {payload['detector_name']}",
    ]
    if payload["alert_description"]:
        lines.append(payload["alert_description"])
    lines += [
        "",
        f"Interval {payload['interval_start']} to {payload['interval_end']}: "
        f"{total} anomaly group(s) with severity ≥ {payload['threshold']:g}.",
        "",
    ]
    for n, group in enumerate(groups[:_TEXT_GROUPS], start=1):
        where = ", ".join(f"{k}={v}" for k, v in group["group_by"].items()) or "all data"
        lines.append(f"{n}. severity {group['severity']:.0f} — {where}")
        for entry in group["measures"]:
            lines.append(
                f"   {entry['measure']}: actual {entry['actual']:g}, expected "
                f"{entry['expected']:g} ({entry['series']} series)"
            )
        for name, values in group["contributions"].items():
            if name in group["group_by"]:
                continue
            top_values = ", ".join(f"{v} {share:g}%" for v, share in list(values.items())[:3])
            lines.append(f"   contributing {name}: {top_values}")
    if total > min(len(groups), _TEXT_GROUPS):
        lines.append(f"... and {total - min(len(groups), _TEXT_GROUPS)} more group(s).")
    lines += ["", f"All anomalies of this interval: {payload['anomalies_uri']}"]
    return subject, "\n".join(lines)


class AlertSender:
    """Delivers alert payloads to an SNS topic and/or a Lambda (injected clients)."""

    def __init__(
        self,
        *,
        sns_client: Any = None,
        topic_arn: str | None = None,
        lambda_client: Any = None,
        lambda_arn: str | None = None,
    ) -> None:
        self._sns = sns_client
        self._topic_arn = topic_arn
        self._lambda = lambda_client
        self._lambda_arn = lambda_arn

    def send(self, payload: dict[str, Any]) -> list[str]:
        """Deliver ``payload``; returns the channels used (``sns``, ``lambda``)."""
        sent: list[str] = []
        if self._sns is not None and self._topic_arn:
            self._sns.publish(
                TopicArn=self._topic_arn, Subject=payload["subject"], Message=payload["message"]
            )
            sent.append("sns")
        if self._lambda is not None and self._lambda_arn:
            # Asynchronous: the alert handler must not hold up the next interval's scoring.
            self._lambda.invoke(
                FunctionName=self._lambda_arn,
                InvocationType="Event",
                Payload=json.dumps(payload).encode(),
            )
            sent.append("lambda")
        return sent
