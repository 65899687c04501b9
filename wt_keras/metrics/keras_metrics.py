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
from wt_keras.metrics.moments import merge_pearson_moments, pearson_from_moments, pearson_moments

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


class _ExampleMean(keras.metrics.MeanMetricWrapper):
    """Keras' weighted mean of a per-example function `fn(y_true, y_pred)`.

    Subclasses only turn their inputs (dicts, a head's logits) into the
    tensors `fn` takes (`_inputs`); Keras' `MeanMetricWrapper` does the
    weighting, the sums, `result()` (0 before any update), `reset_state()`
    and the merging across replicas. The sums are kept in `dtype`, float64
    by default, so long evaluations add up exactly.
    """

    def __init__(self, fn, name, dtype=None):
        # An explicit dtype, not the global policy: under mixed precision Keras would
        # keep the sums in AutoCastVariables read back as float16.
        super().__init__(fn, name=name, dtype=dtype or "float64")

    def _inputs(self, y_true, y_pred):
        """(y_true, y_pred) as the tensors `fn` takes."""
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self._inputs(y_true, y_pred)
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, self.dtype)
            if sample_weight.shape.rank != 0:
                sample_weight = tf.reshape(sample_weight, [-1])
        super().update_state(y_true, y_pred, sample_weight=sample_weight)


@register
class MeanAbsoluteError(_HeadSeconds, _ExampleMean):
    """Weighted MAE of watch time in seconds: sum_i w_i |T_i - That_i| / sum_i w_i.

    Keras' `mean_absolute_error` per example, averaged by `MeanMetricWrapper`.

    Args:
      head: optional watch-time head; `y_pred` is then its logits, converted
        to seconds with `head.expected_value` (for `compile(metrics=...)` of a
        model whose output is the head's logits).
      context_keys: context columns of a packed `y_true` (with `head`).
      dtype: of the sums and the result (float64 by default).

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
        super().__init__(keras.metrics.mean_absolute_error, name=name, dtype=dtype)
        self._set_head(head, context_keys)

    def _inputs(self, y_true, y_pred):
        labels, predictions = self._seconds(y_true, y_pred)
        return labels[:, None], predictions[:, None]   # one value per example: [B, 1]

    def get_config(self):
        return {**super().get_config(), **self._head_config()}


def _prediction(y_true, y_pred):
    """The prediction itself, for means of a model output alone."""
    del y_true
    return y_pred


@register
class MeanConfidence(_ExampleMean):
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
        super().__init__(_prediction, name=name, dtype=dtype)

    def _inputs(self, y_true, y_pred):
        del y_true  # Confidence is a property of the model alone.
        confidence = _vector(y_pred, CONFIDENCE_KEY, "y_pred")
        return confidence, confidence


@register
class PearsonCorrelation(_HeadSeconds, tf.keras.metrics.Metric):
    """Exact streaming (weighted) Pearson correlation of label and prediction.

    r = C_xy / sqrt(M_x * M_y) from the weight total n, weighted means, centred
    sums of squares M_x, M_y and co-moment C_xy, kept in float64; each batch's
    moments are merged in with Chan et al.'s exact update
    (`wt_keras.metrics.moments`, shared with `metrics.pearson` and the TFMA
    metric), which avoids the cancellation of sum x^2 - (sum x)^2 / n for
    large times.
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
        batch = pearson_moments(x, y, _weights(sample_weight, x))
        running = tuple(tf.identity(getattr(self, name)) for name in self._STATISTICS)
        for name, value in zip(self._STATISTICS, merge_pearson_moments(running, batch)):
            getattr(self, name).assign(value)

    def result(self):
        per_replica = zip(*(replica_values(getattr(self, name)) for name in self._STATISTICS))
        merged = next(per_replica)
        for summary in per_replica:
            merged = merge_pearson_moments(merged, summary)
        return tf.cast(pearson_from_moments(merged), self.dtype)

    def get_config(self):
        return {**super().get_config(), **self._head_config()}

    def reset_state(self):
        for statistic in self._STATISTICS:
            getattr(self, statistic).assign(tf.zeros((), tf.float64))
