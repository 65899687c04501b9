"""What a hand-fused native kernel would save in SWaT-Geo's train step, against its compiled loss.

SWaT-Geo's compiled loss (one XLA computation for the loss, its gradient and the terms of
its logged mean E[T | x], then the Horner sum) is the head furthest over the head-cost goal
of `heads_train_step.py --grid-spec` (≤ 1.10 × the regression step at K ≈ 256, ≤ 1.25 × at
K ≈ 1024). XLA's CPU backend writes every intermediate that two of its loops share as a
[B, K] array, so the computation makes several passes over memory. This benchmark builds
`native/swat_geo_step.cc`, a TensorFlow op that computes the same loss, gradient and E in one
pass per row (glibc's vector exp, log1p and expm1), checks it against the head's own loss,
gradient and `expected_value`, and times three rankers built side by side in one process:

- A: SWaT-Geo as the package trains it (`BucketizedGeometricHead`, compiled loss);
- B: the same head with its loss, gradient and logged mean from the native op;
- R: the regression head on the same ranker.

Each pair (A ÷ R, B ÷ R, B ÷ A) is timed in adjacent blocks of `--steps` steps, in random
order, over `--rounds` rounds; the medians and their 90 % bootstrap intervals are printed.
B ÷ A is the direct saving, which no drift of the host moves. Training metrics are on (the
Keras default; the step then needs E[T | x]), no EXUM.

The op is a measurement, not part of the package: the package never loads it.
Needs g++ and the TensorFlow headers of the installed wheel (`tf.sysconfig`); it is built
for this machine's CPU (`-march=native`).

    python benchmarks/native_kernel_bound.py [--grid-spec uniform:1024 uniform:256] \
        [--time-scale 1000] [--rounds 16] [--instances 2] [--steps 10]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from heads_train_step import (build_compiled_ranker, compiled_ranker_with_head,  # noqa: E402
                              grid_tables, make_step, median_interval, time_block,
                              time_pair)
from wt_keras import ops  # noqa: E402
from wt_keras.data import simulate_interactions  # noqa: E402
from wt_keras.heads import BucketizedGeometricHead  # noqa: E402
from wt_keras.models.experiment import feature_columns  # noqa: E402
from wt_keras.models.factory import build_head  # noqa: E402

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native", "swat_geo_step.cc")


def build_op(directory):
    """Compiles the op into `directory`; returns the loaded op module."""
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        sys.exit("native_kernel_bound.py needs a C++ compiler: install g++ "
                 "(Debian/Ubuntu: apt-get install g++) or set CXX to one.")
    library = os.path.join(directory, "swat_geo_step.so")
    command = [compiler, "-std=c++17", "-shared", "-fPIC", "-O3", "-ffast-math", "-fopenmp-simd",
               "-march=native", SOURCE, "-o", library, *tf.sysconfig.get_compile_flags(),
               *tf.sysconfig.get_link_flags(), "-lmvec"]
    built = subprocess.run(command, capture_output=True, text=True)
    if built.returncode != 0:
        sys.exit("Building the op failed (it needs TensorFlow's headers and glibc's libmvec):\n"
                 + built.stderr[-3000:])
    with open(library, "rb") as built_library:
        # GCC names its calls to glibc's vector functions _ZGV…; without them the loop ran
        # scalar transcendentals and would not measure a hand-fused kernel.
        vector_math = b"_ZGV" in built_library.read()
    print(f"built {os.path.basename(SOURCE)}: vector exp/log1p/expm1 "
          f"{'yes' if vector_math else 'NO (scalar: this bound is not meaningful here)'}")
    return tf.load_op_library(library)


class NativeKernelGeometricHead(BucketizedGeometricHead):
    """SWaT-Geo whose loss, gradient and logged mean come from the native op (variant B).

    Only for this benchmark: no EXUM, the op works in float32 on the CPU, and the label
    checks of `WatchTimeHead.loss` (batch sizes, NaN labels) are left out.
    """

    native_op = None

    def _native_step(self, watch_time, logits):
        units = self._units(watch_time)
        lower = tf.constant(self._lower, logits.dtype)
        widths = tf.constant(np.append(self.unit_widths, 0.0), logits.dtype)
        return self.native_op.swat_geo_step(tf.stop_gradient(logits), units, lower, widths,
                                            max_tail_logit=self.max_tail_logit)

    def _loss_and_expected_value(self, watch_time, logits, confidence, confidence_logit,
                                 context, with_expected_value):
        if confidence is not None or confidence_logit is not None:
            raise ValueError("NativeKernelGeometricHead has no EXUM loss.")
        logits = self._check_logits(logits)
        watch_time = self._check_watch_time(watch_time, logits.dtype)
        value, gradient, expected_units = self._native_step(watch_time, logits)

        @tf.custom_gradient
        def loss(z):
            def backward(upstream):
                return ops.row_scaled(tf.expand_dims(upstream, -1), gradient)
            return tf.identity(value), backward

        expected = expected_units / self.time_scale if with_expected_value else None
        return loss(logits), expected


def check_against_head(head, native_head, seed=0):
    """Max errors of the op's loss, gradient and E against the head's own, on random logits."""
    rng = np.random.default_rng(seed)
    logits = tf.constant(rng.normal(2.0, 3.0, size=(512, head.num_logits)), tf.float32)
    watch_time = tf.constant(rng.exponential(20.0, size=512), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        reference_loss = head.loss(watch_time, logits)
    reference_gradient = tape.gradient(reference_loss, logits)
    reference_mean = head.expected_value(logits)
    value, gradient, expected_units = native_head._native_step(watch_time, logits)
    mean = expected_units / head.time_scale
    # The gradient (y + n) σ(z) − y cancels digits of y (up to a bucket's width in units):
    # its error is measured against that scale.
    coverage = ops.bucket_coverage(head._units(watch_time), head._lower, head._upper)

    def max_error(values, reference, scale=0.0):
        return float(tf.reduce_max(tf.abs(values - reference) / (1.0 + scale + tf.abs(reference))))
    errors = {"loss": max_error(value, reference_loss),
              "gradient": max_error(gradient, reference_gradient, coverage),
              "mean": max_error(mean, reference_mean)}
    print("native op against the head (max relative error, 512 random rows): "
          + ", ".join(f"{name} {error:.1e}" for name, error in errors.items()))
    if max(errors.values()) > 1e-4:
        sys.exit(f"The native op disagrees with the head: {errors}")
    return errors


def build_native_ranker(tables, frame, columns):
    """Variant B: build_compiled_ranker's SWaT-Geo ranker with the native head."""
    head = build_head("swat_geo", tables)                # as build_ranker configures it
    native_head = NativeKernelGeometricHead.from_config(head.get_config())
    return compiled_ranker_with_head(native_head, frame, columns, True), head, native_head


