"""EXUM confidence fusion (Wu et al., arXiv 2504.07575), SPEC §4.

A confidence c ∈ (0, 1) mixes the head's probability-space output p with its
target y: p′ = c·p + (1 − c)·y, and the head's loss is taken on p′. The
gradient reaching p is scaled by c (squared error: c²), so uncertain samples
are down-weighted; the penalty λ·(−log c) stops c from collapsing to 0.
"""
import tensorflow as tf

# float32 sigmoid saturates: keep log c and log(1 − c) finite.
CONFIDENCE_EPSILON = 1e-7


def _log_confidences(confidence):
    c = tf.clip_by_value(confidence, CONFIDENCE_EPSILON, 1.0 - CONFIDENCE_EPSILON)
    return tf.math.log(c), tf.math.log1p(-c)


def _log_add_exp(a, b):
    # log(e^a + e^b) where b may be −inf (a target of exactly 0 or 1).
    return tf.maximum(a, b) + tf.math.log1p(tf.exp(-tf.abs(a - b)))


def _safe_log(x):
    positive = x > 0
    return tf.where(positive, tf.math.log(tf.where(positive, x, 1.0)),
                    tf.constant(-float("inf"), x.dtype))


def fused_binary_cross_entropy(logits, targets, confidence, weights=None):
    """Σ_k weight_k · BCE(y_k, p′_k) with p′ = c σ(z) + (1 − c) y, shape [B].

    log p′ and log(1 − p′) are evaluated as log-sum-exps of log c + log σ(±z)
    and log(1 − c) + log(y or 1 − y), so no probability is ever logged. With
    c = 1 this is the plain binary cross-entropy with logits.

    Args:
      logits: [B, K] head logits z.
      targets: [B, K] targets y ∈ [0, 1] (constants: gradients are stopped).
      confidence: [B, 1] (shared) or [B, K] (per output) confidence c.
      weights: optional [B, K] weight per output.
    """
    targets = tf.stop_gradient(tf.cast(targets, logits.dtype))
    log_c, log_not_c = _log_confidences(tf.cast(confidence, logits.dtype))
    log_p = _log_add_exp(log_c + tf.math.log_sigmoid(logits),
                         log_not_c + _safe_log(targets))
    log_not_p = _log_add_exp(log_c + tf.math.log_sigmoid(-logits),
                             log_not_c + _safe_log(1.0 - targets))
    per_output = -(targets * log_p + (1.0 - targets) * log_not_p)
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


def confidence_penalty(confidence):
    """Σ_outputs −log c, shape [B]; the heads multiply it by λ."""
    log_c, _ = _log_confidences(confidence)
    return -tf.reduce_sum(log_c, axis=-1)
