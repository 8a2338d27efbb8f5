"""The built-in detector's model: robust seasonal baselines for many series at once.

One :class:`DetectorModel` holds the state of every metric series of a detector (each
dimension combination x measure) as numpy arrays, and every operation is vectorised
across series: scoring one interval of 50,000 series is a few dozen array operations.

Per series it tracks, online (what it does and why is measured in ``bench/detector.md``):

* a **level** and two additive **seasonal profiles** indexed by the interval's time
  (time of day at the detector's resolution, and hour of the week; daily data uses the
  day of the week) as given: the service passes the detector zone's wall clock; updated
  like Holt-Winters but with residuals clipped to a few robust scales, so a spike does
  not bend the baseline;
* a robust **scale** (mean absolute residual) with a time-of-day profile of it (business
  metrics are noisier at their busy hours than at night), and the tail of the residual
  z-scores, so a spiky-by-nature series does not alert at every spike; the residual
  counts only as far as the season explains the series better than its level alone.
  Far-out residuals (beyond the level-shift threshold) do not teach the scale, so an
  outage does not triple it and hide the next incident;
* a **level-shift** run: a few consecutive residuals far out on the same side move the
  level at once, so a lasting change alerts once and then becomes the new normal;
* **novelty**: the distance to the nearest of the latest values and a reservoir sample
  of older ones, in robust spreads: a value never seen recently, whatever the season;
* an **incident memory**: a decaying peak of recent surprises, so one incident alerts
  once and re-alerts only if it gets worse.

The larger of the residual and novelty z-scores becomes a 0-100 severity through a
fixed, calibrated transform. A series whose history is shorter than the warm-up (two
seasons) reports ``learning`` and scores 0; a NaN value reports ``missing``, scores 0
and leaves the state untouched.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from connector.detector.model_params import FREQUENCY_SPECS, SCORING, FrequencySpec

__all__ = ["STATUS_NAMES", "BacktestResult", "DetectorModel", "ScoreResult"]

FloatArray = npt.NDArray[np.float64]

STATUS_OK, STATUS_LEARNING, STATUS_MISSING = 0, 1, 2
STATUS_NAMES = np.array(["ok", "learning", "missing"])

_FORMAT_VERSION = 2
# Time steps transposed to (time, series) at once while fitting: contiguous rows for the
# per-interval loop without copying the whole history.
_FIT_CHUNK = 128


@dataclass(frozen=True)
class ScoreResult:
    """One interval's verdict for every series, in series order."""

    score: FloatArray
    """Severity 0-100; 0 where the series is learning or its value is missing."""
    expected: FloatArray
    """The model's expectation for the interval (before it learned from it)."""
    actual: FloatArray
    status: npt.NDArray[np.str_]
    """``"ok"``, ``"learning"`` or ``"missing"``."""


@dataclass(frozen=True)
class BacktestResult:
    """Scores of the last part of a history by a model trained on the part before it."""

    split: int
    """Index of the first scored interval."""
    score: FloatArray
    """(n_series, n_intervals - split)"""
    expected: FloatArray
    status: npt.NDArray[np.str_]


def _frequency_spec(frequency: Any) -> FrequencySpec:
    key = str(getattr(frequency, "value", frequency))
    try:
        return FREQUENCY_SPECS[key]
    except KeyError:
        raise ValueError(
            f"unsupported detector frequency {key!r}; use one of {sorted(FREQUENCY_SPECS)}"
        ) from None


def _seconds(start: Any) -> int:
    return int(np.datetime64(start, "s").astype(np.int64))


