"""Calibration of predictive watch-time distributions (numpy).

Reliability of probabilities: P(T > t) at grid points and the completion
probability P(T ≥ duration); the PIT histogram of whole curves.
"""
import collections

import numpy as np

from wt_keras.metrics import _checks, _curves

Reliability = collections.namedtuple(
    "Reliability", "ece bin_lower bin_upper count mean_predicted observed_frequency")
Reliability.__doc__ = """Reliability table and expected calibration error.

ece: Σ_b (n_b / n) |mean_predicted_b − observed_frequency_b| (empty bins skipped).
bin_lower, bin_upper, count, mean_predicted, observed_frequency: [num_bins]
arrays (NaN means for empty bins)."""

PITHistogram = collections.namedtuple("PITHistogram", "pit density bin_edges")
PITHistogram.__doc__ = """Probability integral transform values and their histogram.

pit: [n] values in [0, 1]; density: [num_bins] histogram normalised so that
a calibrated forecast gives 1 in every bin; bin_edges: [num_bins + 1]."""


def reliability(probabilities, outcomes, num_bins=10):
    """Reliability table and ECE of probability forecasts of binary events.

        ECE = Σ_b (n_b / n) · |p̄_b − ō_b|

    over `num_bins` equal-width bins of [0, 1] (the last one closed), p̄_b
    the mean forecast and ō_b the observed frequency in bin b.

    Args:
      probabilities: [n] forecasts in [0, 1].
      outcomes: [n] events, 0/1 (or bool).
      num_bins: number of bins.

    Returns:
      `Reliability(ece, bin_lower, bin_upper, count, mean_predicted, observed_frequency)`.

    Example:
      >>> table = reliability([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1], num_bins=2)
      >>> round(table.ece, 6), table.count.tolist(), table.observed_frequency.tolist()
      (0.25, [2, 2], [0.5, 1.0])
    """
    return reliability_from_bin_sums(reliability_bin_sums(probabilities, outcomes, num_bins))


def reliability_bin_sums(probabilities, outcomes, num_bins=10):
    """[3, num_bins] float64 rows count n_b, Σ forecast, Σ outcome per bin of `reliability`.

    Sums of disjoint sets of forecasts add up, so streaming code (the Keras
    and TFMA metrics) keeps this table instead of the forecasts: O(num_bins)
    memory however many examples it sees.

    Example:
      >>> reliability_bin_sums([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1], num_bins=2).tolist()
      [[2.0, 2.0], [0.2, 1.8], [1.0, 2.0]]
    """
    forecasts = _checks.as_vector(probabilities, "probabilities")
    events = _checks.as_vector(outcomes, "outcomes")
    if forecasts.size != events.size:
        raise ValueError(f"probabilities and outcomes have different lengths ({forecasts.size} "
                         f"vs {events.size}). Fix: pass one outcome per forecast.")
    if np.any((forecasts < 0) | (forecasts > 1)) or not np.all((events == 0) | (events == 1)):
        raise ValueError("probabilities must lie in [0, 1] and outcomes be 0 or 1.")
    num_bins = _check_num_bins(num_bins)
    index = np.minimum((forecasts * num_bins).astype(int), num_bins - 1)
    return np.stack([np.bincount(index, minlength=num_bins).astype(np.float64),
                     np.bincount(index, forecasts, num_bins),
                     np.bincount(index, events, num_bins)])


def reliability_from_bin_sums(bin_sums):
    """The `Reliability` table of `reliability_bin_sums` (possibly summed over many batches)."""
    count, forecast_sum, outcome_sum = np.asarray(bin_sums, np.float64)
    num_bins = _check_num_bins(count.size)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = forecast_sum / count
        observed = outcome_sum / count
    filled = count > 0
    total = count.sum()
    ece = (float(np.sum(count[filled] * np.abs(mean_predicted[filled] - observed[filled])) / total)
           if total else float("nan"))
    return Reliability(ece, edges[:-1], edges[1:], count.astype(np.int64), mean_predicted, observed)


def _check_num_bins(num_bins):
    if int(num_bins) < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}.")
    return int(num_bins)


def survival_calibration(watch_time, grid, survival, num_bins=10):
    """Reliability of P(T > g_j) pooled over every example i and grid point j.

    Each pair is a forecast S_ij of the event 1[T_i > g_j]; ECE as in
    `reliability`. Pass the head's bucket endpoints as the grid to check the
    retention curve where the model is defined.

    Example:
      >>> table = survival_calibration([2.0, 6.0], grid=[1.0, 5.0], survival=[[1.0, 0.0], [1.0, 1.0]])
      >>> table.ece
      0.0
    """
    y, grid_values, values = _curves.curves(watch_time, grid, survival, "linear")
    if grid_values.size != np.asarray(grid).size:      # drop the knot added at 0
        values = values[:, 1:]
    events = (y[:, None] > np.asarray(grid, np.float64)[None, :]).astype(np.float64)
    return reliability(values.reshape(-1), events.reshape(-1), num_bins)


def completion_calibration(watch_time, duration, completion_probability, num_bins=10):
    """Reliability of the completion probability P(T ≥ d) against 1[T ≥ d].

    Example:
      >>> round(completion_calibration([30.0, 10.0], [20.0, 20.0], [0.8, 0.3]).ece, 6)
      0.25
    """
    y = _checks.as_vector(watch_time, "watch_time")
    d = _checks.as_vector(duration, "duration")
    if d.size != y.size:
        raise ValueError(f"duration has {d.size} values for {y.size} watch times; pass one per example.")
    return reliability(completion_probability, (y >= d).astype(np.float64), num_bins)


def pit_histogram(watch_time, grid, survival, num_bins=10, interpolation="linear", seed=0):
    """Randomised probability integral transform of the labels under their curves.

        U_i = F_i(y_i−) + V_i · (F_i(y_i) − F_i(y_i−)),   V_i ~ Uniform(0, 1),  F = 1 − S

    For a continuous curve U_i = F_i(y_i); where the curve has an atom at y_i
    (the integer-unit laws, the mass at the last grid point) U_i is drawn
    uniformly over the jump, so that a calibrated forecast gives uniform U
    (Czado, Gneiting & Held 2009). Curves are read as in `crps`.

    Args:
      watch_time: [n] seconds; grid: [J] seconds; survival: [n, J].
      num_bins: histogram bins on [0, 1].
      interpolation: "linear" or "step" (see `crps`).
      seed: of the uniform draws V (results are reproducible).

    Returns:
      `PITHistogram(pit, density, bin_edges)`; density 1 in every bin is calibrated.

    Example:
      >>> # labels 2.5 and 7.5 s under uniform curves on [0, 10] s: U = 0.25 and 0.75
      >>> pit_histogram([2.5, 7.5], grid=[10.0], survival=[[0.0], [0.0]], num_bins=2).density.tolist()
      [1.0, 1.0]
    """
    y, knots, values = _curves.curves(watch_time, grid, survival, interpolation)
    at, before = _curves.evaluate(knots, values, y, interpolation)
    uniform = np.random.default_rng(seed).random(y.size)
    pit = np.clip((1.0 - before) + uniform * (before - at), 0.0, 1.0)
    counts, edges = np.histogram(pit, bins=int(num_bins), range=(0.0, 1.0))
    return PITHistogram(pit, counts * num_bins / y.size, edges)
