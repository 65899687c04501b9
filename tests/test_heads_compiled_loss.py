"""A bucket head's loss and gradient as one XLA computation (`heads._compiled`).

The compiled path must give the op-by-op loss and gradient for every head,
with and without EXUM, under a non-uniform upstream gradient (the backward
pass scales each example's compiled gradient by its own upstream value), and
must stay out of eager calls and out of exported serving graphs.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, ops
from wt_keras.heads import _compiled
from _export_models import export_ranker, synthetic_rows, train_ranker
from _head_cases import HEAD_NAMES, make_heads

WATCH_TIME = np.array([0.0, 2.5, 7.0, 8.0, 19.0, 33.0, 120.0, 45.0])
DURATION = np.array([5.0, 30.0, 12.0, 60.0, 80.0, 20.0, 50.0, 45.0])
CLICKED = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0])


def _loss_and_gradients(head, logits, confidence_logit, compiled, dtype=tf.float32):
    """(loss [B], d/dlogits, d/dconfidence_logit, logged mean [B]) of Σ_b u_b L_b in a tf.function.

    The loss comes from `loss_and_expected_value` (what a ranker's train step
    calls); `loss` alone must give the same values (to rounding), and the logged mean must
    carry no gradient.
    """
    upstream = tf.constant(np.linspace(0.5, 2.0, len(WATCH_TIME)), dtype)
    context = {"duration": tf.constant(DURATION, dtype), "clicked": tf.constant(CLICKED, dtype)}
    exum = confidence_logit is not None
    enabled = _compiled.ENABLED
    _compiled.ENABLED = compiled
    try:
        @tf.function
        def run(logits, confidence_logit):
            confidence = {"confidence_logit": confidence_logit} if exum else {}
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([logits, confidence_logit])
                loss, mean = head.loss_and_expected_value(tf.constant(WATCH_TIME, dtype), logits,
                                                          **confidence, **context)
                total = tf.reduce_sum(upstream * loss)
                loss_alone = head.loss(tf.constant(WATCH_TIME, dtype), logits, **confidence,
                                       **context)
            assert tape.gradient(mean, logits) is None           # logs only
            gradients = tape.gradient(total, [logits, confidence_logit],
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return loss, loss_alone, gradients, mean
        loss, loss_alone, (to_logits, to_confidence), mean = run(
            logits, confidence_logit if exum else tf.zeros([len(WATCH_TIME), 1], dtype))
        # Two XLA computations (with and without the mean's side outputs) may
        # fuse, and so round, the loss's sum differently: equal to float32 rounding.
        np.testing.assert_allclose(loss_alone.numpy(), loss.numpy(),
                                   rtol=4 * np.finfo(loss.dtype.as_numpy_dtype).eps)
        return loss.numpy(), to_logits.numpy(), to_confidence.numpy(), mean.numpy()
    finally:
        _compiled.ENABLED = enabled


@pytest.mark.parametrize("name", HEAD_NAMES)
@pytest.mark.parametrize("confidence", ["none", "shared", "per_output"])
def test_compiled_loss_and_gradients_match_op_by_op(name, confidence):
    head = make_heads()[name]
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(0.0, 1.5, (len(WATCH_TIME), head.num_logits)), tf.float32)
    if name == "regression":
        logits = logits * 10.0
    width = {"none": None, "shared": 1, "per_output": head.num_logits}[confidence]
    confidence_logit = (None if width is None else
                        tf.constant(rng.normal(0.5, 1.5, (len(WATCH_TIME), width)), tf.float32))
    expected = _loss_and_gradients(head, logits, confidence_logit, compiled=False)
    actual = _loss_and_gradients(head, logits, confidence_logit, compiled=True)
    for value, reference in zip(actual, expected):
        np.testing.assert_allclose(value, reference, rtol=2e-5, atol=2e-5)
    # The logged mean is the head's expected value, computed eagerly (op by op).
    context = {"duration": tf.constant(DURATION, tf.float32),
               "clicked": tf.constant(CLICKED, tf.float32)}
    np.testing.assert_allclose(actual[3], head.expected_value(logits, **context).numpy(),
                               rtol=2e-5, atol=1e-4)


def test_compiled_loss_keeps_float64():
    head = heads.BucketizedGeometricHead([3.0, 8.0, 20.0], dtype="float64")
    rng = np.random.default_rng(1)
    logits = tf.constant(rng.normal(0.0, 1.5, (len(WATCH_TIME), head.num_logits)))
    confidence_logit = tf.constant(rng.normal(0.5, 1.5, (len(WATCH_TIME), 1)))
    expected = _loss_and_gradients(head, logits, confidence_logit, False, tf.float64)
    actual = _loss_and_gradients(head, logits, confidence_logit, True, tf.float64)
    assert actual[0].dtype == np.float64
    for value, reference in zip(actual, expected):
        np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12)


def _compiled_functions(graph_def):
    """Names of the functions in `graph_def`'s library that XLA must compile."""
    return [function.signature.name for function in graph_def.library.function
            if function.attr["_XlaMustCompile"].b]


def _traced_loss_graph(head):
    logits = tf.TensorSpec([None, head.num_logits], tf.float32)
    function = tf.function(lambda z: head.loss(tf.ones([tf.shape(z)[0]]), z))
    return function.get_concrete_function(logits).graph.as_graph_def()


