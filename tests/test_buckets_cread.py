"""Tests for the CREAD error-adaptive discretisation in wt_keras.buckets."""
import math

import numpy as np
import pytest

from wt_keras import buckets


def _lognormal(seed=0, size=5000):
    return np.random.default_rng(seed).lognormal(3.0, 1.0, size)


def _objective(values, num_buckets, alpha, beta):
    """Independent A_w + beta * A_b with plain-Python gamma and loops."""
    gammas = [(1 - math.exp(-alpha * m / num_buckets)) / (1 - math.exp(-alpha))
              for m in range(num_buckets + 1)]
    scale = max(values)
    times = [0.0] + [float(np.quantile(values, g)) / scale for g in gammas[1:]]
    mass = [gammas[m] - gammas[m - 1] for m in range(1, num_buckets + 1)]
    gaps = [times[m] - times[m - 1] for m in range(1, num_buckets + 1)]
    mass_sq = sum(p * p for p in mass)
    learning = mass_sq * sum(g * g / p for g, p in zip(gaps, mass))
    restoration = mass_sq * sum(g * g for g in gaps)
    return learning + beta * restoration


@pytest.mark.parametrize("a", [-40.0, -2.0, 0.0, 1e-9, 0.001, 0.5, 4.901, 50.0, 800.0])
def test_warp_endpoints_and_monotone(a):
    z = np.linspace(0.0, 1.0, 201)
    gamma = buckets.warp(z, a)
    assert gamma[0] == pytest.approx(0.0, abs=1e-12)
    assert gamma[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(gamma) >= 0)
    assert np.all(np.isfinite(gamma))


def test_warp_formula_and_zero_limit():
    z = np.linspace(0.0, 1.0, 11)
    for a in (2.0, -2.0, 0.3):
        direct = [(1 - math.exp(-a * v)) / (1 - math.exp(-a)) for v in z]
        np.testing.assert_allclose(buckets.warp(z, a), direct, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(buckets.warp(z, 0.0), z)
    np.testing.assert_allclose(buckets.warp(z, 1e-8), z, atol=1e-8)
    assert buckets.warp(0.5, 2.0) > 0.5  # a > 0 is concave: finer tail buckets
    with pytest.raises(ValueError, match="finite"):
        buckets.warp(z, float("nan"))


def test_tiny_alpha_equals_equal_frequency():
    values = _lognormal()
    result = buckets.cread_boundaries(values, num_buckets=20, alphas=[1e-9])
    np.testing.assert_allclose(
        result.boundaries, buckets.boundaries_from_percentiles(values, "uniform:20"),
        rtol=1e-6)
    assert result.alpha == 1e-9


@pytest.mark.parametrize("beta", [0.0, 50.0, 2000.0])
def test_chosen_alpha_minimises_independent_objective(beta):
    values = _lognormal(seed=2, size=3000)
    alphas = [0.001, 1.0, 3.0]
    result = buckets.cread_boundaries(values, num_buckets=10, beta=beta, alphas=alphas)
    expected = [_objective(values, 10, a, beta) for a in alphas]
    np.testing.assert_allclose(result.objectives, expected, rtol=1e-9)
    assert result.alpha == alphas[int(np.argmin(expected))]
    assert result.objective == pytest.approx(min(expected), rel=1e-9)
    assert result.objective == pytest.approx(
        result.learning_error + beta * result.restoration_error, rel=1e-12)


def test_defaults_fields_and_boundaries():
    values = _lognormal(seed=4)
    result = buckets.cread_boundaries(values)
    assert isinstance(result, buckets.CreadDiscretization)
    assert result.num_buckets_requested == 50
    np.testing.assert_allclose(result.alphas, 0.001 + 0.1 * np.arange(50))
    assert result.alphas[-1] == pytest.approx(4.901)
    assert result.objectives.shape == (50,)
    assert result.alpha in result.alphas
    assert np.all(np.diff(result.boundaries) > 0) and result.boundaries[0] > 0
    assert result.boundaries.size == 50
    assert result.boundaries[-1] == values.max()  # gamma(1) = 1 -> max


def test_time_unit_does_not_change_choice():
    values = _lognormal(seed=5)
    seconds = buckets.cread_boundaries(values, num_buckets=30, beta=500.0)
    millis = buckets.cread_boundaries(1000.0 * values, num_buckets=30, beta=500.0)
    assert seconds.alpha == millis.alpha
    np.testing.assert_allclose(millis.boundaries, 1000.0 * seconds.boundaries)


def test_ties_are_deduplicated():
    rng = np.random.default_rng(6)
    values = np.concatenate([np.zeros(400), np.round(rng.exponential(10.0, 600))])
    result = buckets.cread_boundaries(values, num_buckets=50)
    assert 2 <= result.boundaries.size < 50
    assert np.all(result.boundaries > 0) and np.all(np.diff(result.boundaries) > 0)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(values=np.full(100, 3.0)), "distinct positive"),
    (dict(values=np.zeros(10)), "All labels are 0"),
    (dict(values=[1.0, np.nan]), "non-finite"), (dict(values=[1.0, -1.0]), "negative"),
    (dict(values=np.arange(10.0), num_buckets=1), "num_buckets"),
    (dict(values=np.arange(10.0), alphas=[]), "alphas"),
    (dict(values=np.arange(10.0), beta=-1.0), "beta")])
def test_cread_errors(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        buckets.cread_boundaries(**kwargs)
