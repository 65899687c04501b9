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
hazards h and the bucket-start hazards a, which a head computes once per
batch and shares between them. Each query then looks up the one bucket it
falls in (a binary search over K + 1 sorted values and a gather), so its cost
grows as log K, not K.
"""
import numpy as np
import tensorflow as tf

from wt_keras.ops.swat import (bucketized_geometric_log_reach, bucketized_geometric_reach,
                               bucketized_geometric_unit_hazard)

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


def bucketized_geometric_law(logits, unit_widths, max_tail_logit=None):
    """(unit hazards h, bucket-start hazards a), each [B, K+1]: all a query needs.

    h as in `bucketized_geometric_unit_hazard`; a_m = H(l_m) = Σ_{i<m} w_i h_i
    = −log R_m. Both come from the expectation's own terms
    (`ops.bucketized_geometric_reach`), so a serving graph that returns the
    mean and the distribution computes them once. With no finite bucket
    (K = 0), a is None.

    Example:
    >>> logits = tf.math.log(tf.constant([[1.0, 3.0, 1.0]], tf.float64))   # p = 1/2, 3/4, 1/2
    >>> hazard, start = bucketized_geometric_law(logits, [2.0, 4.0])
    >>> start.numpy().round(4).tolist()                        # 0, 2·log 2, + 4·log(4/3)
    [[0.0, 1.3863, 2.537]]
    """
    if logits.shape[-1] == 1:
        return bucketized_geometric_unit_hazard(logits, max_tail_logit), None
    hazard, _, log_reach = bucketized_geometric_reach(logits, unit_widths, max_tail_logit)
    return hazard, -log_reach


def bucketized_geometric_start_hazard(unit_hazard, unit_widths):
    """a_m = H(l_m) = Σ_{i<m} w_i h_i, [B, K+1], from the unit hazards.

    Example:
    >>> hazard = tf.constant([[0.5, 0.25, 1.0]])
    >>> bucketized_geometric_start_hazard(hazard, [2.0, 4.0]).numpy().tolist()   # 0, 2·0.5, + 4·0.25
    [[0.0, 1.0, 2.0]]
    """
    return 0.0 - bucketized_geometric_log_reach(unit_hazard, unit_widths)[1]   # a_1 = +0, not −0


def _per_row(values, batch):
    """`values` ([1, J] or [B, J]) as [B, J], what a batched search and gather need."""
    if values.shape[0] is not None and values.shape[0] == batch.shape[0]:
        return values
    return values + tf.zeros_like(batch[:, :1])      # broadcast in one add


def _bucket_of_units(units, ends):
    """n = #{m : ends_m ≤ y}: the bucket holding each unit count (int32, the shape of `units`)."""
    if ends[-1] < 2.0 ** 24:
        # One op, no per-row copy of the edges; Bucketize keeps its boundaries
        # as float32, exact for integer edges below 2^24.
        return tf.raw_ops.Bucketize(input=units, boundaries=ends.tolist())
    edges = tf.broadcast_to(tf.constant(ends, units.dtype), tf.stack([tf.shape(units)[0], ends.size]))
    if units.shape.rank == 1:
        return tf.searchsorted(edges, units[:, None], side="right")[:, 0]
    return tf.searchsorted(edges, units, side="right")


def _gather_rows(table, index):
    """table[b, index[b, j]] for [B, K+1] `table` and [B, J] (or [B]) `index`."""
    return tf.gather(table, index, batch_dims=1)


def bucketized_geometric_log_survival(unit_hazard, units, unit_widths, start_hazard=None):
    """log P(Y ≥ y) = −H(y) = −Σ_m clip(y − l_m, 0, w_m) · h_m.

    Only the bucket n holding y (l_n ≤ y < l_{n+1}) is partly covered, so
    H(y) = a_n + (y − l_n)·h_n with a from `bucketized_geometric_start_hazard`.

    Args:
      unit_hazard: [B, K+1] `bucketized_geometric_unit_hazard`, the last for the open bucket.
      units: [B, J] unit counts y ≥ 0 (or [1, J]: the same for every row), or [B]:
        one count per row.
      unit_widths: [K] finite bucket widths in units (K may be 0).
      start_hazard: [B, K+1] a, if the caller has it already.

    Returns:
      log survival of the shape of `units`, ≤ 0 and non-increasing in y.

    Example:
    >>> hazard = bucketized_geometric_unit_hazard(tf.math.log(tf.constant([[9.0, 4.0]], tf.float64)))
    >>> log_s = bucketized_geometric_log_survival(hazard, tf.constant([[2.0, 5.0]], tf.float64), [3.0])
    >>> tf.exp(log_s).numpy().round(4).tolist()        # 0.9², 0.9³·0.8² (p = 0.9 on units 0..2)
    [[0.81, 0.4666]]
    """
    lower, _, _ = _unit_edges(unit_widths)
    dtype = unit_hazard.dtype
    units = tf.cast(units, dtype)
    if lower.size == 1:                                  # no finite bucket: H(y) = y·h
        return -units * (unit_hazard[:, 0] if units.shape.rank == 1 else unit_hazard[:, :1])
    if start_hazard is None:
        start_hazard = bucketized_geometric_start_hazard(unit_hazard, unit_widths)
    if units.shape.rank != 1:                            # [B] needs no broadcast
        units = _per_row(units, unit_hazard)
    bucket = _bucket_of_units(units, lower[1:])          # n, [B] or [B, J]
    start = tf.gather(tf.constant(lower, dtype), bucket)
    return -(_gather_rows(start_hazard, bucket) + (units - start) * _gather_rows(unit_hazard, bucket))


