"""TFMA metrics of the predicted watch-time distribution (TFMA 0.47 `Metric`s).

  CRPS           mean CRPS (seconds) of the survival curve P(T > t) that the
                 candidate's `transform_features` signature returns on a grid
                 (`survival_curve` [J] and `survival_grid` [J] per example;
                 `wt_keras.metrics.crps`), name "crps".
  CompletionECE  ECE of the served `completion_probability` P(T ≥ d) against
                 1[T ≥ d], d the duration feature (`wt_keras.metrics.
                 completion_calibration`), name "completion_ece"; also emits
                 "completion_reliability", a [3, bins] array (count, mean
                 forecast, observed frequency) for the reliability diagram.

A model that lacks these outputs (D2Q, a baseline exported before they
existed) contributes no examples: its value is NaN. Neither keeps per-row
state: rows are buffered (at most BUFFER_ROWS per accumulator, as in
`tfma_metrics`) and folded in a chunk at a time, CRPS into its sum and count,
CompletionECE into [3, bins] per-bin sums; merging adds them.
"""
import json

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras import metrics as wt_metrics  # isort: skip

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

from pipelines.watch_time.evaluation import tfma_metrics
from pipelines.watch_time.evaluation.tfma_metrics import BUFFER_ROWS, model_value

CRPS_NAME, COMPLETION_ECE_NAME = "crps", "completion_ece"
COMPLETION_RELIABILITY_NAME = "completion_reliability"
SURVIVAL_CURVE, SURVIVAL_GRID = "survival_curve", "survival_grid"
COMPLETION_OUTPUT = "completion_probability"


def _labels(element, key, eval_config, prediction_key):
    """The float64 labels of one TFMA input (an example, or a group of rows)."""
    arrays = tfma_metrics.label_and_prediction_arrays(element, key, prediction_key)
    if arrays is not None:
        return arrays[0].astype(np.float64).ravel()
    return np.array([label for label, _, _ in metric_util.to_label_prediction_example_weight(
        element, eval_config=eval_config, model_name=key.model_name,
        output_name=key.output_name, flatten=True)], np.float64)


class _CRPSCombiner(beam.CombineFn):
    """Σ CRPS and the row count of a slice, scored a chunk of rows at a time.

    The accumulator is [Σ CRPS, count, buffered label arrays, buffered curve
    arrays, grid, buffered rows]; once BUFFER_ROWS rows are buffered they are
    scored in one vectorised `wt_keras.metrics.crps` call and dropped, so
    memory per slice is bounded and merging adds two numbers.
    """

    def __init__(self, key, eval_config, interpolation):
        self._key, self._eval_config, self._interpolation = key, eval_config, interpolation
        self._prediction_key = tfma_metrics.model_prediction_key(eval_config, key.model_name)

    def create_accumulator(self):
        return [0.0, 0, [], [], None, 0]

    def add_input(self, accumulator, element):
        transformed = model_value(element.transformed_features or {}, self._key.model_name)
        if SURVIVAL_CURVE not in transformed or SURVIVAL_GRID not in transformed:
            return accumulator
        labels = _labels(element, self._key, self._eval_config, self._prediction_key)
        curves = np.asarray(transformed[SURVIVAL_CURVE], np.float64).reshape(labels.size, -1)
        grids = np.asarray(transformed[SURVIVAL_GRID], np.float64).reshape(labels.size, -1)
        for start, stop in _runs_of_equal_rows(grids):
            if accumulator[4] is not None and not np.array_equal(grids[start], accumulator[4]):
                accumulator = self._flush(accumulator)      # one grid per scored chunk
            accumulator[4] = grids[start]
            accumulator[2].append(labels[start:stop])
            accumulator[3].append(curves[start:stop])
            accumulator[5] += stop - start
        return self._flush(accumulator) if accumulator[5] >= BUFFER_ROWS else accumulator

    def _flush(self, accumulator):
        total, count, labels, curves, grid, rows = accumulator
        if rows:
            scores = wt_metrics.crps(np.concatenate(labels), grid,
                                     np.clip(np.concatenate(curves), 0.0, 1.0),
                                     interpolation=self._interpolation, average=False)
            total, count = total + float(np.sum(scores)), count + rows
        return [total, count, [], [], grid, 0]

    def merge_accumulators(self, accumulators):
        total, count = 0.0, 0
        for accumulator in accumulators:
            flushed = self._flush(accumulator)
            total, count = total + flushed[0], count + flushed[1]
        return [total, count, [], [], None, 0]

    def compact(self, accumulator):
        return self._flush(accumulator)

    def extract_output(self, accumulator):
        total, count = self._flush(accumulator)[:2]
        return {self._key: total / count if count else float("nan")}


def _runs_of_equal_rows(grids):
    """(start, stop) of each run of identical consecutive rows (one run in practice)."""
    if np.array_equal(grids, np.broadcast_to(grids[:1], grids.shape)):
        return [(0, len(grids))]
    changes = np.flatnonzero(np.any(grids[1:] != grids[:-1], axis=1)) + 1
    edges = [0, *changes.tolist(), len(grids)]
    return list(zip(edges[:-1], edges[1:]))


