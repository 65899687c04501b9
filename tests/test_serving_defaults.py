"""Serving real requests: ids and the duration required, every other feature
defaults to the training mode / median recorded at export (docs/reliability.md,
"Serving"; docs/serving.md)."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import export, heads, models
from wt_keras.export import check

pytestmark = pytest.mark.slow

REQUIRED = ["user_id", "video_id", "duration_s"]
FEATURES = REQUIRED + ["tab", "user_active_degree", "follow_count"]


def _training_rows(num_rows=300, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "user_id": rng.integers(0, 50, num_rows).astype(np.int64),
        "video_id": rng.integers(0, 80, num_rows).astype(np.int64),
        "duration_s": rng.choice([8.0, 15.0, 30.0, 60.0, 121.0], num_rows).astype(np.float32),
        "tab": rng.choice([0, 1, 1, 1, 4], num_rows).astype(np.int64),
        "user_active_degree": rng.choice(["high_active", "full_active", "full_active"],
                                         num_rows).astype(object),
        "follow_count": rng.exponential(20.0, num_rows).astype(np.float32),
        "watch_time_s": rng.exponential(20.0, num_rows).astype(np.float32),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    rows = _training_rows()
    tf.keras.utils.set_random_seed(0)
    ranker = models.WatchTimeRanker(
        heads.BucketizedGeometricHead(boundaries=[3.0, 8.0, 20.0, 40.0]),
        {"user_id": 1000, "video_id": 1000, "tab": 16, "user_active_degree": 16},
        ["duration_s", "follow_count"], bottom_units=(16, 8), embedding_dim=4)
    ranker.adapt(rows)
    # Random weights are enough: the test compares requests with each other.
    spec = export.feature_spec_from_features(rows, FEATURES)
    defaults = export.serving_defaults(rows, spec, REQUIRED)
    export_dir = export.next_version_dir(tmp_path_factory.mktemp("saved_models"), "wt_keras")
    export.export_serving_model(ranker, export_dir, spec, warmup_examples=rows,
                                num_warmup_records=4, feature_defaults=defaults,
                                required_features=REQUIRED)
    return export_dir, tf.saved_model.load(export_dir).signatures, rows, defaults


def _example(**features):
    feature = {}
    for name, value in features.items():
        if isinstance(value, float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif isinstance(value, (str, bytes)):
            value = value.encode() if isinstance(value, str) else value
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _serve(signatures, *examples):
    outputs = signatures["serving_default"](examples=tf.constant(list(examples)))
    return outputs["watch_time"].numpy()


def _expected_defaults(rows):
    """Mode / median computed here with numpy, independently of the export code."""
    values, counts = np.unique(rows["tab"], return_counts=True)
    strings, string_counts = np.unique(rows["user_active_degree"].astype(str),
                                       return_counts=True)
    return {"tab": int(values[np.argmax(counts)]),
            "user_active_degree": str(strings[np.argmax(string_counts)]),
            "follow_count": float(np.median(rows["follow_count"].astype(np.float64))),
            "duration_s": float(np.median(rows["duration_s"].astype(np.float64)))}


def test_recorded_defaults_are_the_training_mode_and_median(exported):
    _, _, rows, defaults = exported
    expected = _expected_defaults(rows)
    assert defaults["tab"] == expected["tab"] == 1
    assert defaults["user_active_degree"] == expected["user_active_degree"].encode()
    assert defaults["follow_count"] == pytest.approx(expected["follow_count"])
    assert defaults["duration_s"] == pytest.approx(expected["duration_s"])


def test_request_with_only_ids_and_duration_is_answered_with_the_defaults(exported):
    _, signatures, rows, _ = exported
    expected = _expected_defaults(rows)
    minimal = _serve(signatures, _example(user_id=3, video_id=4, duration_s=30.0))
    explicit = _serve(signatures, _example(
        user_id=3, video_id=4, duration_s=30.0, tab=expected["tab"],
        user_active_degree=expected["user_active_degree"],
        follow_count=np.float32(expected["follow_count"]).item()))
    other = _serve(signatures, _example(user_id=3, video_id=4, duration_s=30.0, tab=4,
                                        user_active_degree="high_active", follow_count=500.0))
    assert np.isfinite(minimal).all() and minimal[0] > 0
    np.testing.assert_allclose(minimal, explicit, rtol=1e-6)
    assert not np.allclose(minimal, other)          # the optional features do matter


def test_ids_and_duration_stay_required(exported):
    _, signatures, _, _ = exported
    for name in REQUIRED:
        request = {k: v for k, v in dict(user_id=3, video_id=4, duration_s=30.0).items()
                   if k != name}
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=f"Feature: {name} .* is required but could not be found"):
            _serve(signatures, _example(**request))


def test_unseen_ids_map_to_hashed_rows(exported):
    _, signatures, _, _ = exported
    unseen = _serve(signatures, _example(user_id=10 ** 12, video_id=-7, duration_s=30.0))
    assert np.isfinite(unseen).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5.0])
def test_invalid_duration_is_treated_as_missing(exported, bad):
    _, signatures, rows, _ = exported
    median = np.float32(_expected_defaults(rows)["duration_s"]).item()
    answered = _serve(signatures, _example(user_id=3, video_id=4, duration_s=bad))
    at_median = _serve(signatures, _example(user_id=3, video_id=4, duration_s=median))
    assert np.isfinite(answered).all()
    np.testing.assert_allclose(answered, at_median, rtol=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("-inf"), -1.0])
def test_invalid_optional_number_is_treated_as_missing(exported, bad):
    _, signatures, _, _ = exported
    answered = _serve(signatures, _example(user_id=3, video_id=4, duration_s=30.0,
                                           follow_count=bad))
    missing = _serve(signatures, _example(user_id=3, video_id=4, duration_s=30.0))
    np.testing.assert_allclose(answered, missing, rtol=1e-6)


def test_predict_raw_required_takes_ids_and_duration_only(exported):
    _, signatures, _, _ = exported
    raw = signatures["predict_raw_required"]
    assert sorted(raw.structured_input_signature[1]) == sorted(REQUIRED)
    outputs = raw(user_id=tf.constant([3, 5], tf.int64), video_id=tf.constant([4, 9], tf.int64),
                  duration_s=tf.constant([30.0, float("nan")]))
    examples = _serve(signatures, _example(user_id=3, video_id=4, duration_s=30.0),
                      _example(user_id=5, video_id=9, duration_s=float("nan")))
    np.testing.assert_allclose(outputs["watch_time"].numpy(), examples, rtol=1e-6)


def test_predict_raw_names_the_feature_of_another_length(exported):
    _, signatures, _, _ = exported
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="predict_raw: feature video_id has a different number of values"):
        signatures["predict_raw_required"](user_id=tf.constant([3, 5], tf.int64),
                                           video_id=tf.constant([4], tf.int64),
                                           duration_s=tf.constant([30.0, 8.0]))


def test_wt_serve_check_lists_required_and_optional_features(exported):
    export_dir, _, rows, _ = exported
    lines = []
    assert check.check(export_dir, out=lines.append) == 0
    text = "\n".join(lines)
    expected = _expected_defaults(rows)
    assert "required: user_id, video_id, duration_s" in text
    assert f"tab={expected['tab']}" in text
    assert f"user_active_degree='{expected['user_active_degree']}'" in text
    assert f"follow_count={expected['follow_count']:.6g}" in text
    assert f"NaN, inf or negative values replaced by: duration_s={expected['duration_s']:.6g}" \
        in text


def test_predict_raw_names_the_feature_of_another_length_or_dtype(exported):
    _, signatures, _, _ = exported
    good = dict(user_id=tf.constant([3, 5], tf.int64), video_id=tf.constant([4, 9], tf.int64),
                duration_s=tf.constant([30.0, 8.0]), tab=tf.constant([1, 1], tf.int64),
                user_active_degree=tf.constant([b"a", b"b"]),
                follow_count=tf.constant([1.0, 2.0]))
    assert signatures["predict_raw"](**good)["watch_time"].shape == [2]
    with pytest.raises(tf.errors.InvalidArgumentError, match="feature tab has a different number"):
        signatures["predict_raw"](**{**good, "tab": tf.constant([1, 1, 1], tf.int64)})
    # TensorFlow checks signature dtypes before the graph runs and names the input by
    # its position among the sorted names; `wt-serve check` prints that numbering.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="input #1.* expected to be a float tensor but is a int64 tensor"):
        signatures["predict_raw"](**{**good, "follow_count": tf.constant([1, 2], tf.int64)})


def test_wt_serve_check_numbers_raw_inputs_as_tensorflow_reports_them(exported):
    export_dir, _, _, _ = exported
    lines = []
    check.check(export_dir, out=lines.append)
    raw_inputs = lines[lines.index("  predict_raw") + 1]
    assert "#1 follow_count: float32 [-1]" in raw_inputs
    assert "#0 duration_s" in raw_inputs and "#5 video_id: int64" in raw_inputs


def test_tf1_session_loader_serves_ids_and_duration_without_wt_keras(exported):
    """`saved_model_cli run` loads through the TF1 session loader, as TF Serving's
    C++ server does, in a process that never imports wt_keras."""
    import os
    import re
    import subprocess
    import sys

    from _export_models import fresh_process_env

    export_dir, signatures, _, _ = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    done = subprocess.run(
        [cli, "run", "--dir", str(export_dir), "--tag_set", "serve",
         "--signature_def", "serving_default", "--input_examples",
         'examples=[{"user_id":[3],"video_id":[4],"duration_s":[30.0]}]'],
        env=fresh_process_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    match = re.search(r"Result for output key watch_time:\n\[([^\]]*)\]", done.stdout)
    served = np.array(match.group(1).split(), np.float32)
    expected = _serve(signatures, _example(user_id=3, video_id=4, duration_s=30.0))
    np.testing.assert_allclose(served, expected, rtol=1e-5)
