"""Weighted moments of (label, prediction) pairs: the Pearson correlation's one implementation.

The numpy `pearson`, the streaming Keras `PearsonCorrelation` and the TFMA
`Pearson` combiner all keep the same six numbers of a set of pairs (x, y)
with weights w,

    (n, x̄, ȳ, M_x, M_y, C_xy) = (Σw, Σwx / n, Σwy / n,
                                 Σw(x − x̄)², Σw(y − ȳ)², Σw(x − x̄)(y − ȳ)),

merge two summaries a and b exactly with Chan, Golub & LeVeque's update
(δ = mean_b − mean_a):

    M_x = M_x,a + M_x,b + δ_x² n_a n_b / n,   C_xy = C_xy,a + C_xy,b + δ_x δ_y n_a n_b / n,

and read r = C_xy / √(M_x M_y). Centred sums avoid the cancellation of
Σx² − (Σx)²/n: labels near 1e8 s with a spread of 1 s keep their digits.

The functions take numpy arrays or TensorFlow tensors (also inside
`tf.function`) and return the same kind: tensors go through
`tf.experimental.numpy`, which has numpy's function names, so one text of
each formula serves both.

Example:
  >>> import numpy as np
  >>> first = pearson_moments(np.array([1.0, 2.0]), np.array([2.0, 4.0]))
  >>> second = pearson_moments(np.array([3.0]), np.array([7.0]))
  >>> round(float(pearson_from_moments(merge_pearson_moments(first, second))), 4)
  0.9934
"""
import numpy as np
import tensorflow as tf

_TF_NUMPY = tf.experimental.numpy

# (n, x̄, ȳ, M_x, M_y, C_xy) of no pairs.
EMPTY_MOMENTS = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _namespace(*values):
    """numpy, or TensorFlow's numpy API when any value is a tensor or variable."""
    return _TF_NUMPY if any(tf.is_tensor(value) for value in values) else np


def _nonzero(value, xp):
    """`value` with 0 replaced by 1: a safe divisor where a 0 numerator goes with it."""
    return xp.where(value != 0, value, 1.0)


def pearson_moments(x, y, weights=None):
    """(n, x̄, ȳ, M_x, M_y, C_xy) of the pairs (x_i, y_i) with weights w_i (default 1).

    A set whose weights sum to 0 gives means 0 (and contributes nothing when
    merged).

    Args:
      x, y: [n] labels and predictions, numpy arrays or float tensors of one dtype.
      weights: optional [n] weights w_i.

    Returns:
      A tuple of six scalars (numpy or tensors, like the inputs).

    Example:
      >>> [float(m) for m in pearson_moments(np.array([1.0, 3.0]), np.array([2.0, 0.0]))]
      [2.0, 2.0, 1.0, 2.0, 2.0, -2.0]
    """
    xp = _namespace(x, y, weights)
    x, y = xp.asarray(x), xp.asarray(y)
    w = xp.ones_like(x) if weights is None else xp.asarray(weights)
    total = xp.sum(w)
    mean_x = xp.sum(w * x) / _nonzero(total, xp)
    mean_y = xp.sum(w * y) / _nonzero(total, xp)
    dx, dy = x - mean_x, y - mean_y
    return (total, mean_x, mean_y, xp.sum(w * dx * dx), xp.sum(w * dy * dy),
            xp.sum(w * dx * dy))


def merge_pearson_moments(first, second):
    """The moments of the union of two sets, from their moments (exact).

    Example:
      >>> whole = pearson_moments(np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 5.0]))
      >>> parts = merge_pearson_moments(pearson_moments(np.array([1.0]), np.array([1.0])),
      ...                               pearson_moments(np.array([2.0, 4.0]), np.array([0.0, 5.0])))
      >>> np.allclose(whole, parts, rtol=0, atol=1e-12)
      True
    """
    xp = _namespace(*first, *second)
    n_a, mean_x_a, mean_y_a, m2_x_a, m2_y_a, c_a = first
    n_b, mean_x_b, mean_y_b, m2_x_b, m2_y_b, c_b = second
    total = n_a + n_b
    share = n_b / _nonzero(total, xp)
    cross = n_a * n_b / _nonzero(total, xp)
    delta_x, delta_y = mean_x_b - mean_x_a, mean_y_b - mean_y_a
    return (total, mean_x_a + delta_x * share, mean_y_a + delta_y * share,
            m2_x_a + m2_x_b + delta_x * delta_x * cross,
            m2_y_a + m2_y_b + delta_y * delta_y * cross,
            c_a + c_b + delta_x * delta_y * cross)


def pearson_from_moments(moments):
    """r = C_xy / √(M_x M_y), clipped to [−1, 1]; NaN when either side has no variance.

    Example:
      >>> float(pearson_from_moments(pearson_moments(np.array([1.0, 2.0]), np.array([5.0, 5.0]))))
      nan
    """
    _, _, _, m2_x, m2_y, comoment = moments
    xp = _namespace(m2_x, m2_y, comoment)
    scale = xp.sqrt(m2_x * m2_y)
    defined = scale > 0
    r = xp.where(defined, comoment / xp.where(defined, scale, 1.0), np.nan)
    return xp.clip(r, -1.0, 1.0)
