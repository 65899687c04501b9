"""Fast tests of the pipeline's pieces: config, features, gate messages, eval config, push."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format, text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from pipelines.watch_time import (atomic_push, cli, configs, eval_config, model_factory, trainer,
                                  validation)
from wt_keras.buckets import BucketBoundaries

CONTRACT = validation.io_utils.SchemaReader().read(configs.SCHEMA_PATH)


def _anomalies(column, reason, description):
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info[column]
    info.description = description
    info.reason.add(type=reason, description=description)
    return anomalies


def test_config_rejects_unknown_head_with_the_choices():
    with pytest.raises(ValueError, match="swat_geo"):
        configs.PipelineConfig(head="no_such_head")


def test_config_custom_config_is_json_ready():
    import json
    custom = configs.PipelineConfig(exum=True, confidence_penalty=0.5).trainer_custom_config()
    assert json.loads(json.dumps(custom)) == custom
    assert custom["exum"] is True and custom["confidence_penalty"] == 0.5


@pytest.mark.parametrize("reason, description, words", [
    ("SCHEMA_MISSING_COLUMN", "Column is completely missing", "column is missing"),
    ("FLOAT_TYPE_SMALL_FLOAT", "Unexpectedly low values: -3<0", "negative values"),
    ("FLOAT_TYPE_HAS_NAN", "Float feature has NaN values.", "NaN"),
    ("UNEXPECTED_DATA_TYPE", "Expected data of type: FLOAT but got STRING", "wrong type"),
    ("UNEXPECTED_DATA_TYPE", "Expected data of type: FLOAT but got INT", "as decimals"),
])
def test_gate_names_column_split_problem_and_fix(reason, description, words):
    found = {"train": _anomalies("watch_time_s", getattr(anomalies_pb2.AnomalyInfo, reason),
                                 description)}
    problems = validation.describe_problems(found, {"train": 10, "eval": 5}, CONTRACT)
    assert len(problems) == 1
    assert "column 'watch_time_s' in split 'train'" in problems[0]
    assert words in problems[0] and "Fix:" in problems[0]


def test_gate_treats_new_columns_as_features_and_reports_empty_splits():
    found = {"train": _anomalies("user_id", anomalies_pb2.AnomalyInfo.SCHEMA_NEW_COLUMN, "New")}
    assert validation.describe_problems(found, {"train": 10}, CONTRACT) == []
    problems = validation.describe_problems({}, {"train": 10, "eval": 0}, CONTRACT)
    assert problems and "split 'eval' is empty" in problems[0]


def _schema(text):
    return text_format.Parse(text, schema_pb2.Schema())


def test_training_schema_keeps_the_contract_and_adds_inferred_columns():
    import tensorflow_data_validation as tfdv
    import pandas as pd
    frame = pd.DataFrame({"watch_time_s": [1, 2, 3], "duration_s": [9.5, 9.0, 4.0],
                          "user_id": [1, 2, 3]})
    statistics = tfdv.generate_statistics_from_dataframe(frame)
    merged = validation.merge_training_schema(CONTRACT, statistics)
    types = {feature.name: feature.type for feature in merged.feature}
    assert types["watch_time_s"] == schema_pb2.FLOAT   # curated, though the data were ints
    assert types["user_id"] == schema_pb2.INT


def test_select_features_skips_label_side_columns_and_types_new_ones():
    schema = _schema("""
      feature { name: "watch_time_s" type: FLOAT shape { dim { size: 1 } } }
      feature { name: "play_time_ms" type: INT shape { dim { size: 1 } } }
      feature { name: "duration_s" type: FLOAT shape { dim { size: 1 } } }
      feature { name: "user_id" type: INT shape { dim { size: 1 } } }
      feature { name: "item_id" type: INT shape { dim { size: 1 } } }
      feature { name: "city" type: BYTES shape { dim { size: 1 } } }
      feature { name: "price" type: FLOAT shape { dim { size: 1 } } }
      feature { name: "tags" type: BYTES }""")
    categorical, dense, skipped = model_factory.select_features(schema, "watch_time_s")
    assert set(categorical) == {"user_id", "item_id", "city"}
    assert dense == ["duration_s", "price"]
    assert skipped == ["tags"]
    with pytest.raises(ValueError, match="not in the data"):
        model_factory.select_features(schema, "watch_time_s", {"dense": ["nope"]})


def test_duration_groups_follow_the_d2q_edges():
    boundaries = BucketBoundaries(
        grid_spec="uniform:2", boundaries=[5.0, 60.0], time_scale=1.0,
        cread_boundaries=[5.0, 60.0], cread_alpha=0.001, cread_num_buckets=2,
        d2q_duration_edges=[10.0, 30.0], d2q_quantile_table=[[0.0, 9.0]] * 3,
        d2q_group_sizes=[2, 2, 2], num_examples=6)
    transform = eval_config.duration_group_transform(boundaries, "duration_s")
    groups = transform({"duration_s": tf.constant([[3.0], [10.0], [29.9], [400.0]])})
    assert [g.decode()[:2] for g in groups["duration_group"].numpy()] == ["00", "01", "01", "02"]
    assert eval_config.duration_group_labels([10.0])[1] == "01 [10s, infs)"


def test_eval_config_blesses_on_the_overall_slice_only():
    config = eval_config.build_eval_config(configs.PipelineConfig(min_xauc=0.6))
    candidate, baseline = config.model_specs
    assert candidate.preprocessing_function_names == [eval_config.TRANSFORM_SIGNATURE]
    assert baseline.is_baseline and not baseline.preprocessing_function_names
    assert candidate.prediction_key == "watch_time"
    thresholds = {metric.class_name: metric.per_slice_thresholds
                  for metric in config.metrics_specs[0].metrics if metric.per_slice_thresholds}
    assert set(thresholds) == {"BatchedMeanAbsoluteError", "XAUC"}
    mae = thresholds["BatchedMeanAbsoluteError"][0]
    assert list(mae.slicing_specs) == [eval_config.tfma.SlicingSpec()]
    assert mae.threshold.change_threshold.relative.value == pytest.approx(0.02)
    assert thresholds["XAUC"][0].threshold.value_threshold.lower_bound.value == 0.6
    assert [list(spec.feature_keys) for spec in config.slicing_specs] == [[], ["duration_group"]]


def test_publish_never_overwrites_a_version(tmp_path):
    (tmp_path / "100").mkdir()
    staged = tmp_path / ".staging" / "100"
    staged.mkdir(parents=True)
    (staged / "saved_model.pb").write_text("new")
    final, version = atomic_push.publish(str(staged), str(tmp_path), "100")
    assert version == "101" and os.path.exists(os.path.join(final, "saved_model.pb"))
    assert not os.listdir(tmp_path / "100")


def test_identical_models_are_recognised(tmp_path):
    for name, content in (("1", "a"), ("2", "a"), ("3", "b")):
        (tmp_path / name / "variables").mkdir(parents=True)
        (tmp_path / name / "variables" / "v.index").write_text(content)
    assert atomic_push.same_model(str(tmp_path / "1"), str(tmp_path / "2"))
    assert not atomic_push.same_model(str(tmp_path / "1"), str(tmp_path / "3"))
    assert atomic_push.latest_version(str(tmp_path)) == str(tmp_path / "3")


def test_stale_staging_dirs_are_removed(tmp_path):
    (tmp_path / "123").mkdir()
    assert atomic_push.remove_stale_staging(str(tmp_path), now=1e12) == ["123"]
    assert atomic_push.remove_stale_staging(str(tmp_path / "absent")) == []


def test_detect_input_format(tmp_path):
    (tmp_path / "part-0.gz").write_text("")
    assert cli.detect_input_format(str(tmp_path)) == "tfrecord"
    (tmp_path / "metadata.json").write_text("{}")   # wt-data prepare writes these
    with pytest.raises(SystemExit, match="--input-pattern"):
        cli.detect_input_format(str(tmp_path))
    (tmp_path / "interactions.csv").write_text("x\n1\n")
    assert cli.detect_input_format(str(tmp_path)) == "csv"
    assert configs.PipelineConfig(input_format="csv").data_pattern == "*.csv"


@pytest.mark.parametrize("command", [[], ["run"], ["compile"]])
def test_every_command_has_help(command):
    result = subprocess.run([sys.executable, "-m", "pipelines.watch_time.cli", *command, "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: wt-pipeline" in result.stdout
    if command:
        assert "--beam-arg" in result.stdout


def test_run_parser_defaults_match_the_issue():
    args = cli.build_parser().parse_args(["run"])
    assert args.data is None and args.saved_models == "saved_models" and args.beam_arg is None
    assert configs.PipelineConfig().beam_pipeline_args == configs.LOCAL_BEAM_ARGS
    args = cli.build_parser().parse_args(["run", "--beam-arg=--runner=FlinkRunner",
                                          "--beam-arg=--parallelism=4"])
    assert args.beam_arg == ["--runner=FlinkRunner", "--parallelism=4"]
    assert np.isclose(configs.PipelineConfig().mae_max_relative_increase, 0.02)


@pytest.mark.parametrize("tf_config, expected", [
    (None, (1, True)),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, (2, True)),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, (2, False)),
    # Vertex AI: pool 0 is "chief", the others "worker" (index from 0).
    ({"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]},
      "task": {"type": "worker", "index": 0}}, (3, False)),
    ({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "chief", "index": 0}},
     (2, True)),
])
def test_cluster_spec_from_tf_config(monkeypatch, tf_config, expected):
    import json
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert trainer.cluster_spec() == expected


def test_gate_reports_a_problem_of_several_splits_once():
    reason = anomalies_pb2.AnomalyInfo.FLOAT_TYPE_SMALL_FLOAT
    found = {"train": _anomalies("watch_time_s", reason, "Unexpectedly low values: -3<0"),
             "eval": _anomalies("watch_time_s", reason, "Unexpectedly low values: -4<0")}
    problems = validation.describe_problems(found, {"train": 10, "eval": 5}, CONTRACT)
    assert len(problems) == 1, problems
    assert "column 'watch_time_s' in splits 'eval', 'train': negative values" in problems[0]


def test_simulated_data_is_written_as_examples_with_the_csv_types(tmp_path):
    import tensorflow as tf
    from wt_keras.data import simulate_interactions
    directory = str(tmp_path / "sim")
    cli.ensure_simulated_data(directory, rows=3000, seed=3)
    assert sorted(os.listdir(directory)) == sorted(cli.SIMULATED_SPLITS)
    frame = simulate_interactions(num_rows=3000, seed=3).drop(columns=["behavior"])
    splits = [[tf.train.Example.FromString(record).features.feature for record in
               tf.data.TFRecordDataset(os.path.join(directory, name)).as_numpy_iterator()]
              for name in cli.SIMULATED_SPLITS]
    # (time, user, video) is unique in this frame: it finds an example's row.
    row_of = {key: row for row, key in enumerate(zip(frame.time_ms, frame.user_id,
                                                     frame.video_id))}
    assert len(row_of) == 3000
    keys = [[(f["time_ms"].int64_list.value[0], f["user_id"].int64_list.value[0],
              f["video_id"].int64_list.value[0]) for f in split] for split in splits]
    # Every row exactly once, in one split; about a fifth in eval (binomial sd 0.0073).
    assert sorted(row_of[key] for split in keys for key in split) == list(range(3000))
    assert 0.17 < len(splits[1]) / 3000 < 0.23
    for split, split_keys in zip(splits, keys):
        for features, key in ((split[0], split_keys[0]), (split[-1], split_keys[-1])):
            assert sorted(features) == sorted(frame.columns)
            for name in frame.columns:
                value = frame[name].iloc[row_of[key]]
                kind = frame[name].dtype.kind
                if kind in "iub":
                    assert list(features[name].int64_list.value) == [int(value)], name
                elif kind == "f":   # float32, exactly what CsvExampleGen stores
                    assert list(features[name].float_list.value) == [
                        float(np.float32(value))], name
                else:
                    assert list(features[name].bytes_list.value) == [str(value).encode()], name


def _component(config, component_id):
    from pipelines.watch_time import pipeline
    return {component.id: component for component in
            pipeline.create_pipeline(config).components}[component_id]


def test_default_beam_args_run_the_evaluator_in_process_and_explicit_ones_apply_to_it():
    evaluator = _component(configs.PipelineConfig(data_root="data"), "Evaluator")
    pipeline_args = list(configs.LOCAL_BEAM_ARGS)
    assert evaluator.executor_spec.beam_pipeline_args == (
        pipeline_args + list(configs.EVALUATOR_LOCAL_BEAM_ARGS))   # later options win
    example_gen = _component(configs.PipelineConfig(data_root="data"), "CsvExampleGen")
    assert example_gen.executor_spec.beam_pipeline_args == pipeline_args
    flink = ("--runner=FlinkRunner", "--parallelism=4")
    evaluator = _component(configs.PipelineConfig(data_root="data", beam_pipeline_args=flink),
                           "Evaluator")
    assert evaluator.executor_spec.beam_pipeline_args == list(flink)


def test_data_already_split_is_read_as_the_two_splits_without_hashing():
    from tfx.proto import example_gen_pb2
    config = configs.PipelineConfig(data_root="data", input_format="tfrecord",
                                    input_pattern=cli.SIMULATED_PATTERN,
                                    split_patterns=cli.SIMULATED_SPLITS)
    example_gen = _component(config, "ImportExampleGen")
    input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
    json_format.Parse(example_gen.exec_properties["input_config"], input_config)
    json_format.Parse(example_gen.exec_properties["output_config"], output_config)
    assert [(split.name, split.pattern) for split in input_config.splits] == [
        ("train", "train.tfrecord"), ("eval", "eval.tfrecord")]
    assert not output_config.split_config.splits
    hashed = _component(configs.PipelineConfig(data_root="data"), "CsvExampleGen")
    json_format.Parse(hashed.exec_properties["output_config"], output_config)
    assert [(split.name, split.hash_buckets) for split in output_config.split_config.splits] == [
        ("train", 4), ("eval", 1)]
    with pytest.raises(configs.ConfigError, match="split_patterns"):
        configs.PipelineConfig(data_root="data", split_patterns=("train.tfrecord",))
