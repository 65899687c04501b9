"""SWaT watch-time models (Yang et al., KDD 2025, arXiv 2408.07759, Sections 3.2–3.3).

SWaT-Binom (Assumption 1, wandering user): within bucket k each of the w_k
seconds is watched independently with probability p_k = σ(z_k).
SWaT-Geo (Assumption 2, focused user): watching is sequential; after each
second of bucket k the user continues with probability p_k; the last bucket
[t_K, ∞) is open.
"""
import numpy as np
import tensorflow as tf

from wt_keras.ops.bucketing import bucket_coverage, bucket_exit, bucket_soft_labels
from wt_keras.ops.cross_entropy import (negative_log_sigmoid, sigmoid_cross_entropy_sum,
                                        sigmoid_from_small)
from wt_keras.ops.scan import exclusive_cumsum

# Finite-bucket logits are clamped here in the expectation (see there).
MAX_FINITE_LOGIT = 40.0


def binomial_soft_label_loss(watch_time, logits, lower, upper,
                             weight_by_width=False):
    """SWaT-Binom loss Σ_k BCE(ŷ_k, p_k) with soft labels ŷ_k = y_k / w_k.

    y_k = clip(T − t_{k−1}, 0, w_k) is the coverage of bucket k (the paper's
    Eq. 2 label under its "boredom" assumption). With `weight_by_width` each
    term is multiplied by w_k, which is the exact binomial negative
    log-likelihood −Σ_k [y_k log p_k + (w_k − y_k) log(1 − p_k)] up to a
    constant; unweighted (the default) matches the paper's Eq. 1/11 weights.

    Args:
      watch_time: [B] seconds (values above t_K are truncated to t_K).
      logits: [B, K] bucket logits z_k.
      lower, upper: [K] finite bucket edges.
      weight_by_width: multiply bucket k's term by w_k.

    Returns:
      [B] per-example loss.
    """
    soft_labels = bucket_soft_labels(watch_time, lower, upper)
    widths = tf.cast(upper, logits.dtype) - tf.cast(lower, logits.dtype)
    return sigmoid_cross_entropy_sum(soft_labels, logits, widths if weight_by_width else None)


def binomial_expected_watch_time(logits, widths):
    """SWaT-Binom expectation E[T | x] = Σ_k w_k σ(z_k), shape [B]."""
    widths = tf.cast(widths, logits.dtype)
    return tf.reduce_sum(widths * tf.sigmoid(logits), axis=-1)


def bucketized_geometric_nll(watch_time, logits, lower, upper):
    """SWaT-Geo negative log-likelihood −Σ_k [y_k log p_k + n_k log(1 − p_k)].

    P(Y = y) = R_m p_m^{y − t_{m−1}} (1 − p_m) for y in bucket m, with
    R_m = Π_{i<m} p_i^{w_i}. Buckets after the exit bucket contribute
    nothing (y_k = n_k = 0), the open last bucket has y_{K+1} = max(Y − t_K, 0).

    Args:
      watch_time: [B] integer-valued units Y (already scaled by α).
      logits: [B, K+1] bucket logits, the last one for [t_K, ∞).
      lower, upper: [K+1] edges, upper[-1] = +inf.

    Returns:
      [B] per-example loss.
    """
    stays = tf.stop_gradient(bucket_coverage(watch_time, lower, upper))
    exits = tf.stop_gradient(bucket_exit(watch_time, lower, upper))
    trials = stays + exits

    @tf.custom_gradient
    def nll(z):
        # y·softplus(−z) + n·softplus(z) with softplus(z) = softplus(−z) + z: one softplus,
        # whose e^{−|z|} also gives σ(z) below.
        small, neg_log_p = negative_log_sigmoid(z)
        loss = tf.reduce_sum(trials * neg_log_p + exits * z, axis=-1)

        def gradient(upstream):
            # d/dz = −(y + n)·σ(−z) + n = (y + n)·σ(z) − y: no autodiff through the
            # softplus (a [B, K + 1] pass fewer per step), no second exponential.
            stay = sigmoid_from_small(z, small)
            return tf.expand_dims(upstream, -1) * (trials * stay - stays)
        return loss, gradient

    return nll(logits)


def geometric_partial_sum(logits, widths, neg_log_p=None):
    """Σ_{j=1}^{w} p^j = p (1 − p^w) / (1 − p) for finite buckets, [..., K].

    The finite buckets' terms of Eq. 6 (`bucketized_geometric_terms`), on the
    hazards −log p of `bucketized_geometric_unit_hazard` with every logit
    clamped at 40 (1 − p < 4.3e-18 there): e^{min(z, 40)} · (−expm1(w log p)),
    exact near p = 1 and in [0, w] for every z.

    Args:
      logits: [..., K] logits z.
      widths: [K] widths w.
      neg_log_p: optional −log σ(z), when the caller has it already.

    Example:
    >>> logits = tf.math.log(tf.constant([[1.0, 4.0]], tf.float64))   # p = 1/2, 4/5
    >>> geometric_partial_sum(logits, [2.0, 1.0]).numpy().round(4).tolist()  # ½ + ¼; ⅘
    [[0.75, 0.8]]
    """
    logits = tf.convert_to_tensor(logits)
    hazard = bucketized_geometric_unit_hazard(logits, MAX_FINITE_LOGIT, neg_log_p)
    log_stay = -tf.cast(widths, logits.dtype) * hazard
    return _geometric_bucket_terms(logits, log_stay, MAX_FINITE_LOGIT)


