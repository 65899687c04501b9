"""Watch-time distribution of the geometric heads, exact on integer units.

SWaT-Geo counts watch time in integer units Y = round(α·T) (α = time_scale)
and continues after each unit u with probability p_{bucket(u)}, so

    P(Y ≥ y) = Π_{u<y} p_{bucket(u)} = exp(Σ_m c_m(y) · log σ(z_m)),
    c_m(y) = clip(y − l_m, 0, w_m)   (units of bucket m below y)

with the open last bucket [l_{K+1}, ∞) geometric. The vanilla geometric and
WLR heads are the special case of no finite bucket. T = Y / α, hence

    P(T > t) = P(Y ≥ ⌊αt⌋ + 1),    P(T ≥ d) = P(Y ≥ ⌈αd⌉).
"""
import tensorflow as tf

from wt_keras.ops.bucketing import bucket_coverage

# α·t is rounded to the nearest integer when it lies this close to it (relative
# to max(1, |α·t|)): 3.3 s at α = 10 must count as 33 units, not 32.99999.
_UNIT_TOLERANCE = 1e-6
# Quantile steps within a bucket: (log R − log s) / (−log p) lands exactly on an
# integer when s is itself a survival value; rounding must not add a unit.
_STEP_TOLERANCE = 1e-6


def _snap(scaled):
    return _UNIT_TOLERANCE * tf.maximum(tf.abs(scaled), 1.0)


def units_above(t, time_scale):
    """Smallest unit count y ≥ 0 with y / α > t: max(⌊α·t⌋ + 1, 0)."""
    scaled = t * time_scale
    return tf.maximum(tf.floor(scaled + _snap(scaled)) + 1.0, 0.0)


def units_at_least(t, time_scale):
    """Smallest unit count y ≥ 0 with y / α ≥ t: max(⌈α·t⌉, 0)."""
    scaled = t * time_scale
    return tf.maximum(tf.math.ceil(scaled - _snap(scaled)), 0.0)


def clamp_tail_logit(logits, max_tail_logit):
    """Clamps the open bucket's logit (the last one), as the expectation does."""
    return tf.concat([logits[..., :-1], tf.minimum(logits[..., -1:], max_tail_logit)], -1)


def _unit_edges(unit_widths, dtype):
    """(lower [K+1], upper [K+1], widths [K+1]) of the buckets, the last one open."""
    widths = tf.cast(tf.reshape(unit_widths, [-1]), dtype)
    upper = tf.math.cumsum(widths)
    lower = tf.concat([tf.zeros([1], dtype), upper], 0)
    inf = tf.constant([float("inf")], dtype)
    return lower, tf.concat([upper, inf], 0), tf.concat([widths, inf], 0)


def bucketized_geometric_log_survival(logits, units, unit_widths):
    """log P(Y ≥ y) = Σ_m clip(y − l_m, 0, w_m) · log σ(z_m).

    Args:
      logits: [B, K+1] bucket logits, the last one for the open bucket.
      units: [B, J] unit counts y ≥ 0.
      unit_widths: [K] finite bucket widths in units (K may be 0).

    Returns:
      [B, J] log survival, ≤ 0 and non-increasing in y.

    Example:
    >>> logits = tf.math.log(tf.constant([[9.0, 4.0]], tf.float64))   # p = 0.9 on units 0..2, then 0.8
    >>> log_s = bucketized_geometric_log_survival(logits, tf.constant([[2.0, 5.0]], tf.float64), [3.0])
    >>> tf.exp(log_s).numpy().round(4).tolist()        # 0.9², 0.9³·0.8²
    [[0.81, 0.4666]]
    """
    lower, upper, _ = _unit_edges(unit_widths, logits.dtype)
    coverage = bucket_coverage(units, lower, upper)               # [B, J, K+1]
    log_p = tf.math.log_sigmoid(logits)[:, None, :]
    return tf.reduce_sum(coverage * log_p, -1)


def bucketized_geometric_quantile_units(logits, q, unit_widths):
    """Generalised inverse in units: the smallest y with P(Y ≤ y) ≥ q.

    With s = 1 − q and log R_m = Σ_{i<m} w_i log p_i, the answer lies in the
    first bucket m whose end survival R_{m+1} ≤ s; inside it
    y = l_m + ⌈(log R_m − log s) / (−log p_m)⌉ − 1. q ≤ 0 gives 0; q = 1
    gives +inf (the open bucket is unbounded).

    Args:
      logits: [B, K+1] bucket logits (clamp the open one first, see
        `clamp_tail_logit`, or q near 1 may give +inf).
      q: [B, J] levels in [0, 1].
      unit_widths: [K] finite bucket widths in units.

    Returns:
      [B, J] integer-valued unit counts.

    Example:
    >>> logits = tf.math.log([[9.0, 4.0]])            # P(Y ≥ 4) = 0.5832, P(Y ≥ 5) = 0.4666
    >>> bucketized_geometric_quantile_units(logits, tf.constant([[0.5]]), [3.0]).numpy().tolist()
    [[4.0]]
    """
    lower, _, widths = _unit_edges(unit_widths, logits.dtype)
    log_p = tf.math.log_sigmoid(logits)                            # [B, K+1]
    log_reach_end = tf.math.cumsum(widths[:-1] * log_p[:, :-1], -1)   # log R_{m+1}, [B, K]
    log_level = tf.math.log1p(-q)                                   # log s, [B, J]
    bucket = tf.reduce_sum(tf.cast(log_reach_end[:, None, :] > log_level[..., None], tf.int32), -1)
    log_reach = tf.concat([tf.zeros_like(log_p[:, :1]), log_reach_end], -1)   # log R_m
    start = tf.gather(lower, bucket)
    width = tf.gather(widths, bucket)
    reach = tf.gather(log_reach, bucket, batch_dims=1)
    neg_log_p = tf.gather(-log_p, bucket, batch_dims=1)
    steps = tf.math.ceil(tf.math.divide_no_nan(reach - log_level, neg_log_p) - _STEP_TOLERANCE)
    return start + tf.clip_by_value(steps, 1.0, width) - 1.0
