"""EXUM confidence fusion (Wu et al., arXiv 2504.07575, Sections 3.1 and 3.3).

A confidence c ∈ (0, 1] mixes the head's probability-space output p with its
target y: p′ = c·p + (1 − c)·y, and the head's loss is taken on p′. The
gradient reaching p is scaled by c (squared error: c²), so uncertain samples
are down-weighted; the penalty λ·(−log c) stops c from collapsing to 0.

c is best given by its logit l (c = σ(l), what `ConfidenceTower` computes):
log c = log σ(l) and log(1 − c) = log σ(−l) are then exact for every l, so
nothing is clipped. With c = 1 the fused loss is exactly the head's own loss,
and dL/dl = −λ σ(−l) stays away from 0 as c → 0, so a collapsed confidence
can recover. A confidence given as a probability is used as it is (c = 1
allowed; c = 0 gives an infinite penalty).

On a cross-entropy output with a fixed c < 1 the fused loss is minimised by

    p* = q + (2q − 1)(1/c − 1)     (clipped to [0, 1]; q = the label's mean)

not by q: EXUM pulls p towards the majority label (the EXUM paper's formula,
not a bug here). Heads whose expectation compounds many such outputs (SWaT-Geo:
products of continuation probabilities) are the most sensitive to it.
"""
import tensorflow as tf


def log_confidence(confidence=None, confidence_logit=None, dtype=tf.float32):
    """(log c, log(1 − c)) from the logit (log-sigmoid) or from c itself, unclipped."""
    if confidence_logit is not None:
        logit = tf.cast(confidence_logit, dtype)
        return tf.math.log_sigmoid(logit), tf.math.log_sigmoid(-logit)
    if confidence is None:
        raise ValueError("pass the EXUM confidence as confidence_logit=l (preferred) or confidence=c.")
    confidence = tf.cast(confidence, dtype)
    return tf.math.log(confidence), tf.math.log1p(-confidence)


def fused_binary_cross_entropy(logits, targets, confidence=None, weights=None,
                               confidence_logit=None, hard_targets=False):
    """Σ_k weight_k · BCE(y_k, p′_k) with p′ = c σ(z) + (1 − c) y, shape [B].

    With s = 1 + e^{−|z|}, s·σ(z) and s·σ(−z) are 1 and e^{−|z|} (which is
    which depends on the sign of z), so with d = 1 − c

        s·p′ = c·s σ(z) + d y s,    s·(1 − p′) = c·s σ(−z) + d (1 − y) s,
        BCE = log s − y log(s·p′) − (1 − y) log(s·(1 − p′)):

    sums of non-negative terms (no cancellation, no floor) and four
    transcendentals per output. A side without a label term (d·y = 0) is
    c·s σ(±z) alone, whose log is taken as log c − relu(∓z): exact for every
    z, so with c = 1 (l = +inf) this is exactly the binary cross-entropy with
    logits.

    The gradient is given in closed form. With π = c σ(z) / p′ and
    π̄ = c σ(−z) / (1 − p′) (the shares of the model in p′ and 1 − p′),
    per output

        ∂/∂z = −w [y π σ(−z) − (1 − y) π̄ σ(z)],
        ∂/∂log c = −w [y π + (1 − y) π̄],   ∂/∂log(1 − c) = −w [y (1 − π) + (1 − y)(1 − π̄)],

    computed from the forward's own terms: no differentiation through its
    selects, exponentials and logarithms, which was most of an EXUM step on a
    head with hundreds of outputs.

    Args:
      logits: [B, K] head logits z.
      targets: [B, K] targets y ∈ [0, 1] (constants: gradients are stopped).
      confidence: [B, 1] (shared) or [B, K] (per output) confidence c.
      weights: optional [B, K] weight per output.
      confidence_logit: instead of `confidence`, its logit l (c = σ(l)).
      hard_targets: every target is 0 or 1 (e.g. survival labels
        1[T > t_m]): only the label's side of each output is computed, and
        its loss log s − log(s·p′) as one logarithm of a ratio: one
        exponential, one logarithm and two divisions per output (the general
        path also takes a log1p, XLA's costliest op here, and a second
        logarithm). Within ~1e-7 of the general path per output (absolute,
        float32). Not checked; soft targets then give wrong values.
    """
    # Soft labels computed as coverage / width can exceed 1 by a rounding error,
    # which would make the complement's label term negative.
    targets = tf.clip_by_value(tf.stop_gradient(tf.cast(targets, logits.dtype)), 0.0, 1.0)
    if weights is not None:
        weights = tf.stop_gradient(tf.cast(weights, logits.dtype))
    log_c, log_doubt = log_confidence(confidence, confidence_logit, logits.dtype)
    if hard_targets:
        return _fused_hard_binary_cross_entropy(logits, log_c, log_doubt, targets > 0.5, weights)
    return _fused_binary_cross_entropy(logits, log_c, log_doubt, targets, weights)


