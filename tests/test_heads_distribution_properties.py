"""Properties every distributional head must have: shapes, monotonicity, stability, gradients."""
import numpy as np
import pytest
import tensorflow as tf

from _head_cases import make_heads

from wt_keras import ops

DISTRIBUTIONAL = sorted(name for name, head in make_heads().items() if head.has_distribution)
LEVELS = np.linspace(0.0, 0.999, 41)
TIMES = np.concatenate([[-1.0, 0.0], np.linspace(0.05, 80.0, 120)])


def _logits(head, rows=6, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(1.0, 2.0, (rows, head.num_logits)))


def test_every_head_but_d2q_and_regression_has_a_distribution():
    assert set(make_heads()) - set(DISTRIBUTIONAL) == {"d2q", "regression"}


@pytest.mark.parametrize("name", DISTRIBUTIONAL)
def test_shapes_and_dtypes(name):
    head = make_heads()[name]
    for dtype in (tf.float32, tf.float64):
        logits = tf.cast(_logits(head, rows=3), dtype)
        assert head.survival(logits, 5.0).shape == [3]
        assert head.survival(logits, [1.0, 5.0, 9.0]).shape == [3]
        assert head.survival(logits, tf.ones([3, 7])).shape == [3, 7]
        assert head.survival(logits, tf.ones([1, 7])).shape == [3, 7]
        assert head.quantile(logits, 0.5).shape == [3]
        assert head.quantile(logits, [0.1, 0.5, 0.9]).shape == [3, 3]
        assert head.completion_probability(logits, [10.0, 20.0, 30.0]).shape == [3]
        assert head.completion_probability(logits, tf.ones([3, 1])).shape == [3]
        assert head.survival(logits, 5.0).dtype == dtype
        assert head.quantile(logits, 0.5).dtype == dtype


@pytest.mark.parametrize("name", DISTRIBUTIONAL)
def test_survival_is_a_probability_non_increasing_in_t(name):
    head = make_heads()[name]
    logits = _logits(head)
    survival = np.asarray(head.survival(logits, np.tile(TIMES, (6, 1))))
    assert np.all((survival >= 0.0) & (survival <= 1.0))
    assert np.all(np.diff(survival, axis=1) <= 1e-12)
    np.testing.assert_array_equal(survival[:, 0], 1.0)            # P(T > −1) = 1


@pytest.mark.parametrize("name", DISTRIBUTIONAL)
def test_quantile_is_the_generalised_inverse_and_non_decreasing_in_q(name):
    head = make_heads()[name]
    logits = _logits(head, seed=1)
    quantiles = np.asarray(head.quantile(logits, LEVELS))
    assert np.all(np.diff(quantiles, axis=1) >= 0.0)
    assert np.all(quantiles >= 0.0) and np.all(np.isfinite(quantiles))
    # F(Q(q)) ≥ q, and F(t) < q just below Q(q) (one unit for the integer-unit laws).
    continuous = name in ("ordinal", "cread") or name.startswith("tpm")   # piecewise-linear curves
    step = 1e-4 if continuous else 1.0 / getattr(head, "time_scale", 1.0)
    cdf_at = 1.0 - np.asarray(head.survival(logits, quantiles))
    below = np.asarray(head.survival(logits, quantiles - step))
    assert np.all(cdf_at >= LEVELS - 1e-6)
    positive = quantiles > 0
    assert np.all((1.0 - below)[positive] < LEVELS[None, :].repeat(6, 0)[positive] + 1e-6)


