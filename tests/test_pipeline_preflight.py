"""Bad input and settings stop `wt-pipeline run` before any Beam work, one line each.

The CLI cases run the real console entry point in a subprocess and check the
exit code, that stderr is one `error:` line (no traceback, no library
noise) and that no pipeline component started. The input-check cases call
`preflight` directly with files written by the test.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pipelines.watch_time import configs, features_selection, model_factory, outliers, preflight
from wt_keras.data import simulate_interactions


def _frame(rows=400, seed=3):
    return simulate_interactions(num_rows=rows, num_users=200, num_videos=200,
                                 seed=seed).drop(columns=["behavior"])


def _write(folder, frame, name="interactions.csv"):
    folder.mkdir(exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return folder


def _cli(tmp_path, *args):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.watch_time.cli", "run", "--work-dir",
         str(tmp_path / "work"), "--saved-models", str(tmp_path / "models"), *args],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})   # the CLI must quiet TF itself
    return result


def _assert_one_line_error(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "CsvExampleGen" not in result.stdout   # nothing ran


@pytest.mark.parametrize("flags, words", [
    (["--time-scale", "inf"], ["time_scale", "finite", "inf"]),
    (["--grid-spec", "uniform:1"], ["uniform:1", "at least 2"]),
    (["--rows", "0"], ["--rows", ">= 1"]),
    (["--max-play-ratio", "-1"], ["--max-play-ratio", "> 0"]),
])
def test_settings_that_can_never_work_are_refused_first(tmp_path, flags, words):
    _assert_one_line_error(_cli(tmp_path, *flags), *words)


def test_unwritable_saved_models_is_refused_before_the_run(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = _cli(tmp_path, "--saved-models", str(blocker / "models"))
    _assert_one_line_error(result, "--saved-models", "not a writable folder")


def _missing_label(data):
    _write(data, _frame().drop(columns=["watch_time_s"]))
    return ["no column watch_time_s"]


def _different_headers(data):
    _write(data, _frame(), "a.csv")
    _write(data, _frame().drop(columns=["tag"]), "b.csv")
    return ["different headers", "a.csv", "b.csv"]


def _latin1(data):
    frame = _frame()
    frame["video_type"] = frame["video_type"].astype(object)
    frame.loc[6, "video_type"] = "caf\u00e9"
    data.mkdir()
    frame.to_csv(data / "interactions.csv", index=False, encoding="latin-1")
    return ["interactions.csv line 8", "not UTF-8"]   # row 6 is line 8 (header is line 1)


def _constant(data):
    frame = _frame()
    frame["watch_time_s"] = 7.5
    _write(data, frame)
    return ["7.5 in every row", "constant"]


def _infinite(data):
    frame = _frame()
    frame.loc[10, "watch_time_s"] = np.inf
    _write(data, frame)
    return ["line 12", "watch_time_s is infinite"]


def _negative(data):
    frame = _frame()
    frame.loc[0, "watch_time_s"] = -3.0
    _write(data, frame)
    return ["line 2", "negative"]


def _zero_duration(data):
    frame = _frame()
    frame.loc[3, "duration_s"] = 0.0
    _write(data, frame)
    return ["line 5", "duration_s is 0"]


# Each case is a CLI subprocess: one in the quick suite, all of them in the full one.
@pytest.mark.parametrize("corrupt", [_missing_label] + [
    pytest.param(corrupt, marks=pytest.mark.slow)
    for corrupt in (_different_headers, _latin1, _constant, _infinite, _negative, _zero_duration)])
def test_bad_input_files_stop_the_run_naming_file_and_line(tmp_path, corrupt):
    words = corrupt(tmp_path / "data")
    _assert_one_line_error(_cli(tmp_path, "--data", str(tmp_path / "data")), *words)


@pytest.mark.slow   # a CLI subprocess
def test_a_feature_copying_the_label_is_reported_and_stops_the_run(tmp_path):
    frame = _frame()
    frame["stay_ms"] = frame["watch_time_s"] * 1000.0
    data = _write(tmp_path / "data", frame)
    result = _cli(tmp_path, "--data", str(data), "--features", "user_id,video_id,stay_ms")
    _assert_one_line_error(result, "probable label leak", "stay_ms",
                           "--allow-correlated-features")
    assert "leak: stay_ms (|r| = 1.000)" in result.stdout
    assert "features used (--features): user_id, video_id, stay_ms" in result.stdout


def test_whole_number_labels_are_cast_to_float_in_a_copy(tmp_path):
    frame = _frame()
    frame["watch_time_s"] = frame["watch_time_s"].round().astype(int) + 1
    data = _write(tmp_path / "data", frame)
    check = preflight.check_csv_input(str(data), "*.csv", str(tmp_path / "work"))
    assert check.cast_to_float == ["watch_time_s"]
    copy = pd.read_csv(os.path.join(check.data_root, "interactions.csv"), dtype=str)
    assert copy["watch_time_s"].tolist() == [f"{value}.0" for value in frame["watch_time_s"]]
    assert copy["user_id"].tolist() == frame["user_id"].astype(str).tolist()
    original = pd.read_csv(data / "interactions.csv", dtype=str)
    assert original["watch_time_s"].tolist() == frame["watch_time_s"].astype(str).tolist()


@pytest.mark.parametrize("policy", ["drop", "cap", "fail"])
def test_one_absurd_label_is_dropped_capped_or_refused(tmp_path, policy):
    frame = _frame()
    frame.loc[17, "watch_time_s"] = 1e12
    data = _write(tmp_path / "data", frame)
    if policy == "fail":
        with pytest.raises(preflight.PreflightError, match="extreme labels: 1 found"):
            preflight.check_csv_input(str(data), "*.csv", str(tmp_path / "work"),
                                      outlier_policy=policy)
        return
    check = preflight.check_csv_input(str(data), "*.csv", str(tmp_path / "work"),
                                      outlier_policy=policy)
    # The bar: 100 x the second-largest label (the order statistic below the 99.99th level).
    bar = 100.0 * np.sort(frame["watch_time_s"].to_numpy())[-2]
    assert check.extreme.count == 1
    assert check.extreme.percentile_threshold == pytest.approx(bar)
    copy = pd.read_csv(os.path.join(check.data_root, "interactions.csv"))
    if policy == "drop":
        assert len(copy) == len(frame) - 1 and copy["watch_time_s"].max() < 1e6
    else:
        assert len(copy) == len(frame)
        assert copy.loc[17, "watch_time_s"] == pytest.approx(bar)
    assert any("extreme labels: 1" in line for line in check.summary_lines())


def test_play_ratio_rule_flags_labels_far_beyond_the_duration():
    labels, durations = np.array([5.0, 50.0, 9.0, 7.0]), np.array([10.0, 4.0, 10.0, 1.0])
    found = outliers.find_extreme_labels(labels, durations, max_play_ratio=5.0)
    assert found.count == 2   # 50 > 5 x 4 and 7 > 5 x 1
    keep, _ = found.apply(labels, durations)
    assert keep.tolist() == [True, False, True, False]


def test_metadata_json_declares_the_features_and_others_are_ignored(tmp_path):
    frame = _frame()
    frame["stay_ms"] = frame["watch_time_s"] * 1000.0
    data = _write(tmp_path / "data", frame)
    (data / "metadata.json").write_text(json.dumps({"columns": {
        "ids": ["user_id", "video_id"], "features": ["duration_s (seconds)", "tag"],
        "label_side (never use as features)": ["watch_time_s", "play_time_ms"]}}))
    config = configs.PipelineConfig(data_root=str(data))
    checked, lines = preflight.check_input(config, str(tmp_path / "work"))
    assert checked.features == ["user_id", "video_id", "duration_s", "tag"]
    assert lines[1] == "features used (metadata.json): user_id, video_id, duration_s, tag"
    ignored = next(line for line in lines if "ignored" in line)
    assert "stay_ms" in ignored and "time_ms" in ignored and "play_time_ms" not in ignored


def test_explicit_label_side_feature_is_refused():
    with pytest.raises(features_selection.FeatureSelectionError, match="label-side"):
        features_selection.declare_features(["watch_time_s", "play_time_ms", "user_id"],
                                            explicit=["user_id", "play_time_ms"])


def test_select_features_keeps_exactly_the_declared_columns():
    from tensorflow_metadata.proto.v0 import schema_pb2
    from google.protobuf import text_format
    schema = text_format.Parse("""
      feature { name: "watch_time_s" type: FLOAT shape { dim { size: 1 } } }
      feature { name: "stay_ms" type: FLOAT shape { dim { size: 1 } } }
      feature { name: "user_id" type: INT shape { dim { size: 1 } } }
      feature { name: "city" type: BYTES shape { dim { size: 1 } } }
      feature { name: "duration_s" type: FLOAT shape { dim { size: 1 } } }""",
                               schema_pb2.Schema())
    categorical, dense, _ = model_factory.select_features(
        schema, "watch_time_s", ["user_id", "city", "duration_s"])
    assert set(categorical) == {"user_id", "city"} and dense == ["duration_s"]
    with pytest.raises(ValueError, match="not in the data"):
        model_factory.select_features(schema, "watch_time_s", ["user_id", "nope"])


@pytest.mark.slow   # two CLI subprocesses
def test_tensorflow_start_up_noise_is_silenced_unless_verbose(tmp_path):
    """TFRecord input imports TensorFlow in the preflight: its C++ lines must not show."""
    import tensorflow as tf
    data = tmp_path / "data"
    data.mkdir()
    with tf.io.TFRecordWriter(str(data / "part-0")) as writer:
        feature = {"user_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                     .SerializeToString())
    result = _cli(tmp_path, "--data", str(data))
    _assert_one_line_error(result, "no feature watch_time_s")
    verbose = _cli(tmp_path, "--data", str(data), "--verbose")
    assert verbose.returncode == 2
    assert len(verbose.stderr.strip().splitlines()) > 1   # TF's own lines are back


def test_library_callers_get_the_declared_features_and_the_leak_stop(tmp_path):
    from pipelines.watch_time import local_runner
    frame = _frame()
    frame["stay_ms"] = frame["watch_time_s"] * 1000.0
    data = _write(tmp_path / "data", frame)
    config = configs.PipelineConfig(data_root=str(data))
    declared, _ = preflight.declared_features(config)
    assert "stay_ms" not in declared.features and "user_id" in declared.features
    (data / "metadata.json").write_text(json.dumps({"columns": {
        "ids": ["user_id", "video_id"], "features": ["stay_ms"]}}))
    with pytest.raises(preflight.PreflightError, match="probable label leak: stay_ms"):
        local_runner.run(config.replace(metadata_path=str(tmp_path / "m.sqlite"),
                                        pipeline_root=str(tmp_path / "root")))
    assert not (tmp_path / "root").exists()   # stopped before any component ran


def test_a_contract_without_the_duration_column_is_refused_before_any_work(tmp_path):
    contract = tmp_path / "schema.pbtxt"
    contract.write_text('feature { name: "watch_time_s" type: FLOAT '
                        'presence { min_fraction: 1.0 } shape { dim { size: 1 } } }\n')
    config = configs.PipelineConfig(data_root=str(tmp_path), schema_path=str(contract))
    with pytest.raises(preflight.PreflightError, match="declares no duration_s"):
        preflight.check_contract(config)
    preflight.check_contract(configs.PipelineConfig(data_root=str(tmp_path)))   # the shipped one
