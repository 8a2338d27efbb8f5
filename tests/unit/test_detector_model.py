"""The built-in detector's model: seasonality, level shifts, cold start, gaps, growth, state."""

from __future__ import annotations

import numpy as np
import pytest

from connector.detector.model import DetectorModel
from connector.intervals import Frequency

ALERT = 70.0
START = np.datetime64("2026-01-05T00:00:00", "s")  # a Monday
HOUR = np.timedelta64(3600, "s")


NOISE = 0.03  # standard deviation, relative to each series' base level


def hourly(n_series: int, n_hours: int, *, seed: int = 0) -> np.ndarray:
    """Series with a daily cycle (+40% at noon), quieter weekends and 3% normal noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n_hours)
    daily = 0.4 * np.sin(2 * np.pi * (hours % 24 - 6) / 24).clip(0)
    weekend = np.where((hours // 24) % 7 >= 5, 0.6, 1.0)
    base = rng.uniform(50, 500, size=(n_series, 1))
    noise = rng.normal(0, NOISE, (n_series, n_hours))
    return base * (1 + daily * weekend + noise)


def starts(n_hours: int, offset: int = 0) -> np.ndarray:
    return START + (np.arange(n_hours) + offset) * HOUR


def test_learns_daily_and_weekly_seasonality_without_alerting() -> None:
    # Given four weeks of seasonal hourly history
    values = hourly(20, 24 * 35)
    model = DetectorModel.fit(values[:, : 24 * 28], starts(24 * 28), Frequency.PT1H)
    # When the fifth week (weekend included) is scored
    scores, errors = [], []
    for t in range(24 * 28, 24 * 35):
        result = model.score_update(values[:, t], starts(1, t)[0])
        scores.append(result.score)
        errors.append(np.abs(result.expected - values[:, t]))
    # Then it expects the cycle within the noise and raises no alert
    base = values[:, :24].min(axis=1, keepdims=True)
    relative_error = np.mean(np.array(errors).T / base)
    assert relative_error < 1.5 * NOISE * 0.8  # normal noise: mean |e| = 0.8 sigma
    assert np.max(scores) < ALERT


def test_flags_a_value_normal_by_day_but_wrong_at_night() -> None:
    # Given a model of a strongly daily series
    values = hourly(1, 24 * 21)
    model = DetectorModel.fit(values[:, : 24 * 20], starts(24 * 20), Frequency.PT1H)
    peak = values[0, 24 * 18 + 12]  # a weekday's noon value
    # When 02:00 (the quiet night) shows a noon value
    for t in range(24 * 20, 24 * 20 + 2):
        model.score_update(values[:, t], starts(1, t)[0])
    result = model.score_update(np.array([peak]), starts(1, 24 * 20 + 2)[0])
    # Then it is an anomaly, although the value is within the series' usual range
    assert result.status[0] == "ok"
    assert result.score[0] >= ALERT


def multiplicative(n_hours: int, *, seed: int = 0) -> np.ndarray:
    """A business series: a strong daily cycle whose noise grows with the level (5%)."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n_hours)
    level = 100 * (1 + 0.7 * np.cos(2 * np.pi * (hours % 24 - 20) / 24))
    return (level * rng.normal(1, 0.05, n_hours))[None, :]


def test_flags_a_drop_at_a_quiet_hour_of_a_series_noisier_when_busy() -> None:
    # Given four weeks of a series with 5% noise: ~9 at its evening peak, ~2 at dawn
    values = multiplicative(24 * 29)
    model = DetectorModel.fit(values[:, : 24 * 28], starts(24 * 28), Frequency.PT1H)
    # When 08:00, a quiet hour, falls to a third of its usual value
    for t in range(24 * 28, 24 * 28 + 8):
        model.score_update(values[:, t], starts(1, t)[0])
    result = model.score_update(values[:, 24 * 28 + 8] / 3, starts(1, 24 * 28 + 8)[0])
    # Then it alerts: measured against the noise of that hour, not of the whole day
    assert result.score[0] >= ALERT


