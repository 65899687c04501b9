"""Train-step time of each head ÷ the squared-error regression head.

Every method runs on the same WatchTimeRanker (same features, embeddings and
shared bottom [128, 64, 32]) and the same batch; only the head (and, for the
EXUM rows, the confidence tower) differs. Each round visits the methods in a
shuffled order and times every method right next to its baseline (random
order within the pair): the regression head on the same ranker, i.e.
"regression + EXUM" for the EXUM rows, whose ranker carries the confidence
tower. The goal column uses the median over rounds of these paired ratios,
which cancels slow drifts of a shared machine. Goal: ≤ 1.10 for every head.
Two identically built rankers can differ by up to ~9 % in step time, for
good (measured on 2 cores: four regression rankers of one seed read
11.9–13.0 ms over 20 shuffled rounds), so every ranker is built
`--instances` times and each instance of a method is paired with each
instance of its baseline in turn.
The CPU-time column is the same paired ratio of the process's CPU time (summed
over TF's threads): the cost of a step, which other load on a shared
machine disturbs far less than its wall time. The last column is a 90 %
bootstrap interval of the paired median (the pairs resampled): how far this
run's median could move, which says whether a row beside the goal is over it
or only at the line. It does not cover what differs from run to run on a
shared host (repeated runs of one code have moved by ±0.04–0.05).

`--grid-spec` times the heads at other numbers of buckets K, one table per
spec: SWaT-Binom, SWaT-Geo and ordinal use the spec's endpoints, CREAD gets
M = K buckets too (SWaT-Geo's K is what survives integerisation at
`--time-scale` α). The goals there: ≤ 1.10 at K ≈ 256, ≤ 1.25 at K ≈ 1024.

`--floor` adds a row "floor": a head with as many logits as the grid's SWaT-Geo and the
cheapest loss there is (½ (mean z − T)², through the same compiled loss path and custom
gradient). It costs what any head with that many logits costs before its own mathematics:
the projection to K logits, its backward matmuls and the compiled call.

`--train-metrics on off` prints each table twice: with the MAE/Pearson metrics updated on
every training batch (the Keras default, which needs the head's E[T | x] in every step) and
with `WatchTimeRanker(train_metrics=False)`, a step of loss and gradient only.

    python benchmarks/heads_train_step.py [--rows 50000] [--batch-size 512] [--rounds 30]
    python benchmarks/heads_train_step.py --grid-spec uniform:16 uniform:64 uniform:256 \
        uniform:1024 --time-scale 1000 --methods swat_geo swat_binom ordinal cread
"""
import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import wt_keras  # noqa: E402,F401
from wt_keras.data import simulate_interactions  # noqa: E402
from wt_keras.heads.base import WatchTimeHead  # noqa: E402
from wt_keras.models import METHODS, bucket_tables, build_ranker  # noqa: E402
from wt_keras.models.experiment import feature_columns  # noqa: E402
from wt_keras.models.factory import default_features  # noqa: E402
from wt_keras.models.ranker import WatchTimeRanker  # noqa: E402

EXUM_METHODS = ("regression", "d2q", "cread", "swat_binom", "swat_geo")


class FloorHead(WatchTimeHead):
    """K logits and the cheapest loss: ½ (mean_k z_k − T)², E[T | x] = mean_k z_k.

    Only a yardstick for the benchmark (`--floor`): with K > 1 logits its loss runs
    through the heads' compiled path like every bucket head's, so its step costs the
    projection to K logits, the backward matmuls and the compiled call, and almost
    nothing else.
    """

    has_distribution = False

    def _likelihood_loss(self, watch_time, logits, **context):
        return 0.5 * tf.square(tf.reduce_mean(logits, -1) - watch_time)

    def expected_value(self, logits, **context):
        return tf.reduce_mean(self._check_logits(logits), -1)

    def _intercept_logits(self, watch_time, **context):
        return [float(np.mean(watch_time))] * self.num_logits


