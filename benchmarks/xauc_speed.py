"""Speed of exact XAUC: O(n log n) `wt_keras.metrics.xauc` vs O(n^2) brute force.

Runs on one CPU core (thread pools limited to 1 and, where the OS allows, the
process pinned to a single core) and prints median wall times. At n = 1e6 XAUC
is timed in alternation with one `np.argsort` of the predictions (the floor of
any sort-based exact method); the goal is XAUC ÷ argsort ≤ 3:

  python benchmarks/xauc_speed.py [--repeats 5]
"""
import argparse
import os

# Limit BLAS/OpenMP pools before numpy is imported: "one core" must mean one.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from wt_keras.metrics.ranking import xauc  # noqa: E402


def pin_to_one_core() -> str:
    """Pins this process to the first allowed core; returns a description."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this OS)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def brute_force_xauc(labels, predictions, rows_per_block=500):
    """Vectorised O(n^2) XAUC: compares every pair, a block of rows at a time."""
    agreement_x2 = valid_pairs = 0
    for start in range(0, labels.size, rows_per_block):
        block = slice(start, start + rows_per_block)
        label_sign = np.sign(labels[block, None] - labels[None, :])
        prediction_sign = np.sign(predictions[block, None] - predictions[None, :])
        valid = label_sign != 0
        # Each unordered pair appears twice (i, j) and (j, i); both agree.
        agreement_x2 += int(((1 + label_sign * prediction_sign) * valid).sum())
        valid_pairs += int(valid.sum())
    return agreement_x2 / (2 * valid_pairs)


def median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def watch_time_data(n, seed):
    """Exponential watch times rounded to seconds (many label ties), noisy scores."""
    rng = np.random.default_rng(seed)
    labels = np.round(rng.exponential(30.0, n))
    predictions = labels + rng.normal(0.0, 20.0, n)
    return labels, predictions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"XAUC speed, one core ({pin_to_one_core()}), median of "
          f"{args.repeats} runs\n")

    labels, predictions = watch_time_data(1_000_000, seed=0)
    xauc(labels[:1000], predictions[:1000])  # warm-up (imports, page faults)
    ratios, large_times, sort_times = [], [], []
    for _ in range(args.repeats):
        # Side by side, so a busy machine slows both alike.
        sort_time, _ = median_seconds(lambda: np.argsort(predictions), 1)
        large_time, large_value = median_seconds(lambda: xauc(labels, predictions), 1)
        ratios.append(large_time / sort_time)
        large_times.append(large_time)
        sort_times.append(sort_time)
    large_time, sort_time = statistics.median(large_times), statistics.median(sort_times)
    ratio = statistics.median(ratios)

    labels, predictions = watch_time_data(5_000, seed=1)
    fast_time, fast_value = median_seconds(
        lambda: xauc(labels, predictions), args.repeats)
    brute_time, brute_value = median_seconds(
        lambda: brute_force_xauc(labels, predictions), args.repeats)

    header = f"{'n':>9}  {'method':<26} {'median s':>9}  {'XAUC':>18}"
    print(header)
    print("-" * len(header))
    print(f"{1_000_000:>9}  {'xauc, O(n log n)':<26} {large_time:>9.3f}  "
          f"{large_value:>18.15f}")
    print(f"{1_000_000:>9}  {'np.argsort(predictions)':<26} {sort_time:>9.3f}")
    print(f"{5_000:>9}  {'xauc, O(n log n)':<26} {fast_time:>9.4f}  "
          f"{fast_value:>18.15f}")
    print(f"{5_000:>9}  {'brute force, O(n^2) numpy':<26} {brute_time:>9.4f}  "
          f"{brute_value:>18.15f}")
    print()
    print(f"n = 1e6 XAUC ÷ argsort (median of paired runs): {ratio:.2f}, goal <= 3: "
          f"{'met' if ratio <= 3.0 else 'MISSED'}")
    print(f"n = 5,000 speed-up over brute force: {brute_time / fast_time:.0f}x")
    same = abs(fast_value - brute_value) <= 1e-12
    print(f"n = 5,000 same value as brute force: {'yes' if same else 'NO'} "
          f"(|difference| = {abs(fast_value - brute_value):.1e})")
    if not same:
        raise SystemExit("xauc disagrees with the brute force")


if __name__ == "__main__":
    main()