@pytest.mark.parametrize("name", DISTRIBUTIONAL)
def test_completion_probability_is_survival_just_below_the_duration(name):
    head = make_heads()[name]
    logits = _logits(head, seed=2)
    durations = np.array([0.0, 3.0, 7.3, 20.0, 45.0, 300.0])
    completion = np.asarray(head.completion_probability(logits, durations))
    just_below = np.asarray(head.survival(logits, durations[:, None] - 1e-3))[:, 0]
    np.testing.assert_allclose(completion, just_below, atol=2e-4)
    assert completion[0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", DISTRIBUTIONAL)
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_stable_for_extreme_logits_times_and_widths(name, dtype):
    wide = {"swat_binom": dict(boundaries=[1e5, 2e5]), "swat_binom_weighted": dict(boundaries=[1e5, 2e5]),
            "swat_geo": dict(boundaries=[1e5, 2e5]), "swat_geo_scaled": dict(boundaries=[1e4, 2e4]),
            "ordinal": dict(boundaries=[1e5, 2e5]), "cread": dict(boundaries=[1e5, 2e5]),
            "tpm": dict(boundaries=[1e5, 2e5, 3e5], leaf_values=None, label_scale=None),
            "tpm_five_leaves": dict(boundaries=[1e5, 2e5, 3e5, 4e5, 5e5], leaf_values=None,
                                    label_scale=None)}
    head = make_heads()[name]
    if name in wide:
        head = type(head)(**{**head.get_config(), **wide[name], "name": None})
    width = head.num_logits
    logits = tf.constant([[1e4] * width, [-1e4] * width, [1e4, -1e4] * (width // 2) + [0.0] * (width % 2),
                          [0.0] * width], dtype)
    times = tf.constant([[0.0, 1.0, 5e4, 1e5, 2e5, 1e7]] * 4, dtype)
    for result in (head.survival(logits, times), head.completion_probability(logits, times[:, 3]),
                   head.quantile(logits, [0.0, 0.1, 0.5, 0.9])):
        assert np.all(np.isfinite(result)), (name, result)
    survival = np.asarray(head.survival(logits, times))
    assert np.all((survival >= 0) & (survival <= 1))


@pytest.mark.parametrize("name", DISTRIBUTIONAL)
def test_survival_and_completion_gradients_are_finite_and_match_finite_differences(name):
    head = make_heads()[name]
    logits = _logits(head, rows=4, seed=3)
    logits = tf.concat([logits, tf.zeros([1, head.num_logits], logits.dtype),
                        tf.fill([1, head.num_logits], tf.constant(60.0, logits.dtype))], 0)
    times = tf.constant(np.tile([0.5, 4.2, 11.7, 30.1], (6, 1)))
    durations = tf.constant([2.2, 6.6, 15.5, 50.5, 9.9, 25.0])

    def objective(z):
        rows = z.shape[0]
        return (tf.reduce_sum(head.survival(z, times[:rows]))
                + tf.reduce_sum(head.completion_probability(z, durations[:rows])))

    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = objective(logits)
    gradient = tape.gradient(value, logits)
    assert np.all(np.isfinite(gradient))
    # Finite differences on the random rows (equal logits are a kink of OR's running minimum).
    theoretical, numerical = tf.test.compute_gradient(objective, [logits[:4]])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


@pytest.mark.parametrize("rows_shape", ["per_row", "matrix"])
def test_swat_geo_survival_beyond_float32_exact_edges_matches_the_bucket_sum(rows_shape):
    # Unit edges past 2^24 take the per-row binary search instead of Bucketize
    # (whose float32 boundaries would round them): both give H(y) = Σ_m clip(y − l_m, 0, w_m)·h_m.
    widths = np.array([3.0e7, 2.0e7, 5.0])
    lower = np.concatenate([[0.0], np.cumsum(widths)])
    upper = np.append(np.cumsum(widths), np.inf)
    hazard = np.array([[1e-8, 3e-8, 0.2, 0.01], [2e-8, 1e-9, 0.5, 0.3]])
    units = np.array([[0.0, 29_999_999.0, 30_000_001.0, 50_000_004.0, 50_000_005.0, 5.1e7]] * 2)
    expected = -np.sum(np.clip(units[..., None] - lower, 0.0, upper - lower) * hazard[:, None, :], -1)
    if rows_shape == "per_row":
        units, expected = units[:, 2], expected[:, 2]
    got = ops.bucketized_geometric_log_survival(tf.constant(hazard), tf.constant(units), widths)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
