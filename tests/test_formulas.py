"""The named pure functions behind the heads and metrics, each against an independent computation.

Integer units round(α·T), EXUM continuation targets, SWaT-Binom soft labels,
the starting-bias estimate, the Pearson moments and the Huber loss.
"""
import doctest
import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from wt_keras import buckets, heads, metrics, ops
from wt_keras.buckets import time_scale
from wt_keras.metrics import moments


def _python_units(seconds, alpha):
    """round(α·t) with Python's round (half to even), one value at a time."""
    return [float(round(alpha * float(t))) for t in seconds]


# -- integer units ---------------------------------------------------------

@pytest.mark.parametrize("alpha", [1.0, 10.0, 100.0])
def test_units_of_labels_and_endpoints_follow_round_half_to_even(alpha):
    rng = np.random.default_rng(0)
    # Exact halves (k + 0.5) / α are where rounding rules differ.
    seconds = np.concatenate([rng.exponential(20.0, 200), (np.arange(40) + 0.5) / alpha])
    expected = _python_units(seconds, alpha)
    assert time_scale.to_units(seconds, alpha).tolist() == expected
    labels = ops.watch_time_units(tf.constant(seconds, tf.float64), alpha)
    assert labels.numpy().tolist() == expected


def test_endpoint_units_drop_zeros_and_repeats_like_a_loop():
    rng = np.random.default_rng(1)
    for _ in range(50):
        endpoints = np.sort(rng.uniform(0.0, 5.0, rng.integers(1, 12)))
        alpha = float(rng.choice([1.0, 2.0, 10.0]))
        kept, last = [], 0.0
        for unit in _python_units(endpoints, alpha):
            if unit > last:
                kept.append(unit)
                last = unit
        assert time_scale.endpoint_units(endpoints, alpha).tolist() == kept
        assert time_scale.rounded_endpoints(endpoints, alpha).tolist() == pytest.approx(
            [unit / alpha for unit in kept], rel=1e-15)


def test_a_label_on_an_endpoint_lands_on_the_endpoints_unit():
    endpoints = np.array([0.25, 1.35, 2.5, 7.45])
    alpha = 10.0
    units = time_scale.endpoint_units(endpoints, alpha)
    labels = ops.watch_time_units(tf.constant(endpoints, tf.float64), alpha).numpy()
    np.testing.assert_array_equal(labels, units)


def test_check_time_scale_accepts_positive_numbers_only():
    assert time_scale.check_time_scale(np.float32(10.0)) == 10.0
    for bad in (0, -1.0, float("nan"), float("inf"), "1", None):
        with pytest.raises(ValueError, match="time_scale must be a finite number > 0"):
            time_scale.check_time_scale(bad)
    for make_head in (lambda: heads.GeometricHead(time_scale=0.0),
                      lambda: heads.BinomialSoftLabelHead([1.0, 2.0], time_scale=-1.0),
                      lambda: heads.BucketizedGeometricHead([1.0, 2.0], time_scale=float("nan"))):
        with pytest.raises(ValueError, match="time_scale must be a finite number > 0"):
            make_head()


def test_binomial_trials_are_differences_of_endpoint_units():
    boundaries = [0.04, 0.26, 0.31, 1.449, 3.0]
    expected = np.diff([0.0] + _python_units(boundaries, 10.0))   # zero-trial buckets kept
    np.testing.assert_array_equal(ops.binomial_trials(boundaries, 10.0), expected)


# -- EXUM targets and soft labels --------------------------------------------

def test_continuation_targets_give_the_count_likelihood_as_a_weighted_cross_entropy():
    # weight · BCE(y / (y + n), p) = −[y log p + n log(1 − p)], the geometric heads' likelihood.
    rng = np.random.default_rng(2)
    stays = rng.integers(0, 30, (6, 4)).astype(np.float64)
    exits = rng.integers(0, 2, (6, 4)).astype(np.float64)
    p = rng.uniform(0.05, 0.95, (6, 4))
    targets, weights = ops.continuation_targets(tf.constant(stays), tf.constant(exits))
    targets, weights = targets.numpy(), weights.numpy()
    bce = -(targets * np.log(p) + (1.0 - targets) * np.log1p(-p))
    np.testing.assert_allclose(weights * bce, -(stays * np.log(p) + exits * np.log1p(-p)),
                               rtol=1e-12, atol=1e-12)
    no_trials = (stays + exits) == 0
    assert np.all(targets[no_trials] == 0.0) and np.all(weights[no_trials] == 0.0)


