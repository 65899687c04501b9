"""The Trainer honours TF_CONFIG: two local workers match one worker.

Two processes on loopback ports, each with its own TF_CONFIG, run the
Trainer's `train_and_export` (MultiWorkerMirroredStrategy); a third process
without TF_CONFIG trains the same model alone. Held-out MAE and XAUC must
agree.

Tolerance: both runs take the same number of steps over the same global
batches (each worker gets half of every global batch, the loss is summed and
divided by the global batch size), so the only difference is the order of
floating-point sums in the all-reduce, a ~1e-7 relative effect that training
amplifies little over these 26 steps (observed: MAE equal to 1e-7, XAUC to
1e-5). MAE within 1 % and XAUC within 0.005 leave ample room for that, yet
catch a wrongly scaled loss: halving the gradient (a mean-per-replica loss
summed over two workers scales it by 2, or by 1/2 the other way round)
moves the held-out MAE by 6 % on this data (measured with half the
learning rate).

Run as a script, this file is the worker: `python test_pipeline_distributed.py DATA OUT`.
"""
import json
import os
import socket
import subprocess
import sys

import wt_keras  # noqa: F401  (selects Keras 2 before TensorFlow, also as a worker script)

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from wt_keras.buckets import BucketBoundaries

pytestmark = pytest.mark.slow
ROWS = 4000


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


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from pipelines.watch_time import configs
    from wt_keras.data import simulate_interactions
    from wt_keras.models import bucket_tables
    directory = tmp_path_factory.mktemp("distributed")
    frame = simulate_interactions(num_rows=ROWS, seed=5).drop(columns=["behavior"])
    train, held_out = frame.iloc[: ROWS * 4 // 5], frame.iloc[ROWS * 4 // 5:]
    _write_examples(train, directory / "train.gz")
    _write_examples(held_out, directory / "eval.gz")
    (directory / "schema.pbtxt").write_text(text_format.MessageToString(_schema(frame)))
    tables = bucket_tables(train["watch_time_s"].to_numpy(), train["duration_s"].to_numpy(),
                           time_scale=1.0)
    (directory / "tables.json").write_text(tables.to_json())
    custom = configs.PipelineConfig(epochs=2, batch_size=256).trainer_custom_config()
    (directory / "config.json").write_text(json.dumps(custom))
    return directory


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _launch(data_dir, output, tf_config=None):
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, __file__, str(data_dir), str(output)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, timeout=600):
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail("worker timed out (a peer died?):\n" + output[-3000:])
    assert process.returncode == 0, output[-3000:]


def test_two_workers_match_one_worker(data_dir, tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = [_launch(data_dir, tmp_path / f"worker{index}",
                       {"cluster": cluster, "task": {"type": "worker", "index": index}})
               for index in range(2)]
    for process in workers:
        _finish(process)
    _finish(_launch(data_dir, tmp_path / "single"))

    results = {name: json.loads((tmp_path / name / "result.json").read_text())
               for name in ("worker0", "worker1", "single")}
    assert results["worker0"]["num_workers"] == 2 and results["single"]["num_workers"] == 1
    assert results["worker0"]["steps"] == results["single"]["steps"]
    assert results["worker0"]["mae"] == pytest.approx(results["worker1"]["mae"], rel=1e-6)
    assert results["worker0"]["mae"] == pytest.approx(results["single"]["mae"], rel=0.01)
    assert abs(results["worker0"]["xauc"] - results["single"]["xauc"]) <= 0.005
    assert results["single"]["xauc"] > 0.55   # the model learned something: the check has teeth
    # Only the chief exports; the other worker's export went to a deleted temp dir.
    assert (tmp_path / "worker0" / "model" / "saved_model.pb").exists()
    assert not (tmp_path / "worker1" / "model").exists()


def _worker_main(data_dir, output):
    from pipelines.watch_time import trainer
    schema = text_format.Parse(open(os.path.join(data_dir, "schema.pbtxt")).read(),
                               schema_pb2.Schema())
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


if __name__ == "__main__":
    _worker_main(*sys.argv[1:3])