def time_variants(args, frame, columns, batch, grid_spec):
    tables = grid_tables(frame, grid_spec, args.time_scale)
    steps = {"R": [], "A": [], "B": []}
    for _ in range(args.instances):
        steps["R"].append(make_step(build_compiled_ranker("regression", tables, frame, columns,
                                                          False, True), batch))
        steps["A"].append(make_step(build_compiled_ranker("swat_geo", tables, frame, columns,
                                                          False, True), batch))
        native_model, head, native_head = build_native_ranker(tables, frame, columns)
        steps["B"].append(make_step(native_model, batch))
    print(f"\n{grid_spec}: K = {head.num_logits} logits (α = {head.time_scale:g}), batch "
          f"{args.batch_size}, training metrics on, {args.rounds} rounds × {args.instances} "
          f"instances × {args.steps} steps")
    check_against_head(head, native_head)
    for step in steps["R"] + steps["A"] + steps["B"]:      # warm up past the first calls
        time_block(step, args.steps)
    pairs = [("A", "R"), ("B", "R"), ("B", "A")]
    ratios = {pair: [] for pair in pairs}
    rng = np.random.default_rng(0)
    for round_index in range(args.rounds):
        order = [(pair, i) for pair in pairs for i in range(args.instances)]
        rng.shuffle(order)
        for (first, second), i in order:
            time_a, time_b = time_pair(steps[first][i],
                                       steps[second][(i + round_index) % args.instances],
                                       args.steps, rng)
            ratios[(first, second)].append(time_a[0] / time_b[0])
    names = {"A": "SWaT-Geo (compiled loss)", "B": "SWaT-Geo (native op)", "R": "regression"}
    print("| pair | paired median | 90 % interval |\n|---|---|---|")
    for first, second in pairs:
        values = ratios[(first, second)]
        low, high = median_interval(values, rng)
        print(f"| {names[first]} ÷ {names[second]} | {np.median(values):.3f} | "
              f"{low:.3f}–{high:.3f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid-spec", nargs="+", default=["uniform:1024", "uniform:256"])
    parser.add_argument("--time-scale", type=float, default=1000.0)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")
    with tempfile.TemporaryDirectory() as directory:
        NativeKernelGeometricHead.native_op = build_op(directory)
        frame = simulate_interactions(num_rows=args.rows, seed=0)
        columns = feature_columns(frame)
        batch = {name: tf.constant(values[:args.batch_size]) for name, values in columns.items()}
        for grid_spec in args.grid_spec:
            time_variants(args, frame, columns, batch, grid_spec)


if __name__ == "__main__":
    main()
