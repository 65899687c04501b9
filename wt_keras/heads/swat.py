"""SWaT heads: bucketized binomial and bucketized geometric (Yang et al. 2025)."""
import collections

import numpy as np
import tensorflow as tf

from wt_keras import ops
from wt_keras._keras import register
from wt_keras.buckets import time_scale_for_boundaries, validate_boundaries
from wt_keras.buckets.time_scale import check_time_scale, endpoint_units
from wt_keras.heads.base import WatchTimeHead


def integer_units(boundaries, time_scale):
    """Endpoints in integer units round(α·t_k), zeros and repeats dropped (SWaT paper §4.1.3).

    Count heads integerise the boundaries they are given with their own α, so
    real-valued percentile endpoints work as they are; fails only if no
    endpoint is left (all round to 0).
    """
    units = endpoint_units(boundaries, check_time_scale(time_scale))
    if units.size == 0:
        raise ValueError(
            f"At time_scale={time_scale}, every boundary of {np.asarray(boundaries).tolist()} "
            "rounds to 0 integer units. Increase time_scale, or leave it out to choose "
            "it automatically.")
    return units


# The logged mean of a compiled train step (`_expected_value_from_parts`).
_expectation_by_horner = tf.function(ops.bucketized_geometric_expectation_by_horner,
                                     jit_compile=True, autograph=False)


@register
class BinomialSoftLabelHead(WatchTimeHead):
    """SWaT-Binom: the user jumps around; K finite buckets (Assumption 1).

    In bucket k each of the w_k seconds is watched independently with
    probability p_k = σ(z_k). Training uses soft labels ŷ_k = y_k / w_k with
    y_k = clip(T − t_{k−1}, 0, w_k):

        loss = Σ_k c_k · BCE(ŷ_k, p_k),   c_k = 1 (default) or w_k
        E[T | x] = Σ_k w_k p_k

    `weight_by_width=True` gives the exact binomial likelihood. t_K should
    cover the label range: watch time above t_K is truncated to t_K.
    EXUM target: ŷ_k (beyond the EXUM paper).

    Distribution (`survival`, `quantile`, `completion_probability`): the
    watched units form Y = Σ_k Bin(n_k, p_k) with integer trial counts
    n_k = round(α·t_k) − round(α·t_{k−1}) and T = Y / α, exact by convolution.
    α = `time_scale` (default 1: one trial per second, the paper's reading)
    only matters for the distribution; loss and E use the widths w_k as given,
    so E differs from the distribution's mean Σ_k n_k p_k / α by the rounding
    of the endpoints to 1/α. α also sets the spread, Var[T] = Σ_k n_k p_k
    (1 − p_k) / α² ≈ Σ_k w_k p_k (1 − p_k) / α: keep one trial per second
    unless the model was meant for finer units (labels of a few seconds
    round to few trials at α = 1).

    Args:
      boundaries: t_1..t_K in seconds, strictly increasing, > 0.
      weight_by_width: weight bucket k's cross-entropy by w_k.
      time_scale: α, trials per second of the distribution.
      confidence_penalty: EXUM λ, default 1. With the tower's default
        `initial_confidence` EXUM kept MAE and XAUC at the head's level on
        the simulator (Δ MAE −0.13 ± 0.02 s, 2 seeds; benchmarks/results/
        exum_tower): c stays near 1, so expect little either way.

    Example:
    >>> head = BinomialSoftLabelHead(boundaries=[3.0, 8.0, 20.0])
    >>> logits = head(tf.zeros([2, 16]))                 # [2, 3]
    >>> float(head.expected_value(logits)[0])            # Σ w_k · 0.5
    10.0
    """

    def __init__(self, boundaries, weight_by_width=False, time_scale=1.0,
                 confidence_penalty=1.0, **kwargs):
        boundaries = validate_boundaries(boundaries)
        super().__init__(num_logits=len(boundaries),
                         confidence_penalty=confidence_penalty, **kwargs)
        self.boundaries = boundaries
        self.weight_by_width = bool(weight_by_width)
        self.time_scale = check_time_scale(time_scale)
        self._lower, self._upper = ops.bucket_edges(boundaries)
        self.widths = self._upper - self._lower
        self.trials = ops.binomial_trials(boundaries, self.time_scale)

    def _likelihood_loss(self, watch_time, logits, **context):
        return ops.binomial_soft_label_loss(watch_time, logits, self._lower, self._upper,
                                            self.weight_by_width)

    _confidence_targets = WatchTimeHead._staircase_targets

    def _step_targets(self, watch_time, **context):
        # The soft labels y_k / w_k: 1 for the buckets T covers, its share of
        # the bucket holding it, 0 above (weights w_k, or 1).
        step = ops.bucket_index(watch_time, self._upper)
        lower = tf.gather(tf.cast(self._lower, watch_time.dtype), step)
        width = tf.gather(tf.cast(self.widths, watch_time.dtype), step)
        share = (tf.minimum(tf.maximum(watch_time, lower), lower + width) - lower) / width
        weights = self.widths if self.weight_by_width else np.ones_like(self.widths)
        step_weight = width if self.weight_by_width else tf.ones_like(width)
        return step, share, step_weight, weights, weights

    def expected_value(self, logits, **context):
        return ops.binomial_expected_watch_time(self._check_logits(logits), self.widths)

    # Distribution: Σ_k Bin(n_k, p_k) on integer units, exact (see
    # ops.binomial_distribution); T = Y / α never exceeds t_K. The law is the
    # survival table P(Y ≥ y), y = 0..N+1.
    def _law(self, logits, **context):
        return ops.binomial_sum_survival_table(logits, self.trials)

    def _survival(self, law, t):
        return ops.survival_from_table(law, ops.units_above(t, self.time_scale))

    def _completion_probability(self, law, duration):
        return ops.survival_from_table(law, ops.units_at_least(duration, self.time_scale))

    def _quantile(self, law, q):
        return ops.quantile_from_table(law, q) / self.time_scale

    def serving_outputs(self, logits, **context):
        return {"watch_time": self.expected_value(logits),
                "bucket_probabilities": tf.sigmoid(logits)}

    def get_config(self):
        return {**super().get_config(), "boundaries": self.boundaries.tolist(),
                "weight_by_width": self.weight_by_width, "time_scale": self.time_scale}


