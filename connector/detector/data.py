"""Reading the crawled CSVs the way Lookout for Metrics did, into per-interval metric series.

The data contract (see the README): historical files lie directly under one prefix,
each continuous interval in its own folder named by the interval START; CSV with a
header row, the timestamp parsed with the params' SimpleDateFormat ``ColumnFormat``
in ``detector.timezone``; each measure aggregated per interval with its
``AggregationFunction`` for every combination of dimension values. Rows whose
timestamp falls outside the interval being read are ignored, as the service did.

A metric series is one (dimension combination, measure) pair. Series are numbered
combination-major — series ``c * n_measures + m`` is measure ``m`` of combination
``c`` — so that a combination seen for the first time appends ``n_measures``
series at the end and earlier series keep their numbers.

Everything is vectorised with numpy over rows; Python loops run over unique
timestamps, unique hours or files only.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from connector.errors import DetectorError
from connector.intervals import Frequency, iter_intervals, next_boundary
from connector.storage import parse_s3_uri

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector.config import Params
    from connector.storage import ObjectStore

# Seconds per interval; P1D intervals are local calendar days and floored separately.
STEP_SECONDS = {"PT5M": 300, "PT10M": 600, "PT1H": 3600, "P1D": 86400}

_SEPARATOR = "\x1f"

# SimpleDateFormat letter runs → strptime directives. Letters not listed are refused:
# better a clear error at build time than timestamps silently parsed wrong.
_JAVA_TO_STRPTIME: dict[str, str] = {
    "yyyy": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%m",
    "dd": "%d",
    "d": "%d",
    "HH": "%H",
    "H": "%H",
    "hh": "%I",
    "h": "%I",
    "mm": "%M",
    "m": "%M",
    "ss": "%S",
    "s": "%S",
    "SSS": "%f",
    "SSSSSS": "%f",
    "a": "%p",
    "EEE": "%a",
    "EEEE": "%A",
    "DDD": "%j",
    "Z": "%z",
    "X": "%z",
    "XX": "%z",
    "XXX": "%z",
}
_TOKEN = re.compile(r"'[^']*'|([A-Za-z])\1*|[^A-Za-z']+")
# Formats numpy parses natively (ISO 8601 with ' ' or 'T'): 50x faster than strptime.
_NUMPY_FORMATS = frozenset(
    {
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d",
    }
)


def java_to_strptime(pattern: str) -> str:
    """Translate a SimpleDateFormat pattern (``yyyy-MM-dd HH:mm:ss``) to strptime's."""
    out: list[str] = []
    for match in _TOKEN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            literal = token[1:-1] or "'"
            out.append(literal.replace("%", "%%"))
        elif token[0].isalpha():
            try:
                out.append(_JAVA_TO_STRPTIME[token])
            except KeyError:
                raise DetectorError(
                    f"timestamp_column.ColumnFormat {pattern!r}: the built-in detector cannot "
                    f"read {token!r}; use letters yyyy, MM, dd, HH, mm, ss, SSS, a, EEE, XXX "
                    "(e.g. 'yyyy-MM-dd HH:mm:ss')"
                ) from None
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """What the reader needs from params.json, checked once."""

    timestamp_column: str
    timestamp_format: str
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    aggregations: tuple[str, ...]
    delimiter: str
    quote: str
    gzip: bool
    charset: str
    frequency: str
    timezone: ZoneInfo

    @classmethod
    def from_params(cls, params: Params) -> DatasetSpec:
        spec = cls(
            timestamp_column=params.timestamp_name,
            timestamp_format=java_to_strptime(params.timestamp_format),
            dimensions=tuple(params.dimensions),
            measures=tuple(params.measures),
            aggregations=tuple(params.aggregations[name] for name in params.measures),
            delimiter=params.csv.delimiter,
            quote=params.csv.quote_symbol,
            gzip=params.csv.file_compression == "GZIP",
            charset=params.csv.charset,
            frequency=str(params.frequency.value),
            timezone=params.timezone,
        )
        return spec

    @property
    def step(self) -> int:
        return STEP_SECONDS[self.frequency]

    @property
    def has_zone(self) -> bool:
        return "%z" in self.timestamp_format


