"""The run report: one self-contained HTML file with the series, the anomalies and the labels.

``connector demo`` and ``connector run --local`` end by writing ``report.html``: a
summary, one plot per series that has a detection or a labelled window (inline SVG,
hover titles, no script, no stylesheet or font from the network — it opens offline
and can be mailed as one file), small plots of every series, and tables of the
labelled windows and the detections. :func:`evaluate` scores detections against
labels; the CLI prints the same figures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import numpy.typing as npt
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from connector.detector.data import java_to_strptime
from connector.errors import DetectorError
from connector.local.demo_warehouse import Label
from connector.sql.literals import quote_identifier

if TYPE_CHECKING:
    from connector.config import Params

# Series plotted in full; the others appear only as small plots.
MAX_DETAIL_PLOTS = 24
MAX_ANOMALY_ROWS = 200


@dataclass(frozen=True)
class Series:
    """One measure of one combination of dimension values, per interval (NaN = no data)."""

    dimensions: tuple[tuple[str, str], ...]
    measure: str
    starts: npt.NDArray[np.datetime64]  # UTC interval starts, datetime64[s]
    values: npt.NDArray[np.float64]

    @property
    def name(self) -> str:
        return " / ".join(value for _, value in self.dimensions) or "(all rows)"


@dataclass(frozen=True)
class Anomaly:
    """A detection: the interval it starts, the series, and what was expected vs seen."""

    start: datetime
    dimensions: tuple[tuple[str, str], ...]
    measures: tuple[str, ...]
    severity: float
    expected: Mapping[str, float] = field(default_factory=dict)
    actual: Mapping[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return " / ".join(value for _, value in self.dimensions) or "(all rows)"


@dataclass(frozen=True)
class Evaluation:
    """Detections in the scored range, scored against the labelled windows overlapping it."""

    labels: tuple[Label, ...]
    found: tuple[bool, ...]  # per label
    anomalies: tuple[Anomaly, ...]  # the detections inside the scored range
    verdicts: tuple[Label | None, ...]  # per detection: the label it hit, or None

    @property
    def labelled(self) -> int:
        return len(self.labels)

    @property
    def recalled(self) -> int:
        return sum(self.found)

    @property
    def false_alerts(self) -> int:
        return sum(verdict is None for verdict in self.verdicts)

    @property
    def recall(self) -> float | None:
        return self.recalled / self.labelled if self.labels else None


def evaluate(
    anomalies: Iterable[Anomaly],
    labels: Iterable[Label],
    *,
    scored: tuple[datetime, datetime],
    interval: timedelta,
) -> Evaluation:
    """Match the detections inside ``scored`` to the labels whose window overlaps it.

    A detection hits a label when its interval overlaps the label's window (extended by
    one interval: the return to normal after a level shift is part of the anomaly), its
    series is one the label covers, and they share a measure. A label is recalled when
    at least one detection hits it; a detection that hits no label is a false alert.
    """
    begin, end = scored
    in_range = tuple(lb for lb in labels if lb.start < end and lb.end > begin)
    scored_anomalies = tuple(a for a in anomalies if begin <= a.start < end)
    verdicts: list[Label | None] = []
    found = [False] * len(in_range)
    for anomaly in scored_anomalies:
        hit = None
        for i, label in enumerate(in_range):
            if _hits(anomaly, label, interval):
                found[i] = True
                hit = hit or label
        verdicts.append(hit)
    return Evaluation(
        labels=in_range, found=tuple(found), anomalies=scored_anomalies, verdicts=tuple(verdicts)
    )


def _hits(anomaly: Anomaly, label: Label, interval: timedelta) -> bool:
    overlaps = anomaly.start < label.end + interval and anomaly.start + interval > label.start
    return (
        overlaps
        and label.covers(dict(anomaly.dimensions))
        and bool(set(anomaly.measures) & set(label.measures))
    )


def read_anomalies(files: Iterable[Path]) -> list[Anomaly]:
    """Detections from the detector's JSON-lines files (one anomaly group per line).

    A group lists its anomalous series; the report wants one entry per series and
    interval, with every measure that deviated, so the series are merged on those.
    """
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    for file in sorted(files):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                group = json.loads(line)
                start = group["interval_start"]
                members = group["series"]
            except (ValueError, KeyError, TypeError) as exc:
                raise DetectorError(
                    f"{file}:{number}: not an anomaly group ({exc}); the report reads what "
                    "the built-in detector writes under anomalies/"
                ) from exc
            for item in members:
                dims = tuple((str(k), str(v)) for k, v in item["dimensions"].items())
                entry = merged.setdefault(
                    (start, dims), {"measures": [], "severity": 0.0, "expected": {}, "actual": {}}
                )
                measure = item["measure"]
                entry["measures"].append(measure)
                entry["severity"] = max(entry["severity"], float(item["severity"]))
                entry["expected"][measure] = _float(item.get("expected"))
                entry["actual"][measure] = _float(item.get("actual"))
    return [
        Anomaly(
            start=datetime.fromisoformat(start).astimezone(UTC),
            dimensions=dims,
            measures=tuple(dict.fromkeys(entry["measures"])),
            severity=entry["severity"],
            expected=entry["expected"],
            actual=entry["actual"],
        )
        for (start, dims), entry in merged.items()
    ]


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def read_series(files: Sequence[Path], params: Params) -> tuple[list[Series], int]:
    """Aggregate crawled CSV files per interval like the detector does; also count their rows.

    DuckDB reads the files (header, delimiter, quote and compression from params.json);
    naive timestamps are in ``detector.timezone``, and each measure is aggregated per
    interval with its ``AggregationFunction``.
    """
    if not files:
        return [], 0
    csv = params.csv
    time_col = quote_identifier(params.timestamp_name)
    dims = [quote_identifier(d) for d in params.dimensions]
    aggregates = [
        f"{params.aggregations[m].lower()}({quote_identifier(m)}::DOUBLE)" for m in params.measures
    ]
    step = int(params.frequency.delta.total_seconds())
    bucket = (
        "date_trunc('day', ts)" if step >= 86400 else f"time_bucket(INTERVAL {step} SECOND, ts)"
    )
    keys = "".join(f", {d}::VARCHAR" for d in dims)
    query = f"""
        WITH raw AS (
            SELECT strptime({time_col}::VARCHAR, $fmt) AS ts{"".join(f", {d}" for d in dims)},
                   {", ".join(quote_identifier(m) for m in params.measures)}
            FROM read_csv($files, header = $header, delim = $delim, quote = $quote,
                          compression = $compression, all_varchar = true)
        )
        SELECT {bucket} AS slot{keys}, {", ".join(aggregates)}, count(*) AS n
        FROM raw GROUP BY ALL ORDER BY ALL
    """
    try:
        with duckdb.connect() as con:
            rows = con.execute(
                query,
                {
                    "files": [str(f) for f in files],
                    "fmt": java_to_strptime(params.timestamp_format),
                    "header": csv.contains_header,
                    "delim": csv.delimiter,
                    "quote": csv.quote_symbol,
                    "compression": "gzip" if csv.file_compression == "GZIP" else "none",
                },
            ).fetchall()
    except duckdb.Error as exc:
        raise DetectorError(f"cannot read the crawled files for the report: {exc}") from exc
    return _to_series(rows, params), sum(int(row[-1]) for row in rows)


def _to_series(rows: list[tuple[Any, ...]], params: Params) -> list[Series]:
    n_dims, measures = len(params.dimensions), params.measures
    tz = params.timezone
    slots = sorted({row[0] for row in rows})
    utc = {slot: slot.replace(tzinfo=tz).astimezone(UTC) for slot in slots}
    grid = np.array([utc[slot].replace(tzinfo=None) for slot in slots], dtype="datetime64[s]")
    position = {slot: i for i, slot in enumerate(slots)}
    table: dict[tuple[str, ...], npt.NDArray[np.float64]] = {}
    for row in rows:
        combo = tuple(str(v) for v in row[1 : 1 + n_dims])
        values = table.setdefault(combo, np.full((len(measures), len(slots)), np.nan))
        values[:, position[row[0]]] = [
            math.nan if v is None else float(v)
            for v in row[1 + n_dims : 1 + n_dims + len(measures)]
        ]
    return [
        Series(
            dimensions=tuple(zip(params.dimensions, combo, strict=True)),
            measure=measure,
            starts=grid,
            values=values[m],
        )
        for combo, values in table.items()
        for m, measure in enumerate(measures)
    ]


def write_report(
    path: str | Path,
    *,
    series: Sequence[Series],
    anomalies: Sequence[Anomaly],
    labels: Sequence[Label],
    summary: Mapping[str, object],
    interval: timedelta = timedelta(hours=1),
    focus: tuple[datetime, datetime] | None = None,
    title: str = "Anomaly detection report",
) -> Path:
    """Write the report to ``path`` and return it.

    ``focus`` is the range the detector scored (the continuous crawl): full plots show
    it with some history before it, and labels are scored inside it; without it the
    whole range of the series is shown and scored.
    """
    first, last = _extent(series, interval)
    scored = focus or (first, last)
    evaluation = evaluate(anomalies, labels, scored=scored, interval=interval)
    window = _plot_window(scored, first)

    by_series = _group(anomalies)
    detail, hidden_detail = _detail_series(series, by_series, labels, window)
    detail_plots = [
        {
            "title": f"{s.name} · {s.measure}",
            "svg": _plot(
                s,
                by_series.get((s.dimensions, s.measure), []),
                _labels_for(s, labels),
                window=window,
                scored=scored,
                interval=interval,
                width=880,
                height=190,
            ),
        }
        for s in detail
    ]
    small_plots = [
        {
            "title": s.name,
            "measure": s.measure,
            "flagged": (s.dimensions, s.measure) in by_series,
            "svg": _plot(
                s,
                by_series.get((s.dimensions, s.measure), []),
                _labels_for(s, labels),
                window=(first, last),
                scored=scored,
                interval=interval,
                width=280,
                height=64,
                axes=False,
            ),
        }
        for s in series
    ]
    label_rows = [
        {
            "kind": label.kind,
            "series": " / ".join(v or "all" for v in (label.platform, label.marketplace)),
            "measures": ", ".join(label.measures),
            "window": f"{_fmt(label.start)} – {_fmt(label.end)}",
            "found": found,
        }
        for label, found in zip(evaluation.labels, evaluation.found, strict=True)
    ]
    # Detections outside the scored range (a backtest over the history) are matched
    # against every label, so the table says what each one hit there too.
    everywhere = evaluate(anomalies, labels, scored=(first, last), interval=interval)
    verdicts = {id(a): v for a, v in zip(everywhere.anomalies, everywhere.verdicts, strict=True)}
    verdicts.update(
        {id(a): v for a, v in zip(evaluation.anomalies, evaluation.verdicts, strict=True)}
    )
    ranked = sorted(anomalies, key=lambda a: (-a.severity, a.start))
    anomaly_rows = [
        {
            "start": _fmt(anomaly.start),
            "series": anomaly.name,
            "measures": ", ".join(anomaly.measures),
            "severity": f"{anomaly.severity:.0f}",
            "change": "; ".join(
                f"{m}: {_num(anomaly.expected.get(m))} → {_num(anomaly.actual.get(m))}"
                for m in anomaly.measures
            ),
            "verdict": _verdict(anomaly, verdicts, has_labels=bool(labels)),
        }
        for anomaly in ranked[:MAX_ANOMALY_ROWS]
    ]
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            generated=_fmt(datetime.now(UTC)),
            scored=f"{_fmt(scored[0])} – {_fmt(scored[1])} UTC",
            summary=[(key, str(value)) for key, value in summary.items()],
            detail_plots=detail_plots,
            hidden_detail=hidden_detail,
            small_plots=small_plots,
            measures=list(dict.fromkeys(s.measure for s in series)),
            label_rows=label_rows,
            has_labels=bool(labels),
            anomaly_rows=anomaly_rows,
            hidden_anomalies=max(0, len(anomalies) - MAX_ANOMALY_ROWS),
        )
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target


def _verdict(anomaly: Anomaly, verdicts: Mapping[int, Label | None], *, has_labels: bool) -> str:
    if not has_labels:
        return ""
    verdict = verdicts.get(id(anomaly))
    return verdict.kind if verdict else "false alert"


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# --- Selection -----------------------------------------------------------------------

_Key = tuple[tuple[tuple[str, str], ...], str]


def _group(anomalies: Sequence[Anomaly]) -> dict[_Key, list[Anomaly]]:
    grouped: dict[_Key, list[Anomaly]] = {}
    for anomaly in anomalies:
        for measure in anomaly.measures:
            grouped.setdefault((anomaly.dimensions, measure), []).append(anomaly)
    return grouped


def _labels_for(series: Series, labels: Iterable[Label]) -> list[Label]:
    dims = dict(series.dimensions)
    return [lb for lb in labels if series.measure in lb.measures and lb.covers(dims)]


def _flagged(
    series: Sequence[Series],
    by_series: Mapping[_Key, list[Anomaly]],
    labels: Sequence[Label],
    window: tuple[datetime, datetime],
) -> list[tuple[float, Series]]:
    """Series with a detection or a labelled window inside ``window``, with their top severity."""
    begin, end = window
    flagged = []
    for s in series:
        hits = [a for a in by_series.get((s.dimensions, s.measure), []) if begin <= a.start < end]
        labelled = [lb for lb in _labels_for(s, labels) if lb.start < end and lb.end > begin]
        if hits or labelled:
            flagged.append((max((a.severity for a in hits), default=0.0), s))
    return flagged


def _detail_series(
    series: Sequence[Series],
    by_series: Mapping[_Key, list[Anomaly]],
    labels: Sequence[Label],
    window: tuple[datetime, datetime],
) -> tuple[list[Series], int]:
    """Series worth a full plot, strongest detection first, and how many more there were."""
    flagged = sorted(
        _flagged(series, by_series, labels, window), key=lambda pair: (-pair[0], pair[1].name)
    )
    return [s for _, s in flagged[:MAX_DETAIL_PLOTS]], max(0, len(flagged) - MAX_DETAIL_PLOTS)


def _extent(series: Sequence[Series], interval: timedelta) -> tuple[datetime, datetime]:
    starts = [s.starts for s in series if len(s.starts)]
    if not starts:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return now, now + interval
    first = min(_to_datetime(a.min()) for a in starts)
    last = max(_to_datetime(a.max()) for a in starts) + interval
    return first, last


def _plot_window(scored: tuple[datetime, datetime], first: datetime) -> tuple[datetime, datetime]:
    """The scored range with history before it for context: three times its length, a week
    at least (enough to show the daily and weekly pattern a detection stands out from)."""
    begin, end = scored
    context = max((end - begin) * 3, timedelta(days=7))
    return max(first, begin - context), end


# --- SVG -----------------------------------------------------------------------------


def _plot(
    series: Series,
    anomalies: Sequence[Anomaly],
    labels: Sequence[Label],
    *,
    window: tuple[datetime, datetime],
    scored: tuple[datetime, datetime],
    interval: timedelta,
    width: int,
    height: int,
    axes: bool = True,
) -> Markup:
    """An inline SVG line plot: labelled windows shaded, detections as red dots with titles."""
    left, right, top, bottom = (56, 24, 8, 22) if axes else (2, 2, 3, 3)
    plot_w, plot_h = width - left - right, height - top - bottom
    t0, t1 = window
    span = max((t1 - t0).total_seconds(), 1.0)
    epoch = series.starts.astype("datetime64[s]").astype(np.int64)
    # Points sit mid-interval so a one-interval anomaly lines up with its shaded window.
    mid = epoch + interval.total_seconds() / 2
    inside = (mid >= t0.timestamp()) & (mid <= t1.timestamp())
    xs_all = (left + (mid[inside] - t0.timestamp()) / span * plot_w).astype(np.float64)
    values = series.values[inside]
    finite = values[np.isfinite(values)]
    vmax = float(finite.max()) if finite.size else 1.0
    vmin = min(0.0, float(finite.min())) if finite.size else 0.0
    vmax = vmax if vmax > vmin else vmin + 1.0
    vmax += (vmax - vmin) * 0.05

    def x_of(t: datetime) -> float:
        return left + (t - t0).total_seconds() / span * plot_w

    def y_of(v: float) -> float:
        return top + plot_h - (v - vmin) / (vmax - vmin) * plot_h

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(series.name)} {escape(series.measure)}">'
    ]
    if axes and scored[0] > t0:
        x = x_of(max(scored[0], t0))
        parts.append(
            f'<rect class="scored" x="{x:.1f}" y="{top}" width="{left + plot_w - x:.1f}" '
            f'height="{plot_h}"><title>scored by the detector</title></rect>'
        )
    for label in labels:
        a, b = max(label.start, t0), min(label.end, t1)
        if a >= b:
            continue
        xa, xb = x_of(a), x_of(b)
        parts.append(
            f'<rect class="label" x="{xa:.1f}" y="{top}" width="{max(xb - xa, 2.0):.1f}" '
            f'height="{plot_h}"><title>labelled {escape(label.kind)}: {_fmt(label.start)} – '
            f"{_fmt(label.end)}</title></rect>"
        )
    if axes:
        parts.extend(_axes(t0, t1, vmin, vmax, left, top, plot_w, plot_h, x_of, y_of))
    parts.extend(_line(xs_all, values, y_of, width=plot_w))
    radius = 3.5 if axes else 2.0
    for anomaly in anomalies:
        if not t0 <= anomaly.start < t1:
            continue
        actual = anomaly.actual.get(series.measure)
        x = x_of(anomaly.start + interval / 2)
        y = y_of(actual) if actual is not None and math.isfinite(actual) else top + plot_h / 2
        tip = (
            f"{_fmt(anomaly.start)} severity {anomaly.severity:.0f}: expected "
            f"{_num(anomaly.expected.get(series.measure))}, got {_num(actual)}"
        )
        parts.append(
            f'<circle class="anomaly" cx="{x:.1f}" cy="{y:.1f}" r="{radius}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.append("</svg>")
    # Safe: every piece of text from the data above went through escape() or a number format.
    return Markup("".join(parts))  # noqa: S704


def _line(
    xs: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    y_of: Callable[[float], float],
    *,
    width: int,
) -> list[str]:
    """Polylines through the finite points, min/max-decimated to about two per pixel."""
    if xs.size > 2 * width:
        column = np.minimum(((xs - xs.min()) / max(np.ptp(xs), 1e-9) * width).astype(int), width)
        keep_x, keep_v = [], []
        for c in np.unique(column):
            chunk = values[column == c]
            xc = float(xs[column == c].mean())
            if np.isfinite(chunk).any():
                keep_x += [xc, xc]
                keep_v += [float(np.nanmin(chunk)), float(np.nanmax(chunk))]
            else:
                keep_x.append(xc)
                keep_v.append(math.nan)
        xs, values = np.array(keep_x), np.array(keep_v)
    lines: list[str] = []
    run: list[str] = []
    for x, v in zip(xs.tolist(), values.tolist(), strict=True):
        if math.isfinite(v):
            run.append(f"{x:.1f},{y_of(v):.1f}")
            continue
        if run:
            lines.append(_polyline(run))
        run = []
    if run:
        lines.append(_polyline(run))
    return lines


def _polyline(points: list[str]) -> str:
    return f'<polyline class="series" points="{" ".join(points)}"/>'


def _axes(
    t0: datetime,
    t1: datetime,
    vmin: float,
    vmax: float,
    left: int,
    top: int,
    plot_w: int,
    plot_h: int,
    x_of: Callable[[datetime], float],
    y_of: Callable[[float], float],
) -> list[str]:
    parts = [f'<rect class="frame" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>']
    for value in _nice_ticks(vmin, vmax):
        y = y_of(value)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_num(value)}</text>"
        )
    days = max(1, math.ceil((t1 - t0) / timedelta(days=1)))
    step = next(s for s in (1, 2, 7, 14, 28, 10_000) if days / s <= 10)
    tick = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    tick += timedelta(days=1) if tick < t0 else timedelta(0)
    while tick <= t1:
        x = x_of(tick)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}"/>'
        )
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{top + plot_h + 15}" text-anchor="middle">'
            f"{tick:%b %d}</text>"
        )
        tick += timedelta(days=step)
    return parts


def _nice_ticks(vmin: float, vmax: float, count: int = 4) -> list[float]:
    raw = (vmax - vmin) / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(vmin / step) * step
    return [first + i * step for i in range(count + 2) if first + i * step <= vmax]


# --- Formatting ----------------------------------------------------------------------


def _to_datetime(value: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(value.astype("datetime64[s]").astype(np.int64)), UTC)


def _fmt(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"


def _num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"
