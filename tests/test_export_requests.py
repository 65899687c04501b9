"""Malformed serving requests, and the `wt-serve check` command."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import export
from wt_keras.export import check
from _export_models import FEATURES, export_ranker, fresh_process_env, synthetic_rows, train_ranker

pytestmark = pytest.mark.slow


def _example(**features):
    """A serialised tf.Example; ints → int64_list, floats → float_list, lists allowed."""
    feature = {}
    for name, value in features.items():
        values = value if isinstance(value, list) else [value]
        if isinstance(values[0], float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


GOOD = dict(user_id=3, video_id=4, duration_s=30.0)


@pytest.fixture(scope="module")
def d2q_export(tmp_path_factory):
    """A D2Q export (it also reads the duration) and its loaded signatures."""
    rows = synthetic_rows(num_rows=256)
    ranker = train_ranker("d2q", rows, exum=True, steps_per_epoch=2)
    export_dir = export_ranker(ranker, tmp_path_factory.mktemp("saved_models"), rows)
    return export_dir, tf.saved_model.load(export_dir).signatures


def _serve(signatures, *examples):
    return signatures["serving_default"](examples=tf.constant(list(examples), tf.string))


def test_missing_feature_error_names_the_feature(d2q_export):
    _, signatures = d2q_export
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"Feature: video_id \(data type: int64\) is required but could not be found"):
        _serve(signatures, _example(user_id=3, duration_s=30.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Feature: duration_s .* is required"):
        _serve(signatures, _example(user_id=3, video_id=4))


def test_wrong_dtype_in_example_names_the_feature_and_both_types(d2q_export):
    _, signatures = d2q_export
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="Key: user_id.*Data types don't match. Data type: float but expected type: int64"):
        _serve(signatures, _example(**{**GOOD, "user_id": 3.0}))


def test_wrong_dtype_in_raw_tensors_is_rejected(d2q_export):
    _, signatures = d2q_export
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a int64 tensor but is a float"):
        signatures["predict_raw"](user_id=tf.constant([3.0]), video_id=tf.constant([4], tf.int64),
                                  duration_s=tf.constant([30.0]))


def test_two_values_for_one_feature_and_non_examples_are_rejected(d2q_export):
    _, signatures = d2q_export
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="Key: user_id.*Number of int64 values != expected.  Values size: 2"):
        _serve(signatures, _example(**{**GOOD, "user_id": [3, 5]}))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Could not parse example input"):
        _serve(signatures, b"not a tf.Example")


def test_empty_batch_gives_empty_outputs(d2q_export):
    """Decision: a batch of 0 examples is valid and returns [0]-shaped outputs."""
    _, signatures = d2q_export
    outputs = _serve(signatures)
    raw = signatures["predict_raw"](user_id=tf.zeros([0], tf.int64), video_id=tf.zeros([0], tf.int64),
                                    duration_s=tf.zeros([0], tf.float32))
    for result in (outputs, raw):
        assert set(result) == {"watch_time", "quantile"}
        assert all(value.shape == (0,) and value.dtype == tf.float32 for value in result.values())


def test_extra_features_and_the_label_in_requests_are_ignored(d2q_export):
    _, signatures = d2q_export
    plain = _serve(signatures, _example(**GOOD))["watch_time"].numpy()
    with_extras = _serve(signatures, _example(**GOOD, watch_time_s=99.0, is_click=1))
    np.testing.assert_array_equal(with_extras["watch_time"].numpy(), plain)


# -- wt-serve check -------------------------------------------------------------
def test_check_passes_on_an_export_and_prints_signatures_and_a_sample(d2q_export, capsys):
    export_dir, _ = d2q_export
    assert check.main(["check", export_dir]) == 0
    out = capsys.readouterr().out
    assert "serving_default" in out and "predict_raw" in out
    assert "examples: string [-1]" in out and "watch_time: float32 [-1]" in out
    assert "Warmup: 6/6 records ran" in out
    assert "Sample prediction (serving_default)" in out and "watch_time: [" in out
    assert out.strip().endswith("OK")


def test_check_of_a_model_base_path_picks_the_highest_version(d2q_export, capsys):
    export_dir, _ = d2q_export
    assert check.main(["check", os.path.dirname(export_dir)]) == 0
    assert f"SavedModel: {export_dir}" in capsys.readouterr().out


def test_check_fails_when_a_warmup_record_fails(d2q_export, tmp_path, capsys):
    export_dir, _ = d2q_export
    broken = str(tmp_path / "1")
    shutil.copytree(export_dir, broken)
    requests = [export.warmup.predict_log([_example(**GOOD)], "wt_keras"),
                export.warmup.predict_log([_example(user_id=3, duration_s=30.0)], "wt_keras"),
                export.warmup.predict_log([_example(**GOOD)], "wt_keras", signature_name="nope")]
    with tf.io.TFRecordWriter(export.warmup_file_path(broken)) as writer:
        for request in requests:
            writer.write(request.SerializeToString())
    assert check.main(["check", broken]) == 1
    out = capsys.readouterr().out
    assert "FAIL warmup record 1: signature 'serving_default' failed" in out and "video_id" in out
    assert "FAIL warmup record 2: signature 'nope' does not exist" in out
    assert "Warmup: 1/3 records ran" in out and "FAILED (2 problem(s))" in out


def test_check_without_warmup_warns_and_can_be_made_strict(tmp_path, capsys):
    rows = synthetic_rows(num_rows=64)
    ranker = train_ranker("geometric", rows, exum=False, steps_per_epoch=1)
    spec = export.feature_spec_from_features(rows, FEATURES)
    export_dir = export.export_serving_model(ranker, str(tmp_path / "wt_keras" / "1"), spec)
    assert not os.path.exists(export.warmup_file_path(export_dir))
    assert check.main(["check", export_dir]) == 0
    assert "WARN no assets.extra/tf_serving_warmup_requests" in capsys.readouterr().out
    assert check.main(["check", "--require-warmup", export_dir]) == 1
    assert check.main(["check", str(tmp_path / "missing")]) == 1


def test_check_runs_as_a_command_importing_tensorflow_but_no_model_code(d2q_export):
    export_dir, _ = d2q_export
    script = (
        "import sys\n"
        "from wt_keras.export import check\n"
        "status = check.main(['check', sys.argv[1]])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('wt_keras', 'tensorflow_recommenders')))\n"
        "print('MODULES', loaded)\n"
        "assert status == 0\n"
        "assert loaded == ['wt_keras', 'wt_keras._quiet', 'wt_keras.export', 'wt_keras.export.check'], loaded\n")
    done = subprocess.run([sys.executable, "-c", script, export_dir], env=fresh_process_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    usage = subprocess.run([sys.executable, "-m", "wt_keras.export.check", "check", "--help"],
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "usage: wt-serve check" in usage.stdout
    # --help stays instant: the command imports TensorFlow only when it checks a model.
    help_only = ("import sys\nfrom wt_keras.export import check\ncheck.build_parser().format_help()\n"
                 "assert 'tensorflow' not in sys.modules\n")
    assert subprocess.run([sys.executable, "-c", help_only], timeout=60).returncode == 0
