"""Streaming XAUC Keras metric backed by a fixed-capacity (reservoir) buffer."""
import numpy as np
import tensorflow as tf

from wt_keras._keras import register
from wt_keras.metrics.keras_metrics import _HeadSeconds, replica_values
from wt_keras.metrics.ranking import xauc as _numpy_xauc


def _xauc_or_nan(labels: np.ndarray, predictions: np.ndarray) -> np.float64:
    """numpy XAUC, or NaN where it is undefined (a metric must not crash fit)."""
    if labels.size < 2 or not (np.isfinite(labels).all()
                               and np.isfinite(predictions).all()):
        return np.float64(np.nan)
    if np.all(labels == labels[0]):
        return np.float64(np.nan)
    return np.float64(_numpy_xauc(labels, predictions))


@register
class XAUC(_HeadSeconds, tf.keras.metrics.Metric):
    """XAUC of watch time over the examples seen since the last reset.

    XAUC = (C + (T_pred - T_both) / 2) / (P - T_label): the fraction of pairs with
    different labels ordered correctly, prediction ties counting 1/2 (see
    `wt_keras.metrics.xauc`, which `result()` calls through `tf.numpy_function`).

    The (label, prediction) pairs live in two float64 buffers of `capacity`
    entries. While at most `capacity` examples have been seen the result is the
    exact XAUC of all of them. After that the buffers hold a uniform random sample
    of everything seen (reservoir sampling, Algorithm R: example i >= capacity
    replaces slot j ~ U{0..i} when j < capacity), and the result is an ESTIMATE
    whose standard error shrinks like 1/sqrt(capacity).

    Notes:
      * `sample_weight` acts as a mask: examples with weight 0 are skipped, other
        weights are ignored (XAUC counts pairs, it has no per-example weight).
      * `result()` costs O(m log m) for m = min(seen, capacity) on the host; Keras
        calls it after every training step, so prefer it as a validation metric
        or choose a smaller capacity for training logs.
      * Buffers are per replica: under a multi-replica `tf.distribute` strategy
        `result()` pools every replica's buffer (exact while each replica has
        seen at most `capacity` examples).
      * `head=` / `context_keys=` as in `MeanAbsoluteError` (logits → seconds).
      * Result is NaN until 2 distinct labels have been seen.
      * A NaN or inf label or prediction raises `tf.errors.InvalidArgumentError`
        in `update_state`, as `wt_keras.metrics.xauc` raises `ValueError`.

    Example:
      >>> m = XAUC(capacity=1000)
      >>> m.update_state([1.0, 2.0, 3.0], {"watch_time": [0.1, 0.3, 0.2]})
      >>> round(float(m.result()), 4)
      0.6667
    """

    def __init__(self, capacity: int = 100_000, seed: int = 0, name="xauc",
                 dtype=None, head=None, context_keys=()):
        # float32 by default, not the global policy: under mixed precision Keras would
        # wrap the float64 statistics in AutoCastVariables read back as float16.
        super().__init__(name=name, dtype=dtype or "float32")
        self._set_head(head, context_keys)
        if int(capacity) < 2:
            raise ValueError(f"capacity must be >= 2 to hold a pair; got {capacity}.")
        self.capacity = int(capacity)
        self.seed = int(seed)
        self.seen = self.add_weight(
            name="seen", shape=(), initializer="zeros", dtype=tf.int64)
        self.label_buffer = self.add_weight(
            name="label_buffer", shape=(self.capacity,), initializer="zeros",
            dtype=tf.float64)
        self.prediction_buffer = self.add_weight(
            name="prediction_buffer", shape=(self.capacity,), initializer="zeros",
            dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels, predictions = self._seconds(y_true, y_pred)
        # Raise like `metrics.xauc` does: a NaN in the buffer would turn every
        # later result into NaN without saying why.
        labels = tf.debugging.check_numerics(
            labels, "XAUC: y_true has NaN/inf values; drop or repair those rows")
        predictions = tf.debugging.check_numerics(
            predictions, "XAUC: y_pred has NaN/inf values (NaN predictions usually mean the "
                         "model diverged)")
        if sample_weight is not None:
            keep = tf.reshape(tf.cast(sample_weight, tf.float64), [-1]) != 0
            keep = keep & tf.ones_like(labels, tf.bool)  # broadcast scalar weights
            labels = tf.boolean_mask(labels, keep)
            predictions = tf.boolean_mask(predictions, keep)
        seen = tf.identity(self.seen)
        batch_size = tf.size(labels, out_type=tf.int64)
        capacity = tf.constant(self.capacity, tf.int64)
        # Global 0-based index i of each example in the stream.
        position = seen + tf.range(batch_size, dtype=tf.int64)
        # Stateless draws keyed on (seed, seen): reproducible, no RNG variable.
        seed = tf.stack([tf.constant(self.seed, tf.int64), seen])
        uniform = tf.random.stateless_uniform(
            tf.reshape(batch_size, [1]), seed=seed, dtype=tf.float64)
        draw = tf.cast(tf.floor(uniform * tf.cast(position + 1, tf.float64)), tf.int64)
        draw = tf.minimum(draw, position)  # guard float rounding: j in [0, i]
        slot = tf.where(position < capacity, position, draw)
        accepted = slot < capacity
        slot = tf.boolean_mask(slot, accepted)
        position = tf.boolean_mask(position, accepted)
        # Sequential Algorithm R lets the later example win a slot hit twice in
        # one batch; the draws don't depend on the buffer, so this is exact.
        unique_slots, slot_group = tf.unique(slot)
        last_position = tf.math.unsorted_segment_max(
            position, slot_group, tf.size(unique_slots))
        winner = tf.equal(position, tf.gather(last_position, slot_group))
        indices = tf.expand_dims(tf.boolean_mask(slot, winner), 1)
        for buffer, values in ((self.label_buffer, labels),
                               (self.prediction_buffer, predictions)):
            values = tf.boolean_mask(tf.boolean_mask(values, accepted), winner)
            buffer.assign(tf.tensor_scatter_nd_update(
                tf.convert_to_tensor(buffer), indices, values))
        self.seen.assign_add(batch_size)

    def result(self):
        # One buffer per replica under a strategy (Keras would sum them): pool them.
        labels, predictions = [], []
        for seen, label_buffer, prediction_buffer in zip(
                replica_values(self.seen), replica_values(self.label_buffer),
                replica_values(self.prediction_buffer)):
            count = tf.minimum(seen, self.capacity)
            labels.append(label_buffer[:count])
            predictions.append(prediction_buffer[:count])
        labels, predictions = tf.concat(labels, 0), tf.concat(predictions, 0)
        value = tf.numpy_function(_xauc_or_nan, [labels, predictions], tf.float64,
                                  stateful=False)
        value = tf.reshape(value, [])
        return tf.cast(value, self.dtype)

    def reset_state(self):
        self.seen.assign(tf.zeros((), tf.int64))
        self.label_buffer.assign(tf.zeros((self.capacity,), tf.float64))
        self.prediction_buffer.assign(tf.zeros((self.capacity,), tf.float64))

    def get_config(self):
        return {**super().get_config(), "capacity": self.capacity, "seed": self.seed,
                **self._head_config()}
