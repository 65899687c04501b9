"""Watch-time distribution of the geometric heads, exact on integer units.

SWaT-Geo counts watch time in integer units Y = round(α·T) (α = time_scale)
and continues after each unit u with probability p_{bucket(u)}. In terms of
the cumulative hazard H(y) = −log P(Y ≥ y), each unit of bucket m adds the
unit hazard h_m = −log p_m = softplus(−z_m), so

    H(y) = Σ_m c_m(y) · h_m,    c_m(y) = clip(y − l_m, 0, w_m)
    H(l_m) = a_m = Σ_{i<m} w_i h_i      (−log R_m, R_m = Π_{i<m} p_i^{w_i})

with the open last bucket [l_{K+1}, ∞) geometric. The vanilla geometric and
WLR heads are the special case of no finite bucket. T = Y / α, hence

    P(T > t) = P(Y ≥ ⌊αt⌋ + 1),    P(T ≥ d) = P(Y ≥ ⌈αd⌉).

Survival, quantiles and the completion probability all start from the unit
hazards h, which a head computes once per batch and shares between them.
"""
import numpy as np
import tensorflow as tf

from wt_keras.ops.bucketing import bucket_coverage
from wt_keras.ops.swat import _SCAN_BLOCK, _exclusive_cumsum

# α·t is rounded to the nearest integer when it lies this close to it (relative
# to max(1, |α·t|)): 3.3 s at α = 10 must count as 33 units, not 32.99999.
_UNIT_TOLERANCE = 1e-6
# Quantile steps within a bucket: (η − a) / h lands exactly on an integer when
# 1 − q is itself a survival value; rounding must not add a unit.
_STEP_TOLERANCE = 1e-6
# Unit hazards below this count as this: a bucket with p = 1 (h = 0) keeps
# every unit, and (η − a) / h stays a finite product instead of 0/0.
_MIN_UNIT_HAZARD = 1e-30


def units_above(t, time_scale):
    """Smallest unit count y ≥ 0 with y / α > t: max(⌊α·t⌋ + 1, 0).

    α·t within 1e-6·max(1, α·t) below an integer counts as that integer.
    """
    scaled = t * time_scale if time_scale != 1.0 else t
    # max(s·(1 + ε), s + ε) = s + ε·max(s, 1) for s ≥ 0; t < 0 gives 0 units either way.
    snapped = tf.maximum(scaled * (1.0 + _UNIT_TOLERANCE), scaled + _UNIT_TOLERANCE)
    return tf.maximum(tf.floor(snapped) + 1.0, 0.0)


def units_at_least(t, time_scale):
    """Smallest unit count y ≥ 0 with y / α ≥ t: max(⌈α·t⌉, 0).

    α·t within 1e-6·max(1, α·t) above an integer counts as that integer.
    """
    scaled = t * time_scale if time_scale != 1.0 else t
    snapped = tf.minimum(scaled * (1.0 - _UNIT_TOLERANCE), scaled - _UNIT_TOLERANCE)
    return tf.maximum(tf.math.ceil(snapped), 0.0)


def _unit_edges(unit_widths):
    """(lower [K+1], upper [K+1], widths [K+1]) of the buckets in units (numpy), the last one open."""
    widths = np.asarray(unit_widths, np.float64).reshape(-1)
    upper = np.cumsum(widths)
    lower = np.concatenate([[0.0], upper])
    return lower, np.append(upper, np.inf), np.append(widths, np.inf)


def bucketized_geometric_unit_hazard(logits, max_tail_logit=None):
    """h_m = −log σ(z_m) = softplus(−z_m) ≥ 0, [B, K+1]: the hazard each unit of bucket m adds.

    `max_tail_logit` clamps the open bucket's logit (the last one) first, as
    the expectation does.

    Example:
    >>> logits = tf.math.log(tf.constant([[9.0, 4.0]], tf.float64))      # p = 0.9, 0.8
    >>> bucketized_geometric_unit_hazard(logits).numpy().round(4).tolist()   # −log p
    [[0.1054, 0.2231]]
    """
    tail = logits[..., -1:]
    if max_tail_logit is not None:
        tail = tf.minimum(tail, max_tail_logit)
    if logits.shape[-1] == 1:
        return tf.nn.softplus(-tail)
    # The finite buckets' log σ(z) is spelled as in the expectation
    # (`bucketized_geometric_expected_watch_time`): in a serving graph that
    # returns both, Grappler merges the two and the softplus over [B, K], the
    # dearest op here, runs once.
    return tf.concat([-tf.math.log_sigmoid(logits[..., :-1]), tf.nn.softplus(-tail)], -1)


