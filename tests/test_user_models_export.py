"""TF Serving export of a user's own Keras / TFRS model whose output is a head's logits."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import export, heads
from _head_cases import make_heads
from _user_models import FEATURES, MultiTaskModel, dict_input_model, functional_model, matrix, rows


def _served(export_dir, features):
    loaded = tf.saved_model.load(export_dir)
    raw = loaded.signatures[export.RAW_SIGNATURE]
    return raw, raw(**{name: tf.constant(value) for name, value in features.items()
                       if name in raw.structured_input_signature[1]})


@pytest.mark.parametrize("name", ["swat_geo"] + [pytest.param(name, marks=pytest.mark.slow)
                                                 for name in ("d2q", "wlr", "ordinal")])
def test_functional_model_with_dict_inputs_exports(name, tmp_path):
    head = make_heads()[name]
    model = dict_input_model(head)
    features, _, _ = rows(6)
    spec = export.feature_spec_from_features(features)
    export_dir = export.export_serving_model(model, str(tmp_path / "1"), spec, head=head,
                                             duration_feature="duration_s",
                                             warmup_examples=features)
    _, outputs = _served(export_dir, features)
    expected = head.serving_outputs(model(features), duration=features["duration_s"])
    for key, value in expected.items():
        np.testing.assert_allclose(outputs[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)


def test_single_input_functional_model_exports_with_feature_names(tmp_path):
    head = heads.GeometricHead()
    model = functional_model(head)
    features, _, _ = rows(5)
    spec = export.feature_spec_from_features(features)
    export_dir = export.export_serving_model(model, str(tmp_path / "1"), spec, head=head,
                                             feature_names=list(FEATURES))
    _, outputs = _served(export_dir, features)
    np.testing.assert_allclose(outputs["watch_time"].numpy(),
                               head.expected_value(model(matrix(features))).numpy(), rtol=1e-5)


@pytest.mark.slow   # trains, then exports
def test_tfrs_multitask_model_exports_its_watch_time_output(tmp_path):
    head = heads.BucketizedGeometricHead([3.0, 8.0, 20.0])
    model = MultiTaskModel(head)
    features, watch_time, clicked = rows(64)
    model.compile(optimizer="adam")
    model.fit({**features, "watch_time": watch_time, "clicked": clicked}, batch_size=32,
              epochs=1, verbose=0)
    spec = export.feature_spec_from_features(features)
    export_dir = export.export_serving_model(model, str(tmp_path / "1"), spec, head=head,
                                             output_key="watch_time")
    _, outputs = _served(export_dir, features)
    np.testing.assert_allclose(outputs["watch_time"].numpy(),
                               head.expected_value(model(features)["watch_time"]).numpy(), rtol=1e-5)


def test_dict_output_without_output_key_and_model_without_head_say_what_to_pass(tmp_path):
    head = heads.GeometricHead()
    features, _, _ = rows(4)
    spec = export.feature_spec_from_features(features)
    with pytest.raises(ValueError, match="head="):
        export.export_serving_model(dict_input_model(head), str(tmp_path / "1"), spec)
    with pytest.raises(ValueError, match="output_key="):
        export.export_serving_model(MultiTaskModel(head), str(tmp_path / "2"), spec, head=head)


@pytest.mark.slow
def test_wlr_click_flag_is_not_a_serving_input(tmp_path):
    from wt_keras.models import WatchTimeRanker
    from _synthetic import interactions

    data = interactions(num_rows=64)
    ranker = WatchTimeRanker(heads.WeightedLogisticHead(), {"user_id": 50, "video_id": 50},
                             click_feature="is_click", bottom_units=(8,))
    ranker.compile(optimizer="adam")
    ranker.fit(data, batch_size=32, epochs=1, verbose=0)
    spec = export.feature_spec_from_features(data, ["user_id", "video_id", "duration_s", "is_click"])
    export_dir = export.export_serving_model(ranker, str(tmp_path / "1"), spec)
    request = {name: data[name][:3] for name in ("user_id", "video_id", "duration_s")}
    raw, outputs = _served(export_dir, request)
    assert "is_click" not in raw.structured_input_signature[1]
    np.testing.assert_allclose(outputs["watch_time"].numpy(), ranker(request).numpy(), rtol=1e-5)
