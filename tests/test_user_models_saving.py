"""Saving a user's model that holds a head: .keras, .h5 and SavedModel round trips."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, losses, metrics
from _head_cases import HEAD_NAMES, make_heads
from _user_models import SubclassedModel, functional_model, matrix, rows

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# SavedModel traces every function of the model: seconds per head, so only in the full suite.
SAVED_MODEL = pytest.param("saved_model", marks=pytest.mark.slow, id="saved_model")
FORMATS = ("model.keras", "model.h5", SAVED_MODEL)


def _compiled(model, head):
    # Compiling puts the loss (which references the head) into the saved file:
    # that was what left the head's weights out of .keras files.
    model.compile(optimizer="adam", loss=losses.WatchTimeLoss(head, context_keys=("duration",)),
                  metrics=[metrics.MeanAbsoluteError(head=head, context_keys=("duration",))])
    return model


def _predict_after_round_trip(model, path, x):
    model.save(path)
    revived = tf.keras.models.load_model(path, custom_objects={"SubclassedModel": SubclassedModel})
    return revived, revived.predict(x, verbose=0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", HEAD_NAMES)
def test_functional_model_with_a_head_round_trips(name, fmt, tmp_path):
    head = make_heads()[name]
    model = _compiled(functional_model(head), head)
    x = matrix(rows(5)[0])
    expected = model.predict(x, verbose=0)
    revived, actual = _predict_after_round_trip(model, str(tmp_path / fmt), x)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)
    revived_head = revived.layers[-1]
    assert type(revived_head) is type(head)
    np.testing.assert_allclose(revived_head.projection.kernel.numpy(), head.projection.kernel.numpy())


@pytest.mark.parametrize("fmt", ["model.keras", SAVED_MODEL])   # Keras: no .h5 for subclassed models
@pytest.mark.parametrize("name", ["swat_geo", "d2q", "wlr"])
def test_subclassed_model_with_a_head_round_trips(name, fmt, tmp_path):
    head = make_heads()[name]
    x = matrix(rows(5)[0])
    model = SubclassedModel(head)
    model(x)
    model = _compiled(model, head)
    expected = model.predict(x, verbose=0)
    _, actual = _predict_after_round_trip(model, str(tmp_path / fmt), x)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_confidence_tower_round_trips(fmt, tmp_path):
    inputs = tf.keras.Input([4])
    model = tf.keras.Model(inputs, heads.ConfidenceTower(units=(8,))(inputs))
    x = matrix(rows(5)[0])
    expected = model.predict(x, verbose=0)
    _, actual = _predict_after_round_trip(model, str(tmp_path / fmt), x)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_loss_and_metric_come_back_with_the_compiled_model(fmt, tmp_path):
    head = heads.D2QHead([15.0, 40.0], [[0, 10, 20], [0, 25, 50], [0, 60, 120]])
    model = _compiled(functional_model(head), head)
    features, watch_time, _ = rows(16)
    y = model.loss.pack_labels(watch_time, duration=features["duration_s"])
    expected = model.evaluate(matrix(features), y, verbose=0, return_dict=True)
    revived, _ = _predict_after_round_trip(model, str(tmp_path / fmt), matrix(features))
    if fmt == "saved_model":   # the TF format keeps no Python loss: compile again
        _compiled(revived, revived.layers[-1])
    actual = revived.evaluate(matrix(features), y, verbose=0, return_dict=True)
    assert actual["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert actual["mae"] == pytest.approx(expected["mae"], rel=1e-5)


@pytest.mark.slow   # a second Python process importing TensorFlow
def test_h5_loads_in_a_fresh_process_that_imports_the_heads(tmp_path):
    head = heads.BucketizedGeometricHead([3.0, 8.0, 20.0])
    model = _compiled(functional_model(head), head)
    x = matrix(rows(3)[0])
    path = str(tmp_path / "model.h5")
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        import wt_keras.heads, wt_keras.losses, wt_keras.metrics   # registers the classes
        model = tf.keras.models.load_model({path!r})
        print(model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0).tolist())
    """)
    env = {**os.environ, "PYTHONPATH": REPO, "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    actual = np.array(eval(done.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(actual, model.predict(x, verbose=0), rtol=1e-6)


def test_ranker_refuses_keras_formats_and_keeps_save_weights(tmp_path):
    from wt_keras.models import WatchTimeRanker
    from _synthetic import interactions

    data = interactions(num_rows=32)
    ranker = WatchTimeRanker(heads.GeometricHead(), {"user_id": 50, "video_id": 50},
                             bottom_units=(8,))
    ranker(data)
    for name in ("ranker.keras", "ranker.h5"):
        with pytest.raises(ValueError, match="save_weights.*export_serving_model"):
            ranker.save(str(tmp_path / name))
    ranker.save_weights(str(tmp_path / "weights"))
    clone = WatchTimeRanker(heads.GeometricHead(), {"user_id": 50, "video_id": 50},
                            bottom_units=(8,))
    clone(data)
    clone.load_weights(str(tmp_path / "weights"))
    np.testing.assert_allclose(clone(data).numpy(), ranker(data).numpy(), rtol=1e-6)
