"""Watch-time metrics for the TFX Evaluator (TFMA 0.47 `tfma.metrics.Metric`s).

  XAUC     exact all-pairs XAUC (`wt_keras.metrics.xauc`), name "xauc".
  Pearson  Pearson correlation from streaming moments, name "pearson".
  XGAUC    XAUC per group (e.g. user) averaged (`wt_keras.metrics.xgauc`),
           name "xgauc"; the group id is read from a feature of the example.
  BatchedMeanAbsoluteError  mean |label − prediction|, name "mean_absolute_error".
  BatchedExampleCount       rows evaluated, name "example_count".
           These two give TFMA's metric names; they sum each input with
           numpy, and an input may be a group of rows (`slice_batches`), which
           TFMA's own ExampleCount would count as one example.

XAUC and XGAUC are exact, so their combiners keep every (label, prediction[,
group]) of a slice as float64 numpy arrays: 16 bytes per evaluation row (1.6 GB
for 1e8 rows in one slice), XGAUC 8 more for a reference to the row's group id
(string ids are interned, so each distinct id is one object per process; other
ids are stored once per accumulator). Rows arrive one example at a time (TFMA's
default extractors) or a group of rows at a time (the pipeline's
`slice_batches`); they are appended to a short list of Python floats (~64
bytes per row: two float objects and two list slots) and turned into one numpy
chunk once 4,096 rows are buffered, so the list holds at most 4,096 rows plus
one input (~256 KB). Merging concatenates
chunks and joins the small ones (one per Beam bundle) into one array, so
accumulators of many small bundles keep the 16 bytes per row too; scoring runs
on whole arrays (`wt_keras.metrics.xauc`, O(n log n)). The tests measure the
bytes per row with tracemalloc. Pearson keeps six numbers plus the same
bounded buffer, folds each chunk in with vectorised moments and merges with
Chan et al.'s update (`wt_keras.metrics.moments`, shared with the numpy and
Keras Pearson), which stays accurate where the naive sum-of-squares formula
cancels.

Use `metrics_specs()` (or `metric_configs()`) in the EvalConfig:

  eval_config = tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                  label_key="watch_time_s",
                                  prediction_key="watch_time")],
      metrics_specs=tfma_metrics.metrics_specs(group_key="user_id"),
      slicing_specs=[tfma.SlicingSpec()])
"""
import json
import sys

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras import metrics as wt_metrics  # isort: skip
from wt_keras.metrics import moments  # isort: skip

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

XAUC_NAME, PEARSON_NAME, XGAUC_NAME = "xauc", "pearson", "xgauc"
MAE_NAME, EXAMPLE_COUNT_NAME = "mean_absolute_error", "example_count"


# Rows are buffered as Python floats (an append is cheaper than any numpy call on
# one value) and become one numpy chunk at this size; the buffer is O(1) memory.
BUFFER_ROWS = 4096


def _values(element, key, eval_config, **options):
    """Yields (label, prediction, weight) floats of one example for `key`."""
    for label, prediction, weight in metric_util.to_label_prediction_example_weight(
            element, eval_config=eval_config, model_name=key.model_name,
            output_name=key.output_name, sub_key=key.sub_key, flatten=True, **options):
        yield float(label), float(prediction), float(weight)


def model_prediction_key(eval_config, model_name):
    """The `prediction_key` of `model_name`'s ModelSpec ("" if none or unknown)."""
    specs = list(eval_config.model_specs) if eval_config is not None else []
    for spec in specs:
        if spec.name == model_name or len(specs) == 1:
            return spec.prediction_key
    return ""


def model_value(value, model_name):
    """The entry of `model_name` when a multi-model extract is keyed by model."""
    if model_name and isinstance(value, dict) and model_name in value:
        return value[model_name]
    return value


def label_and_prediction_arrays(element, key, prediction_key):
    """(labels, predictions) ndarrays of one TFMA input, or None outside the common case.

    The common case: no output name or sub key, the label an array (per model
    when several are evaluated), the prediction an array or the model's
    output dict holding `prediction_key`. That is what the pipeline's
    Evaluator gives every example; it is read directly, without TFMA's
    general helper (`to_label_prediction_example_weight`): called for every
    example, metric and slice, the helper took half of the metrics'
    time in the Evaluator's profile (11 of 22 s on 20k rows).
    Anything else returns None and is left to the helper.
    """
    if key.output_name or key.sub_key is not None:
        return None
    labels = model_value(element.label, key.model_name)
    predictions = model_value(element.prediction, key.model_name)
    if isinstance(predictions, dict):
        predictions = predictions.get(prediction_key) if prediction_key else None
    if (isinstance(labels, np.ndarray) and isinstance(predictions, np.ndarray)
            and labels.size == predictions.size):
        return labels, predictions
    return None


