"""Choosing α (`time_scale`), the integer units per second of the count heads.

Count models (SWaT-Geo, geometric) work on Y = round(α·T) with endpoints
round(α·t_k), deduplicated. The SWaT paper (Section 4.1.3) picks α by the
scale of each dataset; here the rule is explicit: α is the smallest power of
ten, 10^k for k = `min_exponent`, `min_exponent` + 1, …, for which rounding
keeps at least `min_fraction` (90 %) of the grid's distinct endpoints. On
labels of tens of seconds this is α = 1 (whole seconds); on labels in
[0, 6) s it is typically 10 or 100.

The search starts at 10^0 by default: units coarser than a second would throw
away resolution that the heads can use at no cost (their expectations are
closed forms, so large unit counts are cheap).
"""
import numpy as np

from wt_keras.buckets._checks import as_labels, increasing_positive
from wt_keras.buckets.grid import parse_grid_spec

DEFAULT_MIN_FRACTION = 0.9
DEFAULT_MIN_EXPONENT = 0
DEFAULT_MAX_EXPONENT = 6


def check_time_scale(time_scale):
    """α as a float after checking it is a finite number > 0 (units per second).

    Example:
      >>> check_time_scale(10)
      10.0
    """
    is_number = isinstance(time_scale, (int, float, np.integer, np.floating))
    if not (is_number and np.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"time_scale must be a finite number > 0 (units per "
                         f"second, e.g. 1 or 10), got {time_scale!r}.")
    return float(time_scale)


def to_units(seconds, time_scale):
    """round(α·x) of numpy seconds, half to even (as tf.round), float64.

    Example:
      >>> to_units([0.0, 0.05, 0.15, 2.0], 10.0).tolist()    # 0.5 -> 0, 1.5 -> 2
      [0.0, 0.0, 2.0, 20.0]
    """
    return np.round(float(time_scale) * np.asarray(seconds, np.float64))


def endpoint_units(endpoints, time_scale):
    """Endpoints in integer units, round(α·t_k), zeros and repeats dropped.

    The count heads' rule for their bucket endpoints (numpy constants; labels
    go through `wt_keras.ops.watch_time_units`). Rounding is np.round, half to
    even, the same as tf.round. May return an empty array (every endpoint
    rounds to 0).

    Example:
      >>> endpoint_units([0.3, 1.2, 1.4, 2.6], 1.0).tolist()      # 0, 1, 1, 3 units
      [1.0, 3.0]
      >>> endpoint_units([0.25, 1.25, 1.35], 10.0).tolist()       # half to even: 2, 12, 14
      [2.0, 12.0, 14.0]
    """
    return increasing_positive(to_units(endpoints, time_scale))


def rounded_endpoints(endpoints, time_scale):
    """`endpoint_units` in seconds: round(α·t_k) / α, zeros and repeats dropped.

    Example:
      >>> rounded_endpoints([0.3, 1.2, 1.4, 2.6], 1.0).tolist()
      [1.0, 3.0]
    """
    return endpoint_units(endpoints, time_scale) / float(time_scale)


def time_scale_for_boundaries(boundaries, min_fraction=DEFAULT_MIN_FRACTION,
                              min_exponent=DEFAULT_MIN_EXPONENT,
                              max_exponent=DEFAULT_MAX_EXPONENT):
    """The smallest α = 10^k that keeps ≥ `min_fraction` of the distinct endpoints.

    Args:
      boundaries: endpoints t_1…t_K in seconds (> 0; repeats and zeros are
        ignored, they are not buckets).
      min_fraction: share of the K distinct endpoints that must stay distinct
        and > 0 after rounding to integer units.
      min_exponent, max_exponent: the powers of ten searched, smallest first.

    Returns:
      α as a float (a power of ten).

    Raises:
      ValueError: if even α = 10^max_exponent keeps too few endpoints (then
        the endpoints are closer than 10^-max_exponent s: use fewer buckets
        or pass a time_scale explicitly).

    Example:
      >>> time_scale_for_boundaries([3.0, 8.0, 20.0])        # whole seconds
      1.0
      >>> time_scale_for_boundaries([0.12, 0.35, 0.8, 1.9, 4.4])
      10.0
    """
    if not 0.0 < min_fraction <= 1.0:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction!r}.")
    if int(min_exponent) > int(max_exponent):
        raise ValueError(f"min_exponent ({min_exponent}) must be <= max_exponent "
                         f"({max_exponent}).")
    distinct = increasing_positive(np.unique(np.asarray(boundaries, np.float64)))
    if distinct.size == 0:
        raise ValueError("No positive bucket endpoint to choose a time_scale for; "
                         "pass endpoints t_1..t_K > 0 (seconds).")
    needed = int(np.ceil(min_fraction * distinct.size - 1e-9))
    for exponent in range(int(min_exponent), int(max_exponent) + 1):
        alpha = 10.0 ** exponent
        if rounded_endpoints(distinct, alpha).size >= needed:
            return alpha
    raise ValueError(
        f"Even time_scale=1e{int(max_exponent)} keeps fewer than {needed} of the "
        f"{distinct.size} distinct endpoints (smallest {distinct[0]:g} s): use fewer "
        "buckets, or pass time_scale explicitly.")


def choose_time_scale(values, spec="uniform:20", min_fraction=DEFAULT_MIN_FRACTION,
                      min_exponent=DEFAULT_MIN_EXPONENT, max_exponent=DEFAULT_MAX_EXPONENT):
    """α for training labels `values` and a percentile grid `spec`.

    The requested distinct buckets are the grid's endpoints at full precision
    (percentiles of tied labels already repeat; those repeats were never
    buckets); α is the smallest power of ten keeping ≥ `min_fraction` of
    them after rounding (see `time_scale_for_boundaries`).

    Example:
      >>> import numpy as np
      >>> labels = np.random.default_rng(0).exponential(1.2, 5000)   # seconds, mostly < 6
      >>> choose_time_scale(labels, "uniform:20")
      10.0
      >>> choose_time_scale(labels * 30, "uniform:20")
      1.0
    """
    labels = as_labels(values, "values")
    endpoints = increasing_positive(np.percentile(labels, parse_grid_spec(spec)))
    if endpoints.size == 0:
        raise ValueError(f"No positive endpoint from spec {spec!r}: the {labels.size} "
                         "labels are all 0. Use non-constant training labels.")
    return time_scale_for_boundaries(endpoints, min_fraction, min_exponent, max_exponent)
