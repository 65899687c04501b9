"""Heads whose watch-time law is piecewise linear between bucket endpoints (OR, CREAD, TPM)."""
from wt_keras import ops


class PiecewiseLinearLaw:
    """Survival, quantile and completion of a survival curve linear between knots.

    The head sets `self._knots` = [0, t_1, ..., t_K] and defines
    `_knot_survival(logits)` → S at the knots, [B, K + 1], S(0) = 1 and
    non-increasing; S is 0 from t_K on (`ops.piecewise_linear_survival`).
    """

    def _law(self, logits, **context):
        return self._knot_survival(logits)

    def _survival(self, law, t):
        return ops.piecewise_linear_survival(self._knots, law, t)

    def _completion_probability(self, law, duration):
        return ops.piecewise_linear_survival(self._knots, law, duration, inclusive=True)

    def _quantile(self, law, q):
        return ops.piecewise_linear_quantile(self._knots, law, q)