@register
class BucketizedGeometricHead(WatchTimeHead):
    """SWaT-Geo: sequential watching with bucket-specific retention (Assumption 2).

    K finite buckets plus the open bucket [t_K, ∞): K + 1 logits. Watch time is
    counted in integer units Y = round(α·T) (α = `time_scale`) with endpoints
    round(α·t_k): the head integerises the boundaries it is given itself
    (rounds, then drops zeros and repeats), so real-valued percentile endpoints
    in seconds work as they are; K is the number that stay distinct, and
    `boundaries` holds them in seconds. With R_m = Π_{i<m} p_i^{w_i}:

        P(Y = y) = R_m p_m^{y − t_{m−1}} (1 − p_m),   y in bucket m
        loss = −Σ_k [y_k log p_k + n_k log(1 − p_k)]
        E[T | x] = (Σ_{m≤K} R_m p_m (1 − p_m^{w_m})/(1 − p_m) + R_{K+1} e^{z_{K+1}}) / α

    The open bucket's logit is clamped at `max_tail_logit` inside E (p → 1
    makes E unbounded). EXUM target (beyond the paper): the per-bucket
    continuation frequency y_k / (y_k + n_k) with weight y_k + n_k.

    Args:
      boundaries: t_1..t_K in seconds, strictly increasing, > 0 (e.g. straight
        from `buckets.boundaries_from_percentiles`); integerised at α.
      time_scale: α, integer units per second; None chooses the smallest
        power of ten (≥ 1) that keeps ≥ 90 % of the boundaries distinct
        (`buckets.time_scale_for_boundaries`), e.g. 1 for endpoints of
        several seconds, 100 for labels in [0, 6) s.
      max_tail_logit: clamp of z_{K+1} in the expectation.
      confidence_penalty: EXUM λ, default 10, which keeps c ≈ 1: EXUM is
        then effectively off for this head. Its expectation compounds the
        continuation probabilities, and any c < 1 pulls them towards the
        majority label (towards 1). On the simulator (benchmarks/results/
        exum_tower) every setting that let c drop (λ = 1 from a
        Keras-initialised tower, or a tower starting at c = 0.99) raised MAE
        by 1.7–76 s; with the tower's default `initial_confidence` and λ = 10
        MAE and XAUC matched the head without EXUM (Δ MAE −0.01 ± 0.17 s,
        Δ XAUC +0.0004, 2 seeds).

    Example:
    >>> head = BucketizedGeometricHead(boundaries=[3.0, 8.0, 20.0])
    >>> head(tf.zeros([2, 16])).shape
    TensorShape([2, 4])
    >>> head.time_scale                                   # chosen: whole seconds
    1.0
    >>> head = BucketizedGeometricHead([0.42, 0.47, 1.3, 2.71], time_scale=1.0)
    >>> head.boundaries.tolist()                          # 0.42 -> 0 units, 0.47 -> 0
    [1.0, 3.0]
    """

    def __init__(self, boundaries, time_scale=None, max_tail_logit=20.0,
                 confidence_penalty=10.0, **kwargs):
        boundaries = validate_boundaries(boundaries)
        if time_scale is None:
            time_scale = time_scale_for_boundaries(boundaries)
        units = integer_units(boundaries, time_scale)
        super().__init__(num_logits=len(units) + 1,
                         confidence_penalty=confidence_penalty, **kwargs)
        self.time_scale = float(time_scale)
        self.boundaries = units / self.time_scale
        self.max_tail_logit = float(max_tail_logit)
        self._lower, self._upper = ops.bucket_edges(units, open_last_bucket=True)
        self.unit_widths = np.diff(np.concatenate([[0.0], units]))

    def _units(self, watch_time):
        return ops.watch_time_units(watch_time, self.time_scale)

    def _likelihood_loss(self, watch_time, logits, **context):
        return ops.bucketized_geometric_nll(self._units(watch_time), logits,
                                            self._lower, self._upper)

    _confidence_targets = WatchTimeHead._staircase_targets

    def _step_targets(self, watch_time, **context):
        # The continuation frequencies (`ops.continuation_targets`): below the exit
        # bucket every unit is a stay (target 1, weight w_k); in it y stays and one
        # exit (y / (y + 1), weight y + 1); above it no label.
        units = self._units(watch_time)
        step = ops.bucket_index(units, self._upper)
        stays = units - tf.gather(tf.cast(self._lower, units.dtype), step)
        below = np.where(np.isfinite(self._upper), self._upper - self._lower, 0.0)
        return step, stays / (stays + 1.0), stays + 1.0, below, None

    def expected_value(self, logits, **context):
        expected_units = ops.bucketized_geometric_expected_watch_time(
            self._check_logits(logits), self.unit_widths, self.max_tail_logit)
        return expected_units / self.time_scale

    # A compiled train step: the loss's XLA computation also returns the stays
    # p^w and the terms of E, sharing the loss's e^{−|z|} and log1p (p^w as
    # 1 + expm1(w log p), the expm1 the terms compute anyway). A second XLA
    # computation sums them by Horner's rule: one multiply-add per bucket, where
    # log space needed the exclusive cumsum's matmul and an exp per bucket (an
    # in-ranker A/B at K = 1024 measured the Horner step 5–10 % faster). One
    # computation for both, with or without the blocks transposed, measured no
    # better in the ranker (benchmarks/results/heads_train_step_grid.md, run R).
    def _expected_value_parts(self, logits, **context):
        small, neg_log_p = ops.negative_log_sigmoid(logits)
        hazard = ops.bucketized_geometric_unit_hazard(logits, self.max_tail_logit, neg_log_p)
        log_stay = ops.bucketized_geometric_log_stay(hazard, self.unit_widths)
        terms = ops.bucketized_geometric_terms(logits, log_stay, self.max_tail_logit, small)
        return 1.0 + tf.math.expm1(log_stay), terms

    def _expected_value_from_parts(self, parts, logits, **context):
        return _expectation_by_horner(*parts) / self.time_scale

    # Distribution: exact on integer units (see ops.geometric_distribution),
    # with the same clamp of the open bucket's logit as expected_value, so the
    # distribution's mean is expected_value. The law is the unit hazards.
    def _law(self, logits, **context):
        return geometric_law(logits, self.max_tail_logit, self.unit_widths)

    def _survival(self, law, t):
        return geometric_survival(law, ops.units_above(t, self.time_scale), self.unit_widths)

    def _completion_probability(self, law, duration):
        return geometric_survival(law, ops.units_at_least(duration, self.time_scale),
                                  self.unit_widths)

    # The survival takes [B] unit counts as they are: no reshape for serving.
    _completion_per_row = _completion_probability

    def _quantile(self, law, q):
        return geometric_quantile(law, q, self.unit_widths, self.time_scale)

    def serving_outputs(self, logits, **context):
        return {"watch_time": self.expected_value(logits),
                "bucket_probabilities": tf.sigmoid(logits)}

    def get_config(self):
        return {**super().get_config(), "boundaries": self.boundaries.tolist(),
                "time_scale": self.time_scale, "max_tail_logit": self.max_tail_logit}


class GeometricLaw(collections.namedtuple("GeometricLaw", ["unit_hazard", "start_hazard"])):
    """A geometric head's law per row: unit hazards h and bucket-start hazards a, [B, K+1]."""


def geometric_law(logits, max_tail_logit, unit_widths):
    """The GeometricLaw of bucket logits; the open bucket's logit clamped as in the expectation."""
    return GeometricLaw(*ops.bucketized_geometric_law(logits, unit_widths, max_tail_logit))


def geometric_survival(law, units, unit_widths):
    """P(Y ≥ units) of the bucketized geometric law."""
    return tf.exp(ops.bucketized_geometric_log_survival(law.unit_hazard, units, unit_widths,
                                                        law.start_hazard))


def geometric_quantile(law, q, unit_widths, time_scale):
    """Quantile in seconds (units / α) of the bucketized geometric law."""
    units = ops.bucketized_geometric_quantile_units(law.unit_hazard, q, unit_widths,
                                                    law.start_hazard)
    return units / time_scale if time_scale != 1.0 else units
