"""What the Evaluator measures, how it slices, and when it blesses a model.

Metrics: example count, MAE, exact XAUC and Pearson
(`evaluation.tfma_metrics`), and for heads with a distribution CRPS and the
completion-probability ECE (`evaluation.distribution_metrics`), on the
overall slice and per duration group.

Slicing by duration group: TFMA slices on features, and the group of an
example depends on the D2Q duration edges that BucketBoundaryGen learns from
the training data, so the group cannot be a fixed column or a fixed SQL
expression in the EvalConfig (which is built before any data is seen). The
trained model therefore exports a `transform_features` signature
(`duration_group_transform`, edges baked in as constants) and the candidate's
ModelSpec lists it in `preprocessing_function_names`; TFMA 0.47 looks for
slice features in these transformed features first. Only the candidate runs
it: the baseline's spec has none, so each example gets exactly one group even
when the baseline learned other edges.

Blessing (on the overall slice only): neither metric may regress beyond its
threshold against the baseline (the served model, `served_baseline`): MAE
at most `mae_max_relative_increase` (and/or `mae_max_absolute_increase`
seconds) worse, XAUC at most `xauc_max_decrease` lower; plus sanity bounds
every model must meet, the first one included (XAUC >= `min_xauc`,
optionally MAE <= `max_mae`). TFMA ignores change thresholds when there is
no baseline yet.
"""
# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras.export.serving import TRANSFORM_SIGNATURE  # isort: skip
from wt_keras.ops.d2q import d2q_duration_group  # isort: skip

import json

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

from pipelines.watch_time.configs import NO_DISTRIBUTION_HEADS
from pipelines.watch_time.evaluation import distribution_metrics, tfma_metrics

DURATION_GROUP = "duration_group"
# Heads whose survival curve is linear between endpoints; the others jump at whole units.
LINEAR_CURVE_HEADS = ("ordinal", "cread", "tpm")
CURVE_POINTS = 128   # evenly spaced points of the CRPS grid (plus the head's endpoints)
PREDICTION_KEY = "watch_time"
CANDIDATE, BASELINE = "candidate", "baseline"


def duration_group_labels(duration_edges):
    """Readable, sortable group names: '00 [0s, 7.5s)', ..., '29 [301s, inf)'."""
    bounds = np.concatenate([[0.0], np.asarray(duration_edges, np.float64), [np.inf]])
    return [f"{index:02d} [{low:.4g}s, {high:.4g}s)"
            for index, (low, high) in enumerate(zip(bounds[:-1], bounds[1:]))]


def duration_group_transform(boundaries, duration_key):
    """features → {'duration_group': [B] string}, the D2Q group of each example.

    Group g = number of edges <= duration: the head's own rule
    (`wt_keras.ops.d2q.d2q_duration_group`, the TF twin of
    `wt_keras.buckets.duration_group`) on the boundaries' D2Q edges.
    """
    edges = np.asarray(boundaries.d2q_duration_edges, np.float32)
    labels = np.asarray(duration_group_labels(boundaries.d2q_duration_edges), object)

    def transform(features):
        # Constants made while tracing: they live in the signature's graph.
        duration = tf.reshape(tf.cast(features[duration_key], tf.float32), [-1])
        group = d2q_duration_group(duration, tf.constant(edges))
        return {DURATION_GROUP: tf.gather(tf.constant(labels, tf.string), group)}

    return transform


def survival_grid(boundaries, head):
    """The CRPS grid in seconds: CURVE_POINTS points from 0 to the last endpoint + the head's endpoints.

    A point 1 ms before the head's last endpoint keeps OR/CREAD's drop to 0
    there. Step curves (SWaT, geometric) are sampled, not integrated exactly:
    a finer grid costs TFMA memory per example.
    """
    endpoints = np.asarray(getattr(head, "boundaries", []), np.float64).reshape(-1)
    top = float(max(np.max(boundaries.boundaries), endpoints.max() if endpoints.size else 0.0))
    points = [np.linspace(0.0, top, CURVE_POINTS), endpoints]
    if endpoints.size:
        points.append([endpoints[-1] - 1e-3])
    return np.unique(np.concatenate(points))


def evaluation_transform(boundaries, duration_key, ranker):
    """The `transform_features` signature's function for the Evaluator.

    features → the duration group (slice key) and, for heads with a
    distribution, `survival_curve` P(T > g_j) and `survival_grid` g_j ([B, J]
    each) for the CRPS metric.
    """
    group_of = duration_group_transform(boundaries, duration_key)
    head = ranker.head
    if not getattr(head, "has_distribution", False):
        return group_of
    grid = survival_grid(boundaries, head).astype(np.float32)

    def transform(features):
        logits = head(ranker.hidden(features))
        times = tf.tile(tf.constant(grid[None, :]), [tf.shape(logits)[0], 1])
        return {**group_of(features),
                distribution_metrics.SURVIVAL_CURVE: tf.cast(head.survival(logits, times),
                                                             tf.float32),
                distribution_metrics.SURVIVAL_GRID: times}

    return transform


def _model_spec(config, name, is_baseline):
    return tfma.ModelSpec(
        name=name, is_baseline=is_baseline, signature_name="serving_default",
        model_type=tfma.TF_GENERIC, label_key=config.label_key, prediction_key=PREDICTION_KEY,
        preprocessing_function_names=[] if is_baseline else [TRANSFORM_SIGNATURE])


def _overall(threshold):
    """Apply a threshold on the overall slice only (not per duration group)."""
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def _mae_threshold(config):
    change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.LOWER_IS_BETTER)
    if config.mae_max_relative_increase is not None:
        change.relative.value = config.mae_max_relative_increase
    if config.mae_max_absolute_increase is not None:
        change.absolute.value = config.mae_max_absolute_increase
    threshold = tfma.MetricThreshold()
    if change.HasField("relative") or change.HasField("absolute"):
        threshold.change_threshold.CopyFrom(change)
    if config.max_mae is not None:
        threshold.value_threshold.upper_bound.value = config.max_mae
    return threshold


def _xauc_threshold(config):
    """XAUC >= min_xauc always; and at most `xauc_max_decrease` below the baseline's."""
    threshold = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
        lower_bound={"value": config.min_xauc}))
    if config.xauc_max_decrease is not None:
        # TFMA passes HIGHER_IS_BETTER when candidate - baseline >= absolute.
        threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.xauc_max_decrease}))
    return threshold


def build_eval_config(config):
    """The Evaluator's `tfma.EvalConfig` for a `PipelineConfig`."""
    metric_configs = tfma_metrics.metric_configs()
    for metric in metric_configs:
        if metric.class_name == "BatchedMeanAbsoluteError":
            threshold = _mae_threshold(config)
            if threshold.ByteSize():
                metric.per_slice_thresholds.extend(_overall(threshold))
        elif metric.class_name == "XAUC":
            metric.per_slice_thresholds.extend(_overall(_xauc_threshold(config)))
    if config.head not in NO_DISTRIBUTION_HEADS:
        metric_configs.extend(distribution_metrics.metric_configs(
            config.duration_key,
            interpolation="linear" if config.head in LINEAR_CURVE_HEADS else "step"))
    metric_configs.insert(0, tfma.MetricConfig(
        class_name="BatchedExampleCount", module=tfma_metrics.__name__,
        config=json.dumps({"name": tfma_metrics.EXAMPLE_COUNT_NAME})))
    return tfma.EvalConfig(
        model_specs=[_model_spec(config, CANDIDATE, False), _model_spec(config, BASELINE, True)],
        metrics_specs=[tfma.MetricsSpec(metrics=metric_configs)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[DURATION_GROUP])])
