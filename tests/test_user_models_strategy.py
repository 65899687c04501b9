"""Keras metrics and the ranker under MirroredStrategy with two logical CPUs.

Logical devices must be configured before TensorFlow initialises, so the
scenario runs in a fresh Python process.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    sys.path.insert(0, "tests")
    from wt_keras import heads, losses, metrics
    from _user_models import functional_model, matrix, rows

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    features, watch_time, _ = rows(203, seed=3)          # odd: replicas get unequal shares
    x = matrix(features)
    with strategy.scope():
        head = heads.GeometricHead()
        model = functional_model(head)
        model.compile(optimizer="adam",
                      loss=losses.WatchTimeLoss(head, reduction=tf.keras.losses.Reduction.SUM),
                      metrics=[metrics.XAUC(head=head), metrics.PearsonCorrelation(head=head),
                               metrics.MeanAbsoluteError(head=head)])
    model.fit(x, watch_time, batch_size=32, epochs=2, verbose=0)
    result = model.evaluate(x, watch_time, batch_size=32, verbose=0, return_dict=True)
    predicted = head.expected_value(model.predict(x, batch_size=32, verbose=0)).numpy()
    out = {"replicas": strategy.num_replicas_in_sync,
           "keras": {k: float(result[k]) for k in ("xauc", "pearson", "mae")},
           "numpy": {"xauc": metrics.xauc(watch_time, predicted),
                     "pearson": metrics.pearson(watch_time, predicted),
                     "mae": metrics.mae(watch_time, predicted)},
           # What a mean of per-batch means would read: the error a wrong cross-replica
           # aggregation makes, which the tolerance below must stay far under.
           "mean_of_batch_maes": float(np.mean([
               metrics.mae(watch_time[i:i + 32], predicted[i:i + 32])
               for i in range(0, len(watch_time), 32)]))}

    from wt_keras.models import WatchTimeRanker
    from _synthetic import interactions
    data = interactions(num_rows=64)
    with strategy.scope():
        ranker = WatchTimeRanker(heads.GeometricHead(), {"user_id": 50, "video_id": 50},
                                 bottom_units=(8,))
        ranker.compile(optimizer="adam")
    try:
        ranker.fit(data, batch_size=16, epochs=1, verbose=0)
        out["ranker_error"] = None
    except Exception as error:
        out["ranker_error"] = str(error)
    print("RESULT " + json.dumps(out))
""")


@pytest.fixture(scope="module")
def mirrored_run():
    env = {**os.environ, "PYTHONPATH": REPO, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=500)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [row for row in done.stdout.splitlines() if row.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["xauc", "pearson", "mae"])
def test_keras_metrics_are_exact_under_mirrored_strategy(mirrored_run, metric):
    assert mirrored_run["replicas"] == 2
    # Exact up to float32 rounding of the forward pass: evaluate() runs each replica on its
    # share of a batch, predict() on whole batches, and oneDNN may pick other kernels for
    # other shapes (CPU-dependent), so a logit can move by an ulp. An untrained geometric head
    # has E[T] ~ 1e6 s with d log E / d logit ~ 1, i.e. ~1e-7 of itself a row at most.
    assert mirrored_run["keras"][metric] == pytest.approx(mirrored_run["numpy"][metric],
                                                          rel=1e-6, abs=1e-6)


@pytest.mark.slow
def test_the_exactness_tolerance_would_catch_a_mean_of_batch_means(mirrored_run):
    # The last batch holds 11 of 203 rows, so averaging batch means weights it wrongly; that
    # error must be far over the 1e-6 the test above allows, or that test could not fail.
    exact, wrong = mirrored_run["numpy"]["mae"], mirrored_run["mean_of_batch_maes"]
    assert abs(wrong - exact) > 1e-4 * exact


@pytest.mark.slow
def test_ranker_without_global_batch_size_says_which_argument_to_set(mirrored_run):
    assert "global_batch_size" in (mirrored_run["ranker_error"] or "")