def input_rows(element, key, eval_config, prediction_key="", example_weighted=False):
    """(labels, predictions, weights or None): float64 arrays of one TFMA input for `key`.

    An input is one example, or a group of rows under `slice_batches`. The
    common case is read directly (`label_and_prediction_arrays`); anything
    else, and weighted metrics, go through TFMA's general helper.
    """
    arrays = (None if example_weighted
              else label_and_prediction_arrays(element, key, prediction_key))
    if arrays is not None:
        return (arrays[0].astype(np.float64).ravel(), arrays[1].astype(np.float64).ravel(),
                None)
    rows = np.array(list(_values(element, key, eval_config,
                                 example_weighted=example_weighted)), np.float64)
    rows = rows.reshape(-1, 3)
    return rows[:, 0], rows[:, 1], rows[:, 2] if example_weighted else None


class _RowsAccumulator:
    """A slice's rows: float64 chunks plus a list buffer of fewer than BUFFER_ROWS rows."""
    __slots__ = ("labels", "predictions", "groups", "buffer", "group_ids")

    def __init__(self):
        self.labels, self.predictions, self.groups = [], [], []   # numpy chunks
        self.buffer = ([], [], [])                                # label, prediction, group
        self.group_ids = {}                                       # one object per distinct id

    def flush(self):
        labels, predictions, groups = self.buffer
        if labels:
            self.labels.append(np.array(labels, np.float64))
            self.predictions.append(np.array(predictions, np.float64))
            if groups:
                self.groups.append(np.array(groups, object))
            self.buffer = ([], [], [])
        return self

    def columns(self):
        self.flush()
        join = (lambda chunks, dtype: np.concatenate(chunks) if chunks
                else np.zeros(0, dtype))
        return (join(self.labels, np.float64), join(self.predictions, np.float64),
                join(self.groups, object))

    def consolidate(self):
        """Joins the chunks of fewer than BUFFER_ROWS rows into one.

        Merging many small accumulators (Beam gives each bundle its own)
        would otherwise keep one small array per bundle, each with ~100 bytes
        of header: 43 bytes per row for bundles of 10 rows instead of 16.
        """
        small = [i for i, chunk in enumerate(self.labels) if chunk.size < BUFFER_ROWS]
        if len(small) < 2:
            return self
        large = [i for i, chunk in enumerate(self.labels) if chunk.size >= BUFFER_ROWS]
        for name in ("labels", "predictions", "groups"):
            chunks = getattr(self, name)
            if chunks:
                joined = np.concatenate([chunks[i] for i in small])
                setattr(self, name, [chunks[i] for i in large] + [joined])
        return self

    def nbytes(self):
        """Bytes held in numpy chunks (what the 16 bytes per row refer to)."""
        return sum(chunk.nbytes for chunk in self.labels + self.predictions + self.groups)


class _ExactRankingCombiner(beam.CombineFn):
    """Keeps all (label, prediction[, group]) of a slice as arrays; scores them at the end."""

    def __init__(self, key, eval_config, group_key=None):
        self._key, self._eval_config, self._group_key = key, eval_config, group_key
        self._prediction_key = model_prediction_key(eval_config, key.model_name)

    def create_accumulator(self):
        return _RowsAccumulator()

    def add_input(self, accumulator, element):
        labels, predictions, _ = input_rows(element, self._key, self._eval_config,
                                            self._prediction_key)
        buffered_labels, buffered_predictions, buffered_groups = accumulator.buffer
        buffered_labels.extend(labels.tolist())
        buffered_predictions.extend(predictions.tolist())
        if self._group_key:
            features = element.features or {}
            if self._group_key not in features:
                raise ValueError(
                    f"XGAUC needs the feature {self._group_key!r} in the evaluated "
                    f"examples, but they hold {sorted(features)}. Set group_key to "
                    "the per-user id feature.")
            groups = np.asarray(features[self._group_key]).ravel()
            if groups.size not in (1, len(labels)):
                raise ValueError(
                    f"XGAUC needs one {self._group_key!r} per evaluated row, but an input "
                    f"of {len(labels)} rows holds {groups.size}; use a single-valued "
                    "per-user id feature as group_key.")
            groups = [self._intern(group, accumulator.group_ids) for group in groups]
            buffered_groups.extend(groups * len(labels) if len(groups) == 1 else groups)
        if len(buffered_labels) >= BUFFER_ROWS:
            accumulator.flush()
        return accumulator

    @staticmethod
    def _intern(group, group_ids):
        group = group.decode() if isinstance(group, bytes) else group
        group = sys.intern(group) if isinstance(group, str) else group
        return group_ids.setdefault(group, group)

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators).flush()
        for accumulator in accumulators:
            accumulator.flush()
            merged.labels.extend(accumulator.labels)
            merged.predictions.extend(accumulator.predictions)
            merged.groups.extend(accumulator.groups)
        return merged.consolidate()

    def compact(self, accumulator):
        return accumulator.flush()

    def extract_output(self, accumulator):
        labels, predictions, groups = accumulator.columns()
        try:
            if self._group_key:
                value = wt_metrics.xgauc(labels, predictions, groups)
            else:
                value = wt_metrics.xauc(labels, predictions)
        except ValueError:
            value = float("nan")  # a slice without 2 distinct labels: undefined
        return {self._key: value}


