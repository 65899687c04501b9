"""Streaming Keras metrics for watch time, for training-time reporting.

Every metric accepts `y_true` / `y_pred` either as tensors of watch time in
seconds, shape [B] or [B, 1], or as dicts with a "watch_time" key (the ranker's
outputs are dicts {"logits", "watch_time", "confidence"}). They only use `tf` ops
and `tf.keras` base classes, so they also work under Keras 3.

Example:
  >>> m = PearsonCorrelation()
  >>> m.update_state([1.0, 2.0, 3.0], {"watch_time": [1.0, 2.5, 2.9]})
  >>> round(float(m.result()), 3)
  0.948
"""
from collections.abc import Mapping

import tensorflow as tf

from wt_keras._keras import register

WATCH_TIME_KEY = "watch_time"
CONFIDENCE_KEY = "confidence"


def _vector(value, key: str, role: str, dtype=tf.float64) -> tf.Tensor:
    """Picks `value[key]` from a dict output and flattens [B] / [B, 1] to [B]."""
    if isinstance(value, Mapping):
        if key not in value:
            raise ValueError(
                f"{role} is a dict without the key {key!r} (keys: "
                f"{sorted(value)}). Fix: pass the {key!r} output, or a tensor.")
        value = value[key]
    value = tf.cast(value, dtype)
    rank = value.shape.rank
    if rank is not None and rank > 1 and not (rank == 2 and value.shape[1] == 1):
        raise ValueError(f"{role} must have shape [B] or [B, 1]; got {value.shape}. "
                         "Fix: pass one watch-time value per example.")
    return tf.reshape(value, [-1])


def _weights(sample_weight, like: tf.Tensor) -> tf.Tensor:
    """Per-example weights shaped like `like` (None -> ones; scalars broadcast)."""
    if sample_weight is None:
        return tf.ones_like(like)
    weights = tf.cast(sample_weight, like.dtype)
    if weights.shape.rank != 0:
        weights = tf.reshape(weights, [-1])
    return weights * tf.ones_like(like)


class _WeightedMean(tf.keras.metrics.Metric):
    """Weighted mean of a per-example value, accumulated in float64."""

    def __init__(self, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.weighted_sum = self.add_weight(
            name="weighted_sum", shape=(), initializer="zeros", dtype=tf.float64)
        self.weight_total = self.add_weight(
            name="weight_total", shape=(), initializer="zeros", dtype=tf.float64)

    def _per_example(self, y_true, y_pred) -> tf.Tensor:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._per_example(y_true, y_pred)
        weights = _weights(sample_weight, values)
        self.weighted_sum.assign_add(tf.reduce_sum(weights * values))
        self.weight_total.assign_add(tf.reduce_sum(weights))

    def result(self):
        # 0 before any update, like Keras' own mean metrics.
        return tf.cast(tf.math.divide_no_nan(self.weighted_sum, self.weight_total),
                       self.dtype)

    def reset_state(self):
        self.weighted_sum.assign(tf.zeros((), tf.float64))
        self.weight_total.assign(tf.zeros((), tf.float64))


@register
class MeanAbsoluteError(_WeightedMean):
    """Weighted MAE of watch time in seconds: sum_i w_i |T_i - That_i| / sum_i w_i.

    Example:
      >>> m = MeanAbsoluteError()
      >>> m.update_state([10.0, 20.0], [12.0, 17.0])
      >>> float(m.result())
      2.5
    """

    def __init__(self, name="mae", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _per_example(self, y_true, y_pred):
        return tf.abs(_vector(y_true, WATCH_TIME_KEY, "y_true")
                      - _vector(y_pred, WATCH_TIME_KEY, "y_pred"))


@register
class MeanConfidence(_WeightedMean):
    """Weighted mean of the EXUM confidence c in (0, 1); ignores `y_true`.

    A mean drifting towards 0 or 1 signals confidence collapse. `y_pred` is the
    ranker's dict (its "confidence" entry is used) or the confidence tensor.

    Example:
      >>> m = MeanConfidence()
      >>> m.update_state(None, {"watch_time": [3.0, 4.0], "confidence": [0.2, 0.6]})
      >>> round(float(m.result()), 6)
      0.4
    """

    def __init__(self, name="mean_confidence", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _per_example(self, y_true, y_pred):
        del y_true  # Confidence is a property of the model alone.
        return _vector(y_pred, CONFIDENCE_KEY, "y_pred")


@register
class PearsonCorrelation(tf.keras.metrics.Metric):
    """Exact streaming (weighted) Pearson correlation of label and prediction.

    r = C_xy / sqrt(M_x * M_y) with weight total n, weighted means, centred sums
    of squares M_x, M_y and co-moment C_xy. Batches are merged with Chan et al.'s
    update (delta = batch mean - running mean):
      M_x += M_x,batch + delta_x^2 * n * n_b / (n + n_b)
      C_xy += C_xy,batch + delta_x * delta_y * n * n_b / (n + n_b).
    These sufficient statistics give the same r as sum x, sum x^2, ... but in
    float64 avoid the cancellation of sum x^2 - (sum x)^2 / n for large times.
    `result()` is NaN while either side has zero variance (undefined).

    Example:
      >>> m = PearsonCorrelation()
      >>> m.update_state([1.0, 2.0], [2.0, 4.0])
      >>> m.update_state([3.0], [7.0])
      >>> round(float(m.result()), 4)
      0.9934
    """

    _STATISTICS = ("weight_total", "mean_true", "mean_pred", "m2_true", "m2_pred",
                   "comoment")

    def __init__(self, name="pearson", dtype=None):
        super().__init__(name=name, dtype=dtype)
        for statistic in self._STATISTICS:
            setattr(self, statistic, self.add_weight(
                name=statistic, shape=(), initializer="zeros", dtype=tf.float64))

    def update_state(self, y_true, y_pred, sample_weight=None):
        x = _vector(y_true, WATCH_TIME_KEY, "y_true")
        y = _vector(y_pred, WATCH_TIME_KEY, "y_pred")
        w = _weights(sample_weight, x)
        batch_total = tf.reduce_sum(w)
        batch_mean_x = tf.math.divide_no_nan(tf.reduce_sum(w * x), batch_total)
        batch_mean_y = tf.math.divide_no_nan(tf.reduce_sum(w * y), batch_total)
        dx, dy = x - batch_mean_x, y - batch_mean_y
        old_total = tf.identity(self.weight_total)
        new_total = old_total + batch_total
        cross = tf.math.divide_no_nan(old_total * batch_total, new_total)
        delta_x = batch_mean_x - self.mean_true
        delta_y = batch_mean_y - self.mean_pred
        share = tf.math.divide_no_nan(batch_total, new_total)
        self.m2_true.assign_add(tf.reduce_sum(w * dx * dx) + delta_x * delta_x * cross)
        self.m2_pred.assign_add(tf.reduce_sum(w * dy * dy) + delta_y * delta_y * cross)
        self.comoment.assign_add(tf.reduce_sum(w * dx * dy) + delta_x * delta_y * cross)
        self.mean_true.assign_add(delta_x * share)
        self.mean_pred.assign_add(delta_y * share)
        self.weight_total.assign(new_total)

    def result(self):
        scale = tf.sqrt(self.m2_true * self.m2_pred)
        r = tf.where(scale > 0, self.comoment / tf.where(scale > 0, scale, 1.0),
                     tf.constant(float("nan"), tf.float64))
        return tf.cast(tf.clip_by_value(r, -1.0, 1.0), self.dtype)

    def reset_state(self):
        for statistic in self._STATISTICS:
            getattr(self, statistic).assign(tf.zeros((), tf.float64))
