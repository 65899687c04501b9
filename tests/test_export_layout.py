"""Versioned layout, atomic publishing, feature specs and export argument checks."""
import os
import time

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import export, heads, models
from wt_keras.export import exporter, versions
from _export_models import FEATURES, export_ranker, synthetic_rows, train_ranker
from _files import tree_digest


@pytest.fixture(scope="module")
def rows():
    return synthetic_rows(num_rows=64)


@pytest.fixture(scope="module")
def ranker(rows):
    return train_ranker("swat_geo", rows, exum=True, steps_per_epoch=1)


# -- versions ---------------------------------------------------------------------
def test_next_version_is_the_current_time_or_after_the_highest_existing(tmp_path):
    before = int(time.time())
    first = export.next_version_dir(tmp_path, "wt_keras")
    assert os.path.dirname(first) == str(tmp_path / "wt_keras")
    assert before <= int(os.path.basename(first)) <= int(time.time())
    for entry in ("99999999999", "12", ".staging-1-abc", "tmp", "12abc"):
        (tmp_path / "wt_keras" / entry).mkdir(parents=True)
    assert export.existing_versions(tmp_path / "wt_keras") == [12, 99999999999]
    assert export.next_version_dir(tmp_path, "wt_keras").endswith("/wt_keras/100000000000")
    with pytest.raises(ValueError, match="plain directory name"):
        export.next_version_dir(tmp_path, "../elsewhere")


@pytest.mark.slow
def test_export_never_overwrites_and_leaves_earlier_versions_untouched(ranker, rows, tmp_path):
    first = export_ranker(ranker, tmp_path, rows)
    before = tree_digest(first)
    with pytest.raises(FileExistsError, match="next_version_dir"):
        export.export_serving_model(ranker, first, export.feature_spec_from_features(rows, FEATURES))
    second = export_ranker(ranker, tmp_path, rows)
    assert int(os.path.basename(second)) > int(os.path.basename(first))
    assert tree_digest(first) == before
    assert sorted(os.listdir(tmp_path / "wt_keras")) == sorted(
        [os.path.basename(first), os.path.basename(second)])


@pytest.mark.slow
def test_export_fills_an_existing_empty_directory(ranker, rows, tmp_path):
    """A TFX Trainer's serving_model_dir may already exist (empty)."""
    target = tmp_path / "Format-Serving"
    target.mkdir()
    export.export_serving_model(ranker, target, export.feature_spec_from_features(rows, FEATURES))
    assert (target / "saved_model.pb").exists() and (target / "variables").is_dir()


@pytest.mark.slow
def test_a_failed_export_leaves_no_version_and_no_staging_directory(ranker, rows, tmp_path, monkeypatch):
    earlier = export_ranker(ranker, tmp_path, rows)
    before = tree_digest(earlier)

    def write_then_fail(saved_model_dir, *args, **kwargs):
        write_warmup_requests(saved_model_dir, *args, **kwargs)
        raise OSError("No space left on device (injected)")

    write_warmup_requests = exporter.warmup.write_warmup_requests
    monkeypatch.setattr(exporter.warmup, "write_warmup_requests", write_then_fail)
    with pytest.raises(OSError, match="injected"):
        export_ranker(ranker, tmp_path, rows)
    assert os.listdir(tmp_path / "wt_keras") == [os.path.basename(earlier)]
    assert tree_digest(earlier) == before


@pytest.mark.slow
def test_object_store_copy_writes_saved_model_pb_last(ranker, rows, tmp_path, monkeypatch):
    source = export_ranker(ranker, tmp_path / "local", rows)
    copied, real_copy = [], tf.io.gfile.copy
    monkeypatch.setattr(tf.io.gfile, "copy", lambda a, b: (copied.append(b), real_copy(a, b)))
    versions._copy_tree_saved_model_last(source, str(tmp_path / "copy"))
    assert os.path.basename(copied[-1]) == "saved_model.pb"
    assert tree_digest(tmp_path / "copy") == tree_digest(source)


# -- feature specs ------------------------------------------------------------------
def test_feature_spec_from_features_maps_numpy_types_to_example_types():
    spec = export.feature_spec_from_features({
        "int32": np.array([1], np.int32), "flag": np.array([True]), "f64": np.array([1.5]),
        "text": np.array(["a"]), "raw": np.array([b"a"]), "mixed": np.array(["a", b"b"], object)})
    assert {name: feature.dtype for name, feature in spec.items()} == {
        "int32": tf.int64, "flag": tf.int64, "f64": tf.float32, "text": tf.string,
        "raw": tf.string, "mixed": tf.string}
    assert all(feature.shape == [] and feature.default_value is None for feature in spec.values())
    assert list(export.feature_spec_from_features({"a": [1], "b": [2.0]}, ["b"])) == ["b"]
    with pytest.raises(KeyError, match="'video_id' is not in the sample data"):
        export.feature_spec_from_features({"user_id": [1]}, ["video_id"])
    with pytest.raises(TypeError, match="convert it to int, float or str"):
        export.feature_spec_from_features({"when": np.array(["2024-01-01"], "datetime64[D]")})


