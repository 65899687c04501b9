"""Tree-based progressive regression, TPM (Lin et al., KDD 2023).

The K buckets of a percentile grid are the leaves of a complete binary tree
in heap order: node i has children 2i + 1 and 2i + 2, nodes 0..K−2 are
internal (one logit each, σ(z_i) = P(go right | reached i)), nodes
K−1..2K−2 are leaves. Buckets are assigned to the leaves from left to right
(in-order), so going right always means a longer watch. For K a power of
two every leaf sits at depth log2 K (the authors' tree); otherwise the
leaves sit on two adjacent levels, and every K ≥ 2 still needs exactly
K − 1 logits.

A tree is described by two constant [K−1, K] 0/1 matrices: `right[i, k]`
(`left[i, k]`) is 1 when the path to leaf k goes right (left) at node i.
"""
import numpy as np
import tensorflow as tf

from wt_keras.ops.bucketing import bucket_index


def tpm_tree(num_leaves):
    """(right, left): the [K−1, K] path matrices of the complete tree with K leaves."""
    num_leaves = int(num_leaves)
    if num_leaves < 2:
        raise ValueError(f"a TPM tree needs at least 2 leaves (buckets), got {num_leaves}.")
    right = np.zeros([num_leaves - 1, num_leaves], np.float64)
    left = np.zeros_like(right)
    leaf_order = []

    def visit(node, path):
        if node >= num_leaves - 1:           # heap indices K−1..2K−2 are leaves
            leaf_order.append(path)
            return
        visit(2 * node + 1, path + [(node, False)])
        visit(2 * node + 2, path + [(node, True)])

    visit(0, [])
    for leaf, path in enumerate(leaf_order):
        for node, goes_right in path:
            (right if goes_right else left)[node, leaf] = 1.0
    return right, left


def tpm_leaf_log_probabilities(logits, right, left):
    """log P(leaf k) = Σ_nodes on its path log σ(±z_i), shape [B, K]."""
    right = tf.cast(right, logits.dtype)
    left = tf.cast(left, logits.dtype)
    return (tf.linalg.matmul(tf.math.log_sigmoid(logits), right)
            + tf.linalg.matmul(tf.math.log_sigmoid(-logits), left))


def tpm_leaf_probabilities(logits, right, left):
    """P(leaf k) = product of the branch probabilities on its path, [B, K]; rows sum to 1."""
    return tf.exp(tpm_leaf_log_probabilities(logits, right, left))


def tpm_leaf_index(watch_time, boundaries):
    """Leaf (bucket) of T: k with t_{k−1} ≤ T < t_k, T ≥ t_K in the last leaf, [B] int32."""
    return bucket_index(watch_time, boundaries)


def tpm_path_targets(leaf_index, right, left, dtype=tf.float32):
    """(targets, weights) [B, K−1] of the node classifiers for the label's leaf.

    Node i on the path gets target 1 (went right) or 0 (went left) and weight
    1; nodes off the path have weight 0 (the sample never reached them).
    """
    right_t = tf.transpose(tf.cast(right, dtype))
    left_t = tf.transpose(tf.cast(left, dtype))
    targets = tf.gather(right_t, leaf_index)
    return targets, targets + tf.gather(left_t, leaf_index)


def tpm_expected_watch_time(logits, right, left, leaf_values):
    """E[T | x] = Σ_k P(leaf k) v_k, shape [B]."""
    probabilities = tpm_leaf_probabilities(logits, right, left)
    return tf.linalg.matvec(probabilities, tf.cast(leaf_values, logits.dtype))


def tpm_variance(logits, right, left, leaf_values):
    """Var[T | x] = Σ_k P(leaf k) (v_k − E)², shape [B] (centred: no cancellation)."""
    probabilities = tpm_leaf_probabilities(logits, right, left)
    values = tf.cast(leaf_values, logits.dtype)
    mean = tf.linalg.matvec(probabilities, values)
    return tf.reduce_sum(probabilities * tf.square(values - mean[:, None]), -1)


def tpm_tree_cross_entropy(watch_time, logits, boundaries, right, left):
    """Σ over the nodes on the label's path of the BCE of the branch taken, [B].

    Equals −log P(leaf of T): the tree's likelihood of the label's bucket.
    """
    targets, weights = tpm_path_targets(tpm_leaf_index(watch_time, boundaries), right, left,
                                        logits.dtype)
    per_node = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.reduce_sum(weights * per_node, -1)


def tpm_regularizers(watch_time, logits, right, left, leaf_values, label_scale):
    """((T − E)/s)² and Var/s², each [B]: TPM's accuracy and uncertainty terms."""
    probabilities = tpm_leaf_probabilities(logits, right, left)
    values = tf.cast(leaf_values, logits.dtype) / label_scale
    mean = tf.linalg.matvec(probabilities, values)
    variance = tf.reduce_sum(probabilities * tf.square(values - mean[:, None]), -1)
    return tf.square(watch_time / label_scale - mean), variance