def _crps_computations(name=CRPS_NAME, eval_config=None, model_name="", output_name="",
                       sub_key=None, interpolation="step"):
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 sub_key=sub_key)
    preprocessors = [metric_types.TransformedFeaturePreprocessor(
        feature_keys=[SURVIVAL_CURVE, SURVIVAL_GRID])]
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=preprocessors,
        combiner=_CRPSCombiner(key, eval_config, interpolation))]


class CRPS(metric_types.Metric):
    """Mean CRPS of the candidate's survival curves (seconds, lower is better).

    `interpolation`: "linear" for OR/CREAD/TPM curves, "step" for the
    integer-unit laws (see `wt_keras.metrics.crps`).
    """

    def __init__(self, name=CRPS_NAME, interpolation="step"):
        super().__init__(metric_util.merge_per_key_computations(_crps_computations), name=name,
                         interpolation=interpolation)


class _CompletionCombiner(beam.CombineFn):
    """Per-bin sums (count, Σ forecast, Σ outcome) of a slice: O(bins) memory, merged by addition.

    Rows are buffered as arrays (one per input) and binned a chunk at a time
    (`wt_keras.metrics.reliability_bin_sums`); the ECE and the reliability
    table come from the summed bins (`reliability_from_bin_sums`), equal to
    `reliability` on all the rows.
    """

    def __init__(self, keys, eval_config, duration_key, num_bins):
        self._ece_key, self._table_key = keys
        self._eval_config, self._duration_key, self._num_bins = eval_config, duration_key, num_bins
        self._prediction_key = tfma_metrics.model_prediction_key(eval_config, self._ece_key.model_name)

    def create_accumulator(self):
        return [np.zeros((3, self._num_bins)), [], [], 0]

    def add_input(self, accumulator, element):
        predictions = model_value(element.predictions, self._ece_key.model_name)
        if not isinstance(predictions, dict) or COMPLETION_OUTPUT not in predictions:
            return accumulator
        features = element.features or {}
        if self._duration_key not in features:
            raise ValueError(f"CompletionECE needs the duration feature {self._duration_key!r} in "
                             f"the evaluated examples, which hold {sorted(features)}; set "
                             "duration_key to the video-duration column.")
        labels = _labels(element, self._ece_key, self._eval_config, self._prediction_key)
        durations = np.asarray(features[self._duration_key], np.float64).ravel()
        forecasts = np.asarray(predictions[COMPLETION_OUTPUT], np.float64).ravel()
        accumulator[1].append(np.clip(forecasts, 0.0, 1.0))
        accumulator[2].append((labels >= durations).astype(np.float64))
        accumulator[3] += labels.size
        return self._flush(accumulator) if accumulator[3] >= BUFFER_ROWS else accumulator

    def _flush(self, accumulator):
        bins, forecasts, outcomes, rows = accumulator
        if rows:
            bins = bins + wt_metrics.reliability_bin_sums(
                np.concatenate(forecasts), np.concatenate(outcomes), self._num_bins)
        return [bins, [], [], 0]

    def merge_accumulators(self, accumulators):
        return [sum(self._flush(accumulator)[0] for accumulator in accumulators), [], [], 0]

    def compact(self, accumulator):
        return self._flush(accumulator)

    def extract_output(self, accumulator):
        bins = self._flush(accumulator)[0]
        if not bins[0].sum():
            return {self._ece_key: float("nan"),
                    self._table_key: np.full((3, self._num_bins), np.nan)}
        table = wt_metrics.reliability_from_bin_sums(bins)
        return {self._ece_key: table.ece,
                self._table_key: np.stack([table.count.astype(np.float64), table.mean_predicted,
                                           table.observed_frequency])}


def _completion_computations(name=COMPLETION_ECE_NAME, eval_config=None, model_name="",
                             output_name="", sub_key=None, duration_key="duration_s",
                             num_bins=10):
    keys = [metric_types.MetricKey(name=metric, model_name=model_name, output_name=output_name,
                                   sub_key=sub_key)
            for metric in (name, COMPLETION_RELIABILITY_NAME)]
    return [metric_types.MetricComputation(
        keys=keys, preprocessors=[metric_types.FeaturePreprocessor(feature_keys=[duration_key])],
        combiner=_CompletionCombiner(keys, eval_config, duration_key, num_bins))]


class CompletionECE(metric_types.Metric):
    """ECE (and reliability table) of the served completion probability P(T ≥ d)."""

    def __init__(self, name=COMPLETION_ECE_NAME, duration_key="duration_s", num_bins=10):
        super().__init__(metric_util.merge_per_key_computations(_completion_computations),
                         name=name, duration_key=duration_key, num_bins=num_bins)


def metric_configs(duration_key="duration_s", interpolation="step", num_bins=10):
    """`tfma.MetricConfig`s of CRPS and CompletionECE for a distributional head."""
    return [tfma.MetricConfig(class_name="CRPS", module=__name__, config=json.dumps(
                {"name": CRPS_NAME, "interpolation": interpolation})),
            tfma.MetricConfig(class_name="CompletionECE", module=__name__, config=json.dumps(
                {"name": COMPLETION_ECE_NAME, "duration_key": duration_key,
                 "num_bins": num_bins}))]
