"""Which single number a ranker serves as `watch_time`: the mean, the median or a quantile.

Every head knows E[T | x] (`expected_value`). Heads that fit a whole
distribution also answer `quantile(logits, q)`; their median is the
MAE-optimal point estimate on right-skewed watch time, a low quantile a
pessimistic one for risk-aware ranking. D2Q and the regression baseline fit
no distribution: only the mean is available for them.
"""
import numbers

from wt_keras.export.distribution import distribution_error

MEAN, MEDIAN = "mean", "median"


def parse_point_estimate(value):
    """'mean', 'median' or a quantile level q in (0, 1) (a float or its text).

    Command lines pass text ("median", "0.25"); code may pass a float.

    >>> parse_point_estimate("0.25"), parse_point_estimate("median")
    (0.25, 'median')
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (MEAN, MEDIAN):
            return text
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"point_estimate {value!r} is not 'mean', 'median' or a quantile "
                             "level q in (0, 1) such as 0.25.") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"point_estimate must be 'mean', 'median' or a float q in (0, 1), "
                         f"got {value!r}.")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"point_estimate must be 'mean', 'median' or a quantile level q in (0, 1), "
                         f"got {value}; 'median' is q = 0.5, 'mean' is E[T | x].")
    return float(value)


def check_point_estimate(head, point_estimate):
    """The parsed point estimate; raises ValueError if `head` cannot provide it."""
    point_estimate = parse_point_estimate(point_estimate)
    if point_estimate != MEAN:
        reason = distribution_error(head)
        if reason is not None:
            raise ValueError(
                f"point_estimate={point_estimate!r} needs a head with a distribution, but "
                f"{reason}. Use point_estimate='mean' with this head, or a distributional head "
                "(swat_geo, swat_binom, ordinal, cread, geometric, wlr).")
    return point_estimate


def point_estimate_of(head, logits, point_estimate, **context):
    """The configured point estimate in seconds, shape [B].

    "mean" → E[T | x]; "median" → Q(0.5); q → Q(q), the smallest t with
    P(T ≤ t) ≥ q.
    """
    if point_estimate == MEAN:
        return head.expected_value(logits, **context)
    level = 0.5 if point_estimate == MEDIAN else float(point_estimate)
    return head.quantile(logits, level, **context)