def _fused_binary_cross_entropy(logits, log_c, log_doubt, targets, weights):
    @tf.custom_gradient
    def fused(z, log_c, log_doubt):
        complement = 1.0 - targets
        small, scale, c, d = _fused_terms(z, log_c, log_doubt)
        positive = z >= 0
        ones = tf.ones_like(small)
        model = tf.where(positive, ones, small)                      # s σ(z)
        model_complement = tf.where(positive, small, ones)           # s σ(−z)
        log_fused, share = _fused_side(c, log_c, model, -tf.nn.relu(-z), d * targets, scale)
        log_fused_complement, share_complement = _fused_side(
            c, log_c, model_complement, -tf.nn.relu(z), d * complement, scale)
        # A zero target weight multiplies a finite log (log c + log σ(±z) > −inf).
        per_output = (tf.math.log1p(small)
                      - (targets * log_fused + complement * log_fused_complement))
        to_model = targets * share                     # y π
        to_model_complement = complement * share_complement   # (1 − y) π̄
        if weights is not None:
            per_output = per_output * weights

        def gradient(upstream):
            upstream = _weighted(upstream, weights)
            to_logits = upstream * (to_model_complement * model
                                    - to_model * model_complement) / scale
            return _confidence_gradients(to_logits, -upstream * (to_model + to_model_complement),
                                         upstream, log_c, log_doubt)
        return tf.reduce_sum(per_output, axis=-1), gradient

    return fused(logits, log_c, log_doubt)


def _fused_hard_binary_cross_entropy(logits, log_c, log_doubt, positive, weights):
    """`_fused_binary_cross_entropy` for targets 0 or 1 (`positive`: y = 1): the label's side only."""
    @tf.custom_gradient
    def fused(z, log_c, log_doubt):
        small, scale, c, d = _fused_terms(z, log_c, log_doubt)
        ones = tf.ones_like(small)
        # s σ(z) for y = 1, s σ(−z) for y = 0: 1 where the sign of z agrees with
        # the label, e^{−|z|} where it does not; `model_other` is the other side.
        agrees = tf.equal(z >= 0, positive)
        model = tf.where(agrees, ones, small)
        model_other = tf.where(agrees, small, ones)
        signed = tf.where(positive, z, -z)
        # The label's side of p′ (y = 1) or 1 − p′ (y = 0), times s: c·model + d·s.
        # Its loss log s − log(that) is taken as one log of the ratio (no
        # log1p, the costliest op here); with d = 0 as log s − log c + relu(∓z),
        # exact where the model's side underflows.
        fused_scaled = c * model + d * scale
        no_label = tf.equal(d, 0.0)
        inverse = 1.0 / tf.where(no_label, tf.ones_like(fused_scaled), fused_scaled)
        share = tf.where(no_label, ones, c * model * inverse)
        per_output = (tf.math.log(scale * tf.where(no_label, ones, inverse))
                      + tf.where(no_label, tf.nn.relu(-signed) - log_c, tf.zeros_like(small)))
        if weights is not None:
            per_output = per_output * weights

        def gradient(upstream):
            upstream = _weighted(upstream, weights)
            # −π σ(−z) for y = 1, +π̄ σ(z) for y = 0.
            to_logits = upstream * tf.where(positive, -share, share) * model_other / scale
            return _confidence_gradients(to_logits, -upstream * share, upstream, log_c, log_doubt)
        return tf.reduce_sum(per_output, axis=-1), gradient

    return fused(logits, log_c, log_doubt)


def _fused_terms(z, log_c, log_doubt):
    """(e^{−|z|}, s = 1 + e^{−|z|}, c, d = 1 − c): what both sides of the fusion start from."""
    small = tf.exp(-tf.abs(z))
    return small, 1.0 + small, tf.exp(log_c), tf.exp(log_doubt)


def _fused_side(c, log_c, model, log_model, label, scale):
    """(log(c·model + label·s), the model's share c·model / (c·model + label·s)).

    `model` is s σ(±z) (log: `log_model` = −relu(∓z)), `label` d·y or d·(1 − y).
    Without a label term (label = 0) the log is log c + log_model, exact even
    where `model` underflows (|z| > 87 in float32), and the share is 1.
    """
    no_label = tf.equal(label, 0.0)
    fused_scaled = c * model + label * scale
    log_fused = tf.where(no_label, log_c + log_model, tf.math.log(fused_scaled))
    share = tf.where(no_label, tf.ones_like(fused_scaled), c * model / fused_scaled)
    return log_fused, share


def _weighted(upstream, weights):
    """The [B] upstream gradient as [B, 1], times the output weights [B, K] if any."""
    upstream = tf.expand_dims(upstream, -1)
    return upstream if weights is None else upstream * weights


