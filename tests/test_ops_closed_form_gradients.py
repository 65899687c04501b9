"""The ops with hand-written gradients against independent computations.

Values against numpy/scipy formulas, gradients against finite differences
(float64), on many buckets as the heads use them at fine grids.
"""
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import expit, log_expit

from wt_keras import ops


def _numeric_gradient_check(function, value, rtol=1e-5, atol=1e-6):
    theoretical, numerical = tf.test.compute_gradient(function, [value])
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=rtol, atol=atol)


def _logits_and_labels(rng, shape, logit_scale):
    """Normal logits and uniform labels in [0, 1], the first third of them rounded to 0 or 1."""
    labels = rng.uniform(0.0, 1.0, shape)
    hard = shape[-1] // 3
    labels[:, :hard] = np.round(labels[:, :hard])                # hard and soft labels
    return rng.normal(0.0, logit_scale, shape), labels


@pytest.mark.parametrize("weighted", [False, True])
def test_sigmoid_cross_entropy_sum_is_the_bernoulli_log_loss(weighted):
    rng = np.random.default_rng(0)
    logits, labels = _logits_and_labels(rng, (6, 300), logit_scale=3.0)
    weights = rng.uniform(0.5, 4.0, 300) if weighted else np.ones(300)
    expected = -np.sum(weights * (labels * log_expit(logits)
                                  + (1.0 - labels) * log_expit(-logits)), axis=-1)
    loss = ops.sigmoid_cross_entropy_sum(labels, tf.constant(logits),
                                         weights if weighted else None)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(ops.sigmoid_cross_entropy_sum(labels, variable,
                                                            weights if weighted else None))
    np.testing.assert_allclose(tape.gradient(total, variable).numpy(),
                               weights * (expit(logits) - labels), rtol=1e-10, atol=1e-15)


def test_sigmoid_cross_entropy_sum_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    labels = rng.uniform(0.0, 1.0, (3, 40))
    upstream = tf.constant(rng.uniform(0.5, 2.0, 3))             # a non-uniform [B] cotangent
    _numeric_gradient_check(
        lambda z: upstream * ops.sigmoid_cross_entropy_sum(labels, z),
        tf.constant(rng.normal(0.0, 2.0, (3, 40))))


