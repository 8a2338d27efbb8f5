"""A deterministic demo warehouse: the original sample's e-commerce tables, with labelled anomalies.

The 2022 connector demoed on hourly ``views`` and ``revenue`` for 3 platforms × 7
marketplaces. This module rebuilds that warehouse as a DuckDB file — same tables, same
column types — so that ``connector demo`` and the tests crawl something realistic:
a daily cycle peaking in each marketplace's evening, a weekly pattern that differs by
platform, noise, revenue ≈ 0.3 × views, and injected anomalies whose windows are
recorded in a ``labels`` table so that detections can be scored.

Everything is computed with numpy from one seeded generator and bulk-loaded (DuckDB
scans the numpy arrays directly), so the same seed always gives the same rows and
the 90-day demo builds in well under a second. ``scale`` splits each hourly value
over several rows inside the hour (sums unchanged) to make large benchmark tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from connector.errors import WarehouseError

PLATFORMS: tuple[str, ...] = ("pc_web", "mobile_web", "mobile_app")
MARKETPLACES: tuple[str, ...] = ("us", "uk", "de", "fr", "es", "it", "jp")
MEASURES: tuple[str, ...] = ("views", "revenue")

# Relative traffic of each dimension value and each marketplace's UTC offset, so that
# series differ in size and every marketplace peaks in its own evening.
_PLATFORM_WEIGHT = np.array([1.0, 0.7, 1.3])
_WEEKEND_FACTOR = np.array([0.75, 1.0, 1.25])  # desktop quieter, app busier at weekends
_MARKETPLACE_WEIGHT = np.array([3.0, 1.2, 1.4, 0.9, 0.6, 0.6, 1.6])
_MARKETPLACE_UTC_OFFSET = np.array([-5, 0, 1, 1, 1, 1, 9])
_BASE_VIEWS_PER_HOUR = 400.0
_REVENUE_PER_VIEW = 0.3

# Anomalies are kept away from the first days so that a detector has a clean baseline.
_WARMUP_DAYS = 7
_HISTORY_DAYS_PER_ANOMALY = 4

_SCHEMA = """
CREATE TABLE platform (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL);
CREATE TABLE marketplace (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL);
CREATE TABLE ecommerce (
    id BIGINT NOT NULL,
    ts TIMESTAMP NOT NULL,
    platform INTEGER NOT NULL,
    marketplace INTEGER NOT NULL,
    views INTEGER NOT NULL,
    revenue DECIMAL(9, 2) NOT NULL
);
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    start_ts TIMESTAMP NOT NULL,
    end_ts TIMESTAMP NOT NULL,
    platform VARCHAR,
    marketplace VARCHAR,
    measures VARCHAR NOT NULL,
    kind VARCHAR NOT NULL
);
"""


@dataclass(frozen=True)
class Label:
    """An injected anomaly: the half-open window ``[start, end)`` and the series it affects.

    ``platform`` / ``marketplace`` of ``None`` mean "every value" (a platform-wide
    outage has ``marketplace=None``). ``measures`` names the measures that deviate.
    """

    start: datetime
    end: datetime
    platform: str | None
    marketplace: str | None
    measures: tuple[str, ...]
    kind: str

    def covers(self, dimensions: dict[str, str]) -> bool:
        """Whether this label applies to the series with these dimension values."""
        return all(
            wanted is None or dimensions.get(name) == wanted
            for name, wanted in (("platform", self.platform), ("marketplace", self.marketplace))
        )


@dataclass(frozen=True)
class DemoInfo:
    """What :func:`generate` built."""

    path: Path
    start: datetime
    end: datetime
    rows: int
    series: int
    labels: tuple[Label, ...]


@dataclass(frozen=True)
class _Injection:
    """One anomaly as array edits: hours ``[h0, h1)`` of series ``s`` (all series in ``group``)."""

    h0: int
    h1: int
    series: tuple[int, ...]
    views_factor: float
    price_factor: float
    kind: str
    measures: tuple[str, ...]


def generate(
    path: str | Path,
    *,
    start: datetime,
    days: int,
    seed: int = 7,
    anomalies: bool = True,
    live_start: datetime | None = None,
    scale: int = 1,
) -> DemoInfo:
    """Build the demo warehouse at ``path`` (replacing any file there) and return what it holds.

    ``start`` must be a whole UTC hour; the data covers ``days`` days from it. With
    ``anomalies`` the history gets about one labelled anomaly every four days after a
    week of warm-up, and, when ``live_start`` is given, the range from ``live_start`` to
    the end gets a fixed sequence of labelled anomalies of every kind, so that a
    continuous crawl over it has something to find. ``scale`` rows are written per
    series and hour (timestamps spread over the hour, sums unchanged).
    """
    start = _as_utc_hour(start, "start")
    if days < 1:
        raise WarehouseError(f"demo warehouse: days must be at least 1, got {days}")
    if scale < 1:
        raise WarehouseError(f"demo warehouse: scale must be at least 1, got {scale}")
    hours = days * 24
    end = start + timedelta(hours=hours)
    live_hour = None
    if live_start is not None:
        live_hour = int((_as_utc_hour(live_start, "live_start") - start) / timedelta(hours=1))
        if not 0 < live_hour < hours:
            raise WarehouseError(
                f"demo warehouse: live_start {live_start:%Y-%m-%d %H:%M} is outside "
                f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"
            )

    rng = np.random.default_rng(seed)
    views_level = _baseline(rng, start, hours)
    injections = _plan_injections(rng, hours, live_hour) if anomalies else []
    views, revenue_cents = _observe(rng, views_level, injections)
    labels = tuple(_to_label(inj, start) for inj in injections)

    target = Path(path)
    _write(target, start, views, revenue_cents, labels, scale)
    return DemoInfo(
        path=target,
        start=start,
        end=end,
        rows=views.size * scale,
        series=views.shape[1],
        labels=labels,
    )


def _as_utc_hour(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise WarehouseError(f"demo warehouse: {name} must be timezone-aware (UTC), got {value}")
    value = value.astimezone(UTC)
    if value != value.replace(minute=0, second=0, microsecond=0):
        raise WarehouseError(f"demo warehouse: {name} must be a whole hour, got {value}")
    return value


def _baseline(rng: np.random.Generator, start: datetime, hours: int) -> npt.NDArray[np.float64]:
    """Expected views per (hour, series): size × daily cycle × weekly pattern × slow growth."""
    weight = np.outer(_PLATFORM_WEIGHT, _MARKETPLACE_WEIGHT).ravel()  # series = p * 7 + m
    n_series = weight.size
    utc_offset = np.tile(_MARKETPLACE_UTC_OFFSET, len(PLATFORMS))
    peak_hour = rng.uniform(18.0, 22.0, n_series)  # local evening peak, per series
    amplitude = rng.uniform(0.45, 0.7, n_series)

    utc_hours = start.hour + np.arange(hours)[:, None]
    local_hour = (utc_hours + utc_offset) % 24
    daily = 1.0 + amplitude * np.cos(2 * math.pi * (local_hour - peak_hour) / 24)
    weekday = (start.weekday() + (utc_hours + utc_offset) // 24) % 7
    weekend = np.where(weekday >= 5, np.repeat(_WEEKEND_FACTOR, len(MARKETPLACES)), 1.0)
    growth = 1.0 + 0.002 * (np.arange(hours)[:, None] / 24)
    return _BASE_VIEWS_PER_HOUR * weight * daily * weekend * growth  # type: ignore[no-any-return]


def _plan_injections(
    rng: np.random.Generator, hours: int, live_hour: int | None
) -> list[_Injection]:
    """Anomalies spread over the history, plus a fixed sequence in the live range."""
    n_series = len(PLATFORMS) * len(MARKETPLACES)
    history_end = live_hour if live_hour is not None else hours
    first = _WARMUP_DAYS * 24
    injections: list[_Injection] = []
    count = max(0, (history_end - first) // (24 * _HISTORY_DAYS_PER_ANOMALY))
    slot = (history_end - first) // count if count else 0
    kinds = ("spike", "drop", "level_shift", "outage", "revenue_drop")
    for i in range(count):
        kind = kinds[i % len(kinds)]
        length = _length(rng, kind)
        h0 = first + i * slot + int(rng.integers(0, max(1, slot - length)))
        injections.append(_injection(rng, kind, h0, min(h0 + length, history_end), n_series))
    if count >= 2:
        # A platform-wide outage: one release breaks an app in every marketplace at once.
        h0 = first + slot // 2
        platform = int(rng.integers(0, len(PLATFORMS)))
        group = tuple(platform * len(MARKETPLACES) + m for m in range(len(MARKETPLACES)))
        injections.append(_Injection(h0, h0 + 3, group, 0.0, 1.0, "outage", MEASURES))
    if live_hour is not None:
        # Offsets in hours from the live start, chosen so every kind shows within 48 hours.
        for kind, offset in (
            ("spike", 5),
            ("outage", 14),
            ("drop", 24),
            ("revenue_drop", 32),
            ("level_shift", 39),
        ):
            h0 = live_hour + offset
            if h0 < hours:
                length = min(_length(rng, kind), 8) if kind == "level_shift" else _length(rng, kind)
                injections.append(_injection(rng, kind, h0, min(h0 + length, hours), n_series))
    return sorted(injections, key=lambda inj: (inj.h0, inj.series))


def _length(rng: np.random.Generator, kind: str) -> int:
    low, high = {
        "spike": (1, 3),
        "drop": (2, 5),
        "level_shift": (24, 49),
        "outage": (3, 7),
        "revenue_drop": (2, 5),
    }[kind]
    return int(rng.integers(low, high))


def _injection(rng: np.random.Generator, kind: str, h0: int, h1: int, n_series: int) -> _Injection:
    series = (int(rng.integers(0, n_series)),)
    if kind == "spike":
        factor = float(rng.uniform(2.5, 4.0))
        return _Injection(h0, h1, series, factor, 1.0, kind, MEASURES)
    if kind == "drop":
        factor = float(rng.uniform(0.15, 0.35))
        return _Injection(h0, h1, series, factor, 1.0, kind, MEASURES)
    if kind == "level_shift":
        factor = float(rng.choice([rng.uniform(0.4, 0.55), rng.uniform(1.6, 1.9)]))
        return _Injection(h0, h1, series, factor, 1.0, kind, MEASURES)
    if kind == "outage":
        return _Injection(h0, h1, series, 0.0, 1.0, kind, MEASURES)
    factor = float(rng.uniform(0.2, 0.35))  # revenue_drop: a pricing bug, traffic unchanged
    return _Injection(h0, h1, series, 1.0, factor, kind, ("revenue",))


def _observe(
    rng: np.random.Generator,
    views_level: npt.NDArray[np.float64],
    injections: list[_Injection],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Noisy integer views and revenue in cents, with the injections applied."""
    n_series = views_level.shape[1]
    views_factor = np.ones_like(views_level)
    price_factor = np.ones_like(views_level)
    for inj in injections:
        idx = list(inj.series)
        views_factor[inj.h0 : inj.h1, idx] *= inj.views_factor
        price_factor[inj.h0 : inj.h1, idx] *= inj.price_factor
    expected = views_level * views_factor * rng.normal(1.0, 0.04, views_level.shape)
    views = rng.poisson(np.clip(expected, 0.0, None)).astype(np.int64)
    price = _REVENUE_PER_VIEW * rng.uniform(0.9, 1.1, n_series)
    revenue = views * price * price_factor * rng.normal(1.0, 0.03, views_level.shape)
    revenue_cents = np.rint(np.clip(revenue, 0.0, None) * 100).astype(np.int64)
    return views, revenue_cents