def test_wlr_targets_with_click_flags_are_label_and_weight_of_the_wlr_loss():
    # Clicked: label 1 with weight T; not clicked: label 0 with weight 1 (Covington et al.).
    head = heads.WeightedLogisticHead()
    watch_time = tf.constant([4.0, 0.0, 12.0, 3.0], tf.float64)
    clicked = tf.constant([1.0, 0.0, 1.0, 0.0], tf.float64)
    targets, weights = head._confidence_targets(watch_time, None, clicked=clicked)
    assert targets.numpy()[:, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert weights.numpy()[:, 0].tolist() == [4.0, 1.0, 12.0, 1.0]


def test_bucket_soft_labels_are_the_covered_share_of_each_bucket():
    t = np.array([3.0, 8.0, 20.0])
    lower, upper = ops.bucket_edges(t)
    watch_time = np.array([0.0, 2.0, 3.0, 5.5, 19.0, 50.0])
    expected = np.array([[min(max(T - a, 0.0), b - a) / (b - a) for a, b in zip(lower, upper)]
                         for T in watch_time])
    got = ops.bucket_soft_labels(tf.constant(watch_time), lower, upper).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-15)


# -- starting bias -----------------------------------------------------------

def test_intercept_logits_zero_the_gradient_of_the_weighted_cross_entropy():
    rng = np.random.default_rng(3)
    targets = rng.uniform(0.0, 1.0, (50, 3))
    weights = rng.uniform(0.0, 4.0, (50, 3))
    start = ops.intercept_logits(tf.constant(targets), tf.constant(weights))
    np.testing.assert_allclose(start.numpy(),
                               scipy.special.logit(np.average(targets, axis=0, weights=weights)),
                               rtol=1e-12)
    z = tf.Variable(start)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(weights * tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.constant(targets), logits=tf.broadcast_to(z, targets.shape)))
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), 0.0, atol=1e-10)


def test_intercept_logits_clip_constant_targets():
    start = ops.intercept_logits(tf.constant([[1.0, 0.0], [1.0, 0.0]], tf.float64)).numpy()
    np.testing.assert_allclose(start, [math.log(9999.0), -math.log(9999.0)], rtol=1e-12)


def test_geometric_starting_bias_is_the_log_mean_unit_count():
    # The geometric MLE of E[Y] = e^z is the mean of Y = round(α·T).
    watch_time = np.array([0.04, 1.26, 3.0, 7.49, 12.5], np.float32)
    head = heads.GeometricHead(time_scale=10.0)
    bias = head.initialize_bias(watch_time)
    mean_units = np.mean(_python_units(watch_time.astype(np.float64), 10.0))
    assert math.exp(float(bias[0])) == pytest.approx(mean_units, rel=1e-5)


def test_d2q_starting_bias_is_the_logit_of_the_mean_quantile_label():
    rng = np.random.default_rng(4)
    duration = rng.uniform(5.0, 60.0, 400)
    watch_time = duration * rng.uniform(0.0, 1.2, 400)
    tables = buckets.d2q_tables(watch_time, duration, num_groups=3, num_quantiles=21)
    head = heads.D2QHead(duration_edges=tables.duration_edges,
                         quantile_table=tables.quantile_table)
    bias = head.initialize_bias(watch_time.astype(np.float32), duration=duration)
    labels = buckets.d2q_quantile_label(watch_time, duration, tables)
    assert float(bias[0]) == pytest.approx(float(scipy.special.logit(np.mean(labels))),
                                           abs=1e-4)


# -- Pearson moments -----------------------------------------------------------

def _weighted_reference(x, y, w):
    mean_x, mean_y = np.average(x, weights=w), np.average(y, weights=w)
    return (w.sum(), mean_x, mean_y, np.sum(w * (x - mean_x) ** 2),
            np.sum(w * (y - mean_y) ** 2), np.sum(w * (x - mean_x) * (y - mean_y)))


def test_moments_of_a_split_merge_to_the_moments_of_the_whole_in_numpy_and_tensorflow():
    rng = np.random.default_rng(5)
    x = rng.exponential(30.0, 500)
    y = x + rng.normal(0.0, 10.0, 500)
    w = rng.uniform(0.2, 3.0, 500)
    reference = _weighted_reference(x, y, w)
    merge_in_graph = tf.function(moments.merge_pearson_moments)
    numpy_merged, tf_merged = moments.EMPTY_MOMENTS, moments.EMPTY_MOMENTS
    for part in np.array_split(np.arange(500), [1, 2, 90, 300]):
        numpy_merged = moments.merge_pearson_moments(
            numpy_merged, moments.pearson_moments(x[part], y[part], w[part]))
        tf_part = moments.pearson_moments(*(tf.constant(v[part]) for v in (x, y, w)))
        tf_merged = merge_in_graph(tuple(tf.constant(v, tf.float64) for v in tf_merged), tf_part)
    np.testing.assert_allclose(numpy_merged, reference, rtol=1e-11)
    np.testing.assert_allclose([float(v) for v in tf_merged], reference, rtol=1e-11)
    expected_r = reference[5] / math.sqrt(reference[3] * reference[4])
    assert float(moments.pearson_from_moments(numpy_merged)) == pytest.approx(expected_r, rel=1e-12)
    assert float(moments.pearson_from_moments(tf_merged)) == pytest.approx(expected_r, rel=1e-12)