def test_sigmoid_cross_entropy_sum_stays_finite_at_saturated_logits():
    logits = tf.Variable([[1e4, -1e4, 1e4, -1e4]], dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = ops.sigmoid_cross_entropy_sum([[1.0, 0.0, 0.0, 1.0]], logits)
    assert float(loss[0]) == pytest.approx(2e4)                  # two confident mistakes
    np.testing.assert_array_equal(tape.gradient(loss, logits).numpy(), [[0.0, 0.0, 1.0, -1.0]])


def test_monotonicity_penalty_value_and_gradient():
    rng = np.random.default_rng(4)
    logits = rng.normal(0.0, 2.0, (5, 200))
    survival = expit(logits)
    expected = np.sum(np.maximum(np.diff(survival, axis=-1), 0.0), axis=-1)
    np.testing.assert_allclose(ops.ordinal_monotonicity_penalty(logits).numpy(), expected,
                               rtol=1e-12)
    upstream = tf.constant(rng.uniform(0.5, 2.0, 5))
    _numeric_gradient_check(lambda z: upstream * ops.ordinal_monotonicity_penalty(z),
                            tf.constant(logits))


@pytest.mark.parametrize("delta", [0.05, 10.0])        # errors beyond δ / all within δ
def test_cread_restoration_loss_value_and_gradient(delta):
    rng = np.random.default_rng(5)
    logits = rng.normal(0.0, 2.0, (6, 150))
    logits[0, :10] = 0.0                                   # φ'(0) = 1/4, not the 0 of |z|'s kink
    widths = rng.uniform(0.5, 3.0, 150)
    watch_time = rng.uniform(0.0, 300.0, 6)
    scale = float(np.sum(widths))
    error = (expit(logits) @ widths - watch_time) / scale
    expected = np.where(np.abs(error) <= delta, 0.5 * error ** 2,
                        delta * (np.abs(error) - 0.5 * delta))
    np.testing.assert_allclose(
        ops.cread_restoration_loss(watch_time, logits, widths, scale, delta).numpy(), expected,
        rtol=1e-12)
    upstream = tf.constant(rng.uniform(0.5, 2.0, 6))
    _numeric_gradient_check(
        lambda z: upstream * ops.cread_restoration_loss(watch_time, z, widths, scale, delta),
        tf.constant(logits))
    # At z = 0 exactly: dL/dz = upstream · clip(e, ±δ) · w · 1/4 / s.
    z = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_sum(upstream * ops.cread_restoration_loss(watch_time, z, widths, scale,
                                                                   delta))
    at_zero = tape.gradient(loss, z).numpy()[0, :10]
    np.testing.assert_allclose(
        at_zero, upstream.numpy()[0] * np.clip(error[0], -delta, delta) * widths[:10] / 4 / scale,
        rtol=1e-12)


@pytest.mark.parametrize("weights", [(3.0, 40.0), (3.0, 0.0), (0.0, 40.0), (0.0, 0.0)])
def test_cread_loss_is_the_sum_of_its_three_terms(weights):
    restoration_weight, monotonicity_weight = weights
    rng = np.random.default_rng(6)
    boundaries = np.cumsum(rng.uniform(0.5, 3.0, 120))
    widths = np.diff(np.concatenate([[0.0], boundaries]))
    logits = np.sort(rng.normal(0.0, 2.0, (6, 120)), axis=-1)[:, ::-1].copy()
    logits += rng.normal(0.0, 0.3, logits.shape)                # some φ rise: the penalty bites
    logits[1, 40:] = 60.0                                       # φ saturated at 1 (equal φ)
    watch_time = rng.uniform(0.0, 1.2 * boundaries[-1], 6)
    watch_time[0] = boundaries[10]                              # T on an endpoint: 1[T > t] = 0
    scale = float(boundaries[-1])
    # The three terms in numpy, without any op of wt_keras.
    survival = expit(logits)
    labels = (watch_time[:, None] > boundaries).astype(float)
    cross_entropy_term = -np.sum(labels * log_expit(logits) + (1 - labels) * log_expit(-logits), -1)
    error = (survival @ widths - watch_time) / scale
    huber = np.where(np.abs(error) <= 1.0, 0.5 * error ** 2, np.abs(error) - 0.5)
    rises = np.maximum(np.diff(survival, axis=-1), 0.0).sum(-1)
    expected = (cross_entropy_term + restoration_weight * huber
                + monotonicity_weight * rises)

    def loss(z):
        return ops.cread_loss(watch_time, z, boundaries, widths, scale, restoration_weight,
                              monotonicity_weight)
    np.testing.assert_allclose(loss(tf.constant(logits)).numpy(), expected, rtol=1e-12)
    upstream = tf.constant(rng.uniform(0.5, 2.0, 6))
    # The same gradient as the three ops summed, at the saturated row and the endpoint too.
    z = tf.constant(logits)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        fused = tf.reduce_sum(upstream * loss(z))
        separate = tf.reduce_sum(upstream * (
            ops.ordinal_cross_entropy(watch_time, z, boundaries)
            + restoration_weight * ops.cread_restoration_loss(watch_time, z, widths, scale)
            + monotonicity_weight * ops.ordinal_monotonicity_penalty(z)))
    gradient = tape.gradient(fused, z).numpy()
    np.testing.assert_allclose(gradient, tape.gradient(separate, z).numpy(), rtol=1e-12, atol=1e-15)
    # And in closed form (finite differences would straddle the kinks of max(rise, 0)):
    # u·[(φ − y) + (w_r·clip(e, ±1)·w_m/s + w_o·(r_{m−1} − r_m))·φ(1 − φ)], r_m = 1[φ_{m+1} > φ_m].
    rising = np.concatenate([np.diff(survival, axis=-1) > 0, np.zeros((6, 1), bool)], -1)
    rising_before = np.concatenate([np.zeros((6, 1), bool), rising[:, :-1]], -1)
    slope = (restoration_weight * np.clip(error, -1.0, 1.0)[:, None] * widths / scale
             + monotonicity_weight * (rising_before.astype(float) - rising))
    expected_gradient = upstream.numpy()[:, None] * (
        (survival - labels) + slope * survival * (1 - survival))
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-10, atol=1e-13)


