"""EXUM's training-only confidence tower (Wu et al., arXiv 2504.07575)."""
import math

import tensorflow as tf

from wt_keras._keras import keras, register


@register
class ConfidenceTower(keras.layers.Layer):
    """A small MLP on the shared bottom giving a confidence c = σ(·) ∈ (0, 1).

    Pass `confidence_logit(hidden)` to a head's `loss(..., confidence_logit=l)`
    to train with EXUM (log c and log(1 − c) are then computed exactly with
    log-sigmoid, so c may saturate at 1 without losing its gradient);
    calling the tower gives c = σ(l) itself, which `loss(..., confidence=c)`
    also accepts.
    The tower is used for training only: the serving export leaves it (and
    its variables) out. `outputs > 1` gives one confidence per head output
    (e.g. per ordinal threshold); the default shares one c per sample.

    Args:
      units: hidden layer sizes of the MLP.
      outputs: number of confidences per sample (1, or the head's logit count).
      activation: hidden activation.
      stop_gradient_to_bottom: read the shared bottom without training it.
        Default False, as in the EXUM paper (the tower and the shared bottom
        train jointly). True keeps the −λ log c term and the fused loss's
        gradient through c out of the shared bottom, so only the tower's own
        weights learn c. On the simulator (benchmarks/results/exum_tower) it
        only mattered with a Keras-initialised tower (halving CREAD's XAUC
        loss, but SWaT-Geo's MAE got much worse) or a large λ (the joint
        tower then distorts the bottom); starting from c = 0.9999 the two
        were within noise of each other on SWaT-Geo.
      initial_confidence: c every sample starts with (the output layer starts
        with zero weights and bias logit(c)). Default 0.9999: EXUM starts as
        the head's own loss and c only drops where the fused loss gains more
        than λ·(−log c) costs. None keeps Keras' default initialisation
        (c ≈ 0.5, varying per sample), which on the simulator made every
        cross-entropy head worse: while c < 1 the fused optimum pulls outputs
        towards the majority label, and a short training does not bring c
        back up.

    Example:
    >>> tower = ConfidenceTower(units=(32,))
    >>> tower(tf.zeros([4, 16])).shape
    TensorShape([4, 1])
    >>> round(float(tower(tf.ones([1, 16]))[0, 0]), 4)    # initial_confidence
    0.9999
    >>> tower.confidence_logit(tf.zeros([4, 16])).shape
    TensorShape([4, 1])
    """

    def __init__(self, units=(32,), outputs=1, activation="relu", stop_gradient_to_bottom=False,
                 initial_confidence=0.9999, **kwargs):
        super().__init__(**kwargs)
        if outputs < 1 or any(u < 1 for u in units):
            raise ValueError(f"units and outputs must be positive, got units={units}, outputs={outputs}.")
        self.units = tuple(int(u) for u in units)
        self.outputs = int(outputs)
        self.activation = activation
        self.stop_gradient_to_bottom = bool(stop_gradient_to_bottom)
        if initial_confidence is not None and not 0.0 < initial_confidence < 1.0:
            raise ValueError(f"initial_confidence must be in (0, 1) or None, got {initial_confidence}.")
        self.initial_confidence = None if initial_confidence is None else float(initial_confidence)
        output_init = {}
        if self.initial_confidence is not None:
            c = self.initial_confidence
            output_init = {"kernel_initializer": "zeros",
                           "bias_initializer": keras.initializers.Constant(math.log(c / (1.0 - c)))}
        self.hidden_layers = [keras.layers.Dense(u, activation=activation, name=f"hidden_{i}")
                              for i, u in enumerate(self.units)]
        # float32 under mixed precision: −log c and log(1 − c) lose c near 0 and 1 in float16.
        self.confidence_layer = keras.layers.Dense(
            self.outputs, name="confidence",
            dtype="float64" if self.compute_dtype == "float64" else "float32", **output_init)

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        for layer in self.hidden_layers + [self.confidence_layer]:
            if not layer.built:
                with tf.name_scope(layer.name):   # distinct weight names: .h5 keys by them
                    layer.build(shape)
            shape = shape[:-1].concatenate([layer.units])
        super().build(input_shape)

    def confidence_logit(self, hidden):
        """The logit l of the confidence, c = σ(l), shape [B, outputs]."""
        if self.stop_gradient_to_bottom:
            hidden = tf.stop_gradient(hidden)
        for layer in self.hidden_layers:
            hidden = layer(hidden)
        return self.confidence_layer(hidden)

    def call(self, hidden):
        return tf.sigmoid(self.confidence_logit(hidden))

    def get_config(self):
        return {**super().get_config(), "units": list(self.units), "outputs": self.outputs,
                "activation": self.activation,
                "stop_gradient_to_bottom": self.stop_gradient_to_bottom,
                "initial_confidence": self.initial_confidence}
