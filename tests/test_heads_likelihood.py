"""Head losses and expectations against independent references.

References: Monte-Carlo simulation of each generative model (tolerance from
the Monte-Carlo standard error) and scipy.stats log-probabilities.
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from wt_keras import heads
from _samplers import simulate_bucketized_geometric

BOUNDARIES = np.array([3.0, 8.0, 20.0])
WIDTHS = np.diff(np.concatenate([[0.0], BOUNDARIES]))


def _logit(p):
    p = np.asarray(p, np.float64)
    return np.log(p) - np.log1p(-p)


def test_swat_geo_expectation_matches_monte_carlo_spec_example():
    p = np.array([0.9, 0.8, 0.95, 0.97])
    rng = np.random.default_rng(0)
    samples = simulate_bucketized_geometric(p, BOUNDARIES, 400_000, rng)
    head = heads.BucketizedGeometricHead(BOUNDARIES)
    expected = float(head.expected_value(_logit(p)[None].astype(np.float32))[0])
    standard_error = samples.std() / np.sqrt(samples.size)
    assert abs(expected - samples.mean()) < 4 * standard_error
    assert expected == pytest.approx(10.66, abs=0.01)   # the reference case's mean


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_swat_geo_expectation_random_parameters(seed):
    rng = np.random.default_rng(seed)
    boundaries = np.cumsum(rng.integers(1, 6, size=5)).astype(float)
    p = rng.uniform(0.5, 0.95, size=len(boundaries) + 1)   # incl. the open bucket
    samples = simulate_bucketized_geometric(p, boundaries, 300_000, rng)
    head = heads.BucketizedGeometricHead(boundaries)
    expected = float(head.expected_value(_logit(p)[None].astype(np.float32))[0])
    assert abs(expected - samples.mean()) < 4 * samples.std() / np.sqrt(samples.size)


@pytest.mark.parametrize("num_buckets", [70, 2100])
def test_swat_geo_expectation_with_many_buckets_is_the_survival_sum(num_buckets):
    # Past 64 buckets the reach R_m comes from a blocked scan, past 2048 from a scan of scans.
    rng = np.random.default_rng(num_buckets)
    widths = rng.integers(1, 4, size=num_buckets)
    p = rng.uniform(0.998, 0.9999, size=num_buckets + 1)
    # E[Y] = Σ_{y≥1} P(Y ≥ y) with P(Y ≥ y) = reach[y] = Π_{s<y} q_s, q_s the p of second s's bucket.
    per_second = np.repeat(p[:-1], widths)
    reach = np.concatenate([[1.0], np.cumprod(per_second)])
    expected = reach[1:].sum() + reach[-1] * p[-1] / (1.0 - p[-1])
    head = heads.BucketizedGeometricHead(np.cumsum(widths).astype(float))
    got = float(head.expected_value(_logit(p)[None])[0])
    assert got == pytest.approx(expected, rel=1e-9)


def test_swat_binom_expectation_matches_monte_carlo():
    p = np.array([0.7, 0.4, 0.1])
    rng = np.random.default_rng(4)
    samples = sum(rng.binomial(int(w), p_k, 300_000) for w, p_k in zip(WIDTHS, p))
    head = heads.BinomialSoftLabelHead(BOUNDARIES)
    expected = float(head.expected_value(_logit(p)[None].astype(np.float32))[0])
    assert abs(expected - samples.mean()) < 4 * samples.std() / np.sqrt(samples.size)


def _swat_geo_scipy_log_pmf(y, p, boundaries):
    # Survive w_i seconds in each earlier bucket, then y − t_{m−1} seconds and stop.
    lower = np.concatenate([[0.0], boundaries])
    m = np.searchsorted(boundaries, y, side="right")
    log_pmf = sum(stats.geom.logsf(lower[i + 1] - lower[i], 1 - p[i]) for i in range(m))
    return log_pmf + stats.geom.logpmf(y - lower[m] + 1, 1 - p[m])


@pytest.mark.parametrize("y", [0, 1, 2, 3, 7, 8, 19, 20, 21, 57])
def test_swat_geo_loss_is_scipy_negative_log_pmf(y):
    p = np.array([0.9, 0.8, 0.95, 0.97])
    head = heads.BucketizedGeometricHead(BOUNDARIES)
    loss = head.loss(tf.constant([float(y)], tf.float64), tf.constant(_logit(p)[None]))
    assert float(loss[0]) == pytest.approx(-_swat_geo_scipy_log_pmf(y, p, BOUNDARIES), rel=1e-9)


def test_swat_geo_pmf_sums_to_one():
    p = np.array([0.9, 0.8, 0.95, 0.97])
    head = heads.BucketizedGeometricHead(BOUNDARIES)
    y = np.arange(0, 3000, dtype=np.float64)
    logits = np.repeat(_logit(p)[None], len(y), 0)
    log_pmf = -head.loss(tf.constant(y), tf.constant(logits)).numpy()
    assert np.exp(log_pmf).sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("y", [0, 1, 5, 40])
def test_geometric_loss_is_scipy_negative_log_pmf(y):
    p = 0.93
    head = heads.GeometricHead()
    loss = head.loss(tf.constant([float(y)], tf.float64), tf.constant([[_logit(p)]]))
    assert float(loss[0]) == pytest.approx(-stats.geom.logpmf(y + 1, 1 - p), rel=1e-9)


def test_geometric_expectation_is_scipy_mean():
    p = 0.93
    head = heads.GeometricHead()
    expected = float(head.expected_value(tf.constant([[_logit(p)]]))[0])
    assert expected == pytest.approx(stats.geom.mean(1 - p) - 1, rel=1e-9)


@pytest.mark.parametrize("y", [0, 2, 3, 6, 11, 20])
def test_swat_binom_width_weighted_loss_is_binomial_nll(y):
    """Σ w_k BCE(y_k/w_k, p_k) = −Σ log Binom(y_k; w_k, p_k) + Σ log C(w_k, y_k)."""
    p = np.array([0.7, 0.4, 0.1])
    head = heads.BinomialSoftLabelHead(BOUNDARIES, weight_by_width=True)
    loss = float(head.loss(tf.constant([float(y)], tf.float64), tf.constant(_logit(p)[None]))[0])
    coverage = np.clip(y - np.concatenate([[0.0], BOUNDARIES[:-1]]), 0, WIDTHS)
    log_binomial_coefficient = sum(
        stats.binom.logpmf(c, w, 0.5) - w * np.log(0.5) for c, w in zip(coverage, WIDTHS))
    nll = -sum(stats.binom.logpmf(c, w, p_k) for c, w, p_k in zip(coverage, WIDTHS, p))
    assert loss == pytest.approx(nll + log_binomial_coefficient, rel=1e-9)


def test_swat_binom_unweighted_loss_is_sum_of_bce():
    p = np.array([0.7, 0.4, 0.1])
    head = heads.BinomialSoftLabelHead(BOUNDARIES)
    soft = np.array([1.0, 2.0 / 5.0, 0.0])          # T = 5
    expected = -np.sum(soft * np.log(p) + (1 - soft) * np.log1p(-p))
    loss = head.loss(tf.constant([5.0], tf.float64), tf.constant(_logit(p)[None]))
    assert float(loss[0]) == pytest.approx(expected, rel=1e-9)


def test_ordinal_loss_and_restoration():
    phi = np.array([0.8, 0.5, 0.2])
    head = heads.OrdinalHead(BOUNDARIES)
    labels = np.array([1.0, 0.0, 0.0])              # T = 5: above 3, not above 8
    expected = -np.sum(labels * np.log(phi) + (1 - labels) * np.log1p(-phi))
    loss = head.loss(tf.constant([5.0], tf.float64), tf.constant(_logit(phi)[None]))
    assert float(loss[0]) == pytest.approx(expected, rel=1e-9)
    restored = float(head.expected_value(tf.constant(_logit(phi)[None]))[0])
    assert restored == pytest.approx(0.8 * 3 + 0.5 * 5 + 0.2 * 12)


def test_cread_adds_huber_restoration_and_ordinal_terms():
    phi = np.array([0.5, 0.6, 0.2])                  # 0.6 > 0.5 violates monotonicity
    head = heads.CreadHead(BOUNDARIES, restoration_weight=2.0, monotonicity_weight=0.5,
                           huber_delta=1.0)
    t = 30.0
    labels = np.array([1.0, 1.0, 1.0])
    bce = -np.sum(labels * np.log(phi) + (1 - labels) * np.log1p(-phi))
    restored = 0.5 * 3 + 0.6 * 5 + 0.2 * 12
    huber = abs(restored - t) / 20.0 - 0.5           # error in units of t_M = 20 s: |e| > δ = 1
    # M = 3 outputs; the ordinal term carries the reference batch size 2048.
    expected = bce + 3 * 2.0 * huber + 3 * 2048 * 0.5 * (0.6 - 0.5)
    loss = head.loss(tf.constant([t], tf.float64), tf.constant(_logit(phi)[None]))
    assert float(loss[0]) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("clicked", [None, [1.0, 0.0, 1.0]])
def test_weighted_logistic_loss(clicked):
    t = np.array([4.0, 0.0, 12.0])
    z = np.array([0.3, -1.0, 2.0])
    p = 1 / (1 + np.exp(-z))
    head = heads.WeightedLogisticHead()
    loss = head.loss(tf.constant(t, tf.float64), tf.constant(z[:, None]),
                     clicked=None if clicked is None else tf.constant(clicked, tf.float64))
    if clicked is None:
        expected = -(t * np.log(p) + np.log1p(-p))
    else:
        c = np.array(clicked)
        expected = -(c * t * np.log(p) + (1 - c) * np.log1p(-p))
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-9)


def test_d2q_loss_and_inverse_mapping():
    table = np.array([[0.0, 10.0, 20.0], [0.0, 30.0, 60.0]])
    head = heads.D2QHead([30.0], table, label_scale=100.0)
    # T = 15 with d = 10 (group 0): q = 0.75. Prediction σ(0) = 0.5.
    loss = head.loss(tf.constant([15.0]), tf.zeros([1, 1]), duration=tf.constant([10.0]))
    assert float(loss[0]) == pytest.approx(0.5 * (100 * 0.25) ** 2, rel=1e-5)
    value = head.expected_value(tf.constant([[_logit(0.25)]], tf.float32),
                                duration=tf.constant([45.0]))
    assert float(value[0]) == pytest.approx(15.0, rel=1e-5)
