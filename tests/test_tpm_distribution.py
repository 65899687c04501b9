"""TPM's distribution: leaf probabilities spread uniformly within their buckets."""
import numpy as np
import pytest
import tensorflow as tf

from _distribution_reference import interpolated_survival
from wt_keras import heads

BOUNDARIES = np.array([2.0, 5.0, 9.0, 15.0, 30.0])          # five leaves: leaves on two levels


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_tpm_matches_brute_force_interpolation_of_leaf_probabilities(dtype):
    head = heads.TPMHead(BOUNDARIES)
    logits = tf.constant(np.random.default_rng(0).normal(0.0, 1.5, (5, 4)), dtype)
    leaf = np.asarray(head.leaf_probabilities(logits), np.float64)
    knots = np.concatenate([[0.0], BOUNDARIES])
    values = [np.concatenate([[1.0], 1.0 - np.cumsum(row)]) for row in leaf]
    t = np.concatenate([[-1.0, 0.0], np.linspace(0.1, 35.0, 120), BOUNDARIES])
    got = head.survival(logits, tf.constant(np.tile(t, (5, 1)), dtype))
    expected = np.stack([interpolated_survival(knots, v, t) for v in values])
    np.testing.assert_allclose(got, expected, atol=2e-6)
    durations = tf.constant([0.0, 3.0, 9.0, 29.0, 31.0], dtype)
    expected_c = [np.interp(d, knots, v) if d <= 30 else 0.0 for d, v in zip(durations.numpy(), values)]
    np.testing.assert_allclose(head.completion_probability(logits, durations), expected_c, atol=2e-6)
    fine = np.linspace(0.0, 30.0, 300_001)
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    got_q = np.asarray(head.quantile(logits, levels))
    for row, v in enumerate(values):
        cdf = 1.0 - interpolated_survival(knots, v, fine)
        for column, q in enumerate(levels):
            expected_t = fine[np.flatnonzero(cdf >= q - 1e-12)[0]]
            assert abs(got_q[row, column] - expected_t) < 1e-3, (row, q)


def test_tpm_matches_monte_carlo_and_its_mean():
    head = heads.TPMHead(BOUNDARIES)
    logits = tf.constant([[0.4, -1.0, 1.2, 0.3]], tf.float64)
    leaf = np.asarray(head.leaf_probabilities(logits))[0]
    rng = np.random.default_rng(1)
    lower, upper = np.concatenate([[0.0], BOUNDARIES[:-1]]), BOUNDARIES
    chosen = rng.choice(leaf.size, 300_000, p=leaf / leaf.sum())
    samples = rng.uniform(lower[chosen], upper[chosen])
    for t in [0.5, 2.0, 4.0, 12.0, 20.0, 29.0]:
        expected = float(head.survival(logits, t)[0])
        assert abs(np.mean(samples > t) - expected) < 4 * np.sqrt(expected * (1 - expected) / samples.size)
    # ∫ S(t) dt = Σ_k P(leaf k)·midpoint_k = expected_value with the default leaf values.
    grid = np.linspace(0.0, 30.0, 30_001)
    survival = np.asarray(head.survival(logits, grid[None, :]))[0]
    integral = np.sum((survival[1:] + survival[:-1]) / 2 * np.diff(grid))
    np.testing.assert_allclose(integral, head.expected_value(logits)[0], rtol=1e-6)
