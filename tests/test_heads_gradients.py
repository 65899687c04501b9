"""Loss gradients against finite differences, and numerical stability."""
import numpy as np
import pytest
import tensorflow as tf

from _head_cases import HEAD_NAMES, make_heads

WATCH_TIME = np.array([0.0, 2.5, 7.0, 8.0, 19.0, 33.0, 120.0])
DURATION = np.array([5.0, 30.0, 12.0, 60.0, 80.0, 20.0, 50.0])


def _loss_fn(head, confidence=None):
    watch_time = tf.constant(WATCH_TIME)
    duration = tf.constant(DURATION)

    def loss(logits):
        return tf.reduce_sum(head.loss(watch_time, logits, confidence=confidence,
                                       duration=duration))
    return loss


@pytest.mark.parametrize("name", HEAD_NAMES)
@pytest.mark.parametrize("exum", [False, True])
def test_loss_gradient_matches_finite_differences(name, exum):
    head = make_heads()[name]
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(0.0, 1.5, (len(WATCH_TIME), head.num_logits)))
    if name == "regression":
        logits = logits * 10.0
    confidence = tf.constant(rng.uniform(0.2, 0.9, (len(WATCH_TIME), 1))) if exum else None
    theoretical, numerical = tf.test.compute_gradient(_loss_fn(head, confidence), [logits])
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_confidence_gradient_matches_finite_differences(name):
    head = make_heads()[name]
    rng = np.random.default_rng(1)
    logits = tf.constant(rng.normal(0.0, 1.5, (len(WATCH_TIME), head.num_logits)))
    duration = tf.constant(DURATION)

    def loss(confidence):
        return tf.reduce_sum(head.loss(tf.constant(WATCH_TIME), logits,
                                       confidence=confidence, duration=duration))
    confidence = tf.constant(rng.uniform(0.2, 0.9, (len(WATCH_TIME), 1)))
    theoretical, numerical = tf.test.compute_gradient(loss, [confidence])
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", HEAD_NAMES)
@pytest.mark.parametrize("logit_value", [-1e4, 1e4, 0.0])
def test_extreme_logits_and_labels_stay_finite(name, logit_value):
    head = make_heads()[name]
    watch_time = tf.constant([0.0, 1e-3, 3.0, 1e5, 1e7], tf.float32)   # T = 0 and far past t_K
    duration = tf.constant([1.0, 10.0, 30.0, 100.0, 1e4], tf.float32)
    rng = np.random.default_rng(2)
    for logits_np in (np.full((5, head.num_logits), logit_value),
                      rng.choice([-1e4, 1e4], size=(5, head.num_logits))):
        logits = tf.Variable(logits_np.astype(np.float32))
        for confidence in (None, tf.constant([[1e-9], [0.5], [1.0], [0.9], [0.1]])):
            with tf.GradientTape() as tape:
                loss = head.loss(watch_time, logits, confidence=confidence, duration=duration)
            gradient = tape.gradient(loss, logits)
            assert np.all(np.isfinite(loss.numpy())), (name, loss.numpy())
            assert np.all(np.isfinite(gradient.numpy())), (name, gradient.numpy())
        expected = head.expected_value(logits, duration=duration).numpy()
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0 if name != "regression" else True)


@pytest.mark.parametrize("head_name", ["swat_geo", "swat_binom", "ordinal"])
def test_widths_up_to_1e5_stay_finite(head_name):
    from wt_keras import heads
    boundaries = [1.0, 10.0, 1e3, 1e5]
    head = {"swat_geo": heads.BucketizedGeometricHead, "swat_binom": heads.BinomialSoftLabelHead,
            "ordinal": heads.CreadHead}[head_name](boundaries)
    for value in (-1e4, -30.0, 0.0, 9.0, 30.0, 1e4):
        logits = tf.Variable(tf.fill([3, head.num_logits], value))
        watch_time = tf.constant([0.0, 5e4, 1e8])
        with tf.GradientTape() as tape:
            loss = head.loss(watch_time, logits)
        assert np.all(np.isfinite(loss.numpy()))
        assert np.all(np.isfinite(tape.gradient(loss, logits).numpy()))
        assert np.all(np.isfinite(head.expected_value(logits).numpy()))


def test_swat_geo_expectation_clamp_is_documented_bound():
    """p_{K+1} → 1 makes E unbounded; the tail logit is clamped at max_tail_logit."""
    from wt_keras import heads
    head = heads.BucketizedGeometricHead([3.0, 8.0], max_tail_logit=5.0)
    logits = tf.constant([[1e4, 1e4, 1e4]])          # p = 1 everywhere
    # Reach probability 1, finite buckets full (3 + 5), tail mean clamped at e^5.
    assert float(head.expected_value(logits)[0]) == pytest.approx(8.0 + np.exp(5.0), rel=1e-5)


def test_swat_geo_expectation_near_one_uses_series_limit():
    from wt_keras import heads
    head = heads.BucketizedGeometricHead([50.0])
    z = 14.0                                          # p = 1 − 8.3e-7: closed form loses precision
    p = 1.0 / (1.0 + np.exp(-z))
    finite_bucket = sum(p ** j for j in range(1, 51))
    tail = p ** 50 * np.exp(-30.0)                    # R_2 · p_2 / (1 − p_2)
    value = float(head.expected_value(tf.constant([[z, -30.0]], tf.float64))[0])
    assert value == pytest.approx(finite_bucket + tail, rel=1e-9)
