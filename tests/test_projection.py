"""`ops.dense_logits` and the heads' projection: Dense's value, Dense's gradients."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, ops


def _inputs(dtype, rows=7, width=5, outputs=11, seed=0):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.normal(size=(rows, width)), dtype),
            tf.constant(rng.normal(size=(width, outputs)), dtype),
            tf.constant(rng.normal(size=outputs), dtype),
            tf.constant(rng.normal(size=(rows, outputs)), dtype))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_value_and_gradients_match_the_matmul_and_bias_add_they_replace(dtype):
    hidden, kernel, bias, weights = _inputs(dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([hidden, kernel, bias])
        ours = tf.reduce_sum(weights * ops.dense_logits(hidden, kernel, bias))
        reference = tf.reduce_sum(weights * tf.nn.bias_add(tf.matmul(hidden, kernel), bias))
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-6)
    for ours_grad, reference_grad in zip(tape.gradient(ours, [hidden, kernel, bias]),
                                         tape.gradient(reference, [hidden, kernel, bias])):
        np.testing.assert_allclose(ours_grad.numpy(), reference_grad.numpy(), rtol=1e-5, atol=1e-6)
    # Closed forms, in numpy: ∂/∂bias = Σ_b w_b, ∂/∂kernel = hᵀ w, ∂/∂hidden = w kernelᵀ.
    grads = tape.gradient(ours, [hidden, kernel, bias])
    h, k, w = hidden.numpy(), kernel.numpy(), weights.numpy()
    np.testing.assert_allclose(grads[2].numpy(), w.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(grads[1].numpy(), h.T @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[0].numpy(), w @ k.T, rtol=1e-5, atol=1e-6)


def test_second_order_gradient_is_the_one_of_the_plain_ops():
    hidden, kernel, bias, _ = _inputs(tf.float64)
    def hessian_of_kernel(fn):
        with tf.GradientTape() as outer:
            outer.watch(kernel)
            with tf.GradientTape() as inner:
                inner.watch([hidden, kernel])
                value = tf.reduce_sum(tf.square(fn(hidden, kernel, bias)))
            total = tf.reduce_sum(inner.gradient(value, hidden))
        return outer.gradient(total, kernel)
    expected = hessian_of_kernel(lambda h, k, b: tf.matmul(h, k) + b)
    assert expected is not None
    np.testing.assert_allclose(
        hessian_of_kernel(ops.dense_logits).numpy(),
        expected.numpy(), rtol=1e-10)


def test_head_projection_equals_its_dense_layer_in_value_and_gradient():
    head = heads.OrdinalHead(boundaries=[5.0, 10.0, 20.0, 40.0, 80.0, 160.0])
    hidden = tf.constant(np.random.default_rng(1).normal(size=(4, 3)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(hidden)
        ours = tf.reduce_sum(tf.sin(head(hidden)))
        reference = tf.reduce_sum(tf.sin(head.projection(hidden)))   # Keras' Dense path
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-6)
    for a, b in zip(tape.gradient(ours, [hidden] + head.trainable_variables),
                    tape.gradient(reference, [hidden] + head.trainable_variables)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_head_takes_float16_inputs_as_dense_does():
    head = heads.OrdinalHead(boundaries=[5.0, 10.0, 20.0, 40.0, 80.0, 160.0])
    hidden = np.random.default_rng(2).normal(size=(4, 3))
    reference = head(tf.constant(hidden, tf.float32)).numpy()
    from_half = head(tf.constant(hidden, tf.float16))
    assert from_half.dtype == tf.float32
    np.testing.assert_allclose(from_half.numpy(), reference, atol=5e-3)


def test_head_fed_a_hidden_vector_of_another_width_says_so():
    # Keras' own input check of the projection, with the width it was built for.
    head = heads.OrdinalHead(boundaries=[5.0, 10.0, 20.0, 40.0, 80.0, 160.0])
    head(tf.zeros([2, 3]))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        head(tf.zeros([2, 5]))


def test_a_row_scaled_upstream_gives_the_gradients_of_its_product():
    """In a graph, `dense_logits` folds u of u · G into its [B, H] side: same gradients."""
    hidden, kernel, bias, matrix = _inputs(tf.float64)
    scale = tf.constant(np.linspace(-1.0, 3.0, 7)[:, None])

    products = []

    @tf.custom_gradient
    def loss_with_gradient(logits):      # d/dlogits of Σ_b L_b is `matrix`
        def backward(upstream):
            products.append(ops.row_scaled(tf.expand_dims(upstream, -1), matrix) if folded
                            else tf.expand_dims(upstream, -1) * matrix)
            return products[-1]
        return tf.reduce_sum(logits * matrix, -1), backward

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            tape.watch([hidden, kernel, bias])
            value = tf.reduce_sum(tf.squeeze(scale, -1)
                                  * loss_with_gradient(ops.dense_logits(hidden, kernel, bias)))
        return tape.gradient(value, [hidden, kernel, bias])

    folded = True
    ours = gradients()
    folded = False
    plain = tf.function(gradients.python_function)()
    assert not products[0].consumers()          # the [B, K] product is left unread
    assert products[1].consumers()
    upstream = scale.numpy() * matrix.numpy()                   # numpy: u · G
    expected = [upstream @ kernel.numpy().T, hidden.numpy().T @ upstream, upstream.sum(0)]
    for got, reference, want in zip(ours, plain, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(reference.numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["swat_geo", "cread", "swat_binom"])
def test_head_weights_get_the_same_gradient_with_its_loss_compiled_or_not(name):
    """Projection and compiled loss in one graph (the fold), with per-example weights."""
    from wt_keras.heads import _compiled
    from _head_cases import make_heads

    head = make_heads()[name]
    rng = np.random.default_rng(3)
    hidden = tf.constant(rng.normal(size=(6, 4)), tf.float32)
    head(hidden)
    watch_time = tf.constant(rng.uniform(0.0, 40.0, 6), tf.float32)
    weights = tf.constant(rng.uniform(0.0, 2.0, 6), tf.float32)

    def gradients(compiled):
        enabled, _compiled.ENABLED = _compiled.ENABLED, compiled
        try:
            @tf.function
            def run():
                with tf.GradientTape() as tape:
                    tape.watch(hidden)
                    loss = head.loss(watch_time, head(hidden))
                    total = tf.reduce_sum(weights * loss)
                return tape.gradient(total, [hidden] + head.trainable_variables)
            return [g.numpy() for g in run()]
        finally:
            _compiled.ENABLED = enabled

    for got, want in zip(gradients(True), gradients(False)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