def test_swat_geo_nll_gradient_matches_finite_differences_on_many_buckets():
    units = np.arange(1.0, 301.0) * 3.0                          # 300 buckets of 3 units
    lower, upper = ops.bucket_edges(units, open_last_bucket=True)
    watch_units = tf.constant([0.0, 1.0, 4.0, 450.0, 899.0, 900.0, 2000.0], tf.float64)
    rng = np.random.default_rng(5)
    _numeric_gradient_check(
        lambda z: ops.bucketized_geometric_nll(watch_units, z, lower, upper),
        tf.constant(rng.normal(1.0, 2.0, (7, 301))), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("logit", [-60.0, 0.0, 25.0, 45.0, 1e4])
def test_swat_geo_expectation_at_large_logits_is_the_partial_geometric_sum(logit):
    """Every finite bucket at logit z, the open one at −30: E = Σ_m R_m Σ_j p^j + tail."""
    widths = np.array([1.0, 5.0, 50.0])
    logits = np.array([[logit] * 3 + [-30.0]])
    p = float(expit(np.float64(logit)))
    log_p = float(log_expit(np.float64(logit)))
    reach = np.exp(np.concatenate([[0.0], np.cumsum(widths * log_p)]))
    buckets = [sum(np.exp(j * log_p) for j in range(1, int(w) + 1)) for w in widths]
    expected = float(np.dot(reach[:3], buckets) + reach[3] * np.exp(-30.0))
    value = ops.bucketized_geometric_expected_watch_time(tf.constant(logits), widths)
    assert float(value[0]) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert 0.0 <= p <= 1.0


def _fused_cross_entropy_numpy(logits, targets, confidence_logit, weights):
    """Σ w·BCE(y, p′), p′ = c σ(z) + (1 − c) y, written directly in probability space."""
    c, p = expit(confidence_logit), expit(logits)
    fused = c * p + (1.0 - c) * targets
    per_output = -(targets * np.log(fused) + (1.0 - targets) * np.log1p(-fused))
    return np.sum(weights * per_output, axis=-1)


@pytest.mark.parametrize("shared", [True, False])
def test_fused_binary_cross_entropy_value_and_gradients(shared):
    """Against the probability-space formula, and the closed-form gradients against finite differences."""
    rng = np.random.default_rng(5)
    logits, targets = _logits_and_labels(rng, (4, 60), logit_scale=2.0)
    weights = rng.uniform(0.0, 3.0, (4, 60))
    confidence_logit = rng.normal(0.5, 1.5, (4, 1) if shared else (4, 60))
    loss = ops.fused_binary_cross_entropy(tf.constant(logits), targets, weights=weights,
                                          confidence_logit=tf.constant(confidence_logit))
    np.testing.assert_allclose(
        loss.numpy(), _fused_cross_entropy_numpy(logits, targets, confidence_logit, weights),
        rtol=1e-10)
    upstream = tf.constant(rng.uniform(0.5, 2.0, 4))              # a non-uniform [B] cotangent
    _numeric_gradient_check(
        lambda z: upstream * ops.fused_binary_cross_entropy(
            z, targets, weights=weights, confidence_logit=tf.constant(confidence_logit)),
        tf.constant(logits))
    _numeric_gradient_check(
        lambda l: upstream * ops.fused_binary_cross_entropy(
            tf.constant(logits), targets, weights=weights, confidence_logit=l),
        tf.constant(confidence_logit))
    # c given as a probability: log(1 − c) is steep near c = 1, hence the wider tolerance
    # of the finite differences.
    _numeric_gradient_check(
        lambda c: upstream * ops.fused_binary_cross_entropy(
            tf.constant(logits), targets, confidence=c, weights=weights),
        tf.constant(expit(confidence_logit)), rtol=1e-4)


@pytest.mark.parametrize("shared", [True, False])
def test_fused_cross_entropy_of_hard_targets_is_the_general_one(shared):
    """hard_targets=True (the label's side only) gives the general path's values and gradients."""
    rng = np.random.default_rng(8)
    logits = rng.normal(0.0, 3.0, (5, 80))
    logits[0, :4] = [60.0, -60.0, 200.0, -200.0]            # saturated: e^{−|z|} underflows
    targets = (rng.uniform(size=(5, 80)) < 0.5).astype(np.float64)
    weights = rng.uniform(0.0, 3.0, (5, 80)) * (rng.uniform(size=(5, 80)) < 0.8)
    confidence_logit = rng.normal(0.5, 2.0, (5, 1) if shared else (5, 80))
    confidence_logit[1] = np.inf                               # c = 1: the plain cross-entropy
    upstream = tf.constant(rng.uniform(0.5, 2.0, 5))

    def loss_and_gradients(hard_targets):
        z, l = tf.constant(logits), tf.constant(confidence_logit)
        with tf.GradientTape() as tape:
            tape.watch([z, l])
            loss = ops.fused_binary_cross_entropy(z, targets, weights=weights, confidence_logit=l,
                                                  hard_targets=hard_targets)
            total = tf.reduce_sum(upstream * loss)
        return [loss.numpy()] + [g.numpy() for g in tape.gradient(total, [z, l])]

    for hard, general in zip(loss_and_gradients(True), loss_and_gradients(False)):
        np.testing.assert_allclose(hard, general, rtol=1e-12, atol=1e-12)
    assert np.isfinite(loss_and_gradients(True)[0]).all()


def test_fused_binary_cross_entropy_at_full_confidence_and_saturated_logits():
    """c = 1 is the plain cross-entropy, also at |z| = 1e4 (value and gradient)."""
    logits = tf.Variable([[1e4, -1e4, 1e4, -1e4, 0.5]], dtype=tf.float32)
    targets = [[1.0, 0.0, 0.0, 1.0, 0.25]]
    with tf.GradientTape() as tape:
        loss = ops.fused_binary_cross_entropy(logits, targets, confidence_logit=[[np.inf]])
    plain = -(0.25 * log_expit(0.5) + 0.75 * log_expit(-0.5))
    assert float(loss[0]) == pytest.approx(2e4 + plain, rel=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, logits).numpy(),
                               [[0.0, 0.0, 1.0, -1.0, expit(0.5) - 0.25]], atol=1e-6)


