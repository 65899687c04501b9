"""EXUM confidence fusion: p′ = c·p + (1 − c)·y, loss(p′) + λ·(−log c)."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import optimize

from wt_keras import heads, ops
from _head_cases import HEAD_NAMES, make_heads

WATCH_TIME = tf.constant([0.0, 2.5, 7.0, 8.0, 19.0, 33.0, 120.0], tf.float64)
DURATION = tf.constant([5.0, 30.0, 12.0, 60.0, 80.0, 20.0, 50.0], tf.float64)


def _logits(head, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.normal(0.0, 1.5, (WATCH_TIME.shape[0], head.num_logits)))


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_full_confidence_reduces_to_the_plain_loss(name):
    head = make_heads()[name]
    head.confidence_penalty = 0.0
    logits = _logits(head)
    plain = head.loss(WATCH_TIME, logits, duration=DURATION)
    fused = head.loss(WATCH_TIME, logits, confidence=tf.ones([7, 1], tf.float64), duration=DURATION)
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=1e-5, atol=1e-5)


def _labelled_output_count(name, watch_time, num_logits):
    """Outputs with a label, counted by hand for the cases of `_head_cases`."""
    if name.startswith("swat_geo"):
        # Buckets up to and including the exit bucket (endpoints 3, 8, 20, 45 s;
        # at α = 10 the label 2.5 s = 25 units is still in the first bucket).
        return 1 + np.searchsorted([3.0, 8.0, 20.0, 45.0], watch_time, side="right")
    if name == "tpm":                                 # 4 leaves: every path has 2 nodes
        return np.full(len(watch_time), 2)
    if name == "tpm_five_leaves":                     # leaves 0, 1 at depth 3, leaves 2-4 at depth 2
        leaf = np.minimum(np.searchsorted([3.0, 8.0, 20.0, 45.0, 90.0], watch_time, side="right"), 4)
        return np.where(leaf < 2, 3, 2)
    return np.full(len(watch_time), num_logits)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_penalty_is_lambda_times_minus_log_confidence(name):
    head = make_heads()[name]
    logits = _logits(head)
    confidence = tf.constant(np.linspace(0.1, 0.9, 7)[:, None])
    with_penalty = head.loss(WATCH_TIME, logits, confidence=confidence, duration=DURATION)
    head.confidence_penalty = 0.0
    without = head.loss(WATCH_TIME, logits, confidence=confidence, duration=DURATION)
    lam = make_heads()[name].confidence_penalty
    # A shared c pays −log c once per output that carries a label for the example.
    outputs = _labelled_output_count(name, WATCH_TIME.numpy(), head.num_logits)
    np.testing.assert_allclose((with_penalty - without).numpy(),
                               -lam * outputs * np.log(confidence.numpy()[:, 0]), rtol=1e-9)


def test_per_output_confidences_each_pay_their_penalty():
    head = heads.OrdinalHead([3.0, 8.0, 20.0], confidence_penalty=0.5)
    logits = _logits(head)
    confidence = tf.constant(np.random.default_rng(3).uniform(0.2, 0.9, (7, 3)))
    with_penalty = head.loss(WATCH_TIME, logits, confidence=confidence)
    head.confidence_penalty = 0.0
    without = head.loss(WATCH_TIME, logits, confidence=confidence)
    np.testing.assert_allclose((with_penalty - without).numpy(),
                               -0.5 * np.log(confidence.numpy()).sum(1), rtol=1e-9)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_shared_confidence_equals_the_same_confidence_on_every_output(name):
    head = make_heads()[name]
    logits = _logits(head)
    shared = tf.constant(np.linspace(0.1, 0.9, 7)[:, None])
    broadcast = tf.broadcast_to(shared, logits.shape)
    np.testing.assert_allclose(
        head.loss(WATCH_TIME, logits, confidence=shared, duration=DURATION).numpy(),
        head.loss(WATCH_TIME, logits, confidence=broadcast, duration=DURATION).numpy(),
        rtol=1e-9)


def test_binary_cross_entropy_gradient_is_scaled_by_confidence():
    """d/dp BCE(y, p′) = c · (p′ − y) / (p′ (1 − p′)), p′ = c p + (1 − c) y."""
    z = tf.Variable([[0.3, -1.2, 2.0]], dtype=tf.float64)
    y = np.array([[1.0, 0.0, 0.4]])
    c = np.array([[0.7]])
    with tf.GradientTape() as tape:
        loss = ops.fused_binary_cross_entropy(z, y, tf.constant(c))
    p = 1 / (1 + np.exp(-z.numpy()))
    fused = c * p + (1 - c) * y
    expected = c * (fused - y) / (fused * (1 - fused)) * p * (1 - p)   # chain rule dp/dz
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), expected, rtol=1e-9)


def test_squared_error_gradient_is_scaled_by_confidence_squared():
    p = tf.Variable([[0.2], [0.9]], dtype=tf.float64)
    y = np.array([[0.6], [0.1]])
    c = np.array([[0.5], [0.8]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(ops.fused_squared_error(p, y, tf.constant(c), scale=100.0))
    np.testing.assert_allclose(tape.gradient(loss, p).numpy(),
                               c ** 2 * 100.0 ** 2 * (p.numpy() - y), rtol=1e-9)


@pytest.mark.parametrize("error", [0.01, 0.04, 0.1, 0.3])
def test_d2q_optimal_confidence_is_sqrt_lambda_over_scaled_error(error):
    """min_c ½ s² c² e² − λ log c  →  c* = min(1, √λ / (s e))  (λ = 16, s = 100)."""
    head = heads.D2QHead([], [[0.0, 100.0]], confidence_penalty=16.0)   # one group: q = T / 100
    watch_time = tf.constant([50.0], tf.float64)
    logit = np.log((0.5 + error) / (0.5 - error))
    logits = tf.constant([[logit]])

    def loss(c):
        return float(head.loss(watch_time, logits, confidence=tf.constant([[c]], tf.float64),
                               duration=tf.constant([1.0], tf.float64))[0])
    best = optimize.minimize_scalar(loss, bounds=(1e-4, 1.0), method="bounded",
                                    options={"xatol": 1e-8}).x
    assert best == pytest.approx(min(1.0, np.sqrt(16.0) / (100.0 * error)), abs=1e-3)


@pytest.mark.parametrize("error", [0.05, 0.3, 0.6, 0.9])
def test_ordinal_optimal_confidence_matches_closed_form(error):
    """For a binary label: c* = min(1, λ / ((1 + λ) e)) with e = |y − p|."""
    head = heads.OrdinalHead([5.0], confidence_penalty=0.1)
    logits = tf.constant([[np.log((1 - error) / error)]])   # p = 1 − e, label 1 (T > 5)

    def loss(c):
        return float(head.loss(tf.constant([9.0], tf.float64), logits,
                               confidence=tf.constant([[c]], tf.float64))[0])
    best = optimize.minimize_scalar(loss, bounds=(1e-4, 1.0), method="bounded",
                                    options={"xatol": 1e-8}).x
    assert best == pytest.approx(min(1.0, 0.1 / (1.1 * error)), abs=1e-3)


def test_cread_auxiliary_terms_use_raw_probabilities():
    head = heads.CreadHead([3.0, 8.0, 20.0], restoration_weight=1.0, monotonicity_weight=0.5)
    logits = tf.constant([[0.2, 0.8, -1.0], [2.0, 1.0, 0.5]], tf.float64)
    watch_time = tf.constant([4.0, 30.0], tf.float64)
    auxiliary = []
    for c in (0.3, 0.9):
        confidence = tf.fill([2, 1], tf.constant(c, tf.float64))
        total = head.loss(watch_time, logits, confidence=confidence)
        fused = ops.fused_binary_cross_entropy(
            logits, ops.ordinal_labels(watch_time, head.boundaries), confidence)
        auxiliary.append((total - fused - head.confidence_penalty * 3 * -np.log(c)).numpy())
    restored = head.expected_value(logits)
    # M = 3 outputs, error in units of t_M = 20 s, ordinal term × the reference batch 2048.
    expected = 3 * (ops.huber((restored - watch_time) / 20.0, 1.0)
                    + 2048 * 0.5 * ops.ordinal_monotonicity_penalty(logits)).numpy()
    np.testing.assert_allclose(auxiliary[0], expected, rtol=1e-9)
    np.testing.assert_allclose(auxiliary[1], expected, rtol=1e-9)


def test_per_output_confidence_for_ordinal_head():
    head = heads.OrdinalHead([3.0, 8.0, 20.0])
    logits = _logits(head)
    per_output = tf.constant(np.random.default_rng(0).uniform(0.2, 0.9, (7, 3)))
    loss = head.loss(WATCH_TIME, logits, confidence=per_output)
    shared = head.loss(WATCH_TIME, logits, confidence=per_output[:, :1])
    assert loss.shape == [7] and not np.allclose(loss.numpy(), shared.numpy())
    tower = heads.ConfidenceTower(units=(4,), outputs=3)
    assert tower(tf.zeros([7, 5])).shape == [7, 3]


def test_swat_geo_exum_target_is_continuation_frequency():
    head = heads.BucketizedGeometricHead([3.0, 8.0])
    targets, weights = head._confidence_targets(tf.constant([5.0, 12.0]), None)
    # T = 5: bucket 1 fully stayed (3 of 3), exit in bucket 2 after 2 seconds.
    np.testing.assert_allclose(targets.numpy(), [[1.0, 2.0 / 3.0, 0.0], [1.0, 1.0, 4.0 / 5.0]])
    np.testing.assert_allclose(weights.numpy(), [[3.0, 3.0, 0.0], [3.0, 5.0, 5.0]])


@pytest.mark.parametrize("weight_by_width", [False, True])
def test_swat_binom_exum_targets_are_the_soft_labels(weight_by_width):
    head = heads.BinomialSoftLabelHead([3.0, 8.0], weight_by_width=weight_by_width)
    targets, weights = head._confidence_targets(tf.constant([5.0, 12.0, 0.0, 3.0]), None)
    # Coverage of [0, 3] and [3, 8] over the width: T = 5 covers 3 of 3 and 2 of 5.
    np.testing.assert_allclose(targets.numpy(), [[1.0, 0.4], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(weights.numpy(), [[3.0, 5.0]] * 4 if weight_by_width else 1.0)


@pytest.mark.parametrize("name", HEAD_NAMES)
@pytest.mark.parametrize("logit_value", [-20.0, 20.0])
def test_full_confidence_is_exactly_the_backbone_at_saturated_logits(name, logit_value):
    """c = 1 (given as c or as a large logit) leaves the head's loss unchanged."""
    head = make_heads()[name]
    head.confidence_penalty = 0.0
    logits = tf.fill([7, head.num_logits], tf.constant(logit_value, tf.float64))
    plain = head.loss(WATCH_TIME, logits, duration=DURATION).numpy()
    for option in ({"confidence": tf.ones([7, 1], tf.float64)},
                   {"confidence_logit": tf.fill([7, 1], tf.constant(1e4, tf.float64))}):
        fused = head.loss(WATCH_TIME, logits, duration=DURATION, **option).numpy()
        np.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-5)


