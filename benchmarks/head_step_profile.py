"""Where one head's train step spends its time: TensorFlow ops and XLA's fused loops.

Builds the ranker of `heads_train_step.py` for one method at one grid spec,
runs its train step under TensorFlow's profiler with XLA's per-instruction
trace events on (`--xla_cpu_enable_xprof_traceme`), and prints the time per
step of every TensorFlow op (the projection's matmuls, the rest of the
ranker) and of every XLA instruction (the compiled loss's fusions; a
`call.N` is one fused loop run on several threads). Use it next to
`heads_train_step.py` to see which part of a head grows with K; profile
the `regression` method for the baseline.

XLA instruction names repeat across compiled computations (the loss and,
for SWaT-Geo, the Horner sum of its logged mean both have a `fusion.2`):
`--dump-hlo DIR` writes each computation's optimised HLO, which says what
every name computes.

    python benchmarks/head_step_profile.py --method swat_geo --grid-spec uniform:1024 \
        --time-scale 1000 [--exum] [--train-metrics off] [--steps 200]
"""
import argparse
import collections
import glob
import os
import sys
import tempfile

_FLAGS = "--xla_cpu_enable_xprof_traceme=true"


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", default="swat_geo")
    parser.add_argument("--grid-spec", default="uniform:1024")
    parser.add_argument("--time-scale", type=float, default=1000.0)
    parser.add_argument("--exum", action="store_true")
    parser.add_argument("--train-metrics", choices=("on", "off"), default="on")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=200, help="profiled steps")
    parser.add_argument("--top", type=int, default=25, help="rows printed per table")
    parser.add_argument("--dump-hlo", default=None, help="directory for XLA's optimised HLO")
    return parser.parse_args()


def main():
    args = _parse_args()
    # XLA reads its flags once, when TensorFlow loads it: set them before the import.
    flags = [os.environ.get("XLA_FLAGS", ""), _FLAGS]
    if args.dump_hlo:
        flags.append(f"--xla_dump_to={args.dump_hlo} --xla_dump_hlo_as_text")
    os.environ["XLA_FLAGS"] = " ".join(flag for flag in flags if flag)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from heads_train_step import build_compiled_ranker, grid_tables, make_step
    from wt_keras.data import simulate_interactions
    from wt_keras.models.experiment import feature_columns

    tf.get_logger().setLevel("ERROR")
    frame = simulate_interactions(num_rows=args.rows, seed=0)
    columns = feature_columns(frame)
    tables = grid_tables(frame, args.grid_spec, args.time_scale)
    model = build_compiled_ranker(args.method, tables, frame, columns, args.exum,
                                  args.train_metrics == "on")
    step = make_step(model, {k: tf.constant(v[:args.batch_size]) for k, v in columns.items()})
    for _ in range(30):                                   # past the one-off set-up
        step()

    logdir = tempfile.mkdtemp(prefix="head_step_profile_")
    tf.profiler.experimental.start(logdir)
    for _ in range(args.steps):
        step()
    tf.profiler.experimental.stop()
    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as trace:
        space.ParseFromString(trace.read())

    tf_ops, xla_ops, step_ms = collections.Counter(), collections.Counter(), 0.0
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name, ms = names.get(event.metadata_id, "?"), event.duration_ps / 1e9
                if line.name.startswith("host_executor"):
                    xla_ops[name] += ms
                elif line.name.startswith("tf_Compute") and not name.startswith("Executor"):
                    tf_ops[name] += ms
                elif name == "KernelAndDeviceFunc::Run":      # the caller's thread: one a step
                    step_ms += ms
    print(f"{args.method}{' + EXUM' if args.exum else ''}, {args.grid_spec} (K = "
          f"{model.head.num_logits} logits), training metrics {args.train_metrics}, batch "
          f"{args.batch_size}: {step_ms / args.steps:.3f} ms a step (profiled, {args.steps} steps)")
    for title, table in (("TensorFlow ops", tf_ops), ("XLA instructions", xla_ops)):
        print(f"\n{title}: {sum(table.values()) / args.steps:.3f} ms a step in all "
              "(summed over threads)")
        for name, ms in table.most_common(args.top):
            print(f"  {ms / args.steps:7.3f} ms  {name[:100]}")


if __name__ == "__main__":
    main()
