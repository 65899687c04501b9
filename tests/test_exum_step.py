"""EXUM's fused cross-entropy on step targets (SWaT-Geo, SWaT-Binom) against independent references."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, ops


def _staircase(step, step_target, step_weight, below, above, num_outputs):
    """Targets and weights written out output by output (float64)."""
    batch = len(step)
    targets, weights = np.zeros((batch, num_outputs)), np.zeros((batch, num_outputs))
    for b in range(batch):
        for k in range(num_outputs):
            if k < step[b]:
                targets[b, k], weights[b, k] = 1.0, below[k]
            elif k == step[b]:
                targets[b, k], weights[b, k] = step_target[b], step_weight[b]
            elif above is not None:
                targets[b, k], weights[b, k] = 0.0, above[k]
    return targets, weights


def _case(seed, num_outputs=7, batch=40, with_above=True):
    rng = np.random.default_rng(seed)
    step = rng.integers(0, num_outputs, batch)
    step_target = rng.uniform(0, 1, batch)
    step_target[:3] = [0.0, 1.0, 0.5]
    step_weight = rng.uniform(0.5, 3.0, batch)
    below = rng.uniform(0.5, 4.0, num_outputs)
    above = rng.uniform(0.5, 2.0, num_outputs) if with_above else None
    logits = rng.normal(0, 2.5, (batch, num_outputs))
    confidence_logit = rng.normal(1.0, 1.5, (batch, 1))
    return step, step_target, step_weight, below, above, logits, confidence_logit


@pytest.mark.parametrize("with_above", [True, False])
def test_value_and_labelled_count_match_the_weighted_cross_entropy_written_out(with_above):
    step, y_j, w_j, below, above, z, l = _case(0, with_above=with_above)
    targets, weights = _staircase(step, y_j, w_j, below, above, z.shape[1])
    c = 1.0 / (1.0 + np.exp(-l))
    fused = c / (1.0 + np.exp(-z)) + (1.0 - c) * targets
    expected = -np.sum(weights * (targets * np.log(fused) + (1 - targets) * np.log1p(-fused)), -1)
    loss, labelled = ops.fused_step_cross_entropy(
        tf.constant(z, tf.float32), step, y_j, w_j, below, above,
        confidence_logit=tf.constant(l, tf.float32))
    np.testing.assert_allclose(loss.numpy(), expected, rtol=2e-6, atol=1e-5)
    np.testing.assert_array_equal(labelled.numpy(), np.sum(weights > 0, -1))


def test_gradients_match_autodiff_of_the_plain_formula_in_float64():
    step, y_j, w_j, below, above, z, l = _case(1)
    targets, weights = _staircase(step, y_j, w_j, below, above, z.shape[1])
    logits, logit_c = tf.constant(z), tf.constant(l)
    upstream = tf.constant(np.random.default_rng(2).uniform(0.5, 2.0, len(step)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([logits, logit_c])
        c = tf.sigmoid(logit_c)
        fused = c * tf.sigmoid(logits) + (1 - c) * targets          # naive, fine for |z| < 10
        plain = -tf.reduce_sum(weights * (targets * tf.math.log(fused)
                                          + (1 - targets) * tf.math.log(1 - fused)), -1)
        closed_form, _ = ops.fused_step_cross_entropy(logits, step, y_j, w_j, below, above,
                                                      confidence_logit=logit_c)
        plain, closed_form = (tf.reduce_sum(upstream * v) for v in (plain, closed_form))
    for want, got in zip(tape.gradient(plain, [logits, logit_c]),
                         tape.gradient(closed_form, [logits, logit_c])):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9, atol=1e-12)


def test_full_confidence_is_the_weighted_cross_entropy_with_logits_even_at_extreme_logits():
    step, y_j, w_j, below, above, z, _ = _case(3)
    z[:6, :] = np.array([120.0, -120.0, 95.0, -95.0, 40.0, -40.0])[:, None]
    targets, weights = _staircase(step, y_j, w_j, below, above, z.shape[1])
    # BCE with logits: softplus(z) − y z, in float64.
    expected = np.sum(weights * (np.logaddexp(0.0, z) - targets * z), -1)
    logits = tf.constant(z, tf.float32)
    full = tf.fill([len(step), 1], np.float32(np.inf))
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss, _ = ops.fused_step_cross_entropy(logits, step, y_j, w_j, below, above,
                                               confidence_logit=full)
    gradient = tape.gradient(loss, logits).numpy()
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6, atol=1e-5)
    # dBCE/dz = w (σ(z) − y): −w at z = −120 with y = 1, not 0 from an underflowed share.
    sigmoid = 0.5 * (1.0 + np.tanh(0.5 * z))
    np.testing.assert_allclose(gradient, weights * (sigmoid - targets), atol=1e-6)


def test_per_output_confidences_are_refused_with_the_alternative():
    step, y_j, w_j, below, above, z, _ = _case(4)
    with pytest.raises(ValueError, match="fused_binary_cross_entropy"):
        ops.fused_step_cross_entropy(tf.constant(z, tf.float32), step, y_j, w_j, below, above,
                                     confidence_logit=tf.zeros(z.shape))


BOUNDARIES = [1.0, 2.5, 4.0, 9.0]


@pytest.mark.parametrize("head", [
    heads.BucketizedGeometricHead(BOUNDARIES, time_scale=10),
    heads.BinomialSoftLabelHead(BOUNDARIES),
    heads.BinomialSoftLabelHead(BOUNDARIES, weight_by_width=True),
], ids=["swat_geo", "swat_binom", "swat_binom_by_width"])
@pytest.mark.parametrize("graph", [False, True], ids=["eager", "compiled"])
def test_swat_heads_exum_loss_equals_the_general_fusion_of_their_targets(head, graph):
    rng = np.random.default_rng(5)
    # Labels on endpoints, at 0 and beyond the last endpoint as well as inside buckets.
    watch_time = np.concatenate([rng.uniform(0, 12, 30), [0.0, 1.0, 2.5, 9.0, 12.0, 3.99]])
    watch_time = tf.constant(watch_time, tf.float32)
    logits = tf.constant(rng.normal(0, 3, (36, head.num_logits)), tf.float32)
    confidence_logit = tf.constant(rng.normal(1.5, 1.5, (36, 1)), tf.float32)
    weights_per_example = tf.constant(rng.uniform(0.5, 2.0, 36), tf.float32)

    def general(z, logit_c):
        targets, weights = head._confidence_targets(watch_time, z)
        labelled = None if weights is None else tf.cast(weights > 0, z.dtype)
        return (ops.fused_binary_cross_entropy(z, targets, weights=weights, confidence_logit=logit_c)
                + head.confidence_penalty * ops.confidence_penalty(
                    confidence_logit=logit_c, num_outputs=head.num_logits, labelled=labelled))

    def head_loss(z, logit_c):
        return head.loss(watch_time, z, confidence_logit=logit_c)

    def value_and_gradients(loss_fn, z, logit_c):
        with tf.GradientTape() as tape:
            tape.watch([z, logit_c])
            loss = loss_fn(z, logit_c)
            weighted = tf.reduce_sum(weights_per_example * loss)
        return loss, tape.gradient(weighted, [z, logit_c])

    run = tf.function(value_and_gradients, autograph=False) if graph else value_and_gradients
    want_loss, want_gradients = run(general, logits, confidence_logit)
    got_loss, got_gradients = run(head_loss, logits, confidence_logit)
    np.testing.assert_allclose(got_loss.numpy(), want_loss.numpy(), rtol=2e-6)
    for got, want in zip(got_gradients, want_gradients):
        scale = np.max(np.abs(want.numpy()))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-6 * scale)