def time_block(step, num_steps):
    """(wall, CPU) mean seconds per step over `num_steps` back-to-back calls.

    CPU time is this process's, summed over TF's threads: the work a step
    costs, which other load on a shared machine disturbs far less than the
    wall time it takes.
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(num_steps):
        step()
    return ((time.perf_counter() - start) / num_steps,
            (time.process_time() - start_cpu) / num_steps)


def time_pair(step, partner, num_steps, rng):
    """`time_block` of both steps, back to back in random order: (step's, partner's)."""
    if rng.random() < 0.5:
        step_time = time_block(step, num_steps)
        return step_time, time_block(partner, num_steps)
    partner_time = time_block(partner, num_steps)
    return time_block(step, num_steps), partner_time


def make_step(model, batch):
    @tf.function
    def step():
        return model.train_step(batch)
    step()                                           # trace
    return step


def grid_tables(frame, grid_spec, time_scale, cread_follows_grid=True):
    """The bucket tables of one grid spec; with `cread_follows_grid`, CREAD gets M = K too.

    The boundaries carry the benchmark's α: it is the heads' only source of α.
    """
    watch_time, duration = frame["watch_time_s"].to_numpy(), frame["duration_s"].to_numpy()
    tables = bucket_tables(watch_time, duration, grid_spec=grid_spec, time_scale=time_scale)
    if cread_follows_grid:
        tables = bucket_tables(watch_time, duration, grid_spec=grid_spec, time_scale=time_scale,
                               cread_num_buckets=tables.num_buckets)
    return tables


def build_compiled_ranker(method, tables, frame, columns, exum, train_metrics):
    """A ranker as every benchmark row times it: seed 0, adapted to the data, Adam(1e-3).

    `method` "floor": the `FloorHead` with as many logits as SWaT-Geo at these tables.
    """
    if method == "floor":
        return compiled_ranker_with_head(FloorHead(tables.num_buckets + 1), frame, columns,
                                         train_metrics)
    tf.keras.utils.set_random_seed(0)
    model = build_ranker(method, tables, frame.columns, exum=exum, train_metrics=train_metrics)
    return _adapted_and_compiled(model, columns)


def compiled_ranker_with_head(head, frame, columns, train_metrics):
    """`build_compiled_ranker`'s ranker (no EXUM) around a head built by the caller."""
    tf.keras.utils.set_random_seed(0)
    categorical, dense = default_features(frame.columns)
    model = WatchTimeRanker(head, categorical, dense, train_metrics=train_metrics)
    return _adapted_and_compiled(model, columns)


def _adapted_and_compiled(model, columns):
    model.adapt(columns)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    return model


