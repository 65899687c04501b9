"""Input checks shared by the bucket utilities (private)."""
import numpy as np


def as_labels(values, name="values"):
    """Returns `values` as a flat float64 array of finite, non-negative numbers.

    Args:
      values: array-like of watch times (or durations) in seconds.
      name: argument name used in error messages.

    Raises:
      ValueError: if `values` is empty, not numeric, or holds NaN, inf or
        negative numbers.
    """
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        raise ValueError(f"`{name}` must be numeric (seconds); got "
                         f"{type(values).__name__}: {error}") from None
    if array.size == 0:
        raise ValueError(f"`{name}` is empty: pass the training labels "
                         "(at least a few samples) to compute buckets from.")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(
            f"`{name}` holds {bad.size} non-finite value(s) (first at index "
            f"{bad[0]}: {array[bad[0]]}); drop or impute NaN/inf rows first.")
    negative = np.flatnonzero(array < 0)
    if negative.size:
        raise ValueError(
            f"`{name}` holds {negative.size} negative value(s) (first at "
            f"index {negative[0]}: {array[negative[0]]}); watch times and "
            "durations must be >= 0 seconds: clip or drop those rows.")
    return array


def increasing_positive(endpoints):
    """Keeps the endpoints that are > 0 and > every endpoint before them.

    Percentiles of tied labels repeat (many 0 s, rounded seconds); a bucket
    needs t_{k-1} < t_k, so repeats and the implicit t_0 = 0 are dropped.
    """
    endpoints = np.asarray(endpoints, dtype=np.float64)
    if endpoints.size == 0:
        return endpoints
    running_max = np.maximum.accumulate(endpoints)
    previous = np.concatenate([[0.0], running_max[:-1]])
    return endpoints[endpoints > np.maximum(previous, 0.0)]