def test_an_outage_does_not_blunt_the_detection_of_the_next_incident() -> None:
    # Given a trained model of a business series that then had a six-hour outage
    values = multiplicative(24 * 36)
    model = DetectorModel.fit(values[:, : 24 * 28], starts(24 * 28), Frequency.PT1H)
    values[0, 24 * 28 + 14 : 24 * 28 + 20] = 0.0
    for t in range(24 * 28, 24 * 35 + 7):
        model.score_update(values[:, t], starts(1, t)[0])
    # When, a week later, a quiet hour falls to a third
    t = 24 * 35 + 7
    result = model.score_update(values[:, t] / 3, starts(1, t)[0])
    # Then it alerts: the outage's residuals did not inflate the noise scale
    assert result.score[0] >= ALERT


@pytest.mark.parametrize("change", [+0.5, -0.5])
def test_level_shift_alerts_then_becomes_the_new_normal(change: float) -> None:
    # Given a trained model
    values = hourly(5, 24 * 28)
    model = DetectorModel.fit(values[:, : 24 * 21], starts(24 * 21), Frequency.PT1H)
    # When every series shifts for good by half its base level
    base = values[:, :24].min(axis=1, keepdims=True)
    shifted = values[:, 24 * 21 :] + change * base
    results = [model.score_update(shifted[:, i], starts(1, 24 * 21 + i)[0]) for i in range(24 * 7)]
    # Then the first interval alerts, and a day later the shift is normal again
    assert np.all(results[0].score >= ALERT)
    later = np.array([r.score for r in results[24:]])
    assert later.max() < ALERT
    assert np.all(np.abs(results[-1].expected - shifted[:, -1]) < 4 * NOISE * base[:, 0])


def test_isolated_spike_alerts_once() -> None:
    # Given a trained model
    values = hourly(3, 24 * 30)
    model = DetectorModel.fit(values[:, : 24 * 28], starts(24 * 28), Frequency.PT1H)
    spiked = values.copy()
    spiked[1, 24 * 28 + 5] *= 1.5
    # When the spike and the hours around it are scored
    scores = np.array(
        [model.score_update(spiked[:, t], starts(1, t)[0]).score for t in range(24 * 28, 24 * 30)]
    )
    # Then only the spiked series at the spiked hour alerts
    alerts = np.argwhere(scores >= ALERT)
    assert alerts.tolist() == [[5, 1]]


def test_cold_start_reports_learning_not_noise() -> None:
    # Given a model that has seen nothing
    model = DetectorModel.fit(np.empty((2, 0)), starts(0), Frequency.PT1H)
    values = hourly(2, 24 * 4, seed=3)
    # When the first two days are scored
    results = [model.score_update(values[:, t], starts(1, t)[0]) for t in range(24 * 4)]
    # Then they are "learning" with severity 0, and scoring starts after the warm-up
    assert all((r.status == "learning").all() and (r.score == 0).all() for r in results[:48])
    assert all((r.status == "ok").all() for r in results[48:])
    assert max(r.score.max() for r in results[48:]) < ALERT


def test_missing_values_score_zero_and_leave_the_state_alone() -> None:
    # Given a trained model
    values = hourly(3, 24 * 15)
    model = DetectorModel.fit(values[:, : 24 * 14], starts(24 * 14), Frequency.PT1H)
    before = model.to_bytes()
    # When an interval arrives with every value missing
    result = model.score_update(np.full(3, np.nan), starts(1, 24 * 14)[0])
    # Then it says so, scores 0, and has learned nothing from it
    assert result.status.tolist() == ["missing"] * 3
    assert np.all(result.score == 0)
    assert np.all(np.isfinite(result.expected))
    after = DetectorModel.from_bytes(model.to_bytes())
    reference = DetectorModel.from_bytes(before)
    assert np.array_equal(after.level, reference.level)
    assert np.array_equal(after.n_obs, reference.n_obs)


