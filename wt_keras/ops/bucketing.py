"""Per-bucket statistics of an observed watch time T (buckets of the SWaT paper, Section 3.1).

Bucket k is [t_{k−1}, t_k) with t_0 = 0. An open last bucket [t_K, ∞) has an
infinite upper edge. Edges are passed explicitly (rather than start + width)
so that T == t_k lands in exactly one bucket despite floating-point rounding.
"""
import numpy as np
import tensorflow as tf


def bucket_edges(boundaries, open_last_bucket=False):
    """Lower and upper edges (numpy float64) of the buckets of t_1..t_K.

    Returns:
      (lower, upper): lower = [0, t_1, …, t_{K−1}], upper = [t_1, …, t_K];
      with `open_last_bucket` both get one more entry: t_K and +inf.
    """
    t = np.asarray(boundaries, np.float64)
    lower = np.concatenate([[0.0], t])
    upper = np.concatenate([t, [np.inf]])
    if not open_last_bucket:
        lower, upper = lower[:-1], upper[:-1]
    return lower, upper


def bucket_coverage(watch_time, lower, upper):
    """Time of each bucket covered by T: y_k = clip(T − t_{k−1}, 0, w_k).

    Args:
      watch_time: [B] observed watch time.
      lower: [K] bucket starts t_{k−1}.
      upper: [K] bucket ends t_k (+inf for an open bucket).

    Returns:
      [B, K] coverage; Σ_k y_k = min(T, t_K).
    """
    t = tf.expand_dims(watch_time, -1)
    lower = tf.cast(lower, watch_time.dtype)
    upper = tf.cast(upper, watch_time.dtype)
    return tf.minimum(tf.maximum(t, lower), upper) - lower


def bucket_exit(watch_time, lower, upper):
    """Exit indicator n_k = 1[t_{k−1} ≤ T < t_k], shape [B, K]."""
    t = tf.expand_dims(watch_time, -1)
    lower = tf.cast(lower, watch_time.dtype)
    upper = tf.cast(upper, watch_time.dtype)
    return tf.cast((t >= lower) & (t < upper), watch_time.dtype)


def bucket_index(watch_time, upper):
    """Index j of the bucket holding T, t_{j−1} ≤ T < t_j: #{k : t_k ≤ T}, at most K − 1, [B] int32.

    Beyond the last endpoint (a closed last bucket) T counts in the last bucket.

    Example:
    >>> lower, upper = bucket_edges([3.0, 8.0, 20.0])
    >>> bucket_index(tf.constant([0.0, 3.0, 7.9, 25.0]), upper).numpy().tolist()
    [0, 1, 1, 2]
    """
    upper = tf.cast(upper, watch_time.dtype)
    index = tf.searchsorted(upper, watch_time, side="right", out_type=tf.int32)
    return tf.minimum(index, tf.shape(upper)[0] - 1)


def bucket_soft_labels(watch_time, lower, upper):
    """Share of each finite bucket covered by T: ŷ_k = y_k / w_k ∈ [0, 1], shape [B, K].

    SWaT-Binom's soft labels (and its EXUM targets).

    Example:
    >>> lower, upper = bucket_edges([3.0, 8.0, 20.0])
    >>> bucket_soft_labels(tf.constant([5.0], tf.float64), lower, upper).numpy().tolist()
    [[1.0, 0.4, 0.0]]
    """
    widths = tf.cast(upper, watch_time.dtype) - tf.cast(lower, watch_time.dtype)
    return bucket_coverage(watch_time, lower, upper) / widths
