"""D2Q head: duration-deconfounded quantile regression (Zhan et al., KDD 2022)."""
import numpy as np
import tensorflow as tf

from wt_keras import ops
from wt_keras._keras import register
from wt_keras.heads.base import WatchTimeHead


def _validate_tables(duration_edges, quantile_table):
    edges = np.asarray(duration_edges, np.float64).reshape(-1)
    table = np.asarray(quantile_table, np.float64)
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValueError(f"quantile_table must have shape [groups, quantiles>=2], got {table.shape}.")
    if table.shape[0] != len(edges) + 1:
        raise ValueError(f"quantile_table has {table.shape[0]} rows but {len(edges)} duration "
                         f"edges define {len(edges) + 1} groups; build both with buckets.d2q_tables.")
    if not (np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)):
        raise ValueError("duration_edges must be finite and strictly increasing.")
    if not np.all(np.isfinite(table)) or np.any(np.diff(table, axis=1) < 0) or np.any(table < 0):
        raise ValueError("each quantile_table row must be finite, >= 0 and non-decreasing.")
    return edges, table


@register
class D2QHead(WatchTimeHead):
    """D2Q: regress the within-duration-group quantile of the watch time.

    The label is q = F_g(T), the empirical CDF of the sample's duration group
    g (tables from `buckets.d2q_tables`, embedded in the layer as constants so
    serving needs only the duration feature). One sigmoid output q̂ = σ(z):

        loss = ½ (s · (q̂ − q))²,     E[T | x] = F_g⁻¹(q̂)

    s = `label_scale` puts the label on a percentile scale by default (100).
    That matters for EXUM only: with squared error the per-sample optimum is
    c* = min(1, √λ / (s·|q̂ − q|)), so the EXUM paper's λ = 16 lowers c only
    where the error exceeds 4 percentile points; on a [0, 1] scale (s = 1)
    λ = 16 would disable EXUM.

    Needs `duration` (seconds, [B]) in `loss` and `expected_value`.

    Args:
      duration_edges: [G−1] interior edges of the duration groups.
      quantile_table: [G, Q] watch-time quantiles per group at levels linspace(0, 1, Q).
      label_scale: s.
      confidence_penalty: EXUM λ. Default 160 (10× the EXUM paper's 16): in a
        reduced λ sweep (benchmarks/results/exum_lambda_reduced) λ = 16 made
        D2Q worse than without EXUM by 2 s MAE, λ = 160 stayed within noise;
        with the tower's default `initial_confidence` λ = 160 matches D2Q
        without EXUM (Δ MAE +0.02 ± 0.03 s; benchmarks/results/exum_tower).

    Example:
    >>> head = D2QHead(duration_edges=[30.0], quantile_table=[[0, 10, 20], [0, 30, 60]])
    >>> float(head.expected_value(tf.zeros([1, 1]), duration=tf.constant([45.0]))[0])
    30.0
    """

    def __init__(self, duration_edges, quantile_table, label_scale=100.0,
                 confidence_penalty=160.0, **kwargs):
        edges, table = _validate_tables(duration_edges, quantile_table)
        if not label_scale > 0:
            raise ValueError(f"label_scale must be > 0, got {label_scale}.")
        super().__init__(num_logits=1, confidence_penalty=confidence_penalty, **kwargs)
        self.duration_edges = edges
        self.quantile_table = table
        self.label_scale = float(label_scale)

    def _duration(self, duration, dtype):
        if duration is None:
            raise ValueError("D2QHead needs the video duration: pass duration=<[batch] seconds> "
                             "to loss() and expected_value() (WatchTimeRanker does this from "
                             "its `duration_feature`).")
        duration = tf.cast(duration, dtype)
        return tf.reshape(duration, [-1])

    def quantile_label(self, watch_time, duration):
        """q = F_g(T) of each sample's duration group, shape [B]."""
        watch_time = tf.cast(watch_time, tf.float32)
        return ops.d2q_quantile_label(watch_time, self._duration(duration, watch_time.dtype),
                                      self.duration_edges, self.quantile_table)

    def _likelihood_loss(self, watch_time, logits, duration=None, **context):
        return self._fused_loss(watch_time, logits, None, duration=duration)

    def _fused_loss(self, watch_time, logits, confidence_logit, duration=None, **context):
        labels = self.quantile_label(watch_time, duration)[:, None]
        return ops.fused_squared_error(tf.sigmoid(logits), labels, scale=self.label_scale,
                                       confidence_logit=confidence_logit)

    def _intercept_logits(self, watch_time, duration=None, **context):
        # The mean label is also the squared error's optimum of the sigmoid output.
        labels = self.quantile_label(watch_time, duration)[:, None]
        return ops.intercept_logits(labels).numpy().tolist()

    def expected_value(self, logits, duration=None, **context):
        logits = self._check_logits(logits)
        return ops.d2q_watch_time(tf.sigmoid(logits[:, 0]), self._duration(duration, logits.dtype),
                                  self.duration_edges, self.quantile_table)

    def serving_outputs(self, logits, duration=None, **context):
        return {"watch_time": self.expected_value(logits, duration=duration),
                "quantile": tf.sigmoid(logits[:, 0])}

    has_distribution = False

    def _no_distribution(self):
        raise NotImplementedError(
            "D2QHead has no watch-time distribution: it predicts a single within-duration-group "
            "quantile level q̂ per sample, so survival(), quantile() and "
            "completion_probability() are undefined. Use expected_value() (F_g⁻¹(q̂) in seconds), "
            "or train a distributional head such as BucketizedGeometricHead or CreadHead.")

    def get_config(self):
        return {**super().get_config(), "duration_edges": self.duration_edges.tolist(),
                "quantile_table": self.quantile_table.tolist(), "label_scale": self.label_scale}
