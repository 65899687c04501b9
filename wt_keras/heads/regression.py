"""Plain regression baseline ("VR"): predict seconds, squared error."""
import tensorflow as tf

from wt_keras import ops
from wt_keras._keras import register
from wt_keras.heads.base import WatchTimeHead


@register
class RegressionHead(WatchTimeHead):
    """Regression of T in seconds: loss = ½ (z − T)², E[T | x] = z.

    The baseline the other heads are compared with (e.g. train-step cost in
    `benchmarks/`). Under EXUM the fused output is p′ = c·z + (1 − c)·T and
    c* = min(1, √λ / |z − T|): the default λ = 25 lowers c only for errors
    above 5 seconds.

    Example:
    >>> head = RegressionHead()
    >>> float(head.loss(tf.constant([3.0]), tf.constant([[1.0]]))[0])
    2.0
    """

    def __init__(self, confidence_penalty=25.0, **kwargs):
        super().__init__(num_logits=1, confidence_penalty=confidence_penalty, **kwargs)

    def _likelihood_loss(self, watch_time, logits, **context):
        return ops.fused_squared_error(logits, watch_time[:, None])

    def _fused_loss(self, watch_time, logits, confidence_logit, **context):
        return ops.fused_squared_error(logits, watch_time[:, None],
                                       confidence_logit=confidence_logit)

    def _intercept_logits(self, watch_time, **context):
        return [float(tf.reduce_mean(watch_time))]

    def expected_value(self, logits, **context):
        return self._check_logits(logits)[:, 0]

    has_distribution = False

    def _no_distribution(self):
        raise NotImplementedError(
            "RegressionHead has no watch-time distribution: it regresses one number in seconds, "
            "so survival(), quantile() and completion_probability() are undefined. Use "
            "expected_value(), or train a distributional head such as BucketizedGeometricHead "
            "or CreadHead.")
