"""Starting bias of a head's outputs: the intercept-only estimate.

A head trained from z = 0 spends its first steps learning the population
average. Starting each output's bias at the optimum of a model without
features converges in far fewer steps. For an output trained by (weighted)
binary cross-entropy towards targets y_i with weights v_i, and for a sigmoid
output trained by squared error (D2Q), that optimum is the log-odds of the
weighted mean target:

    r = Σ_i v_i y_i / Σ_i v_i,   z₀ = log r − log(1 − r)

The rate r is clipped to [1e-4, 1 − 1e-4] so that an output whose targets
are all 0 or all 1 starts at a finite logit (|z₀| ≤ 9.21).
"""
import tensorflow as tf

MIN_RATE = 1e-4


def intercept_logits(targets, weights=None):
    """z₀ = logit(Σ_i v_i y_i / Σ_i v_i) per output, the rate clipped to [1e-4, 1 − 1e-4].

    Args:
      targets: [B, K] targets y in [0, 1] (one column per output).
      weights: optional [B, K] weights v >= 0 (None: all 1). An output whose
        weights are all 0 gets rate 0, hence logit(1e-4).

    Returns:
      [K] starting logits, in the targets' dtype.

    Example:
    >>> y = tf.constant([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    >>> [round(float(z), 4) for z in intercept_logits(y)]    # logit(3/4), logit(1/4)
    [1.0986, -1.0986]
    >>> v = tf.constant([[3.0, 1.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    >>> [round(float(z), 4) for z in intercept_logits(y, v)]  # logit(3/4), logit(1/4)
    [1.0986, -1.0986]
    """
    targets = tf.convert_to_tensor(targets)
    weights = tf.ones_like(targets) if weights is None else tf.cast(weights, targets.dtype)
    rate = tf.reduce_sum(weights * targets, 0) / tf.maximum(tf.reduce_sum(weights, 0), 1e-12)
    rate = tf.clip_by_value(rate, MIN_RATE, 1.0 - MIN_RATE)
    return tf.math.log(rate) - tf.math.log1p(-rate)