def test_numpy_keras_and_moments_pearson_agree_with_scipy():
    rng = np.random.default_rng(6)
    x = 1e8 + rng.normal(size=300)              # a large offset: naive sums would cancel
    y = x - 1e8 + rng.normal(scale=0.5, size=300)
    expected = scipy.stats.pearsonr(x, y)[0]
    assert metrics.pearson(x, y) == pytest.approx(expected, rel=1e-9)
    keras_metric = metrics.PearsonCorrelation(dtype="float64")
    for part in np.array_split(np.arange(300), 4):
        keras_metric.update_state(x[part], y[part])
    assert float(keras_metric.result()) == pytest.approx(expected, rel=1e-9)


def test_undefined_correlation_is_nan_for_tensors_and_arrays():
    for x in (np.array([1.0, 2.0, 3.0]), tf.constant([1.0, 2.0, 3.0], tf.float64)):
        y = x * 0.0 + 4.0
        assert math.isnan(float(moments.pearson_from_moments(moments.pearson_moments(x, y))))


# -- library parts -------------------------------------------------------------

@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_huber_equals_keras_huber(delta):
    error = np.linspace(-8.0, 8.0, 161).astype(np.float32)
    expected = tf.keras.losses.huber(np.zeros_like(error)[:, None], error[:, None], delta=delta)
    np.testing.assert_allclose(ops.huber(tf.constant(error), delta).numpy(), expected.numpy(),
                               rtol=1e-6, atol=1e-6)


def test_huber_keeps_float64():
    # tf_keras' huber computes in floatx (float32); the heads' float64 losses must stay float64.
    error = tf.constant([1e-9, 0.3, 2.0 + 1e-12], tf.float64)
    assert ops.huber(error, 1.0).dtype == tf.float64
    np.testing.assert_allclose(ops.huber(error, 1.0).numpy(), [0.5e-18, 0.045, 1.5 + 1e-12],
                               rtol=1e-15)


@pytest.mark.parametrize("make_metric", [metrics.MeanAbsoluteError, metrics.MeanConfidence])
def test_mean_metrics_are_keras_mean_metric_wrappers(make_metric):
    assert isinstance(make_metric(), tf.keras.metrics.MeanMetricWrapper)


def test_weighted_mae_equals_keras_mae():
    rng = np.random.default_rng(7)
    labels = rng.exponential(30.0, 256)
    predictions = labels + rng.normal(0.0, 10.0, 256)
    weights = rng.uniform(0.0, 2.0, 256)
    ours, keras_mae = metrics.MeanAbsoluteError(), tf.keras.metrics.MeanAbsoluteError()
    for part in np.array_split(np.arange(256), 3):
        ours.update_state(labels[part], predictions[part], sample_weight=weights[part])
        keras_mae.update_state(labels[part, None], predictions[part, None],
                               sample_weight=weights[part])
    assert float(ours.result()) == pytest.approx(float(keras_mae.result()), rel=1e-6)
    assert float(ours.result()) == pytest.approx(
        np.average(np.abs(labels - predictions), weights=weights), rel=1e-12)


def test_configs_saved_before_the_mean_metric_wrapper_still_load():
    # What get_config wrote for these classes before they used MeanMetricWrapper.
    head = tf.keras.layers.serialize(heads.GeometricHead())
    saved = {"wt_keras>MeanAbsoluteError": [
                 {"name": "mae", "dtype": "float32"},
                 {"name": "wt_mae", "dtype": "float32", "head": head, "context_keys": []}],
             "wt_keras>MeanConfidence": [{"name": "mean_confidence", "dtype": "float32"}]}
    for class_name, configs in saved.items():
        for config in configs:
            metric = tf.keras.metrics.deserialize({"class_name": class_name, "config": config})
            assert metric.get_config() == config
    metric.update_state(None, {"confidence": [0.25, 0.75]})
    assert float(metric.result()) == 0.5


@pytest.mark.parametrize("module", ["wt_keras.ops.units", "wt_keras.ops.intercept",
                                    "wt_keras.ops.exum", "wt_keras.ops.bucketing",
                                    "wt_keras.metrics.moments", "wt_keras.buckets.time_scale"])
def test_docstring_examples(module):
    import importlib
    result = doctest.testmod(importlib.import_module(module), extraglobs={"tf": tf, "np": np})
    assert result.failed == 0 and result.attempted > 0