class DetectorModel:
    """Online robust seasonal model of ``n_series`` series sharing one interval grid."""

    _SCALARS = (
        "level",
        "scale",
        "n_obs",
        "run",
        "run_sum",
        "q_lo",
        "q_hi",
        "q_mid",
        "tail",
        "peak",
        "naive",
        "fine_scale_sum",
    )

    def __init__(
        self,
        frequency: str,
        n_series: int,
        *,
        sensitivity: float = 0.5,
        warmup: int | None = None,
    ) -> None:
        self.spec = _frequency_spec(frequency)
        self.frequency = self.spec.name
        if not 0.0 <= sensitivity <= 1.0:
            raise ValueError(f"sensitivity must be within 0..1, got {sensitivity}")
        self.sensitivity = float(sensitivity)
        self.warmup = int(warmup if warmup is not None else self.spec.warmup)
        n = int(n_series)
        self.level = np.zeros(n)
        self.scale = np.zeros(n)
        self.n_obs = np.zeros(n, dtype=np.int32)
        self.run = np.zeros(n, dtype=np.int16)
        self.run_sum = np.zeros(n)
        self.q_lo = np.zeros(n)
        self.q_hi = np.zeros(n)
        self.q_mid = np.zeros(n)
        self.tail = np.full(n, SCORING.tail_reference)
        self.peak = np.zeros(n)
        self.naive = np.zeros(n)
        # (slots, series): one interval reads and writes one contiguous row.
        self.fine = np.zeros((self.spec.fine_slots, n), dtype=np.float32)
        self.coarse = np.zeros((self.spec.coarse_slots, n), dtype=np.float32)
        # The noise of business metrics grows with their level (quiet nights, busy
        # evenings): the residual scale of each time-of-day slot relative to `scale`.
        # Only its shape counts (`scale` holds the level): read relative to its mean.
        self.fine_scale = np.ones((self.spec.fine_slots, n), dtype=np.float32)
        self.fine_scale_sum = self.fine_scale.sum(axis=0, dtype=np.float64)
        # Recent values (a ring) and a reservoir sample of older ones: a value far from
        # all of them is novel, whatever the seasonal fit says.
        self.sample = np.full((SCORING.ring + SCORING.reservoir, n), np.nan, dtype=np.float32)

    # --- construction --------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        values: npt.ArrayLike,
        starts: npt.ArrayLike,
        frequency: Any,
        *,
        sensitivity: float = 0.5,
        warmup: int | None = None,
    ) -> Self:
        """Learn from a history: ``values`` (n_series, n_intervals), NaN = missing.

        ``starts`` are the UTC starts (``datetime64``) of the consecutive intervals.
        """
        data = np.asarray(values, dtype=np.float64)
        if data.ndim != 2:
            raise ValueError(f"values must be 2-D (n_series, n_intervals), got {data.shape}")
        times = np.asarray(starts, dtype="datetime64[s]")
        if times.shape != (data.shape[1],):
            raise ValueError(f"starts has {times.shape[0]} entries for {data.shape[1]} intervals")
        model = cls(frequency, data.shape[0], sensitivity=sensitivity, warmup=warmup)
        seconds = times.astype(np.int64)
        for t0 in range(0, data.shape[1], _FIT_CHUNK):
            block = np.ascontiguousarray(data[:, t0 : t0 + _FIT_CHUNK].T)
            for row, second in zip(block, seconds[t0 : t0 + _FIT_CHUNK], strict=True):
                model._step(row, int(second), learn_only=True)
        return model

    @property
    def n_series(self) -> int:
        return int(self.level.shape[0])

    def extend(self, count: int) -> None:
        """Add ``count`` new series at the end, in cold start (learning)."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if count == 0:
            return
        fresh = type(self)(self.frequency, count, sensitivity=self.sensitivity)
        for name in self._SCALARS:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(fresh, name)]))
        self.fine = np.concatenate([self.fine, fresh.fine], axis=1)
        self.coarse = np.concatenate([self.coarse, fresh.coarse], axis=1)
        self.fine_scale = np.concatenate([self.fine_scale, fresh.fine_scale], axis=1)
        self.sample = np.concatenate([self.sample, fresh.sample], axis=1)

    # --- scoring -------------------------------------------------------------------

    def score_update(self, values: npt.ArrayLike, start: Any) -> ScoreResult:
        """Score one interval of every series, then learn from it."""
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n_series,):
            raise ValueError(f"expected {self.n_series} values, got shape {x.shape}")
        score, expected, status = self._step(x, _seconds(start), learn_only=False)
        return ScoreResult(
            score=score, expected=expected, actual=x.copy(), status=STATUS_NAMES[status]
        )

    @classmethod
    def backtest(
        cls,
        values: npt.ArrayLike,
        starts: npt.ArrayLike,
        frequency: Any,
        *,
        sensitivity: float = 0.5,
        share: float = 0.3,
        warmup: int | None = None,
    ) -> BacktestResult:
        """Train on the first ``1 - share`` of a history and score the rest, in time order.

        Each scored interval only sees the past, exactly as in production.
        """
        data = np.asarray(values, dtype=np.float64)
        times = np.asarray(starts, dtype="datetime64[s]")
        n = data.shape[1]
        split = n - max(1, round(n * share))
        model = cls.fit(
            data[:, :split], times[:split], frequency, sensitivity=sensitivity, warmup=warmup
        )
        results = [model.score_update(data[:, t], times[t]) for t in range(split, n)]
        return BacktestResult(
            split=split,
            score=np.stack([r.score for r in results], axis=1),
            expected=np.stack([r.expected for r in results], axis=1),
            status=np.stack([r.status for r in results], axis=1),
        )

    def _step(
        self, x: FloatArray, second: int, *, learn_only: bool
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int8]]:
        spec, cfg = self.spec, SCORING
        fine_slot = (second % spec.fine_period) // spec.fine_resolution
        coarse_slot = (second % spec.coarse_period) // spec.coarse_resolution
        fine = self.fine[fine_slot]
        fine_scale = self.fine_scale[fine_slot]
        # Read smoothed over the neighbouring slots: the noise level changes smoothly
        # through the day, and one slot alone has seen too few residuals to be trusted.
        slots = self.fine_scale.shape[0]
        mean_fine_scale = self.fine_scale_sum / slots
        noise_shape = (
            self.fine_scale[fine_slot - 1] + fine_scale + self.fine_scale[(fine_slot + 1) % slots]
        ) / (3.0 * mean_fine_scale)
        coarse = self.coarse[coarse_slot]
        observed = ~np.isnan(x)
        n_obs = self.n_obs
        seasons_seen = n_obs // spec.fine_intervals

        expected = self.level + fine + coarse
        residual = np.where(observed, x - expected, 0.0)
        # The scale is learned from the second season on (the first residuals mostly
        # measure a seasonal profile still being learned); it is floored relative to the
        # series' magnitude so a constant series does not divide by zero.
        scale = np.maximum(
            self.scale * noise_shape * cfg.mad_to_sigma,
            cfg.relative_floor * np.abs(self.q_mid) + cfg.absolute_floor,
        )
        z = residual / scale
        scale_ready = n_obs >= spec.fine_intervals + cfg.scale_min_count

        # --- learn -----------------------------------------------------------------
        clip = np.where(scale_ready, cfg.clip * scale, np.inf)
        clipped = np.clip(residual, -clip, clip)
        alpha = np.maximum(spec.alpha, 1.0 / (n_obs + 1.0))
        alpha = np.where(observed, alpha, 0.0)
        self.level += alpha * clipped
        rest = (1.0 - alpha) * clipped
        gamma_fine = np.where(
            observed, np.maximum(spec.gamma_fine, 1.0 / (seasons_seen + 1.0)), 0.0
        )
        fine += (gamma_fine * rest).astype(np.float32)
        if spec.coarse_slots > 1:
            # Each hour-of-week slot is visited `per_week` times a week; its first weeks
            # average what they saw rather than trusting one visit.
            per_week = spec.coarse_intervals // spec.coarse_slots
            weeks = np.maximum(n_obs - spec.fine_intervals, 0) // spec.coarse_intervals
            gamma_coarse = np.maximum(spec.gamma_coarse, 1.0 / ((weeks + 2.0) * per_week))
            ready = observed & (n_obs >= spec.fine_intervals)
            coarse += np.where(ready, gamma_coarse * (1.0 - gamma_fine) * rest, 0.0).astype(
                np.float32
            )
        scale_count = n_obs - spec.fine_intervals
        eta = np.where(
            observed & (scale_count >= 0),
            np.maximum(spec.eta, 1.0 / (np.maximum(scale_count, 0) + 1.0)),
            0.0,
        )
        # Far-out residuals (an incident, or a shift not yet absorbed) do not teach the
        # noise scale: an outage would otherwise triple it and hide the next incident.
        far = scale_ready & observed & (np.abs(z) >= cfg.shift_z)
        # Each slot is visited once a season: it learns at the scale's own rate per visit.
        eta_fine = np.maximum(spec.eta, 1.0 / (seasons_seen + 1.0))
        ratio = np.abs(clipped) / np.maximum(self.scale, cfg.absolute_floor)
        fine_delta = np.where(
            scale_ready & ~far,
            eta_fine * (np.minimum(ratio, cfg.clip * fine_scale) - fine_scale),
            0.0,
        ).astype(np.float32)
        fine_scale += fine_delta
        self.fine_scale_sum += fine_delta
        relative = fine_scale / (self.fine_scale_sum / slots)
        self.scale += np.where(far, 0.0, eta) * (np.abs(clipped) / relative - self.scale)

        # Level shifts: consecutive residuals beyond the shift threshold on one side.
        side = np.sign(z).astype(np.int16)
        same = far & (np.sign(self.run) == side)
        self.run = np.where(
            same, self.run + side, np.where(far, side, np.where(observed, 0, self.run))
        ).astype(np.int16)
        self.run_sum = np.where(
            same,
            self.run_sum + residual,
            np.where(far, residual, np.where(observed, 0.0, self.run_sum)),
        )
        shifted = np.abs(self.run) >= spec.shift_run
        if shifted.any():
            self.level += np.where(shifted, self.run_sum / np.maximum(np.abs(self.run), 1), 0.0)
            self.run[shifted] = 0
            self.run_sum[shifted] = 0.0

        # Recent range: stochastic quantile tracking scaled by the residual scale.
        step = cfg.quantile_rate * np.where(
            scale_ready, scale, np.abs(residual) + cfg.absolute_floor
        )
        first = observed & (n_obs == 0)
        xv = np.where(observed, x, 0.0)
        for q, tau in ((self.q_lo, cfg.q_low), (self.q_mid, 0.5), (self.q_hi, 1.0 - cfg.q_low)):
            q += np.where(observed, step * (tau - (xv < q)), 0.0)
            q[first] = xv[first]
        self.n_obs = n_obs + observed

        # Heavy tails: |z| is measured against the series' own tail (a tracked high
        # quantile of |z|), so a spiky-by-nature series does not alert at every spike.
        absz = np.abs(z)
        surprise = absz * np.clip(cfg.tail_reference / self.tail, cfg.tail_min, cfg.tail_max)
        tracked = observed & scale_ready

        # Novelty: distance to the nearest remembered value, in robust spreads of the
        # values themselves (1%-99% range / 4.65 = one sigma for normal data).
        xv32 = xv.astype(np.float32)
        nearest = np.fmin.reduce(np.abs(self.sample - xv32), axis=0).astype(np.float64)
        spread = np.maximum(np.maximum((self.q_hi - self.q_lo) / 4.65, scale), cfg.absolute_floor)
        novelty = nearest / spread
        novelty = np.where(tracked, np.nan_to_num(novelty), 0.0)
        self.sample[(n_obs % cfg.ring)[observed], np.flatnonzero(observed)] = xv32[observed]
        rng = np.random.default_rng(second & 0xFFFF_FFFF)
        replace = observed & (
            rng.random(x.shape[0]) < min(1.0, cfg.reservoir / (self.warmup * cfg.reservoir_memory))
        )
        rows = np.asarray(rng.integers(0, cfg.reservoir, size=x.shape[0])) + cfg.ring
        self.sample[rows[replace], np.flatnonzero(replace)] = xv32[replace]
        # The seasonal residual speaks where the season explains the series (its share of
        # the variance); elsewhere a residual is mostly noise around a wandering level.
        # Measured as how much smaller its errors are than those of the level alone.
        share = 1.0 - (self.scale / np.maximum(self.naive, cfg.absolute_floor)) ** 2
        level_error = np.abs(np.where(observed, x - self.level, 0.0))
        self.naive += eta * (np.minimum(level_error, cfg.naive_clip * clip) - self.naive)
        weight = cfg.residual_weight * np.clip((share - cfg.gate_start) / cfg.gate_width, 0, 1)
        surprise = np.maximum(weight * surprise, cfg.novelty_weight * novelty)
        self.tail *= np.where(
            tracked,
            np.where(
                absz > self.tail,
                1.0 + cfg.tail_rate * (1.0 - cfg.tail_p),
                1.0 - cfg.tail_rate * cfg.tail_p,
            ),
            1.0,
        )
        # One incident alerts once: a deviation counts by how much it exceeds the recent
        # peak of this series (which decays), so it re-alerts only when it worsens.
        effective = np.maximum(surprise - cfg.repeat * self.peak, 0.0)
        notable = np.where(surprise > cfg.notable_z, surprise, 0.0)
        self.peak = np.where(
            tracked,
            np.maximum(self.peak * spec.peak_decay, notable),
            self.peak,
        )

        status = np.where(
            ~observed, STATUS_MISSING, np.where(n_obs < self.warmup, STATUS_LEARNING, STATUS_OK)
        ).astype(np.int8)
        if learn_only:
            return effective, expected, status
        score = self._severity(effective, status)
        return score, expected, status

    def _severity(self, z: FloatArray, status: npt.NDArray[np.int8]) -> FloatArray:
        cfg = SCORING
        gain = 2.0 ** (2.0 * (self.sensitivity - 0.5))
        excess = np.maximum(z * gain - cfg.z_floor, 0.0)
        score = 100.0 * (1.0 - np.exp(-excess / cfg.z_scale))
        return np.where(status == STATUS_OK, score, 0.0)

    # --- persistence ---------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The state as an uncompressed ``.npz`` (no pickles).

        Profiles and samples are float32 (they dominate the size); the per-series
        scalars stay float64 so a loaded model scores exactly like the saved one.
        """
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {name: getattr(self, name) for name in self._SCALARS}
        np.savez(
            buffer,
            meta=np.array([_FORMAT_VERSION, self.warmup], dtype=np.int64),
            frequency=np.array(self.frequency),
            sensitivity=np.array(self.sensitivity),
            fine=self.fine,
            coarse=self.coarse,
            fine_scale=self.fine_scale,
            sample=self.sample,
            **arrays,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            version, warmup = (int(v) for v in stored["meta"])
            if version != _FORMAT_VERSION:
                raise ValueError(f"model state format {version} is not {_FORMAT_VERSION}")
            model = cls(
                str(stored["frequency"]),
                0,
                sensitivity=float(stored["sensitivity"]),
                warmup=warmup,
            )
            for name in cls._SCALARS:
                dtype = getattr(model, name).dtype
                setattr(model, name, stored[name].astype(dtype))
            model.fine = stored["fine"]
            model.coarse = stored["coarse"]
            model.fine_scale = stored["fine_scale"]
            model.sample = stored["sample"]
        return model
