"""The pipeline Trainer's inputs written to a folder, and `train_and_export` run on them.

`write_trainer_inputs` writes what the Trainer receives inside the pipeline (gzipped tf.Examples
as ExampleGen writes them, a schema, the bucket tables, the custom config) for simulated rows;
`run_trainer` trains and exports from such a folder, in this process or in a worker process.
"""
import json
import os

import wt_keras  # noqa: F401  (selects Keras 2 before TensorFlow, also in a worker process)

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

ROWS = 4000


def three_bucket_boundaries():
    """BucketBoundaryGen's output for three buckets (1, 3, 6 s), written out: no data needed."""
    from wt_keras.buckets import BucketBoundaries
    return BucketBoundaries(
        grid_spec="uniform:3", boundaries=[1.0, 3.0, 6.0], time_scale=0.0,
        cread_boundaries=[1.0, 3.0, 6.0], cread_alpha=0.001, cread_num_buckets=3,
        d2q_duration_edges=[], d2q_quantile_table=[[0.0, 6.0]], d2q_group_sizes=[10],
        num_examples=10)


def _feature(value, kind):
    if kind == "i":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    if kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))


def _write_examples(frame, path):
    kinds = {name: frame[name].dtype.kind for name in frame.columns}
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:   # ExampleGen's format
        for row in frame.itertuples(index=False):
            features = {name: _feature(value, kinds[name])
                        for name, value in zip(frame.columns, row)}
            writer.write(tf.train.Example(features=tf.train.Features(feature=features))
                         .SerializeToString())


def _schema(frame):
    types = {"i": schema_pb2.INT, "f": schema_pb2.FLOAT}
    schema = schema_pb2.Schema()
    for name in frame.columns:
        feature = schema.feature.add(name=name, type=types.get(frame[name].dtype.kind,
                                                               schema_pb2.BYTES))
        feature.shape.dim.add(size=1)
        feature.presence.min_fraction = 1.0   # one value in every row, like SchemaGen infers
    return schema


def write_trainer_inputs(directory, rows=ROWS):
    """Simulated rows (4/5 train, 1/5 eval) and their schema, tables and config in `directory`."""
    from pipelines.watch_time import configs
    from wt_keras.data import simulate_interactions
    from wt_keras.models import bucket_tables
    frame = simulate_interactions(num_rows=rows, seed=5).drop(columns=["behavior"])
    train, held_out = frame.iloc[: rows * 4 // 5], frame.iloc[rows * 4 // 5:]
    _write_examples(train, directory / "train.gz")
    _write_examples(held_out, directory / "eval.gz")
    (directory / "schema.pbtxt").write_text(text_format.MessageToString(_schema(frame)))
    tables = bucket_tables(train["watch_time_s"].to_numpy(), train["duration_s"].to_numpy(),
                           time_scale=1.0)
    (directory / "tables.json").write_text(tables.to_json())
    custom = configs.PipelineConfig(epochs=2, batch_size=256).trainer_custom_config()
    (directory / "config.json").write_text(json.dumps(custom))
    return directory


def run_trainer(data_dir, output):
    """`train_and_export` on the inputs in `data_dir`; the model and result.json go to `output`."""
    from pipelines.watch_time import trainer
    schema = text_format.Parse(open(os.path.join(data_dir, "schema.pbtxt")).read(),
                               schema_pb2.Schema())
    from wt_keras.buckets import BucketBoundaries
    with open(os.path.join(data_dir, "tables.json")) as handle:
        tables = BucketBoundaries.from_json(handle.read())
    with open(os.path.join(data_dir, "config.json")) as handle:
        custom = json.load(handle)
    os.makedirs(output, exist_ok=True)
    result = trainer.train_and_export([os.path.join(data_dir, "train.gz")],
                                      [os.path.join(data_dir, "eval.gz")], schema, tables,
                                      custom, os.path.join(output, "model"))
    with open(os.path.join(output, "result.json"), "w") as handle:
        json.dump({key: float(value) if isinstance(value, np.floating) else value
                   for key, value in result.items()}, handle)
