"""EXUM confidence fusion (Wu et al., arXiv 2504.07575), SPEC §4.

A confidence c ∈ (0, 1) mixes the head's probability-space output p with its
target y: p′ = c·p + (1 − c)·y, and the head's loss is taken on p′. The
gradient reaching p is scaled by c (squared error: c²), so uncertain samples
are down-weighted; the penalty λ·(−log c) stops c from collapsing to 0.
"""
import tensorflow as tf

# float32 sigmoid saturates: keep log c and log(1 − c) finite.
CONFIDENCE_EPSILON = 1e-7


# Smallest normal numbers: the floor of p′ and 1 − p′ before their logs.
_TINY = {tf.float16: 6.1e-5, tf.bfloat16: 1.2e-38, tf.float32: 1.2e-38, tf.float64: 2.3e-308}


def _clip_confidence(confidence, dtype):
    return tf.clip_by_value(tf.cast(confidence, dtype), CONFIDENCE_EPSILON,
                            1.0 - CONFIDENCE_EPSILON)


def fused_binary_cross_entropy(logits, targets, confidence, weights=None):
    """Σ_k weight_k · BCE(y_k, p′_k) with p′ = c σ(z) + (1 − c) y, shape [B].

    p′ and 1 − p′ = c σ(−z) + (1 − c)(1 − y) are both sums of non-negative
    terms, so neither suffers cancellation when p → 0 or 1; each is floored at
    the smallest normal float before the log, which only matters where the
    term's weight (y or 1 − y) is 0. With c = 1 this is the plain binary
    cross-entropy with logits.

    Args:
      logits: [B, K] head logits z.
      targets: [B, K] targets y ∈ [0, 1] (constants: gradients are stopped).
      confidence: [B, 1] (shared) or [B, K] (per output) confidence c.
      weights: optional [B, K] weight per output.
    """
    targets = tf.stop_gradient(tf.cast(targets, logits.dtype))
    c = _clip_confidence(confidence, logits.dtype)
    complement, doubt = 1.0 - targets, 1.0 - c
    fused = c * tf.sigmoid(logits) + doubt * targets
    fused_complement = c * tf.sigmoid(-logits) + doubt * complement
    tiny = tf.constant(_TINY[logits.dtype], logits.dtype)
    per_output = -(targets * tf.math.log(tf.maximum(fused, tiny))
                   + complement * tf.math.log(tf.maximum(fused_complement, tiny)))
    if weights is not None:
        per_output = per_output * tf.cast(weights, logits.dtype)
    return tf.reduce_sum(per_output, axis=-1)


def fused_squared_error(predictions, targets, confidence, scale=1.0):
    """½ (scale · (p′ − y))² = ½ scale² c² (p − y)², summed over outputs, [B].

    The per-sample optimum of ½ s² c² e² − λ log c is c* = min(1, √λ / (s·e)),
    so λ only bites when errors on the `scale` are larger than √λ.
    """
    targets = tf.stop_gradient(tf.cast(targets, predictions.dtype))
    fused = confidence * predictions + (1.0 - confidence) * targets
    return tf.reduce_sum(0.5 * tf.square(scale * (fused - targets)), axis=-1)


def confidence_penalty(confidence, num_outputs=None):
    """Σ_outputs −log c, shape [B]; the heads multiply it by λ.

    A shared confidence [B, 1] gating `num_outputs` outputs pays −log c once
    per output, the per-output formulation with all c_m equal, so λ keeps its
    meaning whatever the number of buckets. Per-output confidences [B, K]
    are summed as they are.
    """
    confidence = tf.convert_to_tensor(confidence)
    penalty = -tf.reduce_sum(tf.math.log(_clip_confidence(confidence, confidence.dtype)), axis=-1)
    if num_outputs is not None and confidence.shape[-1] == 1:
        penalty = penalty * tf.cast(num_outputs, penalty.dtype)
    return penalty