def bucketized_geometric_quantile_units(unit_hazard, q, unit_widths, start_hazard=None):
    """Generalised inverse in units: the smallest y with P(Y ≤ y) ≥ q.

    P(Y ≤ y) ≥ q ⇔ H(y + 1) ≥ η with η = −log(1 − q), so the answer is the
    number of units y ≥ 1 with H(y) < η. In bucket m, H(l_m + k) = a_m + k·h_m
    for k = 1..w_m, and k < (η − a_m) / h_m holds for clip(⌈·⌉ − 1, 0, w_m) of
    them:

        Q(q) = Σ_m clip(⌈(η − a_m) / h_m⌉ − 1, 0, w_m) = l_n + clip(⌈(η − a_n) / h_n⌉ − 1, 0, w_n)

    where n is the bucket in which H crosses η: the buckets before it count
    whole, those after it not at all. n is found by a binary search of η in
    the bucket-end hazards a_{m+1} (ends within 1e-6·h_m of η count as not
    reached: when 1 − q is itself a survival value, rounding must not add a
    unit). q ≤ 0 gives 0; q = 1 gives +inf (the open bucket is unbounded).

    Args:
      unit_hazard: [B, K+1] h, `bucketized_geometric_unit_hazard` (clamp the
        open logit, or q near 1 may give +inf).
      q: [B, J] levels in [0, 1] (or [1, J]: the same levels for every row).
      unit_widths: [K] finite bucket widths in units.
      start_hazard: [B, K+1] a, if the caller has it already.

    Returns:
      [B, J] integer-valued unit counts.

    Example:
    >>> hazard = bucketized_geometric_unit_hazard(tf.math.log([[9.0, 4.0]]))   # P(Y ≥ 4) = 0.5832
    >>> bucketized_geometric_quantile_units(hazard, tf.constant([[0.5]]), [3.0]).numpy().tolist()
    [[4.0]]
    """
    lower, _, widths = _unit_edges(unit_widths)
    dtype = unit_hazard.dtype
    level_hazard = _per_row(-tf.math.log1p(-tf.cast(q, dtype)), unit_hazard)      # η, [B, J]
    if lower.size == 1:                                  # no finite bucket
        start = width = 0.0
        start_hazard = tf.zeros_like(level_hazard)
        hazard = unit_hazard[:, :1]
    else:
        if start_hazard is None:
            start_hazard = bucketized_geometric_start_hazard(unit_hazard, unit_widths)
        ends = start_hazard[:, 1:] + _STEP_TOLERANCE * unit_hazard[:, :-1]
        # tf.searchsorted without its reshapes: both are [B, ·] already.
        bucket = tf.raw_ops.LowerBound(sorted_inputs=ends, values=level_hazard,
                                       out_type=tf.int32)                   # n, [B, J]
        start = tf.gather(tf.constant(lower, dtype), bucket)
        width = tf.gather(tf.constant(widths, dtype), bucket)
        start_hazard = _gather_rows(start_hazard, bucket)
        hazard = _gather_rows(unit_hazard, bucket)
    # ⌈(η − a)/h − tolerance⌉ − 1 = ⌈(η − a − (1 + tolerance)·h) / h⌉
    offset = start_hazard + (1.0 + _STEP_TOLERANCE) * hazard
    steps = tf.math.ceil((level_hazard - offset) * tf.math.reciprocal(tf.maximum(hazard, _MIN_UNIT_HAZARD)))
    if lower.size == 1:
        return tf.maximum(steps, 0.0)
    # max(·, 0), not relu: Grappler would fuse ceil and relu into one
    # _UnaryOpsComposition, which runs many times slower than the two on CPU.
    return start + tf.minimum(tf.maximum(steps, 0.0), width)
