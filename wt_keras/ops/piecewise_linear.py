"""Piecewise-linear survival curves (OR, CREAD, TPM).

The curve is given by its values S_0 = 1 ≥ S_1 ≥ … ≥ S_K at knots
0 = e_0 < e_1 < … < e_K (seconds); between knots S is linear (probability
mass spread uniformly within a bucket) and S(t) = 0 for t ≥ e_K: the mass
S_K that the model puts above the last knot sits at e_K (watch time above
e_K is truncated to e_K, as in CREAD's restoration ∫_0^{e_K} S(t) dt).
"""
import tensorflow as tf


def running_minimum(values):
    """min_{j ≤ m} v_j over the last axis: survival probabilities made monotone.

    A masked minimum over a [.., M, M] tensor (TensorFlow has no cumulative
    minimum); M is a few dozen endpoints.

    Example:
    >>> running_minimum(tf.constant([[0.9, 0.7, 0.8, 0.3]], tf.float64)).numpy().tolist()
    [[0.9, 0.7, 0.7, 0.3]]
    """
    size = values.shape[-1]
    later = tf.linalg.band_part(tf.ones([size, size], tf.bool), 0, -1) & ~tf.eye(size, dtype=tf.bool)
    # entry [m, j] keeps v_j for j ≤ m
    candidates = tf.where(later, tf.constant(float("inf"), values.dtype), values[..., None, :])
    return tf.reduce_min(candidates, -1)


def survival_from_bucket_probabilities(probabilities):
    """Knot values S(e_k) = Σ_{j>k} P(bucket j), k = 0..K, of buckets [e_{k−1}, e_k).

    Summed from the top so that small tail probabilities keep their accuracy;
    S(e_0) = 1 and S(e_K) = 0 exactly, the others clipped to at most 1. With mass uniform within a bucket
    (TPM's leaves) the survival curve is linear between these knots.

    Example:
    >>> survival_from_bucket_probabilities(tf.constant([[0.5, 0.25, 0.25]], tf.float64)).numpy().tolist()
    [[1.0, 0.5, 0.25, 0.0]]
    """
    upper_tail = tf.minimum(tf.math.cumsum(probabilities, -1, reverse=True), 1.0)
    return tf.concat([tf.ones_like(probabilities[:, :1]), upper_tail[:, 1:],
                      tf.zeros_like(probabilities[:, :1])], -1)


def _segment(knots, t):
    """Index i with e_{i−1} ≤ t < e_i, clipped to [1, K], shape of t."""
    batch_knots = tf.broadcast_to(knots, tf.concat([tf.shape(t)[:1], tf.shape(knots)], 0))
    index = tf.searchsorted(batch_knots, t, side="right")
    return tf.clip_by_value(index, 1, tf.shape(knots)[0] - 1)


def piecewise_linear_survival(knots, values, t, inclusive=False):
    """P(T > t) (or P(T ≥ t) with `inclusive`) of a piecewise-linear curve.

    Args:
      knots: [K+1] e_0 = 0 < … < e_K in seconds.
      values: [B, K+1] survival at the knots, S_0 = 1, non-increasing.
      t: [B, J] seconds.
      inclusive: P(T ≥ t), the left limit S(t−): it differs from S(t) only
        at e_K, where the atom S_K sits.

    Returns:
      [B, J] probabilities: 1 for t < 0 (t ≤ 0 when inclusive), 0 beyond e_K.

    Example:
    >>> values = tf.constant([[1.0, 0.6, 0.2]], tf.float64)
    >>> t = tf.constant([[5.0, 15.0, 20.0]], tf.float64)
    >>> piecewise_linear_survival([0.0, 10.0, 20.0], values, t).numpy().round(4).tolist()
    [[0.8, 0.4, 0.0]]
    """
    knots = tf.cast(knots, values.dtype)
    index = _segment(knots, t)
    left, right = tf.gather(knots, index - 1), tf.gather(knots, index)
    s_left = tf.gather(values, index - 1, batch_dims=1)
    s_right = tf.gather(values, index, batch_dims=1)
    fraction = tf.clip_by_value((t - left) / (right - left), 0.0, 1.0)
    inside = s_left + (s_right - s_left) * fraction
    last = knots[-1]
    beyond = (t > last) if inclusive else (t >= last)
    return tf.where(beyond, tf.zeros_like(inside), inside)


def piecewise_linear_quantile(knots, values, q):
    """Generalised inverse: the smallest t with P(T ≤ t) ≥ q.

    With s = 1 − q and i the first knot with S_i ≤ s, the answer is
    e_{i−1} + (S_{i−1} − s) / (S_{i−1} − S_i) · (e_i − e_{i−1}); it is e_K when
    every S_i > s (the atom at e_K) and 0 when q ≤ 0.

    Args:
      knots: [K+1] seconds, e_0 = 0.
      values: [B, K+1] survival at the knots, S_0 = 1, non-increasing.
      q: [B, J] levels in [0, 1].

    Returns:
      [B, J] seconds.

    Example:
    >>> values = tf.constant([[1.0, 0.6, 0.2]], tf.float64)
    >>> q = tf.constant([[0.2, 0.6, 0.9]], tf.float64)
    >>> piecewise_linear_quantile([0.0, 10.0, 20.0], values, q).numpy().round(4).tolist()
    [[5.0, 15.0, 20.0]]
    """
    knots = tf.cast(knots, values.dtype)
    level = 1.0 - q
    above = tf.reduce_sum(tf.cast(values[:, None, :] > level[..., None], tf.int32), -1)
    last = tf.shape(knots)[0] - 1
    index = tf.clip_by_value(above, 1, last)
    left, right = tf.gather(knots, index - 1), tf.gather(knots, index)
    s_left = tf.gather(values, index - 1, batch_dims=1)
    s_right = tf.gather(values, index, batch_dims=1)
    fraction = tf.clip_by_value(tf.math.divide_no_nan(s_left - level, s_left - s_right), 0.0, 1.0)
    inside = left + (right - left) * fraction
    inside = tf.where(above == 0, tf.zeros_like(inside), inside)
    return tf.where(above > last, tf.broadcast_to(knots[-1], tf.shape(inside)), inside)
