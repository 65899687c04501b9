"""Bucket endpoints from training percentiles; integerisation; validation.

Notation (the SWaT paper's, Section 3.1): endpoints 0 = t_0 < t_1 < … < t_K, bucket k is
[t_{k−1}, t_k), width w_k = t_k − t_{k−1}. Only t_1…t_K are stored.
"""
import numpy as np

from wt_keras.buckets._checks import as_labels, increasing_positive
from wt_keras.buckets.grid import parse_grid_spec
from wt_keras.buckets.time_scale import check_time_scale, choose_time_scale, rounded_endpoints

_FIX_HINT = ("Build endpoints with buckets.boundaries_from_percentiles(...) "
             "(it drops zeros and duplicates), or pass np.unique(t[t > 0]).")


def validate_boundaries(boundaries):
    """Checks bucket endpoints t_1…t_K and returns them as float64.

    Args:
      boundaries: 1-D array-like; finite, all > 0, strictly increasing, at
        least one element (t_0 = 0 is implicit and must not be included).

    Returns:
      np.ndarray (float64), a copy of `boundaries`.

    Raises:
      ValueError: naming the first offending index and value, and the fix.

    Example:
      >>> validate_boundaries([1, 2.5, 7]).tolist()
      [1.0, 2.5, 7.0]
    """
    try:
        array = np.array(boundaries, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Bucket boundaries must be numeric: {error}. "
                         + _FIX_HINT) from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError("Bucket boundaries must be a non-empty 1-D array "
                         f"t_1..t_K, got shape {array.shape}. " + _FIX_HINT)
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"Bucket boundary at index {bad[0]} is "
                         f"{array[bad[0]]} (must be finite). " + _FIX_HINT)
    bad = np.flatnonzero(array <= 0)
    if bad.size:
        raise ValueError(
            f"Bucket boundary at index {bad[0]} is {array[bad[0]]:g} but all "
            "boundaries must be > 0 (t_0 = 0 is implicit; leave it out). "
            + _FIX_HINT)
    bad = np.flatnonzero(np.diff(array) <= 0)
    if bad.size:
        i = bad[0] + 1
        raise ValueError(
            f"Bucket boundaries must be strictly increasing, but index {i} "
            f"({array[i]:g}) <= index {i - 1} ({array[i - 1]:g}). " + _FIX_HINT)
    return array


def widths(boundaries):
    """Bucket widths w_k = t_k − t_{k−1}, with t_0 = 0.

    Example:
      >>> widths([2, 5, 6]).tolist()
      [2.0, 3.0, 1.0]
    """
    return np.diff(validate_boundaries(boundaries), prepend=0.0)


def integerize(boundaries, time_scale):
    """Rounds endpoints to integer units: t → round(α·t) / α.

    Count models (SWaT-Geo, geometric) work on Y = round(α·T); their
    endpoints must lie on the same grid. Rounding is np.round (half to even,
    the same as tf.round); endpoints that round to 0 or repeat are dropped.

    Args:
      boundaries: valid endpoints t_1…t_K (see `validate_boundaries`).
      time_scale: α > 0, integer units per second.

    Returns:
      np.ndarray (float64) of strictly increasing endpoints > 0, in seconds.

    Raises:
      ValueError: if no endpoint survives (all round to 0): use a larger
        time_scale.

    Example:
      >>> integerize([0.3, 1.2, 1.4, 2.6], time_scale=1).tolist()
      [1.0, 3.0]
    """
    alpha = check_time_scale(time_scale)
    t = validate_boundaries(boundaries)
    rounded = rounded_endpoints(t, alpha)
    if rounded.size == 0:
        raise ValueError(f"All {t.size} endpoints round to 0 at time_scale="
                         f"{alpha:g} (largest {t[-1]:g} s); use a larger "
                         "time_scale (finer integer units).")
    return rounded


def boundaries_from_percentiles(values, spec="uniform:20", time_scale=None,
                                min_buckets=2):
    """Bucket endpoints t_1…t_K from percentiles of training labels.

    t_k = np.percentile(values, level_k) (linear interpolation) for the levels
    of `spec`; t_0 = 0 is implicit. Endpoints ≤ 0 or not above the previous
    one are dropped (ties are common: many 0 s, rounded seconds), so K is the
    number that survive, e.g. 18 of 20 for SWaT choice 1 in the paper.
    Level 100 gives t_K = max(values): finite-bucket heads (SWaT-Binom,
    ordinal) truncate labels above t_K, so keep level 100 for them; heads with
    an open last bucket (SWaT-Geo) do not need it.

    Args:
      values: training watch times in seconds (training split only).
      spec: grid spec or preset name, see `parse_grid_spec`.
      time_scale: None keeps the endpoints in seconds as they are; α > 0
        integerises them (round(α·t) / α, deduplicated again, as
        `integerize`); "auto" integerises at `choose_time_scale(values, spec)`,
        the smallest power of ten keeping ≥ 90 % of the distinct endpoints
        (call `choose_time_scale` to read which α that is).
      min_buckets: minimum number K of buckets that must survive.

    Returns:
      np.ndarray (float64) t_1…t_K, strictly increasing, all > 0.

    Raises:
      ValueError: for empty/NaN/inf/negative values, a malformed spec, or
        fewer than `min_buckets` surviving buckets.

    Example:
      >>> boundaries_from_percentiles([0, 1, 2, 3, 4, 5, 6, 7, 8],
      ...                             spec="uniform:4").tolist()
      [2.0, 4.0, 6.0, 8.0]
    """
    labels = as_labels(values, "values")
    levels = parse_grid_spec(spec)
    endpoints = increasing_positive(np.percentile(labels, levels))
    if isinstance(time_scale, str) and time_scale == "auto" and endpoints.size:
        time_scale = choose_time_scale(labels, spec)
    if time_scale is not None and endpoints.size:
        endpoints = rounded_endpoints(endpoints, check_time_scale(time_scale))
    if endpoints.size < min_buckets:
        scale = "" if time_scale is None else f" at time_scale={time_scale}"
        raise ValueError(
            f"Only {endpoints.size} bucket(s) survive from {levels.size} levels "
            f"of spec {spec!r}{scale} (need min_buckets={min_buckets}): the "
            f"{labels.size} labels have too few distinct positive values "
            f"(max {labels.max():g}). Use more (non-constant) training labels, "
            "a larger time_scale (or time_scale='auto'), or lower min_buckets.")
    return endpoints
