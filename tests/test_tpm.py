"""TPM head (Lin et al., KDD 2023): tree probabilities, expectation, loss, training."""
import math

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, ops


def _descend(logits_row, num_leaves):
    """Leaf probabilities by walking the heap from the root, ordered left to right.

    Each node splits its interval [start, start + width) in two halves; sorting
    the leaves by interval start gives their left-to-right order.
    """
    leaves = []

    def walk(node, probability, start, width):
        if node >= num_leaves - 1:
            leaves.append((start, probability))
            return
        right = 1.0 / (1.0 + math.exp(-logits_row[node]))
        walk(2 * node + 1, probability * (1.0 - right), start, width / 2)
        walk(2 * node + 2, probability * right, start + width / 2, width / 2)

    walk(0, 1.0, 0.0, 1.0)
    return np.array([p for _, p in sorted(leaves)])


@pytest.mark.parametrize("num_leaves", [2, 3, 5, 8, 16, 20])
def test_leaf_probabilities_sum_to_one_and_match_path_enumeration(num_leaves):
    boundaries = np.arange(1.0, num_leaves + 1.0)
    head = heads.TPMHead(boundaries)
    logits = np.random.default_rng(num_leaves).normal(0, 2, [4, num_leaves - 1])
    probabilities = head.leaf_probabilities(tf.constant(logits)).numpy()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-12)
    expected = np.stack([_descend(row, num_leaves) for row in logits])
    np.testing.assert_allclose(probabilities, expected, rtol=1e-10)


def test_power_of_two_tree_reads_the_leaf_index_as_binary_path():
    # K = 8: leaf k's path is k in binary, most significant bit first (1 = right).
    right, left = ops.tpm_tree(8)
    for leaf in range(8):
        node = 0
        for bit in format(leaf, "03b"):
            assert (right if bit == "1" else left)[node, leaf] == 1
            node = 2 * node + 1 + int(bit)
        assert right[:, leaf].sum() + left[:, leaf].sum() == 3


def test_expectation_and_loss_match_hand_computation():
    head = heads.TPMHead([2.0, 4.0, 6.0, 8.0])          # leaves at 1, 3, 5, 7; s = 8/6
    logits = np.array([[0.3, -1.2, 0.8]])                 # root, left child, right child
    root, left_child, right_child = 1 / (1 + np.exp(-logits[0]))
    leaves = np.array([(1 - root) * (1 - left_child), (1 - root) * left_child,
                       root * (1 - right_child), root * right_child])
    values = np.array([1.0, 3.0, 5.0, 7.0])
    expected_mean = leaves @ values
    np.testing.assert_allclose(head.expected_value(tf.constant(logits)).numpy(), [expected_mean],
                               rtol=1e-12)
    # T = 4.5 lies in leaf 2 (right at the root, left at node 2).
    scale = 8.0 / 6.0
    tree = -math.log(root) - math.log(1 - right_child)
    accuracy = 0.2 * ((4.5 - expected_mean) / scale) ** 2
    spread = 1.0 * leaves @ ((values - expected_mean) / scale) ** 2
    loss = head.loss(tf.constant([4.5], tf.float64), tf.constant(logits)).numpy()
    np.testing.assert_allclose(loss, [tree + accuracy + spread], rtol=1e-12)


def test_labels_at_and_beyond_the_last_endpoint_fall_in_the_last_leaf():
    index = ops.tpm_leaf_index(tf.constant([0.0, 1.99, 2.0, 7.9, 8.0, 500.0]),
                               [2.0, 4.0, 6.0, 8.0]).numpy()
    assert index.tolist() == [0, 0, 1, 3, 3, 3]


def test_tree_term_is_minus_log_probability_of_the_label_leaf():
    head = heads.TPMHead([1.0, 2.0, 3.0, 4.0, 5.0], mse_weight=0.0, variance_weight=0.0)
    logits = tf.constant(np.random.default_rng(1).normal(size=[5, 4]))
    labels = tf.constant([0.5, 1.5, 2.5, 3.5, 4.5], tf.float64)
    expected = -np.log(head.leaf_probabilities(logits).numpy()[np.arange(5), np.arange(5)])
    np.testing.assert_allclose(head.loss(labels, logits).numpy(), expected, rtol=1e-10)


def test_label_scale_makes_the_loss_invariant_to_the_time_unit():
    logits = tf.constant(np.random.default_rng(2).normal(size=[3, 7]))
    seconds = heads.TPMHead(np.arange(1.0, 9.0))
    milliseconds = heads.TPMHead(np.arange(1.0, 9.0) * 1000)
    labels = tf.constant([0.3, 4.2, 9.0], tf.float64)
    np.testing.assert_allclose(seconds.loss(labels, logits).numpy(),
                               milliseconds.loss(labels * 1000, logits).numpy(), rtol=1e-10)


def test_leaf_means_option():
    means = heads.TPMHead.leaf_means([0.5, 1.5, 1.0, 3.5, 9.0], [2.0, 4.0, 6.0, 8.0])
    np.testing.assert_allclose(means, [1.0, 3.5, 5.0, 9.0])   # empty leaf 2 keeps its midpoint
    head = heads.TPMHead([2.0, 4.0, 6.0, 8.0], leaf_values=means)
    assert float(head.expected_value(tf.zeros([1, 3]))[0]) == pytest.approx(np.mean(means))


def test_intercept_is_the_empirical_branching_rate():
    head = heads.TPMHead([2.0, 4.0, 6.0, 8.0])
    # 3 labels left of the root (2 of them in leaf 1), 1 right (in leaf 3).
    bias = head.initialize_bias(tf.constant([0.5, 2.5, 3.0, 7.0]))
    rates = 1 / (1 + np.exp(-bias))
    np.testing.assert_allclose(rates, [0.25, 2 / 3, 1.0 - 1e-4], rtol=1e-5)


def test_rejects_a_single_bucket_and_bad_leaf_values():
    with pytest.raises(ValueError, match="at least 2 buckets"):
        heads.TPMHead([5.0])
    with pytest.raises(ValueError, match="leaf_values"):
        heads.TPMHead([1.0, 2.0], leaf_values=[1.0])
