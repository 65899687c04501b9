"""crps, reliability/ECE and PIT against numerical integration, closed forms and Monte-Carlo."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate, stats

from _distribution_reference import geo_unit_survival
from wt_keras import heads, metrics


def _random_curves(rng, n, grid):
    """Non-increasing survival curves in [0, 1] on the grid."""
    drops = rng.dirichlet(np.ones(grid.size + 1), n)
    return 1.0 - np.cumsum(drops, 1)[:, :-1]


def _curve_function(grid, values, interpolation):
    """S(t) read the documented way, by plain Python (independent of the metric's code)."""
    knots, curve = (grid, values) if grid[0] == 0 else (np.r_[0.0, grid], np.r_[1.0, values])

    def survival(t):
        if t >= knots[-1]:
            return 0.0
        j = np.searchsorted(knots, t, side="right") - 1
        if interpolation == "step":
            return curve[j]
        return curve[j] + (curve[j + 1] - curve[j]) * (t - knots[j]) / (knots[j + 1] - knots[j])
    return survival, knots


@pytest.mark.parametrize("interpolation", ["linear", "step"])
@pytest.mark.parametrize("grid", [np.array([2.0, 5.0, 9.0, 20.0, 31.0]), np.array([0.0, 1.0, 4.0, 12.0])])
def test_crps_matches_numerical_integration(interpolation, grid):
    rng = np.random.default_rng(0)
    survival = _random_curves(rng, 8, grid)
    labels = np.array([0.0, 1.5, grid[1], 7.7, grid[-1], grid[-1] + 6.0, 3.3, 25.0])
    got = metrics.crps(labels, grid, survival, interpolation=interpolation, average=False)
    for i, y in enumerate(labels):
        curve, knots = _curve_function(grid, survival[i], interpolation)
        upper = max(knots[-1], y) + 1.0
        points = sorted(set(knots.tolist() + [y]))
        expected, _ = integrate.quad(lambda t: (curve(t) - (t < y)) ** 2, 0.0, upper,
                                     points=points, limit=200, epsabs=1e-11)
        assert got[i] == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert metrics.crps(labels, grid, survival, interpolation) == pytest.approx(np.mean(got))


def test_crps_of_uniform_and_point_forecasts_has_the_closed_form():
    # Energy form CRPS = E|X − y| − ½ E|X − X'|; uniform on [a, b]:
    # E|X − y| = ((y − a)² + (b − y)²) / (2(b − a)) for y in [a, b], E|X − X'| = (b − a)/3.
    a, b = 4.0, 10.0
    labels = np.array([4.0, 5.0, 7.0, 9.9, 10.0])
    expected = ((labels - a) ** 2 + (b - labels) ** 2) / (2 * (b - a)) - (b - a) / 6
    survival = np.tile([1.0, 0.0], (labels.size, 1))
    np.testing.assert_allclose(metrics.crps(labels, [a, b], survival, average=False), expected,
                               rtol=1e-12)
    # A point forecast at m scores |y − m| (MAE's scale).
    assert metrics.crps([3.0, 12.5], [8.0], [[0.0], [0.0]], "step", average=False).tolist() == [5.0, 4.5]


def test_crps_of_the_swat_geo_law_matches_its_energy_form():
    # Step curve on every unit: exact for the integer-unit law. Reference: E|X − y| − ½E|X − X'|
    # from the PMF enumerated unit by unit.
    head = heads.BucketizedGeometricHead([3.0, 8.0, 20.0])
    logits = np.array([[2.0, 1.5, 2.5, 1.0], [0.5, 3.0, 1.0, -1.0]])
    grid = np.arange(0.0, 400.0)
    survival = np.asarray(head.survival(tf.constant(logits), np.tile(grid, (2, 1))))
    labels = np.array([6.0, 0.0])
    got = metrics.crps(labels, grid, survival, interpolation="step", average=False)
    for i, y in enumerate(labels):
        reach = geo_unit_survival(logits[i], [3, 8, 20], 401)
        pmf = reach[:-1] - reach[1:]
        support = np.arange(pmf.size)
        energy = (np.sum(pmf * np.abs(support - y))
                  - 0.5 * np.sum(pmf[:, None] * pmf[None, :] * np.abs(support[:, None] - support[None, :])))
        assert got[i] == pytest.approx(energy, rel=1e-9)


def test_reliability_matches_a_brute_force_table_and_monte_carlo():
    rng = np.random.default_rng(1)
    forecasts = rng.random(200_000)
    calibrated = (rng.random(forecasts.size) < forecasts).astype(float)
    assert metrics.reliability(forecasts, calibrated).ece < 0.01
    # Outcomes with probability p² while p is forecast: ECE → ∫_0^1 (p − p²) dp = 1/6.
    overconfident = (rng.random(forecasts.size) < forecasts ** 2).astype(float)
    table = metrics.reliability(forecasts, overconfident, num_bins=10)
    assert table.ece == pytest.approx(1.0 / 6.0, abs=0.01)
    for b in range(10):
        inside = (forecasts >= b / 10) & ((forecasts < (b + 1) / 10) | (b == 9))
        assert table.count[b] == inside.sum()
        assert table.mean_predicted[b] == pytest.approx(forecasts[inside].mean())
        assert table.observed_frequency[b] == pytest.approx(overconfident[inside].mean())


def test_survival_and_completion_calibration_of_the_true_law_are_near_zero():
    rng = np.random.default_rng(2)
    scale = rng.uniform(5.0, 60.0, 50_000)                 # exponential watch time per example
    watch_time = rng.exponential(scale)
    grid = np.array([1.0, 5.0, 10.0, 30.0, 60.0])
    true_survival = np.exp(-grid[None, :] / scale[:, None])
    assert metrics.survival_calibration(watch_time, grid, true_survival).ece < 0.01
    assert metrics.survival_calibration(watch_time, grid, true_survival ** 3).ece > 0.1
    duration = rng.uniform(5.0, 100.0, scale.size)
    completion = np.exp(-duration / scale)
    assert metrics.completion_calibration(watch_time, duration, completion).ece < 0.01
    assert metrics.completion_calibration(watch_time, duration, np.sqrt(completion)).ece > 0.1


def test_pit_is_uniform_for_the_true_law_continuous_and_discrete():
    rng = np.random.default_rng(3)
    grid = np.linspace(0.5, 300.0, 600)
    scale = rng.uniform(5.0, 30.0, 20_000)
    watch_time = rng.exponential(scale)
    pit = metrics.pit_histogram(watch_time, grid, np.exp(-grid[None, :] / scale[:, None]))
    assert np.max(np.abs(pit.density - 1.0)) < 0.06
    too_narrow = metrics.pit_histogram(watch_time, grid, np.exp(-grid[None, :] / (0.5 * scale[:, None])))
    assert too_narrow.density[-1] > 1.5                    # U-shape's heavy right end
    # Geometric watch time on whole seconds: a step curve on every unit; randomised PIT is uniform,
    # the plain F(y) would pile up at the jumps.
    mean = rng.uniform(1.0, 6.0, 20_000)
    units = stats.geom.rvs(1.0 / (1.0 + mean), random_state=rng) - 1
    unit_grid = np.arange(0.0, 200.0)
    survival = stats.geom.sf(unit_grid[None, :] + 1, 1.0 / (1.0 + mean[:, None]))
    discrete = metrics.pit_histogram(units, unit_grid, survival, interpolation="step", seed=4)
    assert np.max(np.abs(discrete.density - 1.0)) < 0.06
    plain = np.histogram(1.0 - survival[np.arange(units.size), units], bins=10, range=(0, 1))[0]
    assert np.max(np.abs(plain * 10 / units.size - 1.0)) > 0.2


@pytest.mark.parametrize("call,message", [
    (lambda: metrics.crps([1.0], [1.0, 2.0], [[0.5]]), "shape"),
    (lambda: metrics.crps([-1.0], [1.0], [[0.5]]), ">= 0"),
    (lambda: metrics.crps([1.0], [2.0, 1.0], [[0.5, 0.2]]), "strictly increasing"),
    (lambda: metrics.crps([1.0], [1.0], [[1.5]]), r"\[0, 1\]"),
    (lambda: metrics.crps([1.0], [1.0], [[0.5]], interpolation="cubic"), "interpolation"),
    (lambda: metrics.reliability([0.2, 0.4], [1.0]), "lengths"),
    (lambda: metrics.completion_calibration([1.0], [2.0, 3.0], [0.5]), "duration"),
])
def test_bad_input_gives_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