def test_only_graphs_of_bucket_heads_compile_the_loss():
    ordinal = heads.OrdinalHead([3.0, 8.0, 20.0])
    assert _compiled_functions(_traced_loss_graph(ordinal))
    assert not _compiled.compiles_loss(ordinal)                  # eager: op by op
    assert not _compiled_functions(_traced_loss_graph(heads.RegressionHead()))   # one output
    ordinal.compile_loss = False
    assert not _compiled_functions(_traced_loss_graph(ordinal))


def test_environment_switch_turns_compiling_off():
    code = "from wt_keras.heads import _compiled; print(_compiled.ENABLED)"
    env = {**os.environ, "WT_KERAS_COMPILE_LOSS": "0", "TF_USE_LEGACY_KERAS": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.slow
def test_ranker_compiles_its_train_step_loss_but_exports_op_by_op(tmp_path):
    """`fit` runs the compiled loss and logged mean; the served graph has no XLA function."""
    from tensorflow.core.protobuf import saved_model_pb2

    rows = synthetic_rows(num_rows=256)
    ranker = train_ranker("swat_geo", rows, exum=True)
    ranker.compile(optimizer=tf.keras.optimizers.Adam(1e-2))        # graph mode this time
    history = ranker.fit(tf.data.Dataset.from_tensor_slices(rows).batch(64), epochs=1,
                         verbose=0).history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["mae"]).all()
    train_graph = ranker.train_function.get_concrete_function(
        iter(tf.data.Dataset.from_tensor_slices(rows).batch(64))).graph.as_graph_def()
    assert _compiled_functions(train_graph)

    # The train step's logged mean (from loss_and_expected_value, compiled) is the served one.
    hidden = ranker.hidden(rows)
    logits = ranker.head(hidden)
    context = ranker.context(rows)
    confidence_logit = ranker.confidence_tower.confidence_logit(hidden)
    logged = tf.function(lambda z: ranker.head.loss_and_expected_value(
        rows["watch_time_s"], z, confidence_logit=confidence_logit, **context)[1])(logits)
    np.testing.assert_allclose(logged.numpy(), ranker.estimate(logits, **context).numpy(),
                               rtol=1e-5)

    export_dir = export_ranker(ranker, tmp_path / "saved_models", rows)
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as handle:
        saved_model = saved_model_pb2.SavedModel.FromString(handle.read())
    assert not _compiled_functions(saved_model.meta_graphs[0].graph_def)


@pytest.mark.parametrize("num_buckets", [15, 31, 40, 70, 300])
@pytest.mark.parametrize("exum", [False, True])
def test_swat_geo_logged_mean_over_horner_blocks(num_buckets, exum):
    """The compiled step's mean (Horner's rule in blocks of 32): below, at and past one
    block, padded or not."""
    rng = np.random.default_rng(num_buckets)
    head = heads.BucketizedGeometricHead(np.cumsum(rng.integers(1, 4, num_buckets)).astype(float))
    logits = tf.constant(rng.normal(3.0, 1.5, (len(WATCH_TIME), head.num_logits)), tf.float32)
    confidence_logit = tf.constant(rng.normal(2.0, 1.0, (len(WATCH_TIME), 1)), tf.float32) if exum else None
    expected = _loss_and_gradients(head, logits, confidence_logit, compiled=False)
    actual = _loss_and_gradients(head, logits, confidence_logit, compiled=True)
    for value, reference in zip(actual, expected):
        np.testing.assert_allclose(value, reference, rtol=2e-5, atol=2e-5)
    # Independently: E[Y] = Σ_y P(Y ≥ y) in float64, second by second.
    p = 1.0 / (1.0 + np.exp(-logits.numpy().astype(np.float64)))
    widths = np.diff(np.concatenate([[0.0], head.boundaries]))
    for row, mean in zip(p, actual[3]):
        per_unit = np.repeat(row[:-1], widths.astype(int))
        reach = np.concatenate([[1.0], np.cumprod(per_unit)])
        survival_sum = reach[1:].sum() + reach[-1] * row[-1] / (1.0 - row[-1])
        assert mean == pytest.approx(survival_sum, rel=2e-5)


@pytest.mark.parametrize("width", [1, 3, 32, 33, 64, 1025])
def test_horner_expectation_is_the_sum_of_reach_times_terms(width):
    """Σ_m (Π_{i<m} s_i) t_m in float64 with numpy's cumulative product, eager and under XLA."""
    rng = np.random.default_rng(width)
    stay = rng.uniform(0.0, 1.0, (4, width)) ** rng.uniform(0.0, 3.0, (4, 1))
    stay[1, ::7] = 0.0                                  # a certain exit cuts every later term
    stay[2] = 1e-30                                     # reaches underflow
    stay[3] = 1.0                                       # the plain sum of the terms
    terms = rng.exponential(5.0, (4, width))
    reach = np.concatenate([np.ones((4, 1)), np.cumprod(stay, axis=-1)[:, :-1]], axis=-1)
    expected = (reach * terms).sum(-1)
    eager = ops.bucketized_geometric_expectation_by_horner(tf.constant(stay), tf.constant(terms))
    np.testing.assert_allclose(eager.numpy(), expected, rtol=1e-12)
    compiled = tf.function(ops.bucketized_geometric_expectation_by_horner, jit_compile=True)(
        tf.constant(stay, tf.float32), tf.constant(terms, tf.float32))
    np.testing.assert_allclose(compiled.numpy(), expected, rtol=2e-6)