def _xauc_computations(name=XAUC_NAME, eval_config=None, model_name="",
                       output_name="", sub_key=None, group_key=None):
    # No example_weighted argument: TFMA then refuses weighted XAUC loudly
    # instead of silently ignoring the weights (pairs are unweighted).
    key = metric_types.MetricKey(name=name, model_name=model_name,
                                 output_name=output_name, sub_key=sub_key)
    preprocessors = ([metric_types.FeaturePreprocessor(feature_keys=[group_key])]
                     if group_key else None)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=preprocessors,
        combiner=_ExactRankingCombiner(key, eval_config, group_key))]


class XAUC(metric_types.Metric):
    """Exact XAUC of predictions vs. labels (all pairs; O(n) memory per slice)."""

    def __init__(self, name=XAUC_NAME):
        super().__init__(metric_util.merge_per_key_computations(_xauc_computations),
                         name=name)


class XGAUC(metric_types.Metric):
    """XAUC inside each group of `group_key` (e.g. user id), averaged over groups."""

    def __init__(self, group_key, name=XGAUC_NAME):
        super().__init__(metric_util.merge_per_key_computations(_xauc_computations),
                         name=name, group_key=group_key)


class _MomentsCombiner(beam.CombineFn):
    """Weighted count, means, centred second moments and co-moment.

    The accumulator is [moments (6 floats), buffered rows]; each full buffer is
    folded in as one chunk's vectorised moments (`wt_keras.metrics.moments`,
    the same functions as `wt_keras.metrics.pearson` and the Keras metric).
    """

    def __init__(self, key, eval_config, example_weighted):
        self._key, self._eval_config = key, eval_config
        self._example_weighted = example_weighted
        self._prediction_key = model_prediction_key(eval_config, key.model_name)

    def create_accumulator(self):
        # (n, mean_x, mean_y, m2_x, m2_y, c_xy); then buffered labels, predictions, weights.
        return [moments.EMPTY_MOMENTS, [], [], []]

    def add_input(self, accumulator, element):
        _, labels, predictions, weights = accumulator
        new_labels, new_predictions, new_weights = input_rows(
            element, self._key, self._eval_config, self._prediction_key, self._example_weighted)
        labels.extend(new_labels.tolist())
        predictions.extend(new_predictions.tolist())
        if new_weights is not None:
            weights.extend(new_weights.tolist())
        if len(labels) >= BUFFER_ROWS:
            accumulator = self._flush(accumulator)
        return accumulator

    @staticmethod
    def _flush(accumulator):
        summary, labels, predictions, weights = accumulator
        if not labels:
            return accumulator
        chunk = moments.pearson_moments(np.asarray(labels, np.float64),
                                        np.asarray(predictions, np.float64),
                                        np.asarray(weights, np.float64) if weights else None)
        return [moments.merge_pearson_moments(summary, chunk), [], [], []]

    def merge_accumulators(self, accumulators):
        merged = moments.EMPTY_MOMENTS
        for accumulator in accumulators:
            merged = moments.merge_pearson_moments(merged, self._flush(accumulator)[0])
        return [merged, [], [], []]

    def compact(self, accumulator):
        return self._flush(accumulator)

    def extract_output(self, accumulator):
        summary = self._flush(accumulator)[0]
        return {self._key: float(moments.pearson_from_moments(summary))}


def _pearson_computations(name=PEARSON_NAME, eval_config=None, model_name="",
                          output_name="", sub_key=None, example_weighted=False):
    key = metric_types.MetricKey(name=name, model_name=model_name,
                                 output_name=output_name, sub_key=sub_key,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_MomentsCombiner(key, eval_config, example_weighted))]