def test_full_confidence_keeps_the_cross_entropy_of_a_confident_mistake():
    """Label 1, logit −20: the loss is 20 and dL/dz = −1, as without EXUM."""
    z = tf.Variable([[-20.0]], dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = ops.fused_binary_cross_entropy(z, [[1.0]], tf.ones([1, 1]))
    assert float(loss[0]) == pytest.approx(20.0, rel=1e-6)
    assert float(tape.gradient(loss, z)[0, 0]) == pytest.approx(-1.0, rel=1e-6)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_confidence_gradient_survives_a_collapsed_confidence(name):
    """As c → 0 the loss still pulls c up: dL/dl ≠ 0 at l = −30 (c ≈ 1e-13)."""
    head = make_heads()[name]
    logits = _logits(head)
    confidence_logit = tf.Variable(tf.fill([7, 1], tf.constant(-30.0, tf.float64)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(head.loss(WATCH_TIME, logits, confidence_logit=confidence_logit,
                                       duration=DURATION))
    gradient = tape.gradient(loss, confidence_logit).numpy()
    assert np.all(np.isfinite(gradient)) and np.all(gradient < 0)
    confidence = tf.Variable(tf.fill([7, 1], tf.constant(1e-12, tf.float64)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(head.loss(WATCH_TIME, logits, confidence=confidence,
                                       duration=DURATION))
    gradient = tape.gradient(loss, confidence).numpy()
    assert np.all(np.isfinite(gradient)) and np.all(gradient < 0)


@pytest.mark.parametrize("watch_time, labelled", [(0.0, 1), (2.0, 1), (5.0, 2), (50.0, 3)])
def test_swat_geo_penalty_counts_only_buckets_up_to_the_exit(watch_time, labelled):
    """Boundaries 3, 8 s: buckets [0, 3), [3, 8), [8, ∞); T = 0 labels only the first."""
    head = heads.BucketizedGeometricHead([3.0, 8.0], confidence_penalty=2.0)
    logits = tf.constant([[0.3, -0.4, 1.1]], tf.float64)
    confidence = tf.constant([[0.6]], tf.float64)
    label = tf.constant([watch_time], tf.float64)
    with_penalty = head.loss(label, logits, confidence=confidence)
    head.confidence_penalty = 0.0
    without = head.loss(label, logits, confidence=confidence)
    np.testing.assert_allclose((with_penalty - without).numpy(), [2.0 * labelled * -np.log(0.6)],
                               rtol=1e-12)


def test_tower_logit_and_confidence_give_the_same_loss():
    tower = heads.ConfidenceTower(units=(4,))
    hidden = tf.random.stateless_normal([7, 5], seed=[1, 2], dtype=tf.float32)
    head = heads.OrdinalHead([3.0, 8.0, 20.0])
    logits = tf.cast(_logits(head), tf.float32)
    watch_time = tf.cast(WATCH_TIME, tf.float32)
    from_logit = head.loss(watch_time, logits, confidence_logit=tower.confidence_logit(hidden))
    from_confidence = head.loss(watch_time, logits, confidence=tower(hidden))
    np.testing.assert_allclose(from_logit.numpy(), from_confidence.numpy(), rtol=1e-5)


def test_soft_labels_rounded_above_one_stay_finite():
    """coverage / width can round to 1 + 1 ulp in float32; the fused loss must stay finite."""
    above_one = np.nextafter(np.float32(1.0), np.float32(2.0))
    loss = ops.fused_binary_cross_entropy(tf.constant([[0.5, -0.5]]),
                                          tf.constant([[above_one, 0.0]]),
                                          confidence_logit=tf.zeros([1, 1]))
    assert np.all(np.isfinite(loss.numpy()))


@pytest.mark.parametrize("stopped", [False, True])
def test_tower_trains_the_shared_bottom_only_when_not_stopped(stopped):
    """With stop_gradient_to_bottom the EXUM loss has no gradient w.r.t. the bottom's output."""
    # initial_confidence=None: with the default zero output kernel no gradient reaches the
    # bottom at the first step even when the tower is joint.
    tower = heads.ConfidenceTower(units=(4,), stop_gradient_to_bottom=stopped,
                                  initial_confidence=None)
    hidden = tf.random.stateless_normal([7, 5], seed=[3, 4], dtype=tf.float32)
    head = heads.OrdinalHead([3.0, 8.0, 20.0])
    logits = tf.cast(_logits(head), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(hidden)
        loss = tf.reduce_sum(head.loss(tf.cast(WATCH_TIME, tf.float32), logits,
                                       confidence_logit=tower.confidence_logit(hidden)))
    to_bottom = tape.gradient(loss, hidden, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    to_tower = tape.gradient(loss, tower.trainable_variables)
    assert (float(tf.reduce_max(tf.abs(to_bottom))) == 0.0) == stopped
    assert all(float(tf.reduce_max(tf.abs(g))) > 0.0 for g in to_tower[-2:])   # the output layer
    revived = tf.keras.layers.deserialize(tf.keras.layers.serialize(tower))
    assert revived.stop_gradient_to_bottom is stopped


def test_initial_confidence_starts_every_sample_there():
    tower = heads.ConfidenceTower(units=(4,), initial_confidence=0.99)
    hidden = tf.random.stateless_normal([6, 5], seed=[7, 8], dtype=tf.float32)
    np.testing.assert_allclose(tower(hidden).numpy(), np.full([6, 1], 0.99), rtol=1e-6)
    revived = tf.keras.layers.deserialize(tf.keras.layers.serialize(tower))
    assert revived.initial_confidence == 0.99
    with pytest.raises(ValueError, match="initial_confidence"):
        heads.ConfidenceTower(initial_confidence=1.0)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_heads_that_declare_hard_targets_give_only_zeros_and_ones(name):
    """A head's `_hard_confidence_targets` lets the fused cross-entropy skip the other side."""
    head = make_heads()[name]
    if not head._hard_confidence_targets:
        pytest.skip("soft targets")
    # Continuous labels, labels on the bucket edges and beyond the last one.
    edges = np.asarray(getattr(head, "boundaries", [10.0]), np.float64)
    watch_time = np.concatenate([np.random.default_rng(3).exponential(20.0, 200), edges,
                                 [0.0, 10.0 * edges[-1]]])
    targets, _ = head._confidence_targets(tf.constant(watch_time), None,
                                          duration=tf.fill([len(watch_time)], 60.0))
    assert set(np.unique(targets.numpy())) <= {0.0, 1.0}