def test_gaps_in_history_and_a_missing_day_do_not_raise_alerts() -> None:
    # Given a history with a third of its values missing at random
    values = hourly(10, 24 * 28, seed=5)
    holes = np.random.default_rng(1).random(values.shape) < 0.33
    history = np.where(holes, np.nan, values)
    history[:, 24 * 20 : 24 * 21] = np.nan  # and a whole day missing
    model = DetectorModel.fit(history[:, : 24 * 25], starts(24 * 25), Frequency.PT1H)
    # When the rest is scored
    scores = [
        model.score_update(values[:, t], starts(1, t)[0]).score for t in range(24 * 25, 24 * 28)
    ]
    # Then nothing alerts
    assert np.max(scores) < ALERT


def test_zeros_and_constant_series_stay_quiet_and_finite() -> None:
    # Given an all-zero series and a constant one
    history = np.vstack([np.zeros(24 * 10), np.full(24 * 10, 7.0)])
    model = DetectorModel.fit(history, starts(24 * 10), Frequency.PT1H)
    # When they stay the same
    result = model.score_update(np.array([0.0, 7.0]), starts(1, 24 * 10)[0])
    # Then the scores are 0 and finite, and a change of the constant is flagged
    assert result.score.tolist() == [0.0, 0.0]
    moved = model.score_update(np.array([0.0, 9.0]), starts(1, 24 * 10 + 1)[0])
    assert moved.score[1] >= ALERT and np.isfinite(moved.score).all()


def test_extend_adds_learning_series_and_keeps_the_others() -> None:
    # Given a trained model of two series
    values = hourly(2, 24 * 15)
    model = DetectorModel.fit(values[:, : 24 * 14], starts(24 * 14), Frequency.PT1H)
    twin = DetectorModel.from_bytes(model.to_bytes())
    # When three series appear
    model.extend(3)
    row = np.concatenate([values[:, 24 * 14], [1.0, 2.0, 3.0]])
    result = model.score_update(row, starts(1, 24 * 14)[0])
    # Then the new ones are learning and the old ones score exactly as before
    assert model.n_series == 5
    assert result.status.tolist() == ["ok", "ok", "learning", "learning", "learning"]
    reference = twin.score_update(values[:, 24 * 14], starts(1, 24 * 14)[0])
    assert np.array_equal(result.score[:2], reference.score)
    assert np.array_equal(result.expected[:2], reference.expected)


def test_state_round_trips_small_and_scores_identically() -> None:
    # Given a model trained on 5-minute data (the largest profiles)
    n = 50
    t = np.datetime64("2026-01-01T00:00:00", "s") + np.arange(288 * 3) * np.timedelta64(300, "s")
    values = 100 + 10 * np.sin(np.arange(288 * 3) * 2 * np.pi / 288) + np.zeros((n, 1))
    model = DetectorModel.fit(values, t, "PT5M")
    # When it is saved and loaded
    data = model.to_bytes()
    loaded = DetectorModel.from_bytes(data)
    # Then it is at most 10 KB a series and scores exactly like the original
    assert len(data) / n <= 10_000
    nxt = t[-1] + np.timedelta64(300, "s")
    a = model.score_update(values[:, 0] + 30, nxt)
    b = loaded.score_update(values[:, 0] + 30, nxt)
    assert loaded.n_series == n and loaded.frequency == "PT5M"
    assert np.array_equal(a.score, b.score) and np.array_equal(a.expected, b.expected)


