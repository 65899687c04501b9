"""Pointwise watch-time metrics (numpy): MAE and Pearson correlation."""
import numpy as np

from wt_keras.metrics import _checks
from wt_keras.metrics.moments import pearson_from_moments, pearson_moments


def mae(y_true, y_pred) -> float:
    """Mean absolute error in the unit of the labels (seconds for watch time).

    MAE = (1 / n) * sum_i |y_i - yhat_i|

    Args:
      y_true: observed watch times, shape [n] or [n, 1].
      y_pred: predicted watch times, same shape.

    Returns:
      MAE as a Python float.

    Raises:
      ValueError: on empty, mismatched, non-1-D or non-finite input.

    Example:
      >>> mae([10.0, 20.0], [12.0, 17.0])
      2.5
    """
    labels, predictions = _checks.as_pair(y_true, y_pred)
    return float(np.mean(np.abs(labels - predictions)))


def pearson(y_true, y_pred) -> float:
    """Pearson correlation between labels and predictions.

    r = sum_i (y_i - mean(y)) (yhat_i - mean(yhat))
        / sqrt(sum_i (y_i - mean(y))^2 * sum_i (yhat_i - mean(yhat))^2)

    Args:
      y_true: observed watch times, shape [n] or [n, 1], n >= 2.
      y_pred: predicted watch times, same shape.

    Returns:
      r in [-1, 1] as a Python float.

    Raises:
      ValueError: on invalid input, on fewer than 2 examples, or when either
        input is constant (zero variance: the correlation is undefined). A
        constant y_pred usually means the model collapsed to the mean.

    Example:
      >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
      0.9934
    """
    labels, predictions = _checks.as_pair(y_true, y_pred)
    if labels.size < 2:
        raise ValueError("Pearson correlation needs at least 2 examples; got 1. "
                         "Fix: evaluate on more data.")
    for name, values in (("y_true", labels), ("y_pred", predictions)):
        # Test equality directly: centring a constant float array can leave
        # rounding residue that would turn 0/0 into a meaningless number.
        if np.all(values == values[0]):
            raise ValueError(
                f"Pearson correlation is undefined: {name} is constant "
                f"(every value is {values[0]}), so its variance is 0. A constant "
                "y_pred usually means the model predicts the same value for "
                "every example; check training or report MAE/XAUC instead.")
    return float(pearson_from_moments(pearson_moments(labels, predictions)))
