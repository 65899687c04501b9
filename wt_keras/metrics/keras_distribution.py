"""Streaming Keras metrics of the predicted watch-time distribution, for training logs.

Both take the head, read its logits from the ranker's prediction dict
({"logits", "watch_time", ...}) and the label (and duration) from the label
dict ({"watch_time", "duration", ...}), and score them with the exact numpy
functions of `wt_keras.metrics` (one implementation of each formula):

  CRPS           mean CRPS of P(T > t) on a fixed grid of seconds (`metrics.crps`)
  CompletionECE  ECE of P(T ≥ duration) against 1[T ≥ duration]
                 (the bins of `metrics.reliability`, accumulated over batches)

The numpy work runs through `tf.numpy_function`: fine inside `fit`, but these
metrics are for training logs, not for a SavedModel.
"""
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from wt_keras._keras import keras, register
from wt_keras.metrics.calibration import reliability_bin_sums
from wt_keras.metrics.keras_metrics import _ExampleMean, _vector
from wt_keras.metrics.scoring import crps

LOGITS_KEY, DURATION_KEY = "logits", "duration"


def curve_interpolation(head):
    """How a head's survival curve runs between grid points: "linear" or "step".

    OR/CREAD (and TPM) are piecewise linear in t; the integer-unit laws
    (SWaT-Geo, SWaT-Binom, vanilla geometric, WLR) jump at whole units.
    """
    linear = {"OrdinalHead", "CreadHead", "TPMHead"}
    return "linear" if any(cls.__name__ in linear for cls in type(head).__mro__) else "step"


def _logits(y_pred):
    if not isinstance(y_pred, Mapping) or LOGITS_KEY not in y_pred:
        raise ValueError("distribution metrics need the head's logits: pass the ranker's "
                         "prediction dict with a 'logits' entry as y_pred.")
    return y_pred[LOGITS_KEY]


def _duration(y_true):
    if not isinstance(y_true, Mapping) or DURATION_KEY not in y_true:
        raise ValueError("CompletionECE needs the video duration: pass y_true as a dict with "
                         "'watch_time' and 'duration' (the ranker does when its duration_feature "
                         "is among the features).")
    return _vector(y_true, DURATION_KEY, "y_true")


def _check_head(head):
    if not getattr(head, "has_distribution", False):
        raise ValueError(f"{type(head).__name__} predicts a point, not a distribution: it has "
                         "no CRPS or completion probability. Use a distributional head.")
    return head


@register
class CRPS(_ExampleMean):
    """Mean continuous ranked probability score of the head's predictive distribution.

        CRPS_i = ∫_0^∞ (S_i(t) − 1[t < T_i])² dt,   S_i(t) = P(T > t | x_i)

    with S on `grid` (seconds), interpolated as the head's curve runs
    (`curve_interpolation`) and 0 from the last grid point on: a grid
    covering the labels (e.g. every second up to their 99.9th percentile)
    scores the whole curve. Seconds, lower is better; equals the MAE for a
    point forecast.

    Example:
      >>> from wt_keras import heads
      >>> head = heads.GeometricHead()            # P(Y = y) = p^y (1 − p), here p = 1/2
      >>> m = CRPS(head, grid=np.arange(0.0, 40.0))
      >>> m.update_state({"watch_time": [1.0]}, {"logits": tf.zeros([1, 1])})
      >>> round(float(m.result()), 4)   # Σ_k (S(k) − 1[k < 1])², S(k) = 2^-(k+1): 1/4 + 1/12
      0.3333
    """

    def __init__(self, head, grid, interpolation=None, name="crps", dtype=None):
        super().__init__(self._scores, name=name, dtype=dtype)
        self.head = _check_head(head)
        self.grid = np.asarray(grid, np.float64).reshape(-1)
        if self.grid.size == 0 or np.any(self.grid < 0) or np.any(np.diff(self.grid) <= 0):
            raise ValueError("grid must be non-empty, >= 0 and strictly increasing seconds, e.g. "
                             "np.arange(0.0, 600.0).")
        self.interpolation = interpolation or curve_interpolation(head)

    def _inputs(self, y_true, y_pred):
        logits = _logits(y_pred)
        watch_time = _vector(y_true, "watch_time", "y_true")
        times = tf.tile(tf.constant(self.grid[None, :], logits.dtype), [tf.shape(logits)[0], 1])
        survival = tf.clip_by_value(self.head.survival(logits, times), 0.0, 1.0)
        return watch_time, tf.cast(survival, tf.float64)

    def _scores(self, watch_time, survival):
        """CRPS of each example, [B] (Keras averages them)."""
        def score(y, s):
            return crps(y, self.grid, s, self.interpolation, average=False).astype(np.float64)

        # Keras squeezes a one-point grid's [B, 1] survival to [B].
        survival = tf.reshape(tf.cast(survival, tf.float64), [tf.shape(watch_time)[0], -1])
        values = tf.numpy_function(score, [tf.cast(watch_time, tf.float64), survival],
                                   tf.float64)
        return tf.reshape(values, tf.shape(watch_time))

    def get_config(self):
        return {**super().get_config(), "head": keras.layers.serialize(self.head),
                "grid": self.grid.tolist(), "interpolation": self.interpolation}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["head"] = keras.layers.deserialize(config["head"])
        return cls(**config)


