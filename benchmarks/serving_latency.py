"""Serving cost of EXUM and of the distributional outputs: latency and size of exports.

EXUM's confidence tower is training-only, so the exported SavedModels of a
ranker trained with and without it should be the same program with different
weights: same latency, same size. This script trains the same small ranker
both ways (same seed and architecture), exports both with
`wt_keras.export.export_serving_model`, loads both with `tf.saved_model.load`
and times `serving_default` on serialised tf.Examples at batch sizes 1, 32
and 256. Calls alternate between the two models in random order inside every
repetition, so drift on a shared machine hits both equally; the figures are
medians over many repetitions. The goal is EXUM / no-EXUM ≤ 1.02.

The same no-EXUM ranker is also exported with `quantile_levels=None`
(`watch_time` only) and timed in the same interleaved loop: the ratio
distributional (watch_time + median + 5 quantiles + completion probability)
÷ mean-only shows what the distributional outputs cost; the goal is ≤ 1.10.

Run: TF_USE_LEGACY_KERAS=1 python benchmarks/serving_latency.py [--repetitions 500]
"""
import argparse
import json
import os
import shutil
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")   # TFRS needs Keras 2; before TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from wt_keras import buckets, export, heads, models  # noqa: E402
from wt_keras.data import simulate_interactions  # noqa: E402

FEATURES = ["user_id", "video_id", "duration_s"]
BATCH_SIZES = (1, 32, 256)


def interactions(num_rows, seed):
    """The built-in simulator's rows, restricted to the served features and the label."""
    frame = simulate_interactions(num_rows=num_rows, seed=seed)
    return {"user_id": frame["user_id"].to_numpy(np.int64),
            "video_id": frame["video_id"].to_numpy(np.int64),
            "duration_s": frame["duration_s"].to_numpy(np.float32),
            "watch_time_s": frame["watch_time_s"].to_numpy(np.float32)}


def train(rows, exum, seed=0):
    """The EXUM paper's shared bottom [128, 64, 32], a SWaT-Geo head, 16 steps."""
    tf.keras.utils.set_random_seed(seed)
    boundaries = buckets.boundaries_from_percentiles(rows["watch_time_s"], "uniform:20", time_scale=1)
    ranker = models.WatchTimeRanker(
        heads.BucketizedGeometricHead(boundaries), {"user_id": 10_000, "video_id": 10_000},
        ["duration_s"], bottom_units=(128, 64, 32), embedding_dim=16,
        confidence_tower=heads.ConfidenceTower(units=(32,)) if exum else None)
    ranker.adapt(rows)
    ranker.compile(optimizer=tf.keras.optimizers.Adam(1e-3), run_eagerly=True)
    ranker.fit(tf.data.Dataset.from_tensor_slices(rows).batch(256), epochs=1, verbose=0)
    return ranker


def saved_model_bytes(export_dir):
    """saved_model.pb + variables/ (what TF Serving loads; warmup and metadata excluded)."""
    total = os.path.getsize(os.path.join(export_dir, "saved_model.pb"))
    variables = os.path.join(export_dir, "variables")
    return total + sum(os.path.getsize(os.path.join(variables, name)) for name in os.listdir(variables))


def request_batches(rows, requests, feature_names, batch_sizes=BATCH_SIZES):
    """(serving feature spec, {batch size: serialized tf.Example batch}) of `requests`."""
    spec = export.feature_spec_from_features(rows, feature_names)
    serialized = export.serialize_examples(requests, spec)
    return spec, {size: tf.constant(serialized[:size]) for size in batch_sizes}


def time_interleaved(signatures, batches, repetitions, seed=0):
    """{(model, batch size): [seconds per call]} with the models alternating in random order."""
    rng = np.random.default_rng(seed)
    timings = {(name, size): [] for name in signatures for size in batches}
    names = list(signatures)
    for name in names:                      # warm up: first calls initialise kernels
        for size, examples in batches.items():
            for _ in range(20):
                signatures[name](examples=examples)["watch_time"].numpy()
    for _ in range(repetitions):
        for size, examples in batches.items():
            for name in rng.permutation(names):
                start = time.perf_counter()
                signatures[name](examples=examples)["watch_time"].numpy()
                timings[(name, size)].append(time.perf_counter() - start)
    return timings


def latency_run(argv, description, repetitions, what, rows_help, make_rows=None):
    """(arguments, rows, requests) of a latency benchmark: --repetitions, --rows, --json.

    `make_rows(num_rows, seed)` builds the rows (default: `interactions`).
    """
    make_rows = make_rows or interactions
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repetitions", type=int, default=repetitions,
                        help=f"timed calls per {what} and batch size")
    parser.add_argument("--rows", type=int, default=4096, help=rows_help)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    return args, make_rows(args.rows, seed=0), make_rows(max(BATCH_SIZES), seed=1)


