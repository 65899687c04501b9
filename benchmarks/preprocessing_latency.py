"""Serving latency of the feature encoding: Keras preprocessing layers vs hand-written ops.

`FeatureEncoder` hashes string features with `keras.layers.Hashing` and
standardises the dense features with `keras.layers.Normalization`. Before,
it called `tf.strings.to_hash_bucket_fast` itself and computed
(log1p(x) − mean) / std from two weights of its own. This script builds one
ranker on the pipeline's feature set (integer ids, integer and string
categories, counts, the duration) and exports it three times, with encoders
that share every weight and differ only in their ops:

  keras_layers       the current `FeatureEncoder`;
  hand_written       the previous ops, reading the same statistics (as a
                     mean and a std weight, as before);
  keras_int_hashing  as keras_layers, but integer ids also go through
                     `keras.layers.Hashing` (decimal string, then FarmHash)
                     instead of `hash_integer_ids`: the price of replacing
                     the last hand-written part (its buckets differ, so its
                     predictions do too).

It then times `serving_default` on serialised tf.Examples at batch sizes 1,
32 and 256, the three models called in random order inside every repetition
so drift on a shared machine hits them alike, and prints medians side by
side. keras_layers and hand_written must serve the same numbers: the script
prints their largest difference, and the op types each graph has that the
other lacks (none may be a custom op: the export must load without wt_keras).

Run: TF_USE_LEGACY_KERAS=1 python benchmarks/preprocessing_latency.py [--repetitions 1000]
"""
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")   # TFRS needs Keras 2; before TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # serving_latency's timer

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

from wt_keras import buckets, export, heads, models  # noqa: E402
from wt_keras._keras import keras  # noqa: E402
from wt_keras.data import simulate_interactions  # noqa: E402
from wt_keras.models.features import FeatureEncoder, hash_integer_ids  # noqa: E402
from serving_latency import (finish_run, latency_run, request_batches,  # noqa: E402
                             time_interleaved)

BATCH_SIZES = (1, 32, 256)
VARIANTS = ("keras_layers", "hand_written", "keras_int_hashing")


def interactions(num_rows, seed):
    """The simulator's rows as numpy columns (the label included), without the latent behaviour."""
    frame = simulate_interactions(num_rows=num_rows, seed=seed).drop(columns=["behavior"])
    return {name: column.to_numpy() for name, column in frame.items()}


class _Rewired(keras.layers.Layer):
    """An encoder with another `call`, using the trained encoder's embeddings and statistics."""

    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder

    @property
    def feature_names(self):
        return self.encoder.feature_names

    @property
    def dense_features(self):
        return self.encoder.dense_features

    def _dense(self, features):
        return tf.stack([tf.cast(self.encoder._column(features, name), tf.float32)
                         for name in self.encoder.dense_features], -1)

    def _finish(self, parts):
        return tf.concat([tf.cast(part, self.compute_dtype) for part in parts], axis=-1)


class HandWrittenEncoder(_Rewired):
    """The encoder's previous ops: tf.strings.to_hash_bucket_fast, (log1p(x) − mean) / std."""

    def __init__(self, encoder, **kwargs):
        super().__init__(encoder, **kwargs)
        statistics = encoder.normalization
        self.dense_mean = tf.Variable(statistics.adapt_mean, trainable=False)
        self.dense_std = tf.Variable(
            tf.maximum(tf.sqrt(statistics.adapt_variance), 1e-6), trainable=False)

    def call(self, features):
        parts = []
        for name, bins in self.encoder.categorical_features.items():
            column = self.encoder._column(features, name)
            ids = (tf.strings.to_hash_bucket_fast(column, bins) if column.dtype == tf.string
                   else hash_integer_ids(column, bins))
            parts.append(self.encoder.embeddings[name](ids))
        dense = self.encoder.dense_transform(self._dense(features))
        parts.append((dense - self.dense_mean) / self.dense_std)
        return self._finish(parts)


class KerasIntegerHashingEncoder(_Rewired):
    """Every categorical feature, integers too, through keras.layers.Hashing."""

    def call(self, features):
        parts = []
        for name in self.encoder.categorical_features:
            ids = self.encoder.string_hashing[name](self.encoder._column(features, name))
            parts.append(self.encoder.embeddings[name](ids))
        parts.append(self.encoder.normalization(self.encoder.dense_transform(
            self._dense(features))))
        return self._finish(parts)


