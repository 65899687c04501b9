"""Input validation shared by the numpy metrics.

Every message names the offending argument and says how to fix the input, because
these functions are usually called at the end of a long evaluation run.
"""
import numpy as np


def as_vector(values, name: str, numeric: bool = True) -> np.ndarray:
    """Returns `values` as a 1-D array, accepting column vectors of shape [n, 1].

    Args:
      values: array-like of shape [n] or [n, 1].
      name: argument name used in error messages.
      numeric: when True, converts to float64 and rejects NaN/inf.

    Raises:
      ValueError: on empty, non-1-D, non-numeric or non-finite input.
    """
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{name} must have shape [n] or [n, 1]; got shape {array.shape}. "
            "Fix: pass one value per example, e.g. `np.ravel(x)` for a single "
            "column or select the watch-time column of a multi-output prediction.")
    if array.size == 0:
        raise ValueError(
            f"{name} is empty; metrics need at least one example "
            "(XAUC and Pearson need at least two). Fix: check the evaluation "
            "data split or filter.")
    if not numeric:
        return array
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be numeric (bool, int or float); got dtype "
            f"{array.dtype}. Fix: convert it, e.g. `np.asarray(x, dtype=float)`.")
    array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{name} has {bad.size} NaN/inf value(s) (first at index {bad[0]}: "
            f"{array[bad[0]]}). Fix: drop or impute those rows before computing "
            "metrics; NaN predictions usually mean the model diverged.")
    return array


def as_pair(y_true, y_pred):
    """Validates a (label, prediction) pair and returns two float64 vectors."""
    labels = as_vector(y_true, "y_true")
    predictions = as_vector(y_pred, "y_pred")
    if labels.size != predictions.size:
        raise ValueError(
            f"y_true and y_pred have different lengths ({labels.size} vs "
            f"{predictions.size}). Fix: pass exactly one prediction per label, "
            "in the same order.")
    return labels, predictions


def check_group_ids(group_ids: np.ndarray) -> None:
    """Rejects missing group ids (None/NaN), which cannot be grouped or sorted."""
    if group_ids.dtype == object:
        missing = np.array([g is None or (isinstance(g, float) and g != g) for g in group_ids])
    elif group_ids.dtype.kind == "f":
        missing = ~np.isfinite(group_ids)
    else:
        return
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"groups has {int(missing.sum())} missing id(s) (None/NaN; first at index {first}). "
            "Fix: give every example a group id (e.g. fill missing user ids with a "
            "placeholder such as -1 or 'unknown') or drop those rows.")