class Pearson(metric_types.Metric):
    """Pearson correlation of predictions and labels (NaN for constant input)."""

    def __init__(self, name=PEARSON_NAME):
        super().__init__(metric_util.merge_per_key_computations(_pearson_computations),
                         name=name)


class _WeightedSumsCombiner(beam.CombineFn):
    """Σ weight and Σ weight·|label − prediction| of a slice: two floats, merged by addition.

    Each input (one example, or a group of rows under `slice_batches`) is
    summed with numpy; the output is the count ("example_count") or their
    ratio ("mean_absolute_error").
    """

    def __init__(self, key, eval_config, example_weighted, statistic):
        self._key, self._eval_config = key, eval_config
        self._example_weighted, self._statistic = example_weighted, statistic
        self._prediction_key = model_prediction_key(eval_config, key.model_name)

    def create_accumulator(self):
        return (0.0, 0.0)

    def add_input(self, accumulator, element):
        labels, predictions, weights = input_rows(
            element, self._key, self._eval_config, self._prediction_key,
            self._example_weighted)
        errors = np.abs(labels - predictions)
        if weights is None:
            return (accumulator[0] + labels.size, accumulator[1] + float(np.sum(errors)))
        return (accumulator[0] + float(np.sum(weights)),
                accumulator[1] + float(np.dot(weights, errors)))

    def merge_accumulators(self, accumulators):
        totals = np.sum([list(accumulator) for accumulator in accumulators], axis=0)
        return (float(totals[0]), float(totals[1]))

    def extract_output(self, accumulator):
        weight, absolute_error = accumulator
        if self._statistic == EXAMPLE_COUNT_NAME:
            return {self._key: weight}
        return {self._key: absolute_error / weight if weight else float("nan")}


def _sums_computation(statistic, name, eval_config, model_name, output_name, sub_key,
                      example_weighted):
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 sub_key=sub_key, example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_WeightedSumsCombiner(key, eval_config, example_weighted, statistic))]


def _example_count_computations(name=EXAMPLE_COUNT_NAME, eval_config=None, model_name="",
                                output_name="", sub_key=None, example_weighted=False):
    return _sums_computation(EXAMPLE_COUNT_NAME, name, eval_config, model_name, output_name,
                             sub_key, example_weighted)


def _mae_computations(name=MAE_NAME, eval_config=None, model_name="", output_name="",
                      sub_key=None, example_weighted=False):
    return _sums_computation(MAE_NAME, name, eval_config, model_name, output_name, sub_key,
                             example_weighted)


class BatchedExampleCount(metric_types.Metric):
    """Evaluated rows of a slice (or Σ example weight), name "example_count".

    TFMA's own ExampleCount counts each metric input as one example; this one
    counts the rows in it, which is the same per example and right for the
    row groups of `slice_batches`. (A new class name: TFMA resolves its own
    registered names before a MetricConfig's module.)
    """

    def __init__(self, name=EXAMPLE_COUNT_NAME):
        super().__init__(metric_util.merge_per_key_computations(_example_count_computations),
                         name=name)


class BatchedMeanAbsoluteError(metric_types.Metric):
    """Mean |label − prediction| of a slice, name "mean_absolute_error" (as TFMA's)."""

    def __init__(self, name=MAE_NAME):
        super().__init__(metric_util.merge_per_key_computations(_mae_computations),
                         name=name)


def metric_configs(group_key=None):
    """The `tfma.MetricConfig`s for XAUC, Pearson, MAE (and XGAUC by `group_key`).

    Custom classes carry this module's path, so the Evaluator imports them
    (the package must be installed in the Evaluator's container / workers).
    """
    configs = [
        tfma.MetricConfig(class_name="XAUC", module=__name__,
                          config=json.dumps({"name": XAUC_NAME})),
        tfma.MetricConfig(class_name="Pearson", module=__name__,
                          config=json.dumps({"name": PEARSON_NAME})),
        tfma.MetricConfig(class_name="BatchedMeanAbsoluteError", module=__name__,
                          config=json.dumps({"name": MAE_NAME})),
    ]
    if group_key:
        configs.append(tfma.MetricConfig(
            class_name="XGAUC", module=__name__,
            config=json.dumps({"name": XGAUC_NAME, "group_key": group_key})))
    return configs


def metrics_specs(group_key=None):
    """One `tfma.MetricsSpec` holding `metric_configs(group_key)`."""
    return [tfma.MetricsSpec(metrics=metric_configs(group_key))]