@pytest.mark.parametrize("frequency", list(Frequency))
def test_every_frequency_scores_its_own_season(frequency: Frequency) -> None:
    # Given a clean seasonal series at each frequency (daily data: a weekly cycle)
    step = int(frequency.delta.total_seconds())
    season = 7 if frequency is Frequency.P1D else 86_400 // step
    n = season * 5
    t = START + np.arange(n) * np.timedelta64(step, "s")
    rng = np.random.default_rng(2)
    values = 100 + 20 * np.sin(np.arange(n) * 2 * np.pi / season) + rng.normal(0, 1, (4, n))
    model = DetectorModel.fit(values[:, : season * 4], t[: season * 4], frequency)
    # When the last season is scored, with one drop
    values[2, season * 4 + season // 2] -= 25
    scores = np.array([model.score_update(values[:, i], t[i]).score for i in range(season * 4, n)])
    # Then only the drop alerts
    assert np.argwhere(scores >= ALERT).tolist() == [[season // 2, 2]]


def test_backtest_scores_the_last_share_from_the_past_only() -> None:
    # Given a history whose last 30% holds a spike
    values = hourly(2, 24 * 20)
    values[0, -10] *= 1.6
    # When it is backtested
    result = DetectorModel.backtest(values, starts(24 * 20), Frequency.PT1H, share=0.3)
    # Then the last 30% is scored and the spike found
    assert result.split == 24 * 20 - round(24 * 20 * 0.3)
    assert result.score.shape == (2, round(24 * 20 * 0.3))
    assert result.score[0, -10] >= ALERT


def test_rejects_bad_shapes_and_settings() -> None:
    with pytest.raises(ValueError, match="2-D"):
        DetectorModel.fit(np.zeros(5), starts(5), Frequency.PT1H)
    with pytest.raises(ValueError, match="starts"):
        DetectorModel.fit(np.zeros((1, 5)), starts(4), Frequency.PT1H)
    with pytest.raises(ValueError, match="frequency"):
        DetectorModel.fit(np.zeros((1, 5)), starts(5), "PT2H")
    with pytest.raises(ValueError, match="sensitivity"):
        DetectorModel.fit(np.zeros((1, 5)), starts(5), Frequency.PT1H, sensitivity=2.0)
    model = DetectorModel.fit(np.zeros((2, 5)), starts(5), Frequency.PT1H)
    with pytest.raises(ValueError, match="expected 2 values"):
        model.score_update(np.zeros(3), starts(1, 5)[0])


def labelled_week_data(seed: int = 7) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """200 hourly series over 8 weeks; in weeks 5-8 most get one labelled anomaly.

    Returns the values and the labelled windows (series, first hour, last hour).
    """
    n_series, n_hours, train = 200, 24 * 56, 24 * 28
    values = hourly(n_series, n_hours, seed=seed)
    base = values[:, :24].min(axis=1)
    rng = np.random.default_rng(seed + 1)
    windows = []
    for s in range(n_series):
        kind = s % 5  # 0 spike, 1 drop, 2 level shift, 3 outage, 4 none
        at = int(rng.integers(train + 24, n_hours - 48))
        if kind == 0:
            values[s, at] += rng.uniform(0.4, 0.8) * base[s]
            windows.append((s, at, at))
        elif kind == 1:
            length = int(rng.integers(1, 4))
            values[s, at : at + length] -= rng.uniform(0.35, 0.6) * base[s]
            windows.append((s, at, at + length - 1))
        elif kind == 2:
            values[s, at:] += rng.choice([-1, 1]) * rng.uniform(0.3, 0.5) * base[s]
            windows.append((s, at, at + 2))
        elif kind == 3:
            length = int(rng.integers(3, 7))
            values[s, at : at + length] = 0.0
            windows.append((s, at, at + length - 1))
    return values, windows


def test_synthetic_recall_and_false_alert_rate_meet_the_targets() -> None:
    # Given 4 weeks of history and 4 weeks holding spikes, drops, level shifts and outages
    values, windows = labelled_week_data()
    train = 24 * 28
    model = DetectorModel.fit(values[:, :train], starts(train), Frequency.PT1H)
    # When the 4 weeks are scored at the default alert threshold
    alerts = np.zeros_like(values, dtype=bool)
    for t in range(train, values.shape[1]):
        alerts[:, t] = model.score_update(values[:, t], starts(1, t)[0]).score >= ALERT
    # Then >= 90% of the labelled windows alert, with <= 1 false alert per metric-week
    in_window = np.zeros_like(alerts)
    for s, lo, hi in windows:
        in_window[s, lo : hi + 1] = True
    recall = np.mean([alerts[s, lo : hi + 1].any() for s, lo, hi in windows])
    false_per_week = (alerts & ~in_window).sum() / (values.shape[0] * 4)
    print(f"synthetic: recall {recall:.1%}, false alerts per metric-week {false_per_week:.3f}")
    assert recall >= 0.9
    assert false_per_week <= 1.0
