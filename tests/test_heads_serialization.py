"""Config round trips of every layer and loss, and the Keras 3 lane."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, losses
from _head_cases import HEAD_NAMES, make_heads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_head_round_trip_keeps_config_and_outputs(name):
    head = make_heads()[name]
    hidden = tf.random.stateless_normal([5, 6], seed=[1, 2])
    logits = head(hidden)
    serialized = json.loads(json.dumps(tf.keras.layers.serialize(head)))   # JSON-safe
    assert serialized["config"]["name"] == head.name
    revived = tf.keras.layers.deserialize(serialized)
    assert type(revived) is type(head)
    assert revived.get_config() == head.get_config()
    revived.build(hidden.shape)
    revived.set_weights(head.get_weights())
    np.testing.assert_allclose(revived(hidden).numpy(), logits.numpy())
    duration = tf.constant([5.0, 20.0, 30.0, 50.0, 90.0])
    np.testing.assert_allclose(revived.expected_value(logits, duration=duration).numpy(),
                               head.expected_value(logits, duration=duration).numpy())


def test_registered_under_the_wt_keras_package():
    for name in [n for n in heads.__all__ if n != "WatchTimeHead"] + ["WatchTimeLoss"]:
        assert tf.keras.utils.get_registered_name(getattr(heads, name, None) or
                                                  losses.WatchTimeLoss) == f"wt_keras>{name}"


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_loss_round_trip(name):
    head = make_heads()[name]
    loss = losses.WatchTimeLoss(head)
    revived = tf.keras.losses.deserialize(json.loads(json.dumps(tf.keras.losses.serialize(loss))))
    logits = head(tf.random.stateless_normal([4, 3], seed=[3, 4]))
    y_true = {"watch_time": tf.constant([0.0, 4.0, 12.0, 60.0]),
              "duration": tf.constant([10.0, 20.0, 30.0, 40.0])}
    assert float(revived(y_true, logits)) == pytest.approx(float(loss(y_true, logits)), rel=1e-6)


def test_confidence_tower_round_trip():
    tower = heads.ConfidenceTower(units=(8, 4), outputs=2)
    hidden = tf.random.stateless_normal([3, 5], seed=[5, 6])
    values = tower(hidden)
    revived = tf.keras.layers.deserialize(tf.keras.layers.serialize(tower))
    revived.build(hidden.shape)
    revived.set_weights(tower.get_weights())
    np.testing.assert_allclose(revived(hidden).numpy(), values.numpy())
    assert np.all((values.numpy() > 0) & (values.numpy() < 1))


KERAS3_SCRIPT = textwrap.dedent("""
    import json, numpy as np, tensorflow as tf
    assert tf.keras.version().startswith("3."), tf.keras.version()
    import wt_keras
    from wt_keras import heads, losses, metrics
    t = [3.0, 8.0, 20.0]
    made = [heads.BinomialSoftLabelHead(t), heads.BucketizedGeometricHead(t), heads.GeometricHead(),
            heads.WeightedLogisticHead(), heads.OrdinalHead(t), heads.CreadHead(t),
            heads.D2QHead([30.0], [[0, 10, 20], [0, 30, 60]]), heads.RegressionHead()]
    hidden = tf.random.normal([4, 6])
    watch_time = tf.constant([0.0, 2.0, 9.0, 50.0])
    duration = tf.constant([10.0, 40.0, 20.0, 90.0])
    tower = heads.ConfidenceTower(units=(4,))
    for head in made:
        logits = head(hidden)
        c = tower(hidden)
        for value in (head.loss(watch_time, logits, duration=duration),
                      head.loss(watch_time, logits, confidence=c, duration=duration),
                      head.expected_value(logits, duration=duration)):
            assert value.shape == [4] and np.all(np.isfinite(value.numpy())), type(head)
        revived = tf.keras.layers.deserialize(json.loads(json.dumps(tf.keras.layers.serialize(head))))
        assert revived.get_config() == head.get_config()
        loss = losses.WatchTimeLoss(head)
        revived_loss = tf.keras.losses.deserialize(tf.keras.losses.serialize(loss))
        y_true = {"watch_time": watch_time, "duration": duration}
        assert abs(float(revived_loss(y_true, logits)) - float(loss(y_true, logits))) < 1e-4
    m = metrics.PearsonCorrelation()
    m.update_state(watch_time, watch_time * 2.0)
    assert abs(float(m.result()) - 1.0) < 1e-6
    print("KERAS3_OK", tf.keras.version())
""")


@pytest.mark.slow
def test_layers_losses_and_metrics_run_under_keras3():
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_USE_LEGACY_KERAS"] = "0"        # explicit opt-in to Keras 3 (see wt_keras/__init__)
    result = subprocess.run([sys.executable, "-c", KERAS3_SCRIPT], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "KERAS3_OK 3." in result.stdout


@pytest.mark.slow   # a second Python process importing TensorFlow
def test_importing_after_keras3_tensorflow_raises_a_clear_error():
    script = "import tensorflow as tf; tf.keras.layers; import wt_keras"
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr


def test_feature_encoder_round_trip():
    from wt_keras.models import FeatureEncoder
    encoder = FeatureEncoder({"user_id": 50, "user_active_degree": 7}, ["duration_s", "fans"],
                             embedding_dim=3)
    features = {"user_id": tf.constant([1, 2, 3], tf.int64),
                "user_active_degree": tf.constant(["full_active", "low_active", "x"]),
                "duration_s": tf.constant([5.0, 60.0, 300.0]),
                "fans": tf.constant([0, 10, 10_000], tf.int64)}
    encoder.adapt({k: v.numpy() for k, v in features.items()})
    values = encoder(features)
    revived = tf.keras.layers.deserialize(json.loads(json.dumps(tf.keras.layers.serialize(encoder))))
    assert revived.get_config() == encoder.get_config()
    revived(features)
    revived.set_weights(encoder.get_weights())
    np.testing.assert_allclose(revived(features).numpy(), values.numpy())