def bucketized_geometric_expected_watch_time(logits, widths,
                                             max_tail_logit=20.0):
    """SWaT-Geo closed-form expectation (the paper's Eq. 6), shape [B].

    E = Σ_{m≤K} R_m p_m (1 − p_m^{w_m}) / (1 − p_m) + R_{K+1} p_{K+1}/(1 − p_{K+1})
    with log R = exclusive cumsum of w_m log σ(z_m). The open bucket's mean
    p/(1 − p) = e^z is unbounded as p → 1: its logit is clamped at
    `max_tail_logit` (default 20, i.e. at most e^20 ≈ 4.9e8 units past t_K),
    which keeps E finite for any logits.

    Args:
      logits: [B, K+1] bucket logits.
      widths: [K] finite bucket widths (in the same units as the result).
      max_tail_logit: clamp of the open bucket's logit.

    Returns:
      [B] expected watch time in the units of `widths`.
    """
    _, log_stay, log_reach = bucketized_geometric_reach(logits, widths, max_tail_logit)
    return bucketized_geometric_expectation_from_terms(
        log_reach, bucketized_geometric_terms(logits, log_stay, max_tail_logit))


def bucketized_geometric_terms(logits, log_stay, max_tail_logit=20.0, small=None):
    """Bucket m's term of Eq. 6 before its reach R_m, [B, K+1].

    p_m (1 − p_m^{w_m}) / (1 − p_m) = e^{z_m} (1 − p_m^{w_m}), computed as
    e^{min(z_m, 40)} · (−expm1(w_m log p_m)): exact near p = 1 (expm1), and at
    most e^40 ≈ 2.4e17, so R_m times it cannot overflow (R_m ≤ 1). The open
    bucket (w log p = 0) has the factor 1: its term is e^{min(z_{K+1}, max_tail_logit)}.

    Args:
      logits: [B, K+1] bucket logits.
      log_stay: [B, K+1] w_m log p_m (0 for the open bucket).
      max_tail_logit: clamp of the open bucket's logit.
      small: optional e^{−|z|} from `negative_log_sigmoid`, when the caller has
        it: e^z is then e^{−|z|} or its reciprocal, one exponential fewer per
        bucket. Values only (no gradient flows through the reciprocal's select).
    """
    num_buckets = logits.shape[-1]
    caps = np.append(np.full(num_buckets - 1, MAX_FINITE_LOGIT), max_tail_logit)
    return _geometric_bucket_terms(logits, log_stay, caps,
                                   open_bucket=np.eye(1, num_buckets, num_buckets - 1)[0],
                                   small=small)


def _geometric_bucket_terms(logits, log_stay, caps, open_bucket=None, small=None):
    """e^{min(z, cap)} · (1[open] − expm1(w log p)): the mean units a bucket adds, before R."""
    factor = -tf.math.expm1(log_stay)
    if open_bucket is not None:
        factor = tf.constant(open_bucket, logits.dtype) + factor
    if small is None:
        return tf.exp(tf.minimum(logits, tf.constant(caps, logits.dtype))) * factor
    # e^{min(z, cap)} = min(e^z, e^cap), e^z = 1/e^{−|z|} for z > 0 (inf once e^{−|z|}
    # underflows, which the minimum turns into e^cap).
    exp_logits = tf.where(logits > 0, 1.0 / small, small)
    return tf.minimum(exp_logits, tf.constant(np.exp(caps), logits.dtype)) * factor


def bucketized_geometric_expectation_from_terms(log_reach, terms):
    """E = Σ_m R_m · term_m = Σ_m exp(log R_m) · term_m, [B] (`bucketized_geometric_terms`).

    Where R_m underflows (log R_m < −87 in float32) the term it drops is below
    e^{40 − 87} ≈ 4e-21 units (e^{max_tail_logit − 87} for the open bucket).
    """
    return tf.reduce_sum(tf.exp(log_reach) * terms, -1)


# Block of `bucketized_geometric_expectation_by_horner`: 32 buckets by 33
# blocks at K = 1024, both loops short.
_HORNER_BLOCK = 32