def time_heads(args, frame, columns, grid_spec, train_metrics):
    """Prints one table: each head's step time ÷ the regression step, for one grid spec."""
    tables = grid_tables(frame, grid_spec, args.time_scale,
                         cread_follows_grid=args.grid_spec is not None)
    batch = {k: tf.constant(v[:args.batch_size]) for k, v in columns.items()}
    methods = (["regression"] + [m for m in METHODS if m in args.methods and m != "regression"]
               + (["floor"] if args.floor else []))
    variants = ([(m, False) for m in methods]
                + [(m, True) for m in EXUM_METHODS if m in methods])
    steps, widths = {}, {}                           # (method, exum) -> one step per instance
    for method, exum in variants:
        steps[(method, exum)] = []
        for _ in range(args.instances):
            model = build_compiled_ranker(method, tables, frame, columns, exum, train_metrics)
            steps[(method, exum)].append(make_step(model, batch))
        widths[method] = model.head.num_logits

    # The first call of each step after all rankers exist is up to 50x slower than the rest
    # (one-off runtime set-up); one untimed pass keeps it out of round 1.
    for instances in steps.values():
        for step in instances:
            step()
    timings = {key: [] for key in steps}
    paired = {key: [] for key in steps}              # per-pair ratio to the baseline
    paired_cpu = {key: [] for key in steps}          # the same with CPU time
    order = [(key, i) for key in steps for i in range(args.instances)]
    rng = np.random.default_rng(0)
    for round_index in range(args.rounds):
        rng.shuffle(order)                           # no method always runs first or last
        for key, instance in order:
            step = steps[key][instance]
            baseline_key = ("regression", key[1])    # same ranker: with or without the tower
            if key == baseline_key:
                timings[key].append(time_block(step, args.steps)[0])
                paired[key].append(1.0)
                paired_cpu[key].append(1.0)
                continue
            # Each method is timed right next to its baseline, in random order, so slow
            # drifts of a shared machine cancel in the ratio; instance i meets every
            # baseline instance in turn.
            partner = steps[baseline_key][(instance + round_index) % args.instances]
            method_time, partner_time = time_pair(step, partner, args.steps, rng)
            timings[key].append(method_time[0])
            paired[key].append(method_time[0] / partner_time[0])
            paired_cpu[key].append(method_time[1] / partner_time[1])
    baseline = np.median(timings[("regression", False)])
    goal = goal_for(tables.num_buckets) if args.grid_spec is not None else 1.10
    print(f"rows {args.rows}, batch {args.batch_size}, K = {tables.num_buckets} "
          f"({grid_spec}), CREAD M = {tables.cread_num_buckets}, "
          f"D2Q groups = {tables.num_groups}, α = {tables.time_scale:g}, "
          f"training metrics {'on' if train_metrics else 'off'}, "
          f"{args.rounds} rounds × {args.instances} instances × {args.steps} steps")
    print("| method | logits | median step (ms) | ÷ regression | ÷ regression on the same ranker, "
          f"paired | goal ≤ {goal:.2f} | the same, CPU time | paired, 90 % interval |")
    print("|---|---|---|---|---|---|---|---|")
    interval_rng = np.random.default_rng(1)
    for (method, exum), values in timings.items():
        ratio = np.median(values) / baseline
        same_ranker = float(np.median(paired[(method, exum)]))
        same_ranker_cpu = float(np.median(paired_cpu[(method, exum)]))
        low, high = median_interval(paired[(method, exum)], interval_rng)
        name = method + (" + EXUM" if exum else "")
        print(f"| {name} | {widths[method]} | {1e3 * np.median(values):.2f} | {ratio:.3f} | "
              f"{same_ranker:.3f} | {'ok' if same_ranker <= goal else 'over'} | "
              f"{same_ranker_cpu:.3f} | {low:.3f}–{high:.3f} |")
    print()


def median_interval(values, rng, level=0.90, resamples=2000):
    """(low, high): a bootstrap interval at `level` for the median of `values`."""
    values = np.asarray(values, np.float64)
    medians = np.median(rng.choice(values, size=(resamples, values.size)), axis=1)
    low, high = np.quantile(medians, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def goal_for(num_buckets):
    """The issue's goals: ≤ 1.10 up to K ≈ 256, ≤ 1.25 at K ≈ 1024."""
    return 1.10 if num_buckets <= 384 else 1.25


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=10, help="steps per method per round")
    parser.add_argument("--instances", type=int, default=3,
                        help="identically built rankers per method, each paired with every "
                             "baseline instance in turn (one traced ranker can be ~9%% faster "
                             "or slower than another for good)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="heads to time (the regression baselines are always included); "
                             "e.g. --methods cread swat_geo to re-time the slowest heads")
    parser.add_argument("--grid-spec", nargs="+", default=None,
                        help="one table per grid spec, e.g. uniform:16 uniform:64 uniform:256 "
                             "uniform:1024 (default: one table at swat_choice_4, K = 68)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="α of the count heads (SWaT-Geo, geometric): fine grids need "
                             "α ≥ 100 to keep K distinct integer endpoints")
    parser.add_argument("--floor", action="store_true",
                        help="add a head with K logits and the cheapest loss: what any head with "
                             "that many logits costs before its own mathematics")
    parser.add_argument("--train-metrics", nargs="+", choices=("on", "off"), default=["on"],
                        help="whether train steps update the MAE/Pearson metrics "
                             "(WatchTimeRanker(train_metrics=...)); 'on off' prints both tables")
    args = parser.parse_args()

    # One tf.function per ranker is the point here; TF's "retracing" warning about it is noise.
    tf.get_logger().setLevel("ERROR")
    frame = simulate_interactions(num_rows=args.rows, seed=0)
    columns = feature_columns(frame)
    for grid_spec in args.grid_spec or ["swat_choice_4"]:
        for mode in args.train_metrics:
            time_heads(args, frame, columns, grid_spec, train_metrics=mode == "on")


if __name__ == "__main__":
    main()