@dataclass(slots=True)
class Records:
    """Rows of one or more files, column-wise."""

    timestamps: np.ndarray  # str, as written
    dimensions: list[np.ndarray]  # str per dimension
    measures: np.ndarray  # float64 (n_rows, n_measures), NaN = empty cell

    def __len__(self) -> int:
        return len(self.timestamps)

    @classmethod
    def empty(cls, spec: DatasetSpec) -> Records:
        return cls(
            timestamps=np.array([], dtype=str),
            dimensions=[np.array([], dtype=str) for _ in spec.dimensions],
            measures=np.empty((0, len(spec.measures))),
        )

    @classmethod
    def concat(cls, parts: Sequence[Records], spec: DatasetSpec) -> Records:
        if not parts:
            return cls.empty(spec)
        return cls(
            timestamps=np.concatenate([p.timestamps for p in parts]),
            dimensions=[
                np.concatenate([p.dimensions[i] for p in parts])
                for i in range(len(spec.dimensions))
            ],
            measures=np.concatenate([p.measures for p in parts]),
        )


@dataclass(slots=True)
class SeriesTable:
    """Aggregated series: ``values[s, t]`` of series ``s`` in interval ``t`` (NaN = no data)."""

    starts: np.ndarray  # datetime64[s] UTC interval starts
    combinations: list[tuple[str, ...]]
    values: np.ndarray  # float64 (n_combinations * n_measures, n_intervals)


def parse_csv(body: bytes, spec: DatasetSpec, *, source: str) -> Records:
    """Parse one CSV object (header row required) into :class:`Records`."""
    if spec.gzip:
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise DetectorError(
                f"{source} is not GZIP although FileCompression is GZIP; "
                "crawl again or set FileCompression to NONE"
            ) from exc
    try:
        text = body.decode("utf-8-sig" if spec.charset.upper() == "UTF-8" else spec.charset)
    except UnicodeDecodeError as exc:
        raise DetectorError(f"{source} is not {spec.charset} text (byte {exc.start})") from exc
    rows = [
        row
        for row in csv.reader(
            io.StringIO(text), delimiter=spec.delimiter, quotechar=spec.quote or None
        )
        if row
    ]
    if not rows:
        return Records.empty(spec)
    header, rows = rows[0], rows[1:]
    wanted = (spec.timestamp_column, *spec.dimensions, *spec.measures)
    positions = {name.lower(): i for i, name in enumerate(header)}
    missing = [name for name in wanted if name.lower() not in positions]
    if missing:
        raise DetectorError(
            f"{source} has no column {', '.join(map(repr, missing))} (header: {header}); "
            "make the query output every column named in params.json"
        )
    index = [positions[name.lower()] for name in wanted]
    width = max(index) + 1
    short = next((n for n, row in enumerate(rows) if len(row) < width), None)
    if short is not None:
        raise DetectorError(
            f"{source} line {short + 2} has {len(rows[short])} fields; expected {len(header)}"
        )
    columns = [np.array([row[i] for row in rows], dtype=str) for i in index]
    n_dims = len(spec.dimensions)
    measures = np.empty((len(rows), len(spec.measures)))
    for m, column in enumerate(columns[1 + n_dims :]):
        measures[:, m] = _to_float(column, name=spec.measures[m], source=source)
    return Records(timestamps=columns[0], dimensions=columns[1 : 1 + n_dims], measures=measures)


def _to_float(column: np.ndarray, *, name: str, source: str) -> np.ndarray:
    # UNLOAD writes NULL as an empty field: a missing value, not a zero.
    column = np.where(np.char.str_len(column) == 0, "nan", column)
    try:
        return column.astype(np.float64)
    except ValueError:
        for line, text in enumerate(column, start=2):
            try:
                float(text)
            except ValueError:
                raise DetectorError(
                    f"{source} line {line}: measure {name!r} is {str(text)!r}, not a number"
                ) from None
        raise


