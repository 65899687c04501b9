"""Watch-time metrics for the TFX Evaluator (TFMA 0.47 `tfma.metrics.Metric`s).

  XAUC     exact all-pairs XAUC (`wt_keras.metrics.xauc`), name "xauc".
  Pearson  Pearson correlation from streaming moments, name "pearson".
  XGAUC    XAUC per group (e.g. user) averaged (`wt_keras.metrics.xgauc`),
           name "xgauc"; the group id is read from a feature of the example.
  MAE      TFMA's own `tfma.metrics.MeanAbsoluteError` ("mean_absolute_error").

XAUC and XGAUC are exact, so their combiners keep every (label, prediction[,
group]) of a slice: O(n) memory per slice (about 16 bytes per example, 1.6 GB
for 1e8 examples; a few extra bytes per group id). Merging concatenates.
Pearson keeps six numbers and merges them with Chan et al.'s update, which
stays accurate where the naive sum-of-squares formula cancels.

Use `metrics_specs()` (or `metric_configs()`) in the EvalConfig:

  eval_config = tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                  label_key="watch_time_s",
                                  prediction_key="watch_time")],
      metrics_specs=tfma_metrics.metrics_specs(group_key="user_id"),
      slicing_specs=[tfma.SlicingSpec()])
"""
import json

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras import metrics as wt_metrics  # isort: skip

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

XAUC_NAME, PEARSON_NAME, XGAUC_NAME = "xauc", "pearson", "xgauc"
MAE_NAME = "mean_absolute_error"


def _values(element, key, eval_config, **options):
    """Yields (label, prediction, weight) floats of one example for `key`."""
    for label, prediction, weight in metric_util.to_label_prediction_example_weight(
            element, eval_config=eval_config, model_name=key.model_name,
            output_name=key.output_name, sub_key=key.sub_key, flatten=True, **options):
        yield float(label), float(prediction), float(weight)


class _PairsAccumulator:
    __slots__ = ("labels", "predictions", "groups")

    def __init__(self):
        self.labels, self.predictions, self.groups = [], [], []


class _ExactRankingCombiner(beam.CombineFn):
    """Keeps all (label, prediction[, group]) of a slice; scores them at the end."""

    def __init__(self, key, eval_config, group_key=None):
        self._key, self._eval_config, self._group_key = key, eval_config, group_key

    def create_accumulator(self):
        return _PairsAccumulator()

    def add_input(self, accumulator, element):
        group = None
        if self._group_key:
            features = element.features or {}
            if self._group_key not in features:
                raise ValueError(
                    f"XGAUC needs the feature {self._group_key!r} in the evaluated "
                    f"examples, but they hold {sorted(features)}. Set group_key to "
                    "the per-user id feature.")
            group = np.asarray(features[self._group_key]).ravel()[0]
            group = group.decode() if isinstance(group, bytes) else group
        for label, prediction, _ in _values(element, self._key, self._eval_config):
            accumulator.labels.append(label)
            accumulator.predictions.append(prediction)
            if self._group_key:
                accumulator.groups.append(group)
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for accumulator in accumulators:
            merged.labels.extend(accumulator.labels)
            merged.predictions.extend(accumulator.predictions)
            merged.groups.extend(accumulator.groups)
        return merged

    def extract_output(self, accumulator):
        try:
            if self._group_key:
                value = wt_metrics.xgauc(accumulator.labels, accumulator.predictions,
                                         accumulator.groups)
            else:
                value = wt_metrics.xauc(accumulator.labels, accumulator.predictions)
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
    """Weighted count, means, centred second moments and co-moment."""

    def __init__(self, key, eval_config, example_weighted):
        self._key, self._eval_config = key, eval_config
        self._example_weighted = example_weighted

    def create_accumulator(self):
        return np.zeros(6)  # weight, mean_x, mean_y, m2_x, m2_y, c_xy

    def add_input(self, moments, element):
        for label, prediction, weight in _values(
                element, self._key, self._eval_config,
                example_weighted=self._example_weighted):
            single = np.array([weight, label, prediction, 0.0, 0.0, 0.0])
            moments = self._merge_two(moments, single)
        return moments

    @staticmethod
    def _merge_two(a, b):
        """Chan, Golub & LeVeque's pairwise update of weighted moments."""
        total = a[0] + b[0]
        if b[0] == 0:
            return a
        if a[0] == 0:
            return b.copy()
        dx, dy = b[1] - a[1], b[2] - a[2]
        share = a[0] * b[0] / total
        return np.array([total, a[1] + dx * b[0] / total, a[2] + dy * b[0] / total,
                         a[3] + b[3] + dx * dx * share, a[4] + b[4] + dy * dy * share,
                         a[5] + b[5] + dx * dy * share])

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for moments in accumulators:
            merged = self._merge_two(merged, moments)
        return merged

    def extract_output(self, moments):
        denominator = np.sqrt(moments[3] * moments[4])
        value = moments[5] / denominator if denominator > 0 else float("nan")
        return {self._key: float(value)}


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
        tfma.MetricConfig(class_name="MeanAbsoluteError"),  # TFMA's, registered
    ]
    if group_key:
        configs.append(tfma.MetricConfig(
            class_name="XGAUC", module=__name__,
            config=json.dumps({"name": XGAUC_NAME, "group_key": group_key})))
    return configs


def metrics_specs(group_key=None):
    """One `tfma.MetricsSpec` holding `metric_configs(group_key)`."""
    return [tfma.MetricsSpec(metrics=metric_configs(group_key))]