def bucketized_geometric_log_survival(unit_hazard, units, unit_widths):
    """log P(Y ≥ y) = −H(y) = −Σ_m clip(y − l_m, 0, w_m) · h_m.

    Args:
      unit_hazard: [B, K+1] `bucketized_geometric_unit_hazard`, the last for the open bucket.
      units: [B, J] unit counts y ≥ 0 (or [1, J], [B, 1]: broadcast), or [B]:
        one count per row.
      unit_widths: [K] finite bucket widths in units (K may be 0).

    Returns:
      log survival of the shape of `units`, ≤ 0 and non-increasing in y.

    Example:
    >>> hazard = bucketized_geometric_unit_hazard(tf.math.log(tf.constant([[9.0, 4.0]], tf.float64)))
    >>> log_s = bucketized_geometric_log_survival(hazard, tf.constant([[2.0, 5.0]], tf.float64), [3.0])
    >>> tf.exp(log_s).numpy().round(4).tolist()        # 0.9², 0.9³·0.8² (p = 0.9 on units 0..2)
    [[0.81, 0.4666]]
    """
    lower, upper, _ = _unit_edges(unit_widths)
    coverage = bucket_coverage(units, lower, upper)               # [B, (J,) K+1]
    per_unit = unit_hazard if units.shape.rank == 1 else unit_hazard[:, None, :]
    return -tf.reduce_sum(coverage * per_unit, -1)


def _offset_hazard(unit_hazard, unit_widths):
    """a_m + (1 + tolerance)·h_m, [B, K+1]: one matmul for the usual grids."""
    widths = np.asarray(unit_widths, np.float64).reshape(-1)
    size = widths.size + 1
    if size <= 2 * _SCAN_BLOCK:
        # [i, m] = w_i for i < m (a_m = Σ_{i<m} w_i h_i), 1 + tolerance on the diagonal.
        weights = np.triu(np.broadcast_to(np.append(widths, 0.0)[:, None], (size, size)), 1)
        weights += (1.0 + _STEP_TOLERANCE) * np.eye(size)
        return tf.linalg.matmul(unit_hazard, tf.constant(weights, unit_hazard.dtype))
    start = _exclusive_cumsum(unit_hazard * tf.constant(np.append(widths, 0.0), unit_hazard.dtype))
    return start + (1.0 + _STEP_TOLERANCE) * unit_hazard


def bucketized_geometric_quantile_units(unit_hazard, q, unit_widths):
    """Generalised inverse in units: the smallest y with P(Y ≤ y) ≥ q.

    P(Y ≤ y) ≥ q ⇔ H(y + 1) ≥ η with η = −log(1 − q), so the answer is the
    number of units y ≥ 1 with H(y) < η. In bucket m, H(l_m + k) = a_m + k·h_m
    for k = 1..w_m, and k < (η − a_m) / h_m holds for clip(⌈·⌉ − 1, 0, w_m) of
    them:

        Q(q) = Σ_m clip(⌈(η − a_m) / h_m⌉ − 1, 0, w_m)

    Every bucket is counted at once: no search for the bucket where H
    crosses η, no gathers. q ≤ 0 gives 0; q = 1 gives +inf (the open bucket
    is unbounded).

    Args:
      unit_hazard: [B, K+1] h, `bucketized_geometric_unit_hazard` (clamp the
        open logit, or q near 1 may give +inf).
      q: [B, J] levels in [0, 1] (or [1, J]: the same levels for every row).
      unit_widths: [K] finite bucket widths in units.

    Returns:
      [B, J] integer-valued unit counts.

    Example:
    >>> hazard = bucketized_geometric_unit_hazard(tf.math.log([[9.0, 4.0]]))   # P(Y ≥ 4) = 0.5832
    >>> bucketized_geometric_quantile_units(hazard, tf.constant([[0.5]]), [3.0]).numpy().tolist()
    [[4.0]]
    """
    _, _, widths = _unit_edges(unit_widths)
    dtype = unit_hazard.dtype
    level_hazard = -tf.math.log1p(-tf.cast(q, dtype))                          # η, [B, J]
    inverse = tf.math.reciprocal(tf.maximum(unit_hazard, _MIN_UNIT_HAZARD))   # 1 / h, [B, K+1]
    # ⌈(η − a)/h − tolerance⌉ − 1 = ⌈(η − a − (1 + tolerance)·h) / h⌉
    offset = _offset_hazard(unit_hazard, unit_widths)
    num_levels, num_buckets = level_hazard.shape[-1], widths.size
    if num_levels is None:
        steps = (level_hazard[..., None] - offset[:, None, :]) * inverse[:, None, :]
        counts = tf.minimum(tf.maximum(tf.math.ceil(steps), 0.0), tf.constant(widths, dtype))
        return tf.reduce_sum(counts, -1)
    # Laid out as [B, J·(K+1)], level after level: with the per-bucket terms
    # tiled once, every later op is elementwise or broadcasts one row, which
    # CPUs run several times faster than [B, 1, K+1] against [., J, 1].
    steps = ((tf.repeat(level_hazard, num_buckets, axis=-1) - tf.tile(offset, [1, num_levels]))
             * tf.tile(inverse, [1, num_levels]))
    # max(·, 0), not relu: Grappler would fuse ceil and relu into one
    # _UnaryOpsComposition, which runs many times slower than the two on CPU.
    counts = tf.minimum(tf.maximum(tf.math.ceil(steps), 0.0),
                        tf.constant(np.tile(widths, num_levels), dtype))
    return tf.reduce_sum(tf.reshape(counts, [-1, num_levels, num_buckets]), -1)
