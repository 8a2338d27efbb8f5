"""Tuned constants of the built-in detector (values chosen in ``bench/detector.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["FREQUENCY_SPECS", "SCORING", "FrequencySpec", "Scoring"]

_MINUTE = 60
_HOUR = 3600
_DAY = 86_400
_WEEK = 7 * _DAY


@dataclass(frozen=True)
class FrequencySpec:
    """Seasonal layout of one detector frequency.

    The *fine* profile is the main season at the interval's own resolution (time of day,
    or day of week for daily data); the *coarse* profile adds the hour of the week on
    top, so weekends can differ from weekdays without a 2,016-slot profile for
    5-minute data.
    """

    name: str
    interval: int
    fine_period: int
    fine_resolution: int
    coarse_period: int
    coarse_resolution: int
    gamma_fine: float
    gamma_coarse: float
    alpha: float
    """Level learning rate: slow against the season, so the level does not chase the cycle."""
    eta: float
    """Scale learning rate."""
    shift_run: int
    """Consecutive far-out intervals on one side that make a level shift the new normal."""
    peak_halflife: float
    """Intervals over which the memory of a recent deviation halves."""

    @property
    def peak_decay(self) -> float:
        return float(0.5 ** (1.0 / self.peak_halflife))

    @property
    def fine_slots(self) -> int:
        return self.fine_period // self.fine_resolution

    @property
    def coarse_slots(self) -> int:
        return self.coarse_period // self.coarse_resolution

    @property
    def coarse_intervals(self) -> int:
        return self.coarse_period // self.interval

    @property
    def fine_intervals(self) -> int:
        """Intervals in one fine season (one day; one week for daily data)."""
        return self.fine_period // self.interval

    @property
    def warmup(self) -> int:
        """Observations before a series is scored: two fine seasons."""
        return 2 * self.fine_intervals


FREQUENCY_SPECS = MappingProxyType(
    {
        "PT5M": FrequencySpec(
            "PT5M", 5 * _MINUTE, _DAY, 5 * _MINUTE, _WEEK, _HOUR, 0.1, 0.02, 0.01, 0.01, 6, 96
        ),
        "PT10M": FrequencySpec(
            "PT10M", 10 * _MINUTE, _DAY, 10 * _MINUTE, _WEEK, _HOUR, 0.1, 0.03, 0.02, 0.02, 4, 48
        ),
        "PT1H": FrequencySpec("PT1H", _HOUR, _DAY, _HOUR, _WEEK, _HOUR, 0.1, 0.2, 0.05, 0.05, 3, 4),
        # Daily data: the day of the week is the season; a one-slot coarse profile is off.
        "P1D": FrequencySpec("P1D", _DAY, _WEEK, _DAY, _WEEK, _WEEK, 0.15, 0.0, 0.1, 0.1, 2, 4),
    }
)


@dataclass(frozen=True)
class Scoring:
    clip: float = 3.0
    """Residuals are clipped to this many scales before the baseline learns from them."""
    mad_to_sigma: float = 1.2533
    """Mean absolute deviation to standard deviation, for normal noise."""
    relative_floor: float = 1e-3
    absolute_floor: float = 1e-9
    scale_min_count: int = 10
    shift_z: float = 3.0
    quantile_rate: float = 0.05
    q_low: float = 0.01
    tail_reference: float = 2.576
    """|z| exceeded 1% of the time by normal noise."""
    tail_p: float = 0.01
    tail_rate: float = 0.05
    tail_min: float = 0.25
    tail_max: float = 1.5
    repeat: float = 1.5
    notable_z: float = 4.0
    """Surprises above this are remembered as an incident of the series."""
    ring: int = 16
    reservoir: int = 48
    reservoir_memory: float = 1.0
    """Mean life of a reservoir value, in warm-up lengths."""
    residual_weight: float = 1.0
    novelty_weight: float = 1.0
    gate_start: float = 0.6
    gate_width: float = 0.2
    naive_clip: float = 3.0
    """The level-only error is clipped at this many residual clips (spikes aside)."""
    z_floor: float = 2.5
    z_scale: float = 2.08
    """Severity 100 * (1 - exp(-(z - z_floor) / z_scale)): z = 5 gives 70, the default alert."""


SCORING = Scoring()