def bucketized_geometric_expectation_by_horner(stay, terms):
    """E = Σ_m R_m · term_m with R_m = Π_{i<m} s_i, by Horner's rule, [B].

    The same sum as `bucketized_geometric_expectation_from_terms`, from the
    stays s_m = p_m^{w_m} (1 for the open bucket) instead of log R:

        E = t_1 + s_1 (t_2 + s_2 (t_3 + … + s_{M−1} t_M))

    evaluated in blocks of 32 buckets (each block's sum and Π s, then the same
    rule over the blocks): one multiply-add per bucket, no scan and no
    exponential. Every term is ≥ 0 and every s in [0, 1], so the rule is
    stable in float32, and a reach that underflows gives 0 as in log space.
    Unrolled (two ops per bucket): meant for an XLA computation, where it
    is one loop; the width is padded to whole blocks with s = 1, t = 0,
    which add nothing.

    Args:
      stay: [B, M] s_m = p_m^{w_m}.
      terms: [B, M] `bucketized_geometric_terms`.

    Example:
    >>> stay = tf.constant([[0.5, 0.25, 1.0]])
    >>> terms = tf.constant([[1.0, 2.0, 4.0]])
    >>> float(bucketized_geometric_expectation_by_horner(stay, terms))   # 1 + ½·2 + ⅛·4
    2.5
    """
    width = stay.shape[-1]
    block = min(width, _HORNER_BLOCK)
    num_blocks = -(-width // block)
    padding = [[0, 0], [0, num_blocks * block - width]]
    stay = tf.reshape(tf.pad(stay, padding, constant_values=1.0), [-1, num_blocks, block])
    terms = tf.reshape(tf.pad(terms, padding), [-1, num_blocks, block])
    block_sum, block_stay = terms[..., -1], stay[..., -1]
    for i in range(block - 2, -1, -1):
        block_sum = terms[..., i] + stay[..., i] * block_sum
        block_stay = stay[..., i] * block_stay
    expected = block_sum[:, -1]
    for b in range(num_blocks - 2, -1, -1):
        expected = block_sum[:, b] + block_stay[:, b] * expected
    return expected


def bucketized_geometric_unit_hazard(logits, max_tail_logit=None, neg_log_p=None):
    """h_m = −log σ(z_m) = softplus(−z_m) ≥ 0, [B, K+1]: the hazard each unit of bucket m adds.

    Finite-bucket logits above 40 count as 40 (1 − p < 4.3e-18 there; see
    `bucketized_geometric_reach`), the open bucket's (the last) above
    `max_tail_logit`. softplus(−z) decreases in z, so each clamp is a floor on
    the hazard: one maximum over softplus(−z) of all K + 1 logits. K may be 0
    (the vanilla geometric and WLR heads). `neg_log_p`: softplus(−z) when the
    caller has it (a compiled train step takes it from the loss's own
    `negative_log_sigmoid`).

    Example:
    >>> logits = tf.math.log(tf.constant([[9.0, 4.0]], tf.float64))      # p = 0.9, 0.8
    >>> bucketized_geometric_unit_hazard(logits).numpy().round(4).tolist()   # −log p
    [[0.1054, 0.2231]]
    """
    caps = np.append(np.full(logits.shape[-1] - 1, MAX_FINITE_LOGIT),
                     np.inf if max_tail_logit is None else max_tail_logit)
    if neg_log_p is None:
        neg_log_p = tf.nn.softplus(-logits)
    return tf.maximum(neg_log_p, tf.nn.softplus(tf.constant(-caps, logits.dtype)))


def bucketized_geometric_log_reach(neg_log_p, widths):
    """(w_m log p_m, log R_m), each [B, K+1], from the unit hazards −log p [B, K+1].

    log R = exclusive cumsum of w log p; the open bucket has no end, so its
    w log p is 0 and the last column of log R is log R_{K+1}.
    """
    log_stay = bucketized_geometric_log_stay(neg_log_p, widths)
    return log_stay, exclusive_cumsum(log_stay)                 # log R_m


def bucketized_geometric_log_stay(neg_log_p, widths):
    """w_m log p_m, [B, K+1], from the unit hazards −log p [B, K+1]; 0 for the open bucket."""
    widths = tf.constant(np.append(np.asarray(widths, np.float64), 0.0), neg_log_p.dtype)
    return -widths * neg_log_p


def bucketized_geometric_reach(logits, widths, max_tail_logit=None):
    """SWaT-Geo's per-bucket terms: (−log p_m, w_m log p_m, log R_m), each [B, K+1].

    R_m = Π_{i<m} p_i^{w_i} is the probability of reaching bucket m (R_1 = 1,
    the last column R_{K+1}, reaching the open bucket); the open bucket's
    w log p is 0 (it has no end). The expectation and the distribution
    (`ops.geometric_distribution`) both start here, so a serving graph
    returning both computes these once (Grappler merges identical ops). Past
    z = 40, 1 − p < 4.3e-18: p is taken as σ(40) there, which moves a bucket's
    expected term by at most e^{−40}·w(w + 1)/2 and keeps e^z finite next to
    1 − p^w (0·∞ otherwise).

    Args:
      logits: [B, K+1] bucket logits.
      widths: [K] finite bucket widths.
      max_tail_logit: clamp of the open bucket's logit in −log p (None: none).

    Returns:
      −log p, log p^w, log R: [B, K+1] each.
    """
    neg_log_p = bucketized_geometric_unit_hazard(logits, max_tail_logit)
    return (neg_log_p,) + bucketized_geometric_log_reach(neg_log_p, widths)
