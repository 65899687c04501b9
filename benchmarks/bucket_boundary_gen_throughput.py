"""Throughput of BucketBoundaryGen's executor on Beam's DirectRunner.

Writes skewed synthetic watch-time Examples (gzip TFRecords, 4 shards) once
per size into a temporary directory, then times only the component run
(`Executor.Do`: the Beam job plus deriving and writing the outputs) and
prints rows/s, the Beam job's share, and the reported vs. observed rank
error of the grid endpoints:

  python benchmarks/bucket_boundary_gen_throughput.py [--sizes 100000 1000000]
      [--repeats 3] [--large-repeats 1] [--sketch-size 10000]
      [--beam-args=--direct_running_mode=multi_processing,--direct_num_workers=2]
"""
import argparse
import json
import os
import statistics
import tempfile
import time

# wt_keras first: it selects Keras 2 before TensorFlow loads.
import wt_keras  # noqa: F401  # isort: skip

import numpy as np
import tensorflow as tf
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts

from pipelines.watch_time.components import bucket_boundary_gen as bbg

NUM_SHARDS = 4


def synthetic_columns(num_rows, seed=0):
    """Rounded lognormal watch time with 15 % zeros; lognormal durations."""
    rng = np.random.default_rng(seed)
    duration = np.round(rng.lognormal(3.5, 0.8, num_rows), 1).astype(np.float32)
    watch = np.round(np.minimum(rng.lognormal(2.0, 1.2, num_rows), 5 * duration))
    watch[rng.random(num_rows) < 0.15] = 0.0
    return watch.astype(np.float32), duration


def _float_feature(value):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def write_examples(root, watch, duration):
    """An Examples artifact with the rows in Split-train (and a tiny eval)."""
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    for split, rows in (("train", range(watch.size)), ("eval", range(10))):
        directory = os.path.join(examples.uri, f"Split-{split}")
        os.makedirs(directory)
        writers = [tf.io.TFRecordWriter(
            os.path.join(directory, f"data_tfrecord-{i:05d}-of-{NUM_SHARDS:05d}.gz"),
            options="GZIP") for i in range(NUM_SHARDS)]
        for row in rows:
            example = tf.train.Example(features=tf.train.Features(feature={
                "watch_time_s": _float_feature(watch[row]),
                "duration_s": _float_feature(duration[row]),
            }))
            writers[row % NUM_SHARDS].write(example.SerializeToString())
        for writer in writers:
            writer.close()
    return examples


def run_once(root, examples, sketch_size, beam_args=()):
    """Runs the executor; returns (seconds, payload, summary)."""
    boundaries = standard_artifacts.HyperParameters()
    boundaries.uri = os.path.join(root, "boundaries")
    report = bbg.BucketBoundaryReport()
    report.uri = os.path.join(root, "report")
    params = dict(label_key="watch_time_s", duration_key="duration_s",
                  grid_spec="uniform:20", time_scale=0.0, cread_num_buckets=50,
                  d2q_num_groups=30, num_quantiles=101, sketch_size=sketch_size,
                  split="train")
    # With beam_pipeline_args TFX builds an sdist for remote workers here, before
    # the timer starts: it is not part of the Beam work being measured.
    executor = bbg.Executor(bbg.Executor.Context(beam_pipeline_args=list(beam_args)))
    started = time.perf_counter()
    executor.Do({"examples": [examples]},
                {"boundaries": [boundaries], "report": [report]}, params)
    seconds = time.perf_counter() - started
    with open(os.path.join(report.uri, "summary.json")) as handle:
        summary = json.load(handle)
    return seconds, bbg.load_bucket_boundaries(boundaries.uri), summary


def observed_rank_error(labels, payload):
    """Largest distance of a target level outside [F(t-), F(t)] (0 if inside)."""
    sorted_labels = np.sort(labels.astype(np.float64))
    worst = 0.0
    for endpoint, level in zip(payload.boundaries, payload.levels):
        below = np.searchsorted(sorted_labels, endpoint, "left") / labels.size
        at_most = np.searchsorted(sorted_labels, endpoint, "right") / labels.size
        worst = max(worst, below - level / 100, level / 100 - at_most)
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="runs per size < 1e6")
    parser.add_argument("--large-repeats", type=int, default=1, help="runs per size >= 1e6")
    parser.add_argument("--sketch-size", type=int, default=bbg.DEFAULT_SKETCH_SIZE)
    parser.add_argument("--beam-args", default="",
                        help="comma-separated beam_pipeline_args (default: DirectRunner, "
                             "in-memory, one worker)")
    args = parser.parse_args()
    beam_args = [arg for arg in args.beam_args.split(",") if arg]
    print(f"beam_pipeline_args={beam_args or 'none (DirectRunner, in-memory, 1 worker)'}, "
          f"sketch_size={args.sketch_size}")
    header = (f"{'rows':>9} {'runs':>4} {'median s':>9} {'rows/s':>9} "
              f"{'beam s':>7} {'beam rows/s':>11} {'K':>3} {'eps bound':>9} {'eps seen':>9}")
    lines = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as root:
            watch, duration = synthetic_columns(size)
            examples = write_examples(root, watch, duration)
            repeats = args.large_repeats if size >= 1_000_000 else args.repeats
            runs = [run_once(os.path.join(root, f"run{i}"), examples, args.sketch_size,
                             beam_args) for i in range(repeats)]
        seconds = statistics.median(run[0] for run in runs)
        beam_seconds = statistics.median(run[2]["beam_seconds"] for run in runs)
        payload = runs[0][1]
        lines.append(
            f"{size:>9} {repeats:>4} {seconds:>9.2f} {size / seconds:>9.0f} "
            f"{beam_seconds:>7.2f} {size / beam_seconds:>11.0f} "
            f"{payload.num_buckets:>3} {payload.rank_error:>9.2e} "
            f"{observed_rank_error(watch, payload):>9.2e}")
        print(lines[-1], flush=True)
    print("\n" + header + "\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
