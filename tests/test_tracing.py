"""`tracing.keras_internals_unconverted`: Keras internals are called as written, user code still converted."""
import numpy as np

from pipelines.watch_time import tracing

import tensorflow as tf  # noqa: E402  (after wt_keras: Keras 2)
from tensorflow.python.autograph.impl import conversion  # noqa: E402


def test_tf_keras_is_left_unconverted_only_inside_the_block():
    dense_call = tf.keras.layers.Dense.__call__
    assert tf.keras.layers.Dense.__module__.startswith("tf_keras")
    assert not conversion.is_allowlisted(dense_call)
    with tracing.keras_internals_unconverted():
        assert conversion.is_allowlisted(dense_call)
    assert not conversion.is_allowlisted(dense_call)


class _SignFlip(tf.keras.layers.Layer):
    """A user layer whose `call` needs AutoGraph: a Python `if` on a tensor."""

    def call(self, inputs):
        if tf.reduce_sum(inputs) > 0:
            return inputs
        return -inputs


def test_user_layers_with_tensor_control_flow_still_train_inside_the_block():
    with tracing.keras_internals_unconverted():
        inputs = tf.keras.Input([3])
        model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(_SignFlip()(inputs)))
        model.compile(optimizer="sgd", loss="mse")
        features = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
        history = model.fit(features, features.sum(axis=1), epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    flipped = _SignFlip()(tf.constant([[-1.0, -2.0, 0.5]]))
    np.testing.assert_allclose(flipped.numpy(), [[1.0, 2.0, -0.5]])
