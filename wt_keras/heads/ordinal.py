"""Ordinal-regression heads: plain OR and CREAD (Sun et al., AAAI 2024)."""
import numpy as np
import tensorflow as tf

from wt_keras import ops
from wt_keras._keras import register
from wt_keras.buckets import validate_boundaries
from wt_keras.heads._piecewise import PiecewiseLinearLaw
from wt_keras.heads.base import WatchTimeHead

# CREAD's reference implementation sums the ordinal term over batches of this
# size while averaging the other terms over the batch (EGMN's run_cread.py).
REFERENCE_BATCH_SIZE = 2048


@register
class OrdinalHead(PiecewiseLinearLaw, WatchTimeHead):
    """Ordinal regression over endpoints: output m predicts φ_m = P(T > t_m).

        loss = Σ_m BCE(1[T > t_m], φ_m)
               + M · w_r · Huber_δ((Σ_m φ_m w_m − T) / t_M)
               + M · w_o · 2048 · Σ_m max(φ_{m+1} − φ_m, 0)
        E[T | x] = Σ_m φ_m w_m          (CREAD's restoration)

    Scales: the weights are those of CREAD's reference implementation, which
    averages the BCE over the M outputs, normalises labels to [0, 1] by the
    last endpoint t_M and sums the ordinal term over batches of 2048. Here
    the BCE is summed over outputs (as in every head, and as EXUM's
    per-output penalty expects), so the two other terms are multiplied by M,
    the restoration error is divided by t_M and the ordinal term carries the
    reference batch size: the loss is M times the reference's per-example
    loss whatever the label unit, and w_r = 1, w_o = 2e-5 weigh the terms as
    they do there (an error of 10 % of t_M costs M · 0.005, like 0.005
    against a mean BCE of ~0.1-0.7 per output in the reference).

    With the default weights w_r = w_o = 0 this is the plain OR baseline;
    `CreadHead` sets CREAD's defaults. EXUM fuses the survival labels
    1[T > t_m] (one confidence per sample, or per output when the tower has
    M outputs); the restoration and ordinal terms act on the raw φ, never on
    the fused p′, which contains the label.

    Args:
      boundaries: t_1..t_M in seconds (e.g. `buckets.cread_boundaries`).
      restoration_weight: w_r.
      monotonicity_weight: w_o.
      huber_delta: δ of the restoration Huber loss, in units of t_M.
      confidence_penalty: EXUM λ (the EXUM paper's best for CREAD: 0.1).

    Example:
    >>> head = OrdinalHead(boundaries=[3.0, 8.0, 20.0])
    >>> float(head.expected_value(tf.zeros([1, 3]))[0])    # 0.5 · 20
    10.0
    """

    def __init__(self, boundaries, restoration_weight=0.0, monotonicity_weight=0.0,
                 huber_delta=1.0, confidence_penalty=0.1, **kwargs):
        boundaries = validate_boundaries(boundaries)
        super().__init__(num_logits=len(boundaries),
                         confidence_penalty=confidence_penalty, **kwargs)
        if restoration_weight < 0 or monotonicity_weight < 0 or huber_delta <= 0:
            raise ValueError("restoration_weight and monotonicity_weight must be >= 0 "
                             "and huber_delta > 0.")
        self.boundaries = boundaries
        self._knots = np.concatenate([[0.0], boundaries])
        lower, upper = ops.bucket_edges(boundaries)
        self.widths = upper - lower
        self.restoration_weight = float(restoration_weight)
        self.monotonicity_weight = float(monotonicity_weight)
        self.huber_delta = float(huber_delta)

    def _likelihood_loss(self, watch_time, logits, **context):
        # With w_r = w_o = 0 (plain OR): `ordinal_cross_entropy`'s value and gradient.
        restoration_weight, monotonicity_weight = self._term_weights()
        return ops.cread_loss(watch_time, logits, self.boundaries, self.widths,
                              self.boundaries[-1], restoration_weight, monotonicity_weight,
                              self.huber_delta)

    _hard_confidence_targets = True          # 1[T > t_m]

    def _confidence_targets(self, watch_time, logits, **context):
        return ops.ordinal_labels(watch_time, self.boundaries), None

    def _auxiliary_loss(self, watch_time, logits, **context):
        # Under EXUM, beside the fused cross-entropy. One op for both terms (as
        # `cread_loss` without its first term) was not faster there: timed alone
        # at M = 1024, 0.99–1.02 times the two ops' wall time.
        restoration_weight, monotonicity_weight = self._term_weights()
        loss = 0.0
        if restoration_weight:
            loss += restoration_weight * ops.cread_restoration_loss(
                watch_time, logits, self.widths, self.boundaries[-1], self.huber_delta)
        if monotonicity_weight:
            loss += monotonicity_weight * ops.ordinal_monotonicity_penalty(logits)
        return loss

    def _term_weights(self):
        """M·w_r and M·2048·w_o: the weights on this head's scale (see the class docstring)."""
        num_outputs = float(self.num_logits)
        return (num_outputs * self.restoration_weight,
                num_outputs * REFERENCE_BATCH_SIZE * self.monotonicity_weight)

    def expected_value(self, logits, **context):
        return ops.ordinal_restored_watch_time(self._check_logits(logits), self.widths)

    def _expected_value_parts(self, logits, **context):
        # A compiled CREAD step logs Σ w φ on the φ its restoration and monotonicity
        # terms share with the cross-entropy (0.2–0.3 ms less at K = 1024, the head
        # timed alone). Without those terms, tf.sigmoid's XLA form is the cheaper one.
        if not (self.restoration_weight or self.monotonicity_weight):
            return super()._expected_value_parts(logits, **context)
        return (ops.ordinal_restored_watch_time(logits, self.widths, ops.sigmoid_value(logits)),)

    # Distribution: φ_m made monotone by a running minimum, S(0) = 1, linear
    # within a bucket, zero from the last endpoint on (ops.piecewise_linear).
    def _knot_survival(self, logits):
        survival = ops.running_minimum(tf.sigmoid(logits))
        return tf.concat([tf.ones_like(survival[:, :1]), survival], -1)

    def serving_outputs(self, logits, **context):
        return {"watch_time": self.expected_value(logits),
                "survival_probabilities": tf.sigmoid(logits)}

    def get_config(self):
        return {**super().get_config(), "boundaries": self.boundaries.tolist(),
                "restoration_weight": self.restoration_weight,
                "monotonicity_weight": self.monotonicity_weight,
                "huber_delta": self.huber_delta}


@register
class CreadHead(OrdinalHead):
    """CREAD: `OrdinalHead` with restoration (w_r = 1) and ordinal (w_o = 2e-5) terms.

    Use endpoints from error-adaptive discretisation,
    `buckets.cread_boundaries(train_watch_time).boundaries` (M = 50 by default).
    EXUM λ defaults to 1 (the EXUM paper's 0.1 was the worst of 0.01, 0.1, 1 in
    a reduced λ sweep with a Keras-initialised tower, which made CREAD worse
    at all of them). With the tower's default `initial_confidence` EXUM at
    λ = 1 matched CREAD without it on the simulator (Δ MAE +0.01 ± 0.06 s,
    Δ XAUC 0.0000; benchmarks/results/exum_tower); a tower starting at
    c = 0.99 gave −0.10 ± 0.05 s.
    """

    def __init__(self, boundaries, restoration_weight=1.0, monotonicity_weight=2e-5,
                 huber_delta=1.0, confidence_penalty=1.0, **kwargs):
        super().__init__(boundaries, restoration_weight=restoration_weight,
                         monotonicity_weight=monotonicity_weight, huber_delta=huber_delta,
                         confidence_penalty=confidence_penalty, **kwargs)
