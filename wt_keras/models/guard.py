"""A training-time check that the predictions still track the labels."""
import logging

import numpy as np
import tensorflow as tf

from wt_keras import metrics
from wt_keras._keras import keras

_log = logging.getLogger(__name__)


class PredictionGuard(keras.callbacks.Callback):
    """Warns at the end of an epoch when predictions drift away from the labels.

    On a fixed sample of training rows it checks two things the EXUM collapse
    flag (mean confidence near 0) misses: the mean prediction must stay within
    [0.5, 2] × the mean label, and the XAUC must stay ≥ 0.5 (predictions
    anti-correlated with the labels rank worse than a constant). Either
    failure is logged as a warning naming the epoch and the fix to try (for
    EXUM: a larger λ, or training without it); `history` keeps the figures.

    Args:
      features: dict of training feature columns (numpy), a sample of at most
        a few thousand rows is enough.
      label_key: the watch-time column of `features`.
      ratio_range: allowed (low, high) of mean prediction ÷ mean label.
      min_xauc: smallest acceptable XAUC.
      batch_size: prediction batch size.

    Example:
    >>> guard = PredictionGuard({"watch_time_s": np.array([1.0, 2.0])}, "watch_time_s")
    >>> guard.check(np.array([1.0, 2.0]), np.array([9.0, 1.0]))
    ['mean prediction 5 is 3.33 × the mean label 1.5 (outside [0.5, 2])', 'XAUC 0.000 < 0.5']
    """

    def __init__(self, features, label_key, ratio_range=(0.5, 2.0), min_xauc=0.5,
                 batch_size=4096):
        super().__init__()
        if label_key not in features:
            raise ValueError(f"PredictionGuard needs the label column {label_key!r} in "
                             f"`features` (got {sorted(features)}).")
        self.features = {name: np.asarray(values) for name, values in features.items()}
        self.labels = np.asarray(features[label_key], np.float64).reshape(-1)
        self.ratio_range = (float(ratio_range[0]), float(ratio_range[1]))
        self.min_xauc = float(min_xauc)
        self.batch_size = int(batch_size)
        self.history = []

    def check(self, labels, predictions):
        """Problems found (strings); empty when the predictions look sane."""
        labels = np.asarray(labels, np.float64).reshape(-1)
        predictions = np.asarray(predictions, np.float64).reshape(-1)
        if not np.all(np.isfinite(predictions)):
            return [f"{int(np.sum(~np.isfinite(predictions)))} predictions are NaN or inf"]
        problems = []
        mean_label, mean_prediction = labels.mean(), predictions.mean()
        low, high = self.ratio_range
        if mean_label > 0:
            ratio = mean_prediction / mean_label
            if not low <= ratio <= high:
                problems.append(f"mean prediction {mean_prediction:.3g} is {ratio:.3g} × the mean "
                                f"label {mean_label:.3g} (outside [{low:g}, {high:g}])")
        if np.unique(labels).size > 1:
            xauc = metrics.xauc(labels, predictions)
            if xauc < self.min_xauc:
                problems.append(f"XAUC {xauc:.3f} < {self.min_xauc:g}")
        return problems

    def on_epoch_end(self, epoch, logs=None):
        dataset = tf.data.Dataset.from_tensor_slices(self.features).batch(self.batch_size)
        predictions = np.reshape(self.model.predict(dataset, verbose=0), [-1])
        problems = self.check(self.labels, predictions)
        self.history.append({"epoch": epoch, "problems": problems})
        if problems:
            _log.warning("epoch %d: the predictions stopped tracking the training labels: %s. "
                         "With EXUM raise the head's confidence_penalty (λ) or train without "
                         "it; otherwise lower the learning rate.", epoch + 1, "; ".join(problems))
