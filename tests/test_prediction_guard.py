"""PredictionGuard: warns when training predictions drift from the labels."""
import logging

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, models


def _guard():
    return models.PredictionGuard({"watch_time_s": np.array([1.0, 2.0, 3.0, 6.0])}, "watch_time_s")


def test_sane_predictions_pass():
    assert _guard().check([1.0, 2.0, 3.0, 6.0], [1.5, 2.0, 2.5, 5.0]) == []


@pytest.mark.parametrize("scale, fragment", [(2.5, "2.5 × the mean label"), (0.4, "0.4 ×")])
def test_mean_prediction_outside_half_to_double_the_mean_label(scale, fragment):
    labels = np.array([1.0, 2.0, 3.0, 6.0])
    problems = _guard().check(labels, labels * scale)
    assert len(problems) == 1 and fragment in problems[0]


def test_anti_correlated_predictions():
    labels = np.array([1.0, 2.0, 3.0, 6.0])
    problems = _guard().check(labels, labels[::-1])        # same mean, reversed order
    assert problems == ["XAUC 0.000 < 0.5"]


def test_nan_predictions():
    assert "NaN" in _guard().check([1.0, 2.0], [np.nan, 1.0])[0]


@pytest.mark.slow
def test_warns_during_fit_of_a_model_predicting_far_too_much(caplog):
    rng = np.random.default_rng(0)
    rows = {"user_id": rng.integers(0, 20, 256), "duration_s": rng.uniform(5, 60, 256).astype("float32"),
            "watch_time_s": rng.exponential(10.0, 256).astype("float32")}
    head = heads.RegressionHead()
    ranker = models.WatchTimeRanker(head, {"user_id": 50}, ["duration_s"], bottom_units=(4,),
                                    embedding_dim=2)
    ranker.adapt(rows)
    head.initialize_bias(np.full(4, 1000.0, np.float32))  # predicts ~1000 s for labels of ~10 s
    ranker.compile(optimizer=tf.keras.optimizers.SGD(0.0))
    guard = models.PredictionGuard(rows, "watch_time_s")
    with caplog.at_level(logging.WARNING):
        ranker.fit(tf.data.Dataset.from_tensor_slices(rows).batch(64), epochs=1, verbose=0,
                   callbacks=[guard])
    assert "stopped tracking the training labels" in caplog.text
    assert "× the mean label" in guard.history[0]["problems"][0]