def build_ranker(rows):
    """SWaT-Geo on the EXUM paper's shared bottom, on every known feature the data holds."""
    tf.keras.utils.set_random_seed(0)
    categorical, dense = models.default_features(rows)
    boundaries = buckets.boundaries_from_percentiles(rows["watch_time_s"], "uniform:20",
                                                     time_scale=1)
    ranker = models.WatchTimeRanker(heads.BucketizedGeometricHead(boundaries), categorical,
                                    dense, bottom_units=(128, 64, 32), embedding_dim=16)
    ranker.adapt(rows)
    return ranker


def graph_ops(export_dir):
    """Op types of a SavedModel's graph and function library."""
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as handle:
        graph = saved_model_pb2.SavedModel.FromString(handle.read()).meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    ops.update(node.op for function in graph.library.function for node in function.node_def)
    return ops


def main(argv=None):
    args, rows, requests = latency_run(argv, __doc__.split("\n\n")[0], 1000, "variant",
                                       "rows the statistics come from", make_rows=interactions)
    ranker = build_ranker(rows)
    names = ranker.encoder.feature_names
    spec, batches = request_batches(rows, requests, names, BATCH_SIZES)
    encoder = ranker.encoder
    assert isinstance(encoder, FeatureEncoder)
    encoders = {"keras_layers": encoder, "hand_written": HandWrittenEncoder(encoder),
                "keras_int_hashing": KerasIntegerHashingEncoder(encoder)}

    work_dir = tempfile.mkdtemp(prefix="wt_keras_preprocessing_latency_")
    try:
        signatures, ops = {}, {}
        for name in VARIANTS:
            ranker.encoder = encoders[name]
            export_dir = export.export_serving_model(
                ranker, export.next_version_dir(os.path.join(work_dir, name), "wt_keras"),
                spec, warmup_examples=requests, quantile_levels=None)
            ops[name] = graph_ops(export_dir)
            signatures[name] = tf.saved_model.load(export_dir).signatures["serving_default"]
        ranker.encoder = encoder
        served = {name: signatures[name](examples=batches[max(BATCH_SIZES)])["watch_time"].numpy()
                  for name in VARIANTS}
        timings = time_interleaved(signatures, batches, args.repetitions)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    difference = float(np.max(np.abs(served["keras_layers"] - served["hand_written"])))
    medians = {key: 1e3 * float(np.median(values)) for key, values in timings.items()}
    print(f"features: {len(encoder.categorical_features)} categorical "
          f"({sum(spec[n].dtype == tf.string for n in encoder.categorical_features)} strings), "
          f"{len(encoder.dense_features)} dense")
    print(f"serving_default latency (ms), median of {args.repetitions} interleaved calls "
          f"(tf.saved_model.load, CPU, {os.cpu_count()} cores); ratio = keras_layers / "
          "hand_written medians, paired = median of per-repetition ratios")
    print(f"{'batch':>6} {'keras_layers':>13} {'hand_written':>13} {'ratio':>7} {'paired':>7} "
          f"{'keras_int_hashing':>18}")
    results = {"repetitions": args.repetitions, "max_abs_difference_s": difference,
               "batch_sizes": {}}
    for size in BATCH_SIZES:
        after, before = medians[("keras_layers", size)], medians[("hand_written", size)]
        paired = float(np.median(np.divide(timings[("keras_layers", size)],
                                           timings[("hand_written", size)])))
        all_keras = medians[("keras_int_hashing", size)]
        results["batch_sizes"][size] = {"keras_layers_ms": after, "hand_written_ms": before,
                                        "ratio": after / before, "paired_ratio": paired,
                                        "keras_int_hashing_ms": all_keras}
        print(f"{size:>6} {after:>13.3f} {before:>13.3f} {after / before:>7.3f} {paired:>7.3f} "
              f"{all_keras:>18.3f}")
    print(f"largest |keras_layers − hand_written| watch_time over {max(BATCH_SIZES)} requests: "
          f"{difference:.3g} s")
    for name, other in (("keras_layers", "hand_written"), ("hand_written", "keras_layers"),
                        ("keras_int_hashing", "keras_layers")):
        only = sorted(ops[name] - ops[other])
        results[f"ops_only_in_{name}_vs_{other}"] = only
        print(f"ops in {name} but not in {other}: {', '.join(only) or 'none'}")
    return finish_run(results, args.json)


if __name__ == "__main__":
    main()