def _confidence_gradients(to_logits, to_log_c, upstream, log_c, log_doubt):
    """(∂/∂z, ∂/∂log c, ∂/∂log(1 − c)), the last two summed to the confidence's shape.

    ∂/∂log c + ∂/∂log(1 − c) = −w per output, since p′'s two parts sum to p′.
    A shared confidence gets −Σ_k w_k − ∂/∂log c: a sum over the weights,
    not a second pass over the model's shares.
    """
    to_log_c = _sum_to(to_log_c, log_c)
    shared = log_doubt.shape[-1] == 1 and to_logits.shape[-1] != 1
    if shared and upstream.shape[-1] == 1:                 # no weights: w = the upstream
        num_outputs = to_logits.shape[-1] or tf.shape(to_logits)[-1]
        return to_logits, to_log_c, -upstream * tf.cast(num_outputs, upstream.dtype) - to_log_c
    return to_logits, to_log_c, _sum_to(-upstream, log_doubt) - to_log_c


def _sum_to(gradient, like):
    """`gradient` [B, K] summed to the shape of `like` ([B, 1] shared or [B, K])."""
    if like.shape[-1] == 1 and gradient.shape[-1] != 1:
        return tf.reduce_sum(gradient, axis=-1, keepdims=True)
    return gradient


def fused_squared_error(predictions, targets, confidence=None, scale=1.0, confidence_logit=None):
    """½ (scale · (p′ − y))² = ½ scale² c² (p − y)², summed over outputs, [B].

    No confidence (both None) means c = 1. The per-sample optimum of
    ½ s² c² e² − λ log c is c* = min(1, √λ / (s·e)), so λ only bites when
    errors on the `scale` are larger than √λ.
    """
    targets = tf.stop_gradient(tf.cast(targets, predictions.dtype))
    error = predictions - targets
    if confidence is not None or confidence_logit is not None:
        log_c, _ = log_confidence(confidence, confidence_logit, predictions.dtype)
        error = tf.exp(log_c) * error                          # p′ − y = c (p − y)
    return tf.reduce_sum(0.5 * tf.square(scale * error), axis=-1)


def continuation_targets(stays, exits):
    """EXUM targets of a continuation output: (y / (y + n), weight y + n).

    An output whose likelihood is p^y (1 − p)^n (y units watched on, n exits:
    the geometric heads) has the binary cross-entropy of the empirical
    continuation frequency y / (y + n) with weight y + n, up to a constant:
    these are the target and weight that EXUM fuses (beyond the EXUM paper).
    An output without trials (y + n = 0: SWaT-Geo's buckets after the exit)
    gets target 0 and weight 0.

    Args:
      stays: [B, K] units watched on, y ≥ 0 (a soft count is fine).
      exits: [B, K] exits, n ≥ 0.

    Returns:
      (targets [B, K], weights [B, K]).

    Example:
    >>> targets, weights = continuation_targets(tf.constant([[3.0, 2.0, 0.0]]),
    ...                                         tf.constant([[0.0, 1.0, 0.0]]))
    >>> [round(float(v), 4) for v in targets[0]], weights.numpy().tolist()
    ([1.0, 0.6667, 0.0], [[3.0, 3.0, 0.0]])
    """
    trials = stays + exits
    return tf.math.divide_no_nan(stays, trials), trials


def confidence_penalty(confidence=None, num_outputs=None, labelled=None, confidence_logit=None):
    """Σ over the labelled outputs of −log c, shape [B]; the heads multiply it by λ.

    A shared confidence [B, 1] pays −log c once per output that carries a
    label for the example (`labelled` [B, K], 1/0; default: all
    `num_outputs`), the per-output formulation with all c_m equal: outputs
    that get no label (SWaT-Geo's buckets after the exit, TPM's nodes off the
    label's path) do not pull c towards 1. Per-output confidences [B, K] are
    summed over the labelled outputs.

    Args:
      confidence, confidence_logit: c or its logit l, [B, 1] or [B, K].
      num_outputs: K, for a shared c when `labelled` is None.
      labelled: optional [B, K] indicator of the outputs with a label, or
        for a shared c their number, [B].
    """
    source = confidence_logit if confidence_logit is not None else confidence
    source = tf.convert_to_tensor(source)
    dtype = source.dtype if source.dtype.is_floating else tf.float32
    log_c, _ = log_confidence(confidence, confidence_logit, dtype)
    shared = log_c.shape[-1] == 1
    if labelled is not None:
        labelled = tf.cast(labelled, dtype)
        if shared and labelled.shape.rank == 1:
            return -log_c[:, 0] * labelled
        if shared:
            return -log_c[:, 0] * tf.reduce_sum(labelled, axis=-1)
        return -tf.reduce_sum(log_c * labelled, axis=-1)
    penalty = -tf.reduce_sum(log_c, axis=-1)
    if num_outputs is not None and shared:
        penalty = penalty * tf.cast(num_outputs, dtype)
    return penalty
