"""Vanilla geometric model (SWaT Assumption 3) and weighted logistic regression.

Geometric: P(Y = y) = p^y (1 − p), p = σ(z), E[Y] = p / (1 − p) = e^z.
WLR (Covington et al., RecSys 2016): logistic regression where positives
weigh T and negatives 1; serving e^z. Without a click flag (auto-play feeds)
every impression counts as one positive of weight T and one negative of
weight 1, which is exactly the geometric negative log-likelihood.
"""
import tensorflow as tf


def geometric_nll(watch_time, logits):
    """−log P(Y = y) = −[y log σ(z) + log σ(−z)], shapes [B] -> [B]."""
    # softplus(z) = softplus(−z) + z: one softplus instead of two.
    return (watch_time + 1.0) * tf.nn.softplus(-logits) + logits


def geometric_expected_watch_time(logits, max_logit=20.0):
    """E[Y] = e^z with z clamped at `max_logit` (p → 1 makes E unbounded)."""
    return tf.exp(tf.minimum(logits, max_logit))


def weighted_logistic_loss(watch_time, logits, clicked=None):
    """WLR loss: clicked → (label 1, weight T); unclicked → (label 0, weight 1).

    Args:
      watch_time: [B] seconds.
      logits: [B] logits z.
      clicked: optional [B] click/impression flag in {0, 1}. When None, each
        impression is both a positive of weight T and a negative of weight 1.

    Returns:
      [B] per-example loss.
    """
    positive = watch_time * tf.nn.softplus(-logits)
    negative = tf.nn.softplus(logits)
    if clicked is None:
        return positive + negative
    clicked = tf.cast(clicked, logits.dtype)
    return clicked * positive + (1.0 - clicked) * negative
