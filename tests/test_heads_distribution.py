"""survival / quantile / completion_probability of every head against independent references."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from _distribution_reference import (binomial_sum_pmf, discrete_quantile, geo_unit_survival,
                                     interpolated_survival, ordinal_curve, sigmoid)
from wt_keras import heads

BOUNDARIES = np.array([3.0, 8.0, 20.0, 45.0])
LEVELS = np.array([0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])


def _logits(rows, width, seed=0, scale=1.5, shift=1.5):
    return np.random.default_rng(seed).normal(shift, scale, (rows, width))


# -- SWaT-Geo --------------------------------------------------------------
@pytest.mark.parametrize("time_scale", [1.0, 10.0])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_swat_geo_matches_unit_by_unit_enumeration(time_scale, dtype):
    head = heads.BucketizedGeometricHead(BOUNDARIES, time_scale=time_scale)
    logits = _logits(5, 5, seed=1)
    logits[:, -1] = 3.0                       # a heavy open bucket: mass well beyond t_K
    max_units = int(200 * time_scale)
    reference = np.stack([geo_unit_survival(row, BOUNDARIES * time_scale, max_units)
                          for row in logits])               # P(Y ≥ y)
    t = np.linspace(-1.0, 150.0, 97) + 0.013
    units_above = np.clip(np.floor(t * time_scale) + 1, 0, None).astype(int)
    got = head.survival(tf.constant(logits, dtype), tf.constant(np.tile(t, (5, 1)), dtype))
    rtol = 1e-5 if dtype == tf.float32 else 1e-12
    np.testing.assert_allclose(got, reference[:, units_above], rtol=rtol, atol=1e-7)
    # Exactly on unit points: P(T > t) = P(Y ≥ αt + 1), P(T ≥ d) = P(Y ≥ αd).
    units = (np.array([0.0, 0.005, 0.15, 0.4, 0.75, 0.99]) * max_units).astype(int)
    seconds = units / time_scale
    got_survival = head.survival(tf.constant(logits, dtype), tf.constant(np.tile(seconds, (5, 1)), dtype))
    np.testing.assert_allclose(got_survival, reference[:, units + 1], rtol=rtol, atol=1e-7)
    for unit, second in zip(units, seconds):
        got_completion = head.completion_probability(tf.constant(logits, dtype), tf.constant(second, dtype))
        np.testing.assert_allclose(got_completion, reference[:, unit], rtol=rtol, atol=1e-7)
    # Quantiles: smallest y with P(Y ≤ y) ≥ q, scanned on the enumerated CDF.
    pmf = -np.diff(reference, axis=1)
    expected = np.array([[discrete_quantile(row, q) for q in LEVELS] for row in pmf]) / time_scale
    np.testing.assert_allclose(head.quantile(tf.constant(logits, dtype), LEVELS), expected, rtol=1e-7)


def test_swat_geo_matches_monte_carlo_of_sequential_watching():
    # The reference case: t = [0, 3, 8, 20], p = [.9, .8, .95, .97] (open bucket .97), E ≈ 10.66.
    p = np.array([0.9, 0.8, 0.95, 0.97])
    head = heads.BucketizedGeometricHead([3.0, 8.0, 20.0])
    logits = tf.constant([np.log(p / (1 - p))])
    rng = np.random.default_rng(7)
    samples = np.zeros(200_000)
    active = np.ones(samples.size, bool)
    while active.any():
        bucket = np.searchsorted([3.0, 8.0, 20.0], samples[active], side="right")
        stays = rng.random(active.sum()) < p[bucket]
        index = np.flatnonzero(active)
        samples[index[stays]] += 1
        active[index[~stays]] = False
    for t in [0.0, 2.0, 3.0, 7.5, 12.0, 20.0, 40.0, 90.0]:
        expected = float(head.survival(logits, t)[0])
        empirical = np.mean(samples > t)
        assert abs(empirical - expected) < 4 * np.sqrt(expected * (1 - expected) / samples.size) + 1e-4
    median = float(head.quantile(logits, 0.5)[0])
    assert np.mean(samples <= median) >= 0.5 > np.mean(samples <= median - 1)
    assert abs(samples.mean() - float(head.expected_value(logits)[0])) < 0.1


@pytest.mark.parametrize("time_scale", [1.0, 4.0])
def test_swat_geo_mean_is_the_sum_of_the_survival_function(time_scale):
    # E[Y] = Σ_{y ≥ 1} P(Y ≥ y): recovers expected_value, including the open bucket's tail.
    head = heads.BucketizedGeometricHead(BOUNDARIES, time_scale=time_scale)
    logits = _logits(4, 5, seed=3)
    logits[:, -1] = [1.0, 2.0, 2.5, -1.0]
    units = np.arange(1, 40_000)
    survival = head.survival(tf.constant(logits), tf.constant(np.tile((units - 0.5) / time_scale, (4, 1))))
    np.testing.assert_allclose(np.sum(survival, 1) / time_scale, head.expected_value(logits), rtol=1e-9)


# -- vanilla geometric and WLR -------------------------------------------------
@pytest.mark.parametrize("make_head,time_scale", [(heads.GeometricHead, 1.0),
                                                  (lambda: heads.GeometricHead(time_scale=2.0), 2.0),
                                                  (heads.WeightedLogisticHead, 1.0)])
def test_geometric_heads_match_scipy_geom(make_head, time_scale):
    head = make_head()
    mean_units = np.array([0.5, 3.0, 12.0, 250.0])        # E[Y] = e^z
    logits = np.log(mean_units)[:, None]
    failure = 1.0 / (1.0 + mean_units)                    # scipy's success probability 1 − p
    # scipy.stats.geom counts trials K ≥ 1 up to the first stop: Y = K − 1.
    t = np.array([0.0, 0.7, 1.0, 5.0, 30.0, 600.0])
    got = head.survival(tf.constant(logits), tf.constant(np.tile(t, (4, 1))))
    units_above = np.floor(t * time_scale) + 1
    np.testing.assert_allclose(got, stats.geom.sf(units_above[None, :] , failure[:, None]), rtol=1e-9)
    got_q = head.quantile(tf.constant(logits), LEVELS[1:])
    expected_q = (stats.geom.ppf(LEVELS[None, 1:], failure[:, None]) - 1) / time_scale
    np.testing.assert_array_equal(got_q, expected_q)
    duration = np.array([1.0, 4.0, 10.0, 300.0])
    got_c = head.completion_probability(tf.constant(logits), duration)
    np.testing.assert_allclose(got_c, stats.geom.sf(duration * time_scale, failure), rtol=1e-9)


# -- SWaT-Binom ---------------------------------------------------------------
@pytest.mark.parametrize("boundaries,time_scale", [(BOUNDARIES, 1.0), ([2.35, 7.81, 19.6, 61.2], 1.0),
                                                   ([2.35, 7.81, 19.6], 10.0)])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_swat_binom_matches_direct_convolution(boundaries, time_scale, dtype):
    head = heads.BinomialSoftLabelHead(boundaries, time_scale=time_scale)
    trials = np.diff(np.round(np.concatenate([[0.0], boundaries]) * time_scale))
    assert np.array_equal(head.trials, trials)
    logits = _logits(6, len(boundaries), seed=4, shift=0.0, scale=2.0)
    logits[0] = 0.0                                               # p = 1/2 everywhere
    pmf = np.stack([binomial_sum_pmf(row, trials) for row in logits])    # y = 0..N
    total = pmf.shape[1] - 1
    survival_units = np.concatenate([np.ones((6, 1)), 1.0 - np.cumsum(pmf, 1)], 1)[:, :total + 2]
    survival_units[:, -1] = 0.0
    t = np.concatenate([[-2.0, 0.0], (np.arange(total + 3) + 0.5) / time_scale])
    units_above = np.clip(np.floor(t * time_scale) + 1, 0, total + 1).astype(int)
    got = head.survival(tf.constant(logits, dtype), tf.constant(np.tile(t, (6, 1)), dtype))
    error = np.max(np.abs(np.asarray(got) - survival_units[:, units_above]))
    # Exact convolution through the DFT (evaluated in float64): only rounding noise.
    assert error < (3e-7 if dtype == tf.float32 else 1e-13), error
    expected_q = np.array([[discrete_quantile(row, q) for q in LEVELS] for row in pmf]) / time_scale
    np.testing.assert_allclose(head.quantile(tf.constant(logits, dtype), LEVELS), expected_q, rtol=1e-7)
    durations = np.array([0.0, 1.0, 5.0, 10.0, 15.0, 30.0]) / time_scale * (total / 30.0)
    completion = head.completion_probability(tf.constant(logits, dtype), tf.constant(durations, dtype))
    at_least = np.clip(np.ceil(durations * time_scale - 1e-9), 0, total + 1).astype(int)
    np.testing.assert_allclose(completion, survival_units[np.arange(6), at_least], atol=1e-6)


def test_swat_binom_matches_monte_carlo_and_its_mean():
    head = heads.BinomialSoftLabelHead(BOUNDARIES)
    logits = np.array([[1.0, -0.5, 0.3, -2.0]])
    p = sigmoid(logits[0])
    rng = np.random.default_rng(11)
    samples = sum(rng.binomial(int(n), pk, 400_000) for n, pk in zip(head.trials, p))
    for t in [0.0, 4.0, 9.5, 15.0, 22.0, 44.0, 45.0]:
        expected = float(head.survival(logits, t)[0])
        sd = np.sqrt(max(expected * (1 - expected), 1e-12) / samples.size)
        assert abs(np.mean(samples > t) - expected) < 4 * sd + 1e-5
    table_mean = np.sum(head.survival(logits, np.arange(46)[None, :] - 0.5)[0, 1:])
    np.testing.assert_allclose(table_mean, np.sum(head.trials * p), rtol=1e-5)
    np.testing.assert_allclose(table_mean, head.expected_value(logits)[0], rtol=1e-5)


# -- OR / CREAD ---------------------------------------------------------------
@pytest.mark.parametrize("make_head", [heads.OrdinalHead, heads.CreadHead])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_ordinal_heads_match_brute_force_interpolation(make_head, dtype):
    head = make_head(BOUNDARIES)
    logits = _logits(6, 4, seed=5, shift=0.0, scale=2.0)       # non-monotone φ in several rows
    logits[0] = [3.0, 1.0, 2.0, -1.0]
    t = np.concatenate([[-1.0, 0.0], np.linspace(0.1, 50.0, 150), BOUNDARIES])
    got = head.survival(tf.constant(logits, dtype), tf.constant(np.tile(t, (6, 1)), dtype))
    expected = np.stack([interpolated_survival(*ordinal_curve(row, BOUNDARIES), t) for row in logits])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Completion P(T ≥ d) is the left limit: it keeps the atom S_K at t_K.
    durations = np.array([0.0, 5.0, 8.0, 45.0, 45.5, 1e6])
    knots_values = [ordinal_curve(row, BOUNDARIES) for row in logits]
    completion = head.completion_probability(tf.constant(logits, dtype), tf.constant(durations, dtype))
    expected_c = np.array([np.where(d > 45.0, 0.0, np.interp(d, *kv)) for d, kv in zip(durations, knots_values)])
    np.testing.assert_allclose(completion, expected_c, atol=1e-6)
    # Quantiles: the smallest t on a fine grid with 1 − S(t) ≥ q, within a grid step.
    fine = np.linspace(0.0, 45.0, 450_001)
    got_q = np.asarray(head.quantile(tf.constant(logits, dtype), LEVELS[1:]))
    for row, (knots, values) in enumerate(knots_values):
        cdf = 1.0 - interpolated_survival(knots, values, fine)
        for column, q in enumerate(LEVELS[1:]):
            reachable = np.flatnonzero(cdf >= q - 1e-12)
            expected_t = fine[reachable[0]] if reachable.size else 45.0
            assert abs(got_q[row, column] - expected_t) < 2e-4 * (1 + expected_t), (row, q)


# -- heads without a distribution ---------------------------------------------
@pytest.mark.parametrize("head", [heads.D2QHead([15.0], [[0, 10, 20], [0, 30, 60]]),
                                  heads.RegressionHead()], ids=["d2q", "regression"])
def test_point_heads_have_no_distribution(head):
    logits = tf.zeros([2, 1])
    assert head.has_distribution is False
    for call in (lambda: head.survival(logits, 3.0), lambda: head.quantile(logits, 0.5),
                 lambda: head.completion_probability(logits, 10.0)):
        with pytest.raises(NotImplementedError, match="no watch-time distribution.*expected_value"):
            call()


def test_quantile_levels_outside_the_unit_interval_are_rejected():
    head = heads.BucketizedGeometricHead(BOUNDARIES)
    logits = tf.zeros([2, head.num_logits])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        head.quantile(logits, [0.5, 1.5])
    dynamic = tf.function(lambda z, q: head.quantile(z, q))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must lie in \[0, 1\]"):
        dynamic(logits, tf.constant([-0.1, 0.5]))