def test_geometric_partial_sum_is_the_finite_geometric_series():
    # Σ_{j=1}^{w} p^j summed term by term in float64, including p so close to 1 that the
    # quotient p(1 − p^w)/(1 − p) would divide 0 by 0.
    logits = np.array([[-3.0, 0.0, 2.0, 9.0, 25.0, 40.0, 100.0]])
    widths = np.array([1.0, 3.0, 10.0, 50.0, 200.0, 7.0, 4.0])
    p = expit(logits[0])
    expected = [np.sum(p_k ** np.arange(1, w + 1)) for p_k, w in zip(p, widths.astype(int))]
    np.testing.assert_allclose(ops.geometric_partial_sum(logits, widths).numpy()[0], expected,
                               rtol=1e-9)
    # float32 up to |z| = 1e4: within [0, w], and a finite gradient (Σ j p^j (1 − p) ≥ 0,
    # up to rounding where p rounds to 1).
    logits32 = tf.Variable(np.array([[-1e4, -3.0, 0.0, 9.0, 41.0, 1e4]], np.float32))
    widths32 = np.array([2.0, 3.0, 10.0, 50.0, 5.0, 5.0])
    with tf.GradientTape() as tape:
        sums = ops.geometric_partial_sum(logits32, widths32)
    assert np.all((sums.numpy() >= 0) & (sums.numpy() <= widths32))
    np.testing.assert_allclose(sums.numpy()[0, 4:], 5.0, rtol=1e-6)
    gradient = tape.gradient(sums, logits32).numpy()
    assert np.isfinite(gradient).all() and np.all(gradient > -1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_geometric_terms_from_the_losss_exponential(dtype):
    """e^{min(z, cap)}·(1[open] − p^w) from e^{−|z|} (a compiled step's logged mean) equals the
    same terms with their own exponential, and the float64 closed form, for z from −100 to
    1e4: past cap, where e^{−|z|} underflows (z > 88 in float32) and at the open bucket's cap."""
    logits = np.array([[-100.0, -5.0, 0.0, 1e-3, 5.0, 39.0, 41.0, 60.0, 100.0, 1e4, 3.0],
                       [-2.0, 0.5, 2.0, 7.0, 20.0, 35.0, -40.0, 95.0, 1.0, 4.0, 30.0]])
    widths = np.array([1.0, 2.0, 3.0, 7.0, 1.0, 40.0, 2.0, 5.0, 9.0, 1.0])
    z = tf.constant(logits, dtype)
    small, neg_log_p = ops.negative_log_sigmoid(z)
    hazard = ops.bucketized_geometric_unit_hazard(z, 20.0, neg_log_p)
    log_stay = ops.bucketized_geometric_log_stay(hazard, widths)
    own = ops.bucketized_geometric_terms(z, log_stay, 20.0).numpy()
    shared = ops.bucketized_geometric_terms(z, log_stay, 20.0, small=small).numpy()
    caps = np.append(np.full(10, 40.0), 20.0)
    clamped = np.minimum(logits, caps)
    stay = np.append(widths, 0.0) * log_expit(clamped)
    expected = np.exp(clamped) * (np.append(np.zeros(10), 1.0) - np.expm1(stay))
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(shared, own, rtol=rtol)
    # e^{−100} is subnormal in float32: XLA and Eigen may flush it to 0.
    np.testing.assert_allclose(shared, expected, rtol=rtol * 4, atol=1e-30)
    assert np.isfinite(shared).all()