def _to_label(inj: _Injection, start: datetime) -> Label:
    platforms = {s // len(MARKETPLACES) for s in inj.series}
    marketplaces = {s % len(MARKETPLACES) for s in inj.series}
    return Label(
        start=start + timedelta(hours=inj.h0),
        end=start + timedelta(hours=inj.h1),
        platform=PLATFORMS[platforms.pop()] if len(platforms) == 1 else None,
        marketplace=MARKETPLACES[marketplaces.pop()] if len(marketplaces) == 1 else None,
        measures=inj.measures,
        kind=inj.kind,
    )


def _split(totals: npt.NDArray[np.int64], scale: int) -> npt.NDArray[np.int64]:
    """Split each total into ``scale`` integer parts that add up to it exactly."""
    cuts = (totals.ravel()[:, None] * np.arange(scale + 1)) // scale
    return np.diff(cuts, axis=1).ravel()


def _write(
    path: Path,
    start: datetime,
    views: npt.NDArray[np.int64],
    revenue_cents: npt.NDArray[np.int64],
    labels: tuple[Label, ...],
    scale: int,
) -> None:
    hours, n_series = views.shape
    n = views.size * scale
    hour_index = np.repeat(np.arange(hours, dtype=np.int64), n_series * scale)
    within = np.tile((np.arange(scale, dtype=np.int64) * 3600) // scale, views.size)
    ts = np.datetime64(start.replace(tzinfo=None), "s") + (hour_index * 3600 + within).astype(
        "timedelta64[s]"
    )
    series = np.tile(np.repeat(np.arange(n_series, dtype=np.int32), scale), hours)
    columns: dict[str, Any] = {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "ts": ts,
        "platform": series // len(MARKETPLACES) + 1,
        "marketplace": series % len(MARKETPLACES) + 1,
        "views": _split(views, scale).astype(np.int32),
        "cents": _split(revenue_cents, scale),
    }
    label_columns: dict[str, Any] = {
        "id": np.arange(1, len(labels) + 1, dtype=np.int32),
        "start_ts": np.array([lb.start.replace(tzinfo=None) for lb in labels], "datetime64[s]"),
        "end_ts": np.array([lb.end.replace(tzinfo=None) for lb in labels], "datetime64[s]"),
        "platform": np.array([lb.platform for lb in labels], dtype=object),
        "marketplace": np.array([lb.marketplace for lb in labels], dtype=object),
        "measures": np.array([",".join(lb.measures) for lb in labels], dtype=object),
        "kind": np.array([lb.kind for lb in labels], dtype=object),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(path)) as con:
            con.execute(_SCHEMA)
            con.executemany("INSERT INTO platform VALUES (?, ?)", list(enumerate(PLATFORMS, 1)))
            con.executemany(
                "INSERT INTO marketplace VALUES (?, ?)", list(enumerate(MARKETPLACES, 1))
            )
            con.register("rows_np", columns)
            # Cents are integers until here so that DECIMAL(9, 2) is exact, not a float rounding.
            con.execute(
                "INSERT INTO ecommerce SELECT id, ts::TIMESTAMP, platform, marketplace, views, "
                "(cents * 0.01::DECIMAL(3, 2))::DECIMAL(9, 2) FROM rows_np"
            )
            con.unregister("rows_np")
            if labels:
                con.register("labels_np", label_columns)
                con.execute("INSERT INTO labels SELECT * FROM labels_np")
                con.unregister("labels_np")
    except duckdb.Error as exc:
        raise WarehouseError(f"demo warehouse: cannot write {path}: {exc}") from exc
