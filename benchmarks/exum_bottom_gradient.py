"""EXUM confidence-tower options against the same head without EXUM.

Trains each head on the same random splits (same seeds) without EXUM and
with EXUM in each of the `--arms`, at the head's default λ times each
`--lambdas` multiplier, and prints test MAE / XAUC as mean ± std over seeds
plus the paired differences EXUM − no EXUM (same seed). Arms:

  joint        the tower as in the EXUM paper (trained with the shared bottom)
  stopped      `stop_gradient_to_bottom=True`: the tower does not train the bottom
  joint_c0     `initial_confidence=--initial-confidence`: every c starts there
  stopped_c0   both
  default      the tower's current defaults

  python benchmarks/exum_bottom_gradient.py --methods swat_geo,cread --seeds 2 \\
      --rows 10000 --epochs 2 --output benchmarks/results/exum_bottom_gradient

`--data` trains on a `wt-data prepare` output instead of the simulator
(α of the count heads is chosen from the training labels, so labels of any
scale work).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")   # TFRS needs Keras 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the `compare` helpers

import pandas as pd  # noqa: E402

import wt_keras  # noqa: E402,F401  (checks the Keras version before TFRS loads)
from compare import data, execution  # noqa: E402
from compare.training import PreparedSplit, TIME_SCALE  # noqa: E402
from compare.variants import BASE_LABELS, MAIN_GRID_SPEC, Variant  # noqa: E402
from wt_keras.models import build_head  # noqa: E402



def arm_options(initial_confidence):
    """ConfidenceTower options of each arm (as hashable (name, value) pairs)."""
    return {"joint": (("stop_gradient_to_bottom", False), ("initial_confidence", None)),
            "stopped": (("stop_gradient_to_bottom", True), ("initial_confidence", None)),
            "joint_c0": (("stop_gradient_to_bottom", False),
                         ("initial_confidence", initial_confidence)),
            "stopped_c0": (("stop_gradient_to_bottom", True),
                           ("initial_confidence", initial_confidence)),
            "default": ()}


def plan(methods, seeds, multipliers, frame, arms, initial_confidence):
    tasks, rows = [], []
    for seed in range(seeds):
        tables = PreparedSplit.from_frame(frame, seed).tables(MAIN_GRID_SPEC)
        for method in methods:
            default = build_head(method, tables, TIME_SCALE).confidence_penalty
            options = arm_options(initial_confidence)
            for arm in ("none",) + tuple(arms):
                exum = arm != "none"
                for multiplier in (multipliers if exum else (float("nan"),)):
                    penalty = default * multiplier if exum else None
                    tasks.append((Variant(BASE_LABELS[method], method, exum=exum,
                                          confidence_penalty=penalty,
                                          tower_options=options[arm] if exum else ()), seed))
                    rows.append({"method": method, "arm": arm, "lambda_multiplier": multiplier,
                                 "confidence_penalty": penalty if exum else float("nan"),
                                 "seed": seed})
    return tasks, rows


def summarise(runs):
    """Mean ± std over seeds and the paired Δ = EXUM − no EXUM (same seed)."""
    base = runs[runs.arm == "none"].set_index(["method", "seed"])[["mae", "xauc"]]
    exum = runs[runs.arm != "none"].join(base, on=["method", "seed"], rsuffix="_none")
    exum["d_mae"] = exum["mae"] - exum["mae_none"]
    exum["d_xauc"] = exum["xauc"] - exum["xauc_none"]
    keys = ["method", "arm", "lambda_multiplier"]
    summary = runs.fillna({"lambda_multiplier": 0.0}).groupby(keys).agg(
        mae_mean=("mae", "mean"), mae_std=("mae", "std"), xauc_mean=("xauc", "mean"),
        xauc_std=("xauc", "std"), test_confidence=("test_confidence", "mean"))
    paired = exum.groupby(keys).agg(d_mae_mean=("d_mae", "mean"), d_mae_std=("d_mae", "std"),
                                    d_xauc_mean=("d_xauc", "mean"),
                                    d_xauc_std=("d_xauc", "std"))
    return summary.join(paired).reset_index()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="swat_geo,cread")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--data", help="interactions CSV (or its folder) written by `wt-data "
                        "prepare`; default: the built-in simulator")
    parser.add_argument("--rows", type=int, default=10_000,
                        help="simulated rows, or rows sampled from --data (0 = all)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lambdas", default="1", help="λ multipliers of each head's default")
    parser.add_argument("--arms", default="joint,stopped", help="comma list (see above)")
    parser.add_argument("--initial-confidence", type=float, default=0.99)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/exum_bottom_gradient")
    args = parser.parse_args(argv)
    frame, source = data.load_frame(args.data, args.rows, seed=0)
    print(f"data: {source}, {len(frame):,} rows", flush=True)
    tasks, rows = plan(args.methods.split(","), args.seeds,
                       [float(m) for m in args.lambdas.split(",")], frame,
                       args.arms.split(","), args.initial_confidence)
    start = time.perf_counter()
    budget = {"epochs": args.epochs, "batch_size": 512, "learning_rate": 2e-3}
    results = execution.train_all(
        tasks, frame, budget, workers=args.workers,
        report=lambda i, task, result, elapsed: print(
            f"[{elapsed:6.0f}s] {rows[i]} mae={result['mae']:.2f} xauc={result['xauc']:.4f} "
            f"c={result['test_confidence']:.3f}", flush=True))
    runs = pd.DataFrame([{**row, **{k: result[k] for k in ("mae", "xauc", "pearson",
                                                            "mean_ratio", "test_confidence")}}
                         for row, result in zip(rows, results)])
    summary = summarise(runs)
    os.makedirs(args.output, exist_ok=True)
    runs.to_csv(os.path.join(args.output, "runs.csv"), index=False)
    summary.to_csv(os.path.join(args.output, "summary.csv"), index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(4).to_string(index=False))
    print(f"{len(tasks)} trainings in {(time.perf_counter() - start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
