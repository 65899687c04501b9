"""Bad data stops the real pipeline before training, naming the column and the problem.

Each case runs the whole pipeline (LocalDagRunner, in-memory Beam) on a tiny
CSV and checks the gate's message, and that neither BucketBoundaryGen nor the
Trainer executed (ML Metadata and the pipeline root).
"""
import os

import numpy as np
import pytest

from pipelines.watch_time import configs, local_runner, run_report, validation
from wt_keras.data import simulate_interactions

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
IN_MEMORY_BEAM = ("--direct_running_mode=in_memory",)


def _frame(rows=300):
    return simulate_interactions(num_rows=rows, num_users=200, num_videos=200,
                                 seed=3).drop(columns=["behavior"])


def _negative(frame):
    frame.loc[::25, "watch_time_s"] = -4.0
    return frame


def _nan(frame):
    frame.loc[::25, "watch_time_s"] = np.nan
    return frame


def _strings(frame):
    frame["watch_time_s"] = frame["watch_time_s"].astype(object)
    frame.loc[::25, "watch_time_s"] = "12 s"
    return frame


CASES = {
    "missing_column": (lambda frame: frame.drop(columns=["watch_time_s"]),
                       ["column 'watch_time_s'", "column is missing"]),
    "negative": (_negative, ["column 'watch_time_s'", "negative values", ">= 0"]),
    "nan": (_nan, ["column 'watch_time_s'", "NaN"]),
    "wrong_type": (_strings, ["column 'watch_time_s'", "wrong type", "got STRING"]),
    # One data row: the hash split leaves one of train/eval without examples.
    "empty_split": (lambda frame: frame.iloc[:1], ["is empty (0 examples)"]),
}


def _run(tmp_path, frame):
    data = tmp_path / "data"
    data.mkdir()
    frame.to_csv(data / "interactions.csv", index=False, na_rep="nan")
    config = configs.PipelineConfig(
        data_root=str(data), pipeline_root=str(tmp_path / "root"),
        metadata_path=str(tmp_path / "metadata.sqlite"),
        serving_model_dir=str(tmp_path / "saved_models"), beam_pipeline_args=IN_MEMORY_BEAM)
    with pytest.raises(validation.DataValidationError) as raised:
        local_runner.run(config, stream=open(os.devnull, "w"))
    return config, str(raised.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_data_stops_before_training(tmp_path, case):
    corrupt, expected = CASES[case]
    config, message = _run(tmp_path, corrupt(_frame()))
    for words in expected:
        assert words in message, message
    assert "stopped before training" in message

    store = run_report.open_store(config.metadata_path)
    runs = run_report.component_runs(
        store, config.pipeline_name, ["DataValidationGate", "BucketBoundaryGen", "Trainer"])
    assert runs["DataValidationGate"].state == "FAILED"
    assert "BucketBoundaryGen" not in runs and "Trainer" not in runs
    assert not os.path.exists(os.path.join(config.pipeline_root, "Trainer"))
    assert not os.path.exists(config.serving_model_dir)


def test_tfrecord_input_goes_through_import_example_gen_and_the_gate(tmp_path):
    import tensorflow as tf
    from tfx import v1 as tfx
    from pipelines.watch_time import pipeline as wt_pipeline

    frame = _frame(200)
    data = tmp_path / "data"
    data.mkdir()
    kinds = {name: frame[name].dtype.kind for name in frame.columns}
    with tf.io.TFRecordWriter(str(data / "part-0.gz"), options="GZIP") as writer:
        for row in frame.itertuples(index=False):
            feature = {}
            for name, value in zip(frame.columns, row):
                if kinds[name] == "i":
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
                elif kinds[name] == "f":
                    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
                else:
                    feature[name] = tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[str(value).encode()]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    config = configs.PipelineConfig(
        data_root=str(data), input_format="tfrecord", pipeline_root=str(tmp_path / "root"),
        metadata_path=str(tmp_path / "metadata.sqlite"), beam_pipeline_args=IN_MEMORY_BEAM)
    components = wt_pipeline.create_components(config)
    assert type(components[0]).__name__ == "ImportExampleGen"
    upstream = components[:5]   # ExampleGen ... DataValidationGate: what the format touches
    assert type(upstream[-1]).__name__ == "DataValidationGate"
    components[5].remove_upstream_node(upstream[-1])   # BucketBoundaryGen: not in this run
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=config.pipeline_root,
        components=upstream, beam_pipeline_args=list(IN_MEMORY_BEAM),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path)))
    schema_dir = os.path.join(config.pipeline_root, "DataValidationGate", "training_schema")
    (run_dir,) = os.listdir(schema_dir)
    schema = validation.io_utils.SchemaReader().read(
        os.path.join(schema_dir, run_dir, validation.SCHEMA_FILE))
    types = {feature.name: validation.schema_pb2.FeatureType.Name(feature.type)
             for feature in schema.feature}
    assert types["watch_time_s"] == "FLOAT" and types["user_id"] == "INT"
    assert types["user_active_degree"] == "BYTES"