@pytest.mark.slow
def test_feature_spec_problems_are_reported_with_the_fix(ranker, rows):
    spec = export.feature_spec_from_features(rows, FEATURES)
    with pytest.raises(ValueError, match=r"contains the label 'watch_time_s'.*pop\('watch_time_s'\)"):
        export.ServingModule(ranker, export.feature_spec_from_features(rows))
    with pytest.raises(ValueError, match=r"lacks the model input\(s\) \['video_id'\]"):
        export.ServingModule(ranker, {k: v for k, v in spec.items() if k != "video_id"})
    with pytest.raises(TypeError, match="use tf.io.FixedLenFeature"):
        export.ServingModule(ranker, {**spec, "user_id": tf.io.VarLenFeature(tf.int64)})
    with pytest.raises(ValueError, match="one value per feature"):
        export.ServingModule(ranker, {**spec, "user_id": tf.io.FixedLenFeature([2], tf.int64)})
    with pytest.raises(ValueError, match="num_warmup_records"):
        export.export_serving_model(ranker, "unused", spec, num_warmup_records=1001)


@pytest.mark.slow
def test_features_the_model_does_not_read_are_not_required(ranker, rows):
    spec = export.feature_spec_from_features({**rows, "country": np.array(["de"] * 64)},
                                             FEATURES + ["country"])
    module = export.ServingModule(ranker, spec)
    assert sorted(module.feature_spec) == sorted(FEATURES)
    raw_inputs = tf.nest.flatten(module.signatures()["predict_raw"].structured_input_signature)
    assert sorted(spec.name for spec in raw_inputs) == sorted(FEATURES)


@pytest.mark.slow
def test_string_features_and_an_unbuilt_ranker_export(tmp_path):
    """String ids are hashed in the graph; a never-called ranker is built first."""
    data = {"country": np.array(["de", "fr", "br", "jp"] * 8),
            "user_id": np.arange(32, dtype=np.int64), "watch_time_s": np.linspace(1, 60, 32)}
    ranker = models.WatchTimeRanker(heads.OrdinalHead([5.0, 20.0]), {"country": 50, "user_id": 100},
                                    dense_features=(), bottom_units=(4,), embedding_dim=2)
    spec = export.feature_spec_from_features(data, ["country", "user_id"])
    assert spec["country"].dtype == tf.string and not ranker.built
    export_dir = export.export_serving_model(ranker, tmp_path / "wt_keras" / "1", spec,
                                             warmup_examples=data)
    loaded = tf.saved_model.load(export_dir)
    expected = ranker({"country": tf.constant(data["country"]), "user_id": tf.constant(data["user_id"])})
    raw = loaded.signatures["predict_raw"](**export.raw_feature_tensors(data, spec))
    examples = tf.constant(export.serialize_examples(data, spec))
    served = loaded.signatures["serving_default"](examples=examples)
    np.testing.assert_allclose(raw["watch_time"].numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(served["watch_time"].numpy(), expected.numpy(), atol=1e-5)
    assert served["survival_probabilities"].shape == (32, 2)
    assert len(list(export.read_warmup_requests(export_dir))) == export.DEFAULT_WARMUP_RECORDS


def test_warmup_file_size_is_capped_at_tf_servings_limit(tmp_path):
    with pytest.raises(ValueError, match="at most 1000"):
        export.write_warmup_requests(tmp_path, [b""] * 1001, "wt_keras")
    with pytest.raises(ValueError, match="no warmup examples"):
        export.write_warmup_requests(tmp_path, [], "wt_keras")
    assert export.write_warmup_requests(tmp_path, [b""] * 1000, "wt_keras") == 1000


# -- committed serving files ----------------------------------------------------------
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_models_config_and_its_canary_example_parse_as_model_server_config():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    with open(os.path.join(REPO, "saved_models", "models.config"), encoding="utf-8") as handle:
        text = handle.read()
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path, model.model_platform) == (
        "wt_keras", "/models/wt_keras", "tensorflow")
    assert model.model_version_policy.latest.num_versions == 1
    # The commented canary alternative must be valid too once uncommented.
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("# model_version_policy {")
    end = max(i for i, line in enumerate(lines) if line.startswith("# version_labels"))
    canary = "\n".join(line[2:] for line in lines[start:end + 1])
    alternative = text_format.Parse(canary, model_server_config_pb2.ModelConfig())
    assert list(alternative.model_version_policy.specific.versions) == [1795442525, 1795446000]
    assert dict(alternative.version_labels) == {"stable": 1795442525, "canary": 1795446000}


def test_the_rest_example_in_the_docs_is_the_example_it_describes():
    import base64
    import re

    with open(os.path.join(REPO, "docs", "serving.md"), encoding="utf-8") as handle:
        encoded = re.search(r'\{"b64": "([^"]+)"\}', handle.read()).group(1)
    example = tf.train.Example.FromString(base64.b64decode(encoded))
    features = example.features.feature
    assert features["user_id"].int64_list.value == [42]
    assert features["video_id"].int64_list.value == [1234]
    assert features["duration_s"].float_list.value == [31.5]


@pytest.mark.slow
def test_a_head_input_missing_from_the_spec_is_named_with_the_fix():
    data = {"user_id": np.arange(8, dtype=np.int64), "duration_s": np.linspace(5, 60, 8)}
    head = heads.D2QHead(duration_edges=[30.0], quantile_table=[[0.0, 5.0, 20.0], [0.0, 20.0, 60.0]])
    ranker = models.WatchTimeRanker(head, {"user_id": 100}, dense_features=(), bottom_units=(4,))
    with pytest.raises(ValueError, match=r"(?s)D2QHead needs the video duration.*add it to feature_spec"):
        export.ServingModule(ranker, export.feature_spec_from_features(data, ["user_id"]))
    module = export.ServingModule(ranker, export.feature_spec_from_features(data))
    assert sorted(module.feature_spec) == ["duration_s", "user_id"]
