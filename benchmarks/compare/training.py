"""Trains one variant on one split and measures it.

`train_variant` trains with `wt_keras.models.experiment.fit_and_evaluate`
(seeded initialisation, `build_ranker`, `adapt`, Adam, shuffled batches,
test-set MAE/XAUC/Pearson/XGAUC) and adds what the benchmark reports beyond
it: the mean EXUM confidence over windows of training batches and on the
test rows, per-epoch wall time and the mean prediction ÷ mean label.
"""
import dataclasses
import time
from typing import Dict

import numpy as np
import tensorflow as tf

from compare.distribution import distribution_metrics
from wt_keras.buckets import BucketBoundaries
from wt_keras.models import bucket_tables
from wt_keras.models.experiment import dataset, feature_columns, fit_and_evaluate, random_split

LABEL = "watch_time_s"
DURATION = "duration_s"
GROUP = "user_id"
# Count heads (SWaT-Geo, geometric): α chosen from each split's training labels
# (the smallest power of ten keeping >= 90 % of the grid's buckets; 1 = whole
# seconds on the simulator), so labels of any scale work without a flag.
TIME_SCALE = None
PREDICT_BATCH_SIZE = 4096


@dataclasses.dataclass
class PreparedSplit:
    """One seeded 80/20 split with its feature columns and bucket tables.

    Bucket tables depend only on the training labels and the grid spec, so
    they are computed once per grid and shared by every method of the split.
    """
    seed: int
    train: object
    test: object
    test_columns: Dict[str, np.ndarray]
    _tables: Dict[str, BucketBoundaries] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame, seed, test_fraction=0.2):
        train, test = random_split(frame, test_fraction=test_fraction, seed=seed)
        return cls(seed, train, test, feature_columns(test))

    def tables(self, grid_spec):
        if grid_spec not in self._tables:
            self._tables[grid_spec] = bucket_tables(
                self.train[LABEL].to_numpy(), self.train[DURATION].to_numpy(),
                grid_spec=grid_spec, time_scale=TIME_SCALE)
        return self._tables[grid_spec]


class TrainingTrace(tf.keras.callbacks.Callback):
    """Per-epoch wall time and windowed mean EXUM confidence.

    Keras reports a metric at each batch end as its running mean since the
    start of the epoch. Multiplying by the number of examples seen recovers
    the running sum, and differences of running sums give the exact mean
    confidence over each window of batches (`windows_per_epoch` per epoch),
    a finer trace than one value per epoch without a second forward pass.
    """

    def __init__(self, num_examples, batch_size, windows_per_epoch=10):
        super().__init__()
        self.num_examples = int(num_examples)
        self.batch_size = int(batch_size)
        self.steps_per_epoch = max(1, -(-self.num_examples // self.batch_size))
        self.window = max(1, self.steps_per_epoch // max(1, windows_per_epoch))
        self.epoch_seconds = []
        self.confidence = []   # (position in epochs, mean c over the window)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        self._previous_seen = 0
        self._previous_sum = 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "mean_confidence" not in logs:
            return
        step = batch + 1
        if step % self.window and step != self.steps_per_epoch:
            return
        seen = min(step * self.batch_size, self.num_examples)
        running_sum = float(logs["mean_confidence"]) * seen
        self.confidence.append((self._epoch + step / self.steps_per_epoch,
                                (running_sum - self._previous_sum) / (seen - self._previous_seen)))
        self._previous_seen, self._previous_sum = seen, running_sum

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)


def discretisation_size(head):
    """Buckets of a bucketed head (D2Q: duration groups); None for scalar heads."""
    if hasattr(head, "boundaries"):
        return int(len(np.asarray(head.boundaries).reshape(-1)))
    if hasattr(head, "quantile_table"):
        return int(np.asarray(head.quantile_table).shape[0])
    return None


def test_mean_confidence(model, columns):
    """Mean EXUM confidence on held-out rows (the tower is training-only)."""
    total, count = 0.0, 0
    for batch in dataset(columns, PREDICT_BATCH_SIZE):
        confidence = model.confidence_tower(model.hidden(batch, training=False), training=False)
        total += float(tf.reduce_sum(confidence))
        count += int(tf.size(confidence))
    return total / max(count, 1)


def train_variant(variant, split, *, epochs, batch_size, learning_rate, trace_windows=10):
    """Trains `variant` on `split.train` and evaluates it on `split.test`.

    Args:
      variant: a `variants.Variant`.
      split: a `PreparedSplit`; its seed also seeds initialisation and shuffling.
      epochs, batch_size, learning_rate: the shared training budget (Adam).
      trace_windows: confidence-trace points per epoch (EXUM only).

    Returns:
      dict: test `mae`, `xauc`, `pearson`, `xgauc`, `mean_ratio` (mean
      prediction ÷ mean label); `train_seconds` (all of
      `fit`, graph tracing included), `seconds_per_epoch` (median over the
      epochs after the first, which carries the tracing), `num_buckets`,
      `time_scale` (α of the count heads, NaN for the others),
      `confidence_penalty` (the λ actually used, NaN without EXUM),
      `mean_confidence` (last epoch, training batches), `test_confidence`,
      `history` (Keras per-epoch logs) and `confidence_trace`; `crps` and
      `completion_ece` (NaN for heads without a distribution) and, for heads
      with one, the median point estimate's `median_mae`, `median_xauc`,
      `median_pearson`, `median_xgauc`, `median_mean_ratio`
      (`compare.distribution`).
    """
    trace = TrainingTrace(len(split.train), batch_size, trace_windows)
    result = fit_and_evaluate(variant.method, split.train, split.test, exum=variant.exum,
                              confidence_penalty=variant.confidence_penalty,
                              time_scale=TIME_SCALE, epochs=epochs, batch_size=batch_size,
                              learning_rate=learning_rate, seed=split.seed,
                              tables=split.tables(variant.grid_spec), callbacks=[trace],
                              confidence_tower_options=dict(variant.tower_options))
    model, predicted = result.pop("model"), result.pop("predictions")
    logs = {name: [float(v) for v in values] for name, values in result.pop("history").items()}
    result.setdefault("xgauc", float("nan"))
    # Heads that predict E[T] are not MAE-optimal on a skewed label (the median
    # is): the ratio of mean prediction to mean label shows which way a head leans.
    result["mean_ratio"] = float(np.mean(predicted) / max(split.test[LABEL].mean(), 1e-9))
    steady = trace.epoch_seconds[1:] or trace.epoch_seconds
    result.update(
        seconds_per_epoch=float(np.median(steady)),
        num_buckets=discretisation_size(model.head),
        time_scale=float(getattr(model.head, "time_scale", float("nan"))),   # count heads' α
        confidence_penalty=model.head.confidence_penalty if variant.exum else float("nan"),
        test_confidence=(test_mean_confidence(model, split.test_columns) if variant.exum
                         else float("nan")),
        history=logs,
        confidence_trace=trace.confidence,
        crps=float("nan"), completion_ece=float("nan"))
    result.update(distribution_metrics(model, split.train[LABEL].to_numpy(),
                                       split.test_columns, split.test, label=LABEL,
                                       duration=DURATION, group=GROUP))
    return result
