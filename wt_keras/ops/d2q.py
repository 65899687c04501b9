"""D2Q duration-deconfounded quantile labels (Zhan et al., KDD 2022).

Training samples are split into G equal-frequency duration groups (interior
edges `duration_edges`, group g = #edges ≤ d). `quantile_table[g]` holds the
group's watch-time quantiles at Q equally spaced levels 0, 1/(Q−1), …, 1.
The label is the within-group quantile q = F_g(T); serving maps a predicted
q back with the group's inverse table. Conventions match the numpy reference
`wt_keras.buckets.d2q_quantile_label` / `d2q_watch_time`.
"""
import tensorflow as tf


def d2q_duration_group(duration, duration_edges):
    """Group index of each duration, [B] int32 in [0, G)."""
    edges = tf.cast(duration_edges, duration.dtype)
    edges = tf.broadcast_to(edges, tf.concat([tf.shape(duration), tf.shape(edges)], 0))
    return tf.searchsorted(edges, tf.expand_dims(duration, -1), side="right",
                           out_type=tf.int32)[..., 0]


def d2q_quantile_label(watch_time, duration, duration_edges, quantile_table):
    """Within-group quantile q = F_g(T) ∈ [0, 1], shape [B].

    Piecewise-linear in T between table entries; T equal to a run of tied
    entries gets the mid-point of their levels; T below/above the table
    range gets 0/1.
    """
    table = tf.cast(quantile_table, watch_time.dtype)
    rows = tf.gather(table, d2q_duration_group(duration, duration_edges))
    last = tf.cast(tf.shape(table)[-1] - 1, watch_time.dtype)
    t = tf.expand_dims(watch_time, -1)
    first_ge = tf.searchsorted(rows, t, side="left")[..., 0]
    first_gt = tf.searchsorted(rows, t, side="right")[..., 0]
    tied = first_gt > first_ge
    tie_level = tf.cast(first_ge + first_gt - 1, watch_time.dtype) / 2.0
    # Strictly between rows[j−1] and rows[j] (j = first_ge in 1..Q−1).
    j = tf.clip_by_value(first_ge, 1, tf.shape(table)[-1] - 1)
    below = tf.gather(rows, j - 1, batch_dims=1)
    above = tf.gather(rows, j, batch_dims=1)
    fraction = tf.math.divide_no_nan(watch_time - below, above - below)
    between_level = tf.cast(j - 1, watch_time.dtype) + tf.clip_by_value(fraction, 0.0, 1.0)
    level = tf.where(tied, tie_level, between_level)
    level = tf.where(~tied & (first_ge == 0), tf.zeros_like(level), level)
    level = tf.where(first_ge >= tf.shape(table)[-1], last, level)
    return level / last


def d2q_watch_time(quantile, duration, duration_edges, quantile_table):
    """Inverse map: linear interpolation of the group's table at level q, [B]."""
    table = tf.cast(quantile_table, quantile.dtype)
    rows = tf.gather(table, d2q_duration_group(duration, duration_edges))
    last = tf.shape(table)[-1] - 1
    position = tf.clip_by_value(quantile, 0.0, 1.0) * tf.cast(last, quantile.dtype)
    index = tf.minimum(tf.cast(tf.floor(position), tf.int32), last - 1)
    fraction = position - tf.cast(index, quantile.dtype)
    low = tf.gather(rows, index, batch_dims=1)
    high = tf.gather(rows, index + 1, batch_dims=1)
    return low + fraction * (high - low)
