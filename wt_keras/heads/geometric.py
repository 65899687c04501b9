"""Single-probability heads: vanilla geometric (SWaT Assumption 3) and WLR."""
import numpy as np
import tensorflow as tf

from wt_keras import ops
from wt_keras._keras import register
from wt_keras.buckets.time_scale import check_time_scale
from wt_keras.heads.base import WatchTimeHead
from wt_keras.heads.swat import geometric_law, geometric_quantile, geometric_survival

_NO_FINITE_BUCKETS = np.zeros([0])


@register
class GeometricHead(WatchTimeHead):
    """Vanilla geometric model: one stationary continuation probability.

        P(Y = y) = p^y (1 − p),  loss = y·softplus(−z) + softplus(z),
        E[T | x] = e^z / α

    with Y = round(α·T). The logit is clamped at `max_logit` inside E. EXUM
    target: y / (y + 1) with weight y + 1 (SWaT-Geo with a single open bucket);
    as the weight is in seconds, λ defaults to 10 (see `BucketizedGeometricHead`).

    Example:
    >>> head = GeometricHead()
    >>> float(head.expected_value(tf.math.log([[12.0]]))[0])
    12.0
    """

    def __init__(self, time_scale=1.0, max_logit=20.0, confidence_penalty=10.0, **kwargs):
        time_scale = check_time_scale(time_scale)
        super().__init__(num_logits=1, confidence_penalty=confidence_penalty, **kwargs)
        self.time_scale = time_scale
        self.max_logit = float(max_logit)

    def _likelihood_loss(self, watch_time, logits, **context):
        return ops.geometric_nll(ops.watch_time_units(watch_time, self.time_scale), logits[:, 0])

    def _confidence_targets(self, watch_time, logits, **context):
        # One open bucket: every unit watched is a stay, and there is one exit.
        units = ops.watch_time_units(watch_time, self.time_scale)[:, None]
        return ops.continuation_targets(units, tf.ones_like(units))

    def expected_value(self, logits, **context):
        logits = self._check_logits(logits)
        return ops.geometric_expected_watch_time(logits[:, 0], self.max_logit) / self.time_scale

    # Distribution: P(Y ≥ y) = p^y with the logit clamped as in E (no finite bucket).
    def _law(self, logits, **context):
        return geometric_law(logits, self.max_logit, _NO_FINITE_BUCKETS)

    def _survival(self, law, t):
        return geometric_survival(law, ops.units_above(t, self.time_scale), _NO_FINITE_BUCKETS)

    def _completion_probability(self, law, duration):
        return geometric_survival(law, ops.units_at_least(duration, self.time_scale),
                                  _NO_FINITE_BUCKETS)

    # The survival takes [B] unit counts as they are: no reshape for serving.
    _completion_per_row = _completion_probability

    def _quantile(self, law, q):
        return geometric_quantile(law, q, _NO_FINITE_BUCKETS, self.time_scale)

    def get_config(self):
        return {**super().get_config(), "time_scale": self.time_scale,
                "max_logit": self.max_logit}


@register
class WeightedLogisticHead(WatchTimeHead):
    """Weighted logistic regression baseline (Covington et al., RecSys 2016).

    With a click flag: clicked → (label 1, weight T), unclicked → (label 0,
    weight 1). Without one (auto-play feeds) every impression is a positive
    of weight T and a negative of weight 1, which equals the geometric
    negative log-likelihood. Serving: E[T | x] ≈ e^z (clamped at `max_logit`).

    Call `loss(watch_time, logits, clicked=flags)` to use click flags.

    Example:
    >>> head = WeightedLogisticHead()
    >>> head(tf.zeros([4, 8])).shape
    TensorShape([4, 1])
    """

    def __init__(self, max_logit=20.0, confidence_penalty=10.0, **kwargs):
        super().__init__(num_logits=1, confidence_penalty=confidence_penalty, **kwargs)
        self.max_logit = float(max_logit)

    def _likelihood_loss(self, watch_time, logits, clicked=None, **context):
        return ops.weighted_logistic_loss(watch_time, logits[:, 0], clicked)

    def _confidence_targets(self, watch_time, logits, clicked=None, **context):
        # The likelihood's positives of weight T are stays, its negatives of weight 1 exits.
        watch_time = watch_time[:, None]
        if clicked is None:
            return ops.continuation_targets(watch_time, tf.ones_like(watch_time))
        clicked = tf.reshape(tf.cast(clicked, watch_time.dtype), [-1, 1])
        return ops.continuation_targets(clicked * watch_time, 1.0 - clicked)

    def expected_value(self, logits, **context):
        logits = self._check_logits(logits)
        return ops.geometric_expected_watch_time(logits[:, 0], self.max_logit)

    # Distribution: the geometric law on whole seconds with mean e^z (z clamped
    # as in E), the law whose likelihood WLR optimises without click flags.
    def _law(self, logits, **context):
        return geometric_law(logits, self.max_logit, _NO_FINITE_BUCKETS)

    def _survival(self, law, t):
        return geometric_survival(law, ops.units_above(t, 1.0), _NO_FINITE_BUCKETS)

    def _completion_probability(self, law, duration):
        return geometric_survival(law, ops.units_at_least(duration, 1.0), _NO_FINITE_BUCKETS)

    # The survival takes [B] unit counts as they are: no reshape for serving.
    _completion_per_row = _completion_probability

    def _quantile(self, law, q):
        return geometric_quantile(law, q, _NO_FINITE_BUCKETS, 1.0)

    def get_config(self):
        return {**super().get_config(), "max_logit": self.max_logit}
