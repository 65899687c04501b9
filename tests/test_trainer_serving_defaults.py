"""The pipeline Trainer's export answers a request holding only the ids and the
duration (docs/serving.md, "Request features"), checked on `train_and_export`
without the rest of the pipeline; the e2e test checks the pushed model."""
import json

import numpy as np
import pytest
import tensorflow as tf

from _trainer_inputs import run_trainer, write_trainer_inputs

pytestmark = pytest.mark.slow


def _example(**features):
    feature = {name: tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
               if isinstance(value, float) else
               tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
               for name, value in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_trainer_inputs(tmp_path_factory.mktemp("trainer_inputs"))


def test_trainer_export_serves_ids_and_duration_only(data_dir, tmp_path):
    run_trainer(str(data_dir), str(tmp_path))
    model_dir = tmp_path / "model"
    info = json.loads((model_dir / "assets.extra" / "wt_keras_model.json").read_text())
    features = info["features"]
    # The export records which boundaries the head was built from (one α, one grid).
    assert info["bucket_boundaries"]["grid_spec"] == "uniform:20"
    assert info["bucket_boundaries"]["time_scale"] == 1.0
    assert info["bucket_boundaries"]["num_buckets"] == len(info["boundaries"])
    assert features["required"] == ["user_id", "video_id", "duration_s"]
    served = info["signatures"]["predict_raw"]["inputs"]
    assert sorted(features["optional"]) == sorted(set(served) - set(features["required"]))
    assert len(features["optional"]) >= 5
    signatures = tf.saved_model.load(str(model_dir)).signatures
    minimal = signatures["serving_default"](examples=tf.constant([
        _example(user_id=42, video_id=1234, duration_s=31.5),
        _example(user_id=42, video_id=1234, duration_s=float("nan"))]))["watch_time"].numpy()
    assert np.isfinite(minimal).all() and (minimal > 0).all()
    raw = signatures["predict_raw_required"](
        user_id=tf.constant([42], tf.int64), video_id=tf.constant([1234], tf.int64),
        duration_s=tf.constant([31.5]))["watch_time"].numpy()
    np.testing.assert_allclose(raw, minimal[:1], rtol=1e-6)