def finish_run(results, json_path):
    """Prints the load average (recorded in `results`) and writes `results` to `json_path`."""
    load = os.getloadavg()
    results["load_average"] = load
    print(f"1/5/15-minute load average after timing: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          f"on {os.cpu_count()} cores")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return results


def main(argv=None):
    args, rows, requests = latency_run(argv, __doc__.split("\n\n")[0], 2000, "model",
                                       "training rows (16 steps at 4096)")
    spec, batches = request_batches(rows, requests, FEATURES)

    work_dir = tempfile.mkdtemp(prefix="wt_keras_serving_latency_")
    try:
        exports, sizes, signatures = {}, {}, {}
        for name, exum in (("exum", True), ("no_exum", False)):
            ranker = train(rows, exum)
            exports[name] = export.export_serving_model(
                ranker, export.next_version_dir(os.path.join(work_dir, name), "wt_keras"), spec,
                warmup_examples=requests)
            sizes[name] = saved_model_bytes(exports[name])
            signatures[name] = tf.saved_model.load(exports[name]).signatures["serving_default"]
        variable_counts = {name: len(tf.train.list_variables(os.path.join(path, "variables", "variables")))
                           for name, path in exports.items()}
        # The no-EXUM ranker once more, serving watch_time only.
        mean_only = export.export_serving_model(
            ranker, export.next_version_dir(os.path.join(work_dir, "mean_only"), "wt_keras"), spec,
            warmup_examples=requests, quantile_levels=None)
        signatures["mean_only"] = tf.saved_model.load(mean_only).signatures["serving_default"]
        timings = time_interleaved(signatures, batches, args.repetitions)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    medians = {key: float(np.median(values)) for key, values in timings.items()}
    print(f"serving_default latency, median of {args.repetitions} interleaved calls "
          f"(tf.saved_model.load, CPU, {os.cpu_count()} cores); ratio = EXUM / no-EXUM medians, "
          "paired = median of per-repetition ratios")
    print(f"{'batch':>6} {'EXUM ms':>9} {'no-EXUM ms':>11} {'ratio':>7} {'paired':>7}")
    results = {"repetitions": args.repetitions, "batch_sizes": {}, "saved_model_bytes": sizes,
               "checkpoint_entries": variable_counts}
    for size in BATCH_SIZES:
        exum_ms, plain_ms = 1e3 * medians[("exum", size)], 1e3 * medians[("no_exum", size)]
        ratio = exum_ms / plain_ms
        # Median of per-repetition ratios: the two calls of a repetition ran back to back.
        paired = float(np.median(np.divide(timings[("exum", size)], timings[("no_exum", size)])))
        results["batch_sizes"][size] = {"exum_ms": exum_ms, "no_exum_ms": plain_ms, "ratio": ratio,
                                        "paired_ratio": paired}
        print(f"{size:>6} {exum_ms:>9.3f} {plain_ms:>11.3f} {ratio:>7.3f} {paired:>7.3f}"
              + ("" if ratio <= 1.02 else "   (> 1.02: rerun on a quiet machine)"))
    print(f"SavedModel bytes (saved_model.pb + variables/): EXUM {sizes['exum']:,}, "
          f"no-EXUM {sizes['no_exum']:,}, ratio {sizes['exum'] / sizes['no_exum']:.4f}")
    print(f"checkpoint entries: EXUM {variable_counts['exum']}, no-EXUM {variable_counts['no_exum']}")
    print(f"distributional outputs ({', '.join(sorted(signatures['no_exum'].structured_outputs))}) "
          f"÷ watch_time only, same model and loop:")
    results["distribution_vs_mean_only"] = {}
    for size in BATCH_SIZES:
        full_ms, mean_ms = 1e3 * medians[("no_exum", size)], 1e3 * medians[("mean_only", size)]
        paired = float(np.median(np.divide(timings[("no_exum", size)],
                                           timings[("mean_only", size)])))
        results["distribution_vs_mean_only"][size] = {
            "distributional_ms": full_ms, "mean_only_ms": mean_ms, "ratio": full_ms / mean_ms,
            "paired_ratio": paired}
        print(f"  batch {size:>3}: distributional {full_ms:.3f} ms, mean-only {mean_ms:.3f} ms, "
              f"ratio {full_ms / mean_ms:.3f}, paired {paired:.3f}"
              + ("" if full_ms / mean_ms <= 1.10 else "   (> 1.10)"))
    return finish_run(results, args.json)


if __name__ == "__main__":
    main()
