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

from wt_keras._keras import HeadReference, deserialize_head, keras, register
from wt_keras.losses import split_labels

WATCH_TIME_KEY = "watch_time"
CONFIDENCE_KEY = "confidence"
LOGITS_KEY = "logits"


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
        raise ValueError(
            f"{role} must be watch time in seconds, shape [B] or [B, 1]; got {value.shape}. "
            "If this is a head's logits, give the metric the head "
            "(e.g. metrics.MeanAbsoluteError(head=head)), which converts them with "
            "head.expected_value(logits).")
    return tf.reshape(value, [-1])


def replica_values(variable):
    """The per-replica components of a metric variable (one entry without a strategy).

    Under a multi-replica strategy Keras sums metric variables across replicas
    when `result()` reads them; statistics that do not add up (means, XAUC
    buffers) must be merged from the replicas' own values instead.
    """
    if isinstance(variable, tf.distribute.DistributedValues):
        return [tf.convert_to_tensor(value) for value in variable.values]
    return [tf.convert_to_tensor(variable)]


class _HeadSeconds(HeadReference):
    """Labels and predictions in seconds, converting a head's logits when given one.

    With `head`, `y_pred` is the head's logits (or a dict with "logits") and
    the prediction is `head.expected_value(logits, **context)`; the context
    comes from a `y_true` dict or from the columns named by `context_keys` of
    a packed `y_true` (see `losses.WatchTimeLoss.pack_labels`).
    """

    def _set_head(self, head, context_keys):
        self.head = head
        self.context_keys = tuple(str(key) for key in context_keys)
        if self.context_keys and head is None:
            raise ValueError("context_keys only apply with head=...: they feed the head's "
                             "expected_value.")

    def _seconds(self, y_true, y_pred):
        if self.head is None:
            return (_vector(y_true, WATCH_TIME_KEY, "y_true"),
                    _vector(y_pred, WATCH_TIME_KEY, "y_pred"))
        watch_time, context = split_labels(y_true, self.context_keys)
        logits = y_pred[LOGITS_KEY] if isinstance(y_pred, Mapping) else y_pred
        seconds = self.head.expected_value(logits, **context)
        return _vector(watch_time, WATCH_TIME_KEY, "y_true"), _vector(seconds, WATCH_TIME_KEY, "y_pred")

    def _head_config(self):
        if self.head is None:
            return {}
        return {"head": keras.layers.serialize(self.head), "context_keys": list(self.context_keys)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("head") is not None:
            config["head"] = deserialize_head(config["head"])
        return cls(**config)


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
        # float32 by default, not the global policy: under mixed precision Keras would
        # wrap the float64 statistics in AutoCastVariables read back as float16.
        super().__init__(name=name, dtype=dtype or "float32")
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
class MeanAbsoluteError(_HeadSeconds, _WeightedMean):
    """Weighted MAE of watch time in seconds: sum_i w_i |T_i - That_i| / sum_i w_i.

    Args:
      head: optional watch-time head; `y_pred` is then its logits, converted
        to seconds with `head.expected_value` (for `compile(metrics=...)` of a
        model whose output is the head's logits).
      context_keys: context columns of a packed `y_true` (with `head`).

    Example:
      >>> m = MeanAbsoluteError()
      >>> m.update_state([10.0, 20.0], [12.0, 17.0])
      >>> float(m.result())
      2.5
      >>> from wt_keras import heads
      >>> m = MeanAbsoluteError(head=heads.GeometricHead())
      >>> m.update_state([10.0], tf.math.log([[12.0]]))     # E[T] = e^z = 12
      >>> round(float(m.result()), 4)
      2.0
    """

    def __init__(self, name="mae", dtype=None, head=None, context_keys=()):
        super().__init__(name=name, dtype=dtype)
        self._set_head(head, context_keys)

    def _per_example(self, y_true, y_pred):
        labels, predictions = self._seconds(y_true, y_pred)
        return tf.abs(labels - predictions)

    def get_config(self):
        return {**super().get_config(), **self._head_config()}


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


def merge_moments(first, second):
    """Chan et al.'s exact merge of two (n, mean_x, mean_y, M_x, M_y, C_xy) summaries."""
    n_a, mean_x_a, mean_y_a, m2_x_a, m2_y_a, c_a = first
    n_b, mean_x_b, mean_y_b, m2_x_b, m2_y_b, c_b = second
    total = n_a + n_b
    cross = tf.math.divide_no_nan(n_a * n_b, total)
    share = tf.math.divide_no_nan(n_b, total)
    delta_x, delta_y = mean_x_b - mean_x_a, mean_y_b - mean_y_a
    return (total, mean_x_a + delta_x * share, mean_y_a + delta_y * share,
            m2_x_a + m2_x_b + delta_x * delta_x * cross,
            m2_y_a + m2_y_b + delta_y * delta_y * cross,
            c_a + c_b + delta_x * delta_y * cross)


@register
class PearsonCorrelation(_HeadSeconds, tf.keras.metrics.Metric):
    """Exact streaming (weighted) Pearson correlation of label and prediction.

    r = C_xy / sqrt(M_x * M_y) with weight total n, weighted means, centred sums
    of squares M_x, M_y and co-moment C_xy. Batches are merged with Chan et al.'s
    update (delta = batch mean - running mean):
      M_x += M_x,batch + delta_x^2 * n * n_b / (n + n_b)
      C_xy += C_xy,batch + delta_x * delta_y * n * n_b / (n + n_b).
    These sufficient statistics give the same r as sum x, sum x^2, ... but in
    float64 avoid the cancellation of sum x^2 - (sum x)^2 / n for large times.
    `result()` is NaN while either side has zero variance (undefined).
    Under a multi-replica `tf.distribute` strategy `result()` merges the
    replicas' summaries with the same update, so r stays exact.
    `head=` / `context_keys=` as in `MeanAbsoluteError`.

    Example:
      >>> m = PearsonCorrelation()
      >>> m.update_state([1.0, 2.0], [2.0, 4.0])
      >>> m.update_state([3.0], [7.0])
      >>> round(float(m.result()), 4)
      0.9934
    """

    _STATISTICS = ("weight_total", "mean_true", "mean_pred", "m2_true", "m2_pred",
                   "comoment")

    def __init__(self, name="pearson", dtype=None, head=None, context_keys=()):
        # float32 by default, not the global policy: under mixed precision Keras would
        # wrap the float64 statistics in AutoCastVariables read back as float16.
        super().__init__(name=name, dtype=dtype or "float32")
        self._set_head(head, context_keys)
        for statistic in self._STATISTICS:
            setattr(self, statistic, self.add_weight(
                name=statistic, shape=(), initializer="zeros", dtype=tf.float64))

    def update_state(self, y_true, y_pred, sample_weight=None):
        x, y = self._seconds(y_true, y_pred)
        w = _weights(sample_weight, x)
        batch_total = tf.reduce_sum(w)
        batch_mean_x = tf.math.divide_no_nan(tf.reduce_sum(w * x), batch_total)
        batch_mean_y = tf.math.divide_no_nan(tf.reduce_sum(w * y), batch_total)
        dx, dy = x - batch_mean_x, y - batch_mean_y
        batch = (batch_total, batch_mean_x, batch_mean_y, tf.reduce_sum(w * dx * dx),
                 tf.reduce_sum(w * dy * dy), tf.reduce_sum(w * dx * dy))
        running = tuple(tf.identity(getattr(self, name)) for name in self._STATISTICS)
        for name, value in zip(self._STATISTICS, merge_moments(running, batch)):
            getattr(self, name).assign(value)

    def result(self):
        per_replica = zip(*(replica_values(getattr(self, name)) for name in self._STATISTICS))
        merged = next(per_replica)
        for summary in per_replica:
            merged = merge_moments(merged, summary)
        _, _, _, m2_true, m2_pred, comoment = merged
        scale = tf.sqrt(m2_true * m2_pred)
        r = tf.where(scale > 0, comoment / tf.where(scale > 0, scale, 1.0),
                     tf.constant(float("nan"), tf.float64))
        return tf.cast(tf.clip_by_value(r, -1.0, 1.0), self.dtype)

    def get_config(self):
        return {**super().get_config(), **self._head_config()}

    def reset_state(self):
        for statistic in self._STATISTICS:
            getattr(self, statistic).assign(tf.zeros((), tf.float64))