def parse_timestamps(texts: np.ndarray, spec: DatasetSpec, *, source: str) -> np.ndarray:
    """Epoch seconds (UTC, int64) of timestamp texts; naive ones are in ``spec.timezone``."""
    if len(texts) == 0:
        return np.array([], dtype=np.int64)
    if spec.timestamp_format in _NUMPY_FORMATS:
        try:
            local = np.asarray(texts, dtype="datetime64[s]").astype(np.int64)
        except ValueError:
            pass  # fall through: strptime names the offending value
        else:
            return _local_to_utc(local, spec.timezone)
    unique, inverse = np.unique(texts, return_inverse=True)
    parsed = np.empty(len(unique), dtype=np.int64)
    aware = np.zeros(len(unique), dtype=bool)
    for i, text in enumerate(unique):
        try:
            moment = datetime.strptime(str(text), spec.timestamp_format)
        except ValueError:
            line = int(np.flatnonzero(texts == text)[0]) + 2
            raise DetectorError(
                f"{source} line {line}: timestamp {str(text)!r} does not match "
                f"timestamp_column.ColumnFormat; fix the query's output format or the params"
            ) from None
        if moment.tzinfo is not None:
            parsed[i] = int(moment.timestamp())
            aware[i] = True
        else:
            parsed[i] = int(moment.replace(tzinfo=UTC).timestamp())
    if not aware.all():
        parsed[~aware] = _local_to_utc(parsed[~aware], spec.timezone)
    return parsed[inverse]


