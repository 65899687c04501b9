"""TPM head: tree-based progressive regression (Lin et al., KDD 2023)."""
import numpy as np
import tensorflow as tf

from wt_keras import ops
from wt_keras._keras import register
from wt_keras.buckets import validate_boundaries
from wt_keras.heads._piecewise import PiecewiseLinearLaw
from wt_keras.heads.base import WatchTimeHead

# The authors tuned w_mse = 0.2 and w_var = 1.0 on CIKM16 dwell times in [0, 6) s.
REFERENCE_LABEL_RANGE = 6.0


@register
class TPMHead(PiecewiseLinearLaw, WatchTimeHead):
    """TPM: a complete binary tree of classifiers over the K buckets of a grid.

    Node i (heap order: children 2i + 1, 2i + 2) predicts σ(z_i) = P(go right,
    i.e. to the longer buckets | reached i); leaf k is bucket [t_{k−1}, t_k)
    (labels ≥ t_K fall in the last leaf). With v_k the leaf value (bucket
    midpoint, the authors' choice, or e.g. `TPMHead.leaf_means`) and s the
    label scale:

        P(leaf k) = Π_{i on the path to k} σ(±z_i)
        E[T | x]  = Σ_k P(leaf k) v_k
        loss = Σ_{i on the label's path} BCE(branch taken, σ(z_i))
               + w_mse ((T − E)/s)² + w_var Σ_k P(leaf k) ((v_k − E)/s)²

    The tree term equals −log P(leaf of T). Errors are divided by
    s = t_K / 6 by default: this maps the grid onto the authors' CIKM16 label
    range [0, 6) s, where their weights 0.2 and 1.0 were set, so the weights
    mean the same on labels of any scale (on CIKM16 s ≈ 1 and the terms are
    theirs). Two differences from the public code, both deliberate: the tree
    term is summed over the path nodes (the code averages over all K − 1
    nodes, the other heads here sum over outputs), and the uncertainty term
    is the variance (the code uses the standard deviation, whose gradient is
    unbounded at a certain prediction). K need not be a power of two: the
    tree is then complete with leaves on two adjacent levels, still K − 1
    logits. Distribution (`survival`, `quantile`, `completion_probability`):
    each leaf's probability spread uniformly over its bucket, so S(t) is
    linear between S(t_k) = Σ_{j>k} P(leaf j) and 0 from t_K on. EXUM fuses the node labels of the path; nodes off the path carry
    no label and are not counted. The accuracy and uncertainty terms act on
    the raw tree under EXUM.

    Args:
      boundaries: t_1..t_K in seconds (e.g. `boundaries_from_percentiles(T, "uniform:16")`).
      leaf_values: optional [K] value per leaf in seconds (default: midpoints).
      mse_weight: w_mse.
      variance_weight: w_var.
      label_scale: s in seconds (default t_K / 6).
      confidence_penalty: EXUM λ, default 1: with the tower's default
        `initial_confidence` it matched TPM without EXUM on the simulator
        (Δ MAE −0.01 ± 0.01 s; benchmarks/results/exum_tower); with a
        Keras-initialised tower every λ of 0.1, 1, 10 made TPM worse.

    Example:
    >>> head = TPMHead(boundaries=[2.0, 4.0, 6.0, 8.0])
    >>> logits = head(tf.zeros([2, 16]))                  # [2, 3]
    >>> head.leaf_probabilities(tf.zeros([1, 3])).numpy().round(2).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    >>> float(head.expected_value(tf.zeros([1, 3]))[0])    # mean of 1, 3, 5, 7
    4.0
    """

    def __init__(self, boundaries, leaf_values=None, mse_weight=0.2, variance_weight=1.0,
                 label_scale=None, confidence_penalty=1.0, **kwargs):
        boundaries = validate_boundaries(boundaries)
        if boundaries.size < 2:
            raise ValueError(f"TPMHead needs at least 2 buckets (leaves), got boundaries "
                             f"{boundaries.tolist()}; use a finer grid such as 'uniform:16'.")
        super().__init__(num_logits=boundaries.size - 1,
                         confidence_penalty=confidence_penalty, **kwargs)
        lower, upper = ops.bucket_edges(boundaries)
        if leaf_values is None:
            leaf_values = (lower + upper) / 2.0
        leaf_values = np.asarray(leaf_values, np.float64).reshape(-1)
        if leaf_values.shape != boundaries.shape or not np.all(np.isfinite(leaf_values)):
            raise ValueError(f"leaf_values must be {boundaries.size} finite values (one per "
                             f"bucket), got {leaf_values.tolist()}.")
        if mse_weight < 0 or variance_weight < 0:
            raise ValueError("mse_weight and variance_weight must be >= 0, got "
                             f"{mse_weight} and {variance_weight}.")
        if label_scale is None:
            label_scale = boundaries[-1] / REFERENCE_LABEL_RANGE
        if not label_scale > 0:
            raise ValueError(f"label_scale must be > 0 seconds, got {label_scale}.")
        self.boundaries = boundaries
        self._knots = np.concatenate([[0.0], boundaries])
        self.leaf_values = leaf_values
        self.mse_weight = float(mse_weight)
        self.variance_weight = float(variance_weight)
        self.label_scale = float(label_scale)
        self._right, self._left = ops.tpm_tree(boundaries.size)

    @staticmethod
    def leaf_means(watch_time, boundaries):
        """Training mean of T per leaf (the midpoint where a leaf is empty), [K] numpy.

        Pass as `leaf_values` for the option of valuing a leaf by its mean.
        """
        boundaries = validate_boundaries(boundaries)
        values = np.asarray(watch_time, np.float64).reshape(-1)
        index = np.minimum(np.searchsorted(boundaries, values, side="right"), boundaries.size - 1)
        lower, upper = ops.bucket_edges(boundaries)
        sums = np.bincount(index, values, minlength=boundaries.size)
        counts = np.bincount(index, minlength=boundaries.size)
        return np.where(counts > 0, sums / np.maximum(counts, 1), (lower + upper) / 2.0)

    def leaf_probabilities(self, logits):
        """P(leaf k | x), [B, K] (rows sum to 1)."""
        return ops.tpm_leaf_probabilities(self._check_logits(logits), self._right, self._left)

    # One cross-entropy per tree node (tens, not hundreds of outputs): compiling the loss
    # as one XLA computation measured slower (`benchmarks/heads_train_step.py`).
    compile_loss = False

    def _likelihood_loss(self, watch_time, logits, **context):
        return (ops.tpm_tree_cross_entropy(watch_time, logits, self.boundaries,
                                           self._right, self._left)
                + self._auxiliary_loss(watch_time, logits))

    _hard_confidence_targets = True          # left/right decisions on the label's path

    def _confidence_targets(self, watch_time, logits, **context):
        leaf = ops.tpm_leaf_index(watch_time, self.boundaries)
        return ops.tpm_path_targets(leaf, self._right, self._left, watch_time.dtype)

    def _auxiliary_loss(self, watch_time, logits, **context):
        if not (self.mse_weight or self.variance_weight):
            return 0.0
        squared_error, variance = ops.tpm_regularizers(
            watch_time, logits, self._right, self._left, self.leaf_values, self.label_scale)
        return self.mse_weight * squared_error + self.variance_weight * variance

    def expected_value(self, logits, **context):
        return ops.tpm_expected_watch_time(self._check_logits(logits), self._right, self._left,
                                           self.leaf_values)

    # Distribution: leaf k uniform on [t_{k−1}, t_k), a piecewise-linear survival
    # through S(t_k) = Σ_{j>k} P(leaf j) (ops.piecewise_linear). Its mean is
    # expected_value with the default midpoint leaf values.
    def _knot_survival(self, logits):
        return ops.survival_from_bucket_probabilities(
            ops.tpm_leaf_probabilities(logits, self._right, self._left))

    def serving_outputs(self, logits, **context):
        return {"watch_time": self.expected_value(logits),
                "leaf_probabilities": self.leaf_probabilities(logits)}

    def get_config(self):
        return {**super().get_config(), "boundaries": self.boundaries.tolist(),
                "leaf_values": self.leaf_values.tolist(), "mse_weight": self.mse_weight,
                "variance_weight": self.variance_weight, "label_scale": self.label_scale}
