"""Each head, fitted alone on data from a known model, recovers its parameters.

Two segments with different true parameters; the head sees a one-hot segment
vector, so its Dense layer holds one free logit vector per segment and the
fit is the population optimum of the loss on the simulated data.
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from wt_keras import buckets, heads
from _samplers import simulate_bucketized_geometric

pytestmark = pytest.mark.slow   # hundreds of optimiser steps per head

SAMPLES_PER_SEGMENT = 20_000


def fit_segment_logits(head, watch_time, segment, steps=600, learning_rate=0.05, **context):
    hidden = tf.one_hot(segment, 2)
    watch_time = tf.constant(watch_time, tf.float32)
    context = {k: tf.constant(v, tf.float32) for k, v in context.items()}
    head.build(hidden.shape)
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(head.loss(watch_time, head(hidden), **context))
        optimizer.apply_gradients(zip(tape.gradient(loss, head.trainable_variables),
                                      head.trainable_variables))
    for _ in range(steps):
        step()
    return head(tf.eye(2)).numpy()                   # logits of segment 0 and 1


def two_segments(sampler, rng):
    samples = [sampler(0, rng), sampler(1, rng)]
    segment = np.repeat([0, 1], [len(s) for s in samples])
    return np.concatenate(samples), segment


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_bucketized_geometric_recovers_continuation_probabilities():
    boundaries = np.array([3.0, 8.0, 20.0])
    true_p = np.array([[0.9, 0.8, 0.95, 0.97], [0.7, 0.9, 0.85, 0.9]])
    rng = np.random.default_rng(0)
    watch_time, segment = two_segments(
        lambda s, r: simulate_bucketized_geometric(true_p[s], boundaries, SAMPLES_PER_SEGMENT, r), rng)
    logits = fit_segment_logits(heads.BucketizedGeometricHead(boundaries), watch_time, segment)
    np.testing.assert_allclose(sigmoid(logits), true_p, atol=0.015)


def test_geometric_recovers_probability():
    true_p = [0.9, 0.6]
    rng = np.random.default_rng(1)
    watch_time, segment = two_segments(
        lambda s, r: r.geometric(1 - true_p[s], SAMPLES_PER_SEGMENT) - 1.0, rng)
    logits = fit_segment_logits(heads.GeometricHead(), watch_time, segment, steps=800)
    np.testing.assert_allclose(sigmoid(logits[:, 0]), true_p, atol=0.01)


@pytest.mark.parametrize("weight_by_width", [False, True])
def test_binomial_recovers_soft_label_means_and_expectation(weight_by_width):
    """Optimum p_k = E[y_k / w_k]; the expectation Σ w_k p_k is E[T] (T ≤ t_K)."""
    boundaries = np.array([3.0, 8.0, 20.0])
    widths = np.diff(np.concatenate([[0.0], boundaries])).astype(int)
    true_p = np.array([[0.8, 0.5, 0.2], [0.4, 0.3, 0.6]])
    rng = np.random.default_rng(2)
    watch_time, segment = two_segments(
        lambda s, r: sum(r.binomial(w, p, SAMPLES_PER_SEGMENT) for w, p in zip(widths, true_p[s]))
        .astype(float), rng)
    head = heads.BinomialSoftLabelHead(boundaries, weight_by_width=weight_by_width)
    logits = fit_segment_logits(head, watch_time, segment)
    lower = np.concatenate([[0.0], boundaries[:-1]])
    for s in (0, 1):
        t = watch_time[segment == s, None]
        soft_label_mean = (np.clip(t - lower, 0, widths) / widths).mean(0)
        np.testing.assert_allclose(sigmoid(logits[s]), soft_label_mean, atol=0.01)
        expected = float(head.expected_value(logits[s:s + 1])[0])
        assert expected == pytest.approx(np.dot(widths, true_p[s]), rel=0.01)


def test_ordinal_recovers_survival_function():
    boundaries = np.array([2.0, 5.0, 10.0, 30.0])
    scales = [4.0, 15.0]
    rng = np.random.default_rng(3)
    watch_time, segment = two_segments(
        lambda s, r: r.exponential(scales[s], SAMPLES_PER_SEGMENT), rng)
    logits = fit_segment_logits(heads.OrdinalHead(boundaries), watch_time, segment)
    true_survival = np.array([stats.expon.sf(boundaries, scale=scale) for scale in scales])
    np.testing.assert_allclose(sigmoid(logits), true_survival, atol=0.015)


@pytest.mark.parametrize("with_clicks", [False, True])
def test_weighted_logistic_odds_recover_expected_watch_time(with_clicks):
    rng = np.random.default_rng(4)
    means = [5.0, 20.0]
    watch_time, segment = two_segments(lambda s, r: r.exponential(means[s], SAMPLES_PER_SEGMENT), rng)
    context = {}
    if with_clicks:
        clicked = rng.uniform(size=len(watch_time)) < np.where(segment == 0, 0.3, 0.6)
        context["clicked"] = clicked.astype(np.float32)
    logits = fit_segment_logits(heads.WeightedLogisticHead(), watch_time, segment, steps=1500,
                                **context)
    for s in (0, 1):
        in_segment = segment == s
        if with_clicks:   # odds = Σ T·clicked / Σ (1 − clicked)  (Covington et al.)
            c = context["clicked"][in_segment]
            odds = (watch_time[in_segment] * c).sum() / (1 - c).sum()
        else:             # odds = E[T] exactly (the geometric MLE)
            odds = watch_time[in_segment].mean()
        assert np.exp(logits[s, 0]) == pytest.approx(odds, rel=0.02)


def test_d2q_recovers_mean_quantile_label():
    rng = np.random.default_rng(5)
    duration = rng.uniform(5, 60, 2 * SAMPLES_PER_SEGMENT)
    segment = np.repeat([0, 1], SAMPLES_PER_SEGMENT)
    # Segment 1 watches a larger share of the video than segment 0.
    watch_time = duration * rng.beta(np.where(segment == 0, 1.0, 3.0), 2.0)
    tables = buckets.d2q_tables(watch_time, duration, num_groups=5)
    head = heads.D2QHead(tables.duration_edges, tables.quantile_table)
    logits = fit_segment_logits(head, watch_time, segment, duration=duration, learning_rate=0.02)
    labels = buckets.d2q_quantile_label(watch_time, duration, tables)
    for s in (0, 1):
        assert sigmoid(logits[s, 0]) == pytest.approx(labels[segment == s].mean(), abs=0.01)


def test_regression_recovers_mean():
    rng = np.random.default_rng(6)
    watch_time, segment = two_segments(lambda s, r: r.exponential([3.0, 9.0][s], SAMPLES_PER_SEGMENT), rng)
    logits = fit_segment_logits(heads.RegressionHead(), watch_time, segment, steps=1500,
                                learning_rate=0.1)
    for s in (0, 1):
        assert logits[s, 0] == pytest.approx(watch_time[segment == s].mean(), rel=0.01)