def _utc_offset(moment: datetime, tz: ZoneInfo) -> int:
    offset = moment.astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _offsets_at_utc(epoch: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """UTC offset (seconds) of ``tz`` at each UTC epoch; looked up once per distinct hour."""
    hours, inverse = np.unique(epoch // 3600, return_inverse=True)
    offsets = np.array(
        [_utc_offset(datetime.fromtimestamp(int(h) * 3600, UTC), tz) for h in hours],
        dtype=np.int64,
    )
    return offsets[inverse]


def wall_clock(starts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """UTC starts (``datetime64``) as the wall-clock times ``tz`` shows then (``datetime64[s]``).

    The model's seasons index these, so a business's 9 o'clock stays one slot through
    daylight-saving changes (by the UTC clock it moves an hour twice a year).
    """
    epoch = np.asarray(starts, dtype="datetime64[s]").astype(np.int64)
    if tz.key == "UTC" or epoch.size == 0:
        return epoch.astype("datetime64[s]")
    return np.asarray(epoch + _offsets_at_utc(epoch, tz)).astype("datetime64[s]")


def _local_to_utc(local: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """Wall-clock epoch seconds in ``tz`` → UTC epoch seconds (earlier instant if ambiguous)."""
    if tz.key == "UTC":
        return local
    # Two passes settle the offset except inside a DST gap, which no recorded time falls in.
    guess = local - _offsets_at_utc(local, tz)
    return np.asarray(local - _offsets_at_utc(guess, tz), dtype=np.int64)


def interval_starts(epoch: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    """UTC epoch of the start of the interval holding each timestamp (local wall-clock grid)."""
    if len(epoch) == 0:
        return epoch
    offsets = _offsets_at_utc(epoch, spec.timezone)
    if spec.step < 86400:
        # Floor in local time without a round trip, so the repeated hour of a DST change
        # stays two intervals.
        return np.asarray(epoch - (epoch + offsets) % spec.step, dtype=np.int64)
    local_start = (epoch + offsets) // spec.step * spec.step
    return _local_to_utc(local_start, spec.timezone)


def read_objects(store: ObjectStore, keys: Sequence[str], spec: DatasetSpec) -> Records:
    """Parse every CSV object in ``keys``."""
    parts = [
        parse_csv(store.get(key).body, spec, source=f"s3://{store.bucket}/{key}") for key in keys
    ]
    return Records.concat(parts, spec)


def data_keys(store: ObjectStore, uri: str) -> list[str]:
    """CSV objects directly under an ``s3://`` folder of the store's bucket (not in sub-folders)."""
    bucket, prefix = parse_s3_uri(uri)
    if bucket != store.bucket:
        raise DetectorError(
            f"{uri} is outside bucket {store.bucket!r}; the built-in detector reads the "
            "deployment bucket only: point the path at s3_bucket"
        )
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return [
        info.key
        for info in store.list(prefix, recursive=False)
        if info.size > 0 and not info.key.endswith(("/", "manifest"))
    ]


class Combinations:
    """The dimension combinations seen so far, numbered in order of first appearance.

    Numbers never change: a combination seen for the first time is appended.
    """

    def __init__(self, known: Sequence[tuple[str, ...]] = ()) -> None:
        self.items: list[tuple[str, ...]] = [tuple(c) for c in known]
        self._index = {_SEPARATOR.join(c): i for i, c in enumerate(self.items)}
        # Consecutive files usually hold the same combinations: reuse the last mapping.
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def codes(self, records: Records) -> np.ndarray:
        """The number of each row's combination (registering new ones)."""
        if not records.dimensions:
            if not self.items:
                self.items.append(())
            return np.zeros(len(records), dtype=np.int64)
        joined = records.dimensions[0].astype(object)
        for column in records.dimensions[1:]:
            joined = joined + _SEPARATOR + column.astype(object)
        unique, inverse = np.unique(joined.astype(str), return_inverse=True)
        if self._last is not None and np.array_equal(self._last[0], unique):
            return self._last[1][inverse]
        mapping = np.empty(len(unique), dtype=np.int64)
        for u, text in enumerate(unique.tolist()):
            found = self._index.get(text)
            if found is None:
                found = self._index[text] = len(self.items)
                self.items.append(tuple(text.split(_SEPARATOR)))
            mapping[u] = found
        self._last = (unique, mapping)
        return mapping[inverse]


def _sums_and_counts(
    records: Records, cell: np.ndarray, size: int, spec: DatasetSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell and measure: the sum of present values and their count, ``(size, n_measures)``."""
    sums = np.zeros((size, len(spec.measures)))
    counts = np.zeros((size, len(spec.measures)), dtype=np.int32)
    for m in range(len(spec.measures)):
        column = records.measures[:, m]
        present = ~np.isnan(column)
        sums[:, m] = np.bincount(cell[present], weights=column[present], minlength=size)
        counts[:, m] = np.bincount(cell[present], minlength=size)
    return sums, counts


def _finish(sums: np.ndarray, counts: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    """SUM or AVG per measure from sums and counts; NaN where nothing was present."""
    with np.errstate(invalid="ignore", divide="ignore"):
        averages = sums / counts
    totals = np.where(counts > 0, sums, np.nan)
    is_avg = np.array([how == "AVG" for how in spec.aggregations])
    return np.where(is_avg, averages, totals)


def aggregate(
    records: Records,
    slots: np.ndarray,
    n_intervals: int,
    spec: DatasetSpec,
    known: Sequence[tuple[str, ...]] = (),
) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Aggregate rows into ``(n_series, n_intervals)``; rows with ``slots < 0`` are ignored.

    ``slots[r]`` is the interval index of row ``r``. SUM and AVG skip empty cells; an
    interval without a value for a series is NaN (missing), never 0.
    """
    combinations = Combinations(known)
    keep = slots >= 0
    kept = records if bool(keep.all()) else _subset(records, keep)
    codes = combinations.codes(kept)
    n_comb = len(combinations)
    sums, counts = _sums_and_counts(
        kept, codes * n_intervals + slots[keep], n_comb * n_intervals, spec
    )
    # (combination, interval, measure) -> (combination, measure, interval)
    values = _finish(sums, counts, spec).reshape(n_comb, n_intervals, -1).transpose(0, 2, 1)
    return values.reshape(n_comb * len(spec.measures), n_intervals), combinations.items


def read_history(store: ObjectStore, uri: str, spec: DatasetSpec) -> SeriesTable:
    """Aggregate every file directly under the historical prefix onto a gap-free interval grid.

    Files are aggregated one at a time into per-interval sums and counts, so memory
    follows the size of the result (series x intervals), not the number of rows.
    """
    keys = data_keys(store, uri)
    if not keys:
        raise DetectorError(
            f"no historical data under {uri}; run the historical crawl first "
            "(or check HistoricalDataPathList)"
        )
    combinations = Combinations()
    per_interval: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for key in keys:
        source = f"s3://{store.bucket}/{key}"
        records = parse_csv(store.get(key).body, spec, source=source)
        if len(records) == 0:
            continue
        starts = interval_starts(parse_timestamps(records.timestamps, spec, source=source), spec)
        codes = combinations.codes(records)
        unique, local = np.unique(starts, return_inverse=True)
        n_comb = len(combinations)
        sums, counts = _sums_and_counts(records, local * n_comb + codes, len(unique) * n_comb, spec)
        sums = sums.reshape(len(unique), n_comb, -1)
        counts = counts.reshape(len(unique), n_comb, -1)
        for j, start in enumerate(unique.tolist()):
            if start in per_interval:
                old_sums, old_counts = per_interval[start]
                sums[j, : len(old_sums)] += old_sums
                counts[j, : len(old_counts)] += old_counts
            per_interval[start] = (sums[j], counts[j])
    if not per_interval:
        raise DetectorError(
            f"the files under {uri} hold no rows: the historical crawl found none in its "
            "range; crawl a range that holds data (crawl.historical_start, or the "
            "execution's start and end), then build the detector"
        )
    grid = interval_grid(min(per_interval), max(per_interval), spec)
    n_comb, n_meas = len(combinations), len(spec.measures)
    values = np.full((n_comb, n_meas, len(grid)), np.nan)
    slot_of = {int(start): i for i, start in enumerate(grid.tolist())}
    for start, (sums, counts) in per_interval.items():
        slot = slot_of.get(start)
        if slot is not None:
            values[: len(sums), :, slot] = _finish(sums, counts, spec)
    return SeriesTable(
        starts=grid.astype("datetime64[s]"),
        combinations=combinations.items,
        values=values.reshape(n_comb * n_meas, len(grid)),
    )


def interval_grid(first: int, last: int, spec: DatasetSpec) -> np.ndarray:
    """UTC epochs of every interval start from ``first`` to ``last`` (both starts).

    The crawler's own interval arithmetic draws the grid, so that both agree on every
    boundary, DST changes included.
    """
    tz, freq = spec.timezone, Frequency(spec.frequency)
    begin = datetime.fromtimestamp(first, UTC)
    stop = next_boundary(datetime.fromtimestamp(last, UTC), freq, tz)
    return np.array(
        [int(interval.start.timestamp()) for interval in iter_intervals(begin, stop, freq, tz)],
        dtype=np.int64,
    )


def read_interval(
    store: ObjectStore,
    uri: str,
    start: datetime,
    spec: DatasetSpec,
    known: Sequence[tuple[str, ...]],
) -> tuple[np.ndarray, list[tuple[str, ...]], int]:
    """Aggregate one interval folder onto the known series (new combinations appended).

    Returns ``(values (n_series,), combinations, rows used)``; a missing or empty folder
    gives all-NaN values.
    """
    keys = data_keys(store, uri)
    records = read_objects(store, keys, spec)
    epoch = parse_timestamps(records.timestamps, spec, source=uri)
    target = int(start.timestamp())
    slots = np.where(interval_starts(epoch, spec) == target, 0, -1)
    values, combinations = aggregate(records, slots, 1, spec, known)
    return values[:, 0], combinations, int((slots == 0).sum())


def _subset(records: Records, mask: np.ndarray) -> Records:
    return Records(
        timestamps=records.timestamps[mask],
        dimensions=[column[mask] for column in records.dimensions],
        measures=records.measures[mask],
    )