@register
class CompletionECE(keras.metrics.Metric):
    """Expected calibration error of the completion probability P(T ≥ d | x).

        ECE = Σ_b (n_b / n) · |p̄_b − ō_b|

    over `num_bins` equal-width probability bins (`metrics.reliability_bin_sums`),
    accumulated over batches as per-bin counts and sums; the event is
    1[T ≥ d], d the video duration. Sample weights are not supported (the
    bins count examples).

    Example:
      >>> from wt_keras import heads
      >>> m = CompletionECE(heads.GeometricHead(), num_bins=2)   # p = 1/2: P(T ≥ 1) = 1/2
      >>> m.update_state({"watch_time": [0.0, 3.0], "duration": [1.0, 1.0]},
      ...                {"logits": tf.zeros([2, 1])})
      >>> float(m.result())
      0.0
    """

    def __init__(self, head, num_bins=10, name="completion_ece", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.head = _check_head(head)
        if int(num_bins) < 1:
            raise ValueError(f"num_bins must be >= 1, got {num_bins}.")
        self.num_bins = int(num_bins)
        self.bins = self.add_weight(name="bins", shape=(3, self.num_bins), initializer="zeros",
                                    dtype=tf.float64)   # rows: count, Σ forecast, Σ event

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("CompletionECE takes no sample weights: the bins count examples.")
        logits = _logits(y_pred)
        watch_time = _vector(y_true, "watch_time", "y_true")
        duration = _duration(y_true)
        probability = tf.clip_by_value(
            tf.cast(self.head.completion_probability(logits, tf.cast(duration, logits.dtype)),
                    tf.float64), 0.0, 1.0)
        event = tf.cast(watch_time >= duration, tf.float64)

        sums = tf.numpy_function(lambda p, o: reliability_bin_sums(p, o, self.num_bins),
                                 [probability, event], tf.float64)
        self.bins.assign_add(tf.reshape(sums, [3, self.num_bins]))

    def result(self):
        count, forecast, observed = tf.unstack(self.bins)
        ece = tf.math.divide_no_nan(tf.reduce_sum(tf.abs(forecast - observed)),
                                    tf.reduce_sum(count))
        return tf.cast(ece, self.dtype)

    def reset_state(self):
        self.bins.assign(tf.zeros_like(self.bins))

    def get_config(self):
        return {**super().get_config(), "head": keras.layers.serialize(self.head),
                "num_bins": self.num_bins}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["head"] = keras.layers.deserialize(config["head"])
        return cls(**config)
