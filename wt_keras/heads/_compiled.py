"""A head's per-example loss and its gradient as one XLA computation.

A bucket head's loss is [B, K] element-wise work: label coverage, one or two
logistic terms per bucket, under EXUM the fusion of model and label, and
the backward pass of each. Run op by op, every step of that reads and writes
a [B, K] tensor; at K in the hundreds this costs as much as the rest of a
ranker's train step. XLA fuses the chain into a few loops over the logits.
A train step's logged mean E[T | x] comes out of the same computation
(`side_outputs`), sharing the loss's exponentials and logarithms.

TensorFlow's autodiff would differentiate the compiled function op by op
again (only the forward is compiled), so the gradient is taken inside the
compiled function and handed to the backward pass, which only scales it by
the upstream gradient. That is exact because example b's loss depends on
row b of the logits (and of the confidence logit) alone: the gradient of
Σ_b L_b with respect to row b is the gradient of L_b. The heads' projection
takes that scale on its [B, H] side (`ops.row_scaled`), so the scaled
[B, K] gradient is never formed.

Used only while building a graph (`tf.function`, Keras `fit`); eager calls
run the loss op by op, where a compile per call would cost more than it saves.
`call`, and so the served model, never compiles (TF Serving runs XLA
functions only with its XLA flag on).
Hand-written glue: no TensorFlow or Keras API compiles a custom loss apart
from the whole train step, which XLA cannot compile with string features.
"""
import os

import tensorflow as tf

from wt_keras import ops

# WT_KERAS_COMPILE_LOSS=0 runs every head's loss op by op (for a TensorFlow
# build without XLA, or to compare the two).
ENABLED = os.environ.get("WT_KERAS_COMPILE_LOSS", "1").strip().lower() not in ("0", "false", "no")


def compiles_loss(head):
    """Whether `head.loss` runs as one XLA computation here.

    In graph mode, for heads with more than one output (a one-output loss has
    nothing to fuse: the regression baseline, D2Q, geometric, WLR), unless
    the head's `compile_loss` or WT_KERAS_COMPILE_LOSS=0 turns it off.
    """
    return ENABLED and head.compile_loss and head.num_logits > 1 and not tf.executing_eagerly()


def per_example_loss(loss_fn, logits, confidence_logit=None, side_outputs=None):
    """`loss_fn(logits, confidence_logit)` → [B], compiled with its gradient.

    Args:
      loss_fn: the per-example loss, [B]; example b may depend only on row b
        of `logits` and of `confidence_logit`. Labels and context are
        captured by the closure (no gradient flows to them).
      logits: [B, K].
      confidence_logit: optional [B, 1] or [B, K].
      side_outputs: optional `fn(logits)` → tuple of tensors computed in the
        same XLA computation without gradient, e.g. the terms of E[T | x] for
        the training logs, which share their e^{−|z|} and logarithms with the
        loss.

    Returns:
      [B] loss whose gradient is the compiled one; with `side_outputs`,
      (loss, tuple of side outputs).
    """
    inputs = [logits] if confidence_logit is None else [logits, confidence_logit]

    def value_and_gradients(*inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            value = loss_fn(*inputs) if len(inputs) > 1 else loss_fn(inputs[0], None)
        # The gradient of a [B] target is that of its sum.
        gradients = tape.gradient(value, inputs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        extra = () if side_outputs is None else tuple(side_outputs(inputs[0]))
        return value, gradients, extra

    compiled = tf.function(value_and_gradients, jit_compile=True, autograph=False)
    # On stopped inputs: an outer tape must not record the compiled call (it
    # would keep its intermediates for a backward pass that the custom
    # gradient below replaces).
    value, gradients, extra = compiled(*[tf.stop_gradient(tensor) for tensor in inputs])

    @tf.custom_gradient
    def loss(*inputs):
        def backward(upstream):
            # u_b · G_b, each factor kept: the heads' projection folds u into its
            # [B, H] side (`ops.row_scaled`) and never forms the [B, K] product.
            upstream = tf.expand_dims(upstream, -1)
            return [ops.row_scaled(upstream, gradient) for gradient in gradients]
        return tf.identity(value), backward

    return loss(*inputs) if side_outputs is None else (loss(*inputs), extra)
