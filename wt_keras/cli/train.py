"""`wt-train`: train one watch-time method and print its test metrics.

Runs on the built-in KuaiRand-grounded simulator by default, or on a CSV made
by `wt-data prepare` (columns user_id, video_id, watch_time_s, duration_s,
...). The full TFX pipeline is `wt-pipeline run`; this is the quick loop.
"""
import argparse
import sys

import numpy as np
import pandas as pd


def _parser():
    parser = argparse.ArgumentParser(prog="wt-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="CSV from `wt-data prepare` (default: simulate)")
    parser.add_argument("--rows", type=int, default=100_000, help="simulated rows (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="swat_geo",
                        help="regression, wlr, geometric, d2q, ordinal, cread, swat_binom, swat_geo, tpm")
    parser.add_argument("--exum", action="store_true", help="train with EXUM's confidence tower")
    parser.add_argument("--confidence-penalty", type=float, help="EXUM λ (default: the head's)")
    parser.add_argument("--grid-spec", default="uniform:20", help="bucket grid, e.g. swat_choice_4")
    parser.add_argument("--time-scale", type=float,
                        help="α: integer units per second of the count heads (default: the "
                             "smallest power of ten keeping >= 90%% of the grid's buckets)")
    parser.add_argument("--point-estimate", default="mean",
                        help="what the model predicts: mean (default), median, or a quantile "
                             "level q in (0, 1) such as 0.25; median/q need a head with a "
                             "distribution (not d2q, regression)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    return parser


def _load(args):
    if args.data:
        frame = pd.read_csv(args.data)
        missing = {"user_id", "video_id", "watch_time_s", "duration_s"} - set(frame.columns)
        if missing:
            sys.exit(f"error: {args.data} lacks columns {sorted(missing)}; "
                     "convert raw logs with `wt-data prepare` first.")
        return frame
    from wt_keras.data import simulate_interactions
    return simulate_interactions(num_rows=args.rows, seed=args.seed)


def main(argv=None):
    args = _parser().parse_args(argv)
    import wt_keras  # noqa: F401  (selects Keras 2 before TensorFlow loads)
    from wt_keras import metrics
    from wt_keras.models import METHODS, parse_point_estimate
    from wt_keras.models.experiment import fit_and_evaluate, random_split
    if args.method not in METHODS:
        sys.exit(f"error: unknown --method {args.method!r}; choose one of {', '.join(METHODS)}")
    try:
        point_estimate = parse_point_estimate(args.point_estimate)
    except ValueError as error:
        sys.exit(f"error: --point-estimate: {error}")
    if point_estimate != "mean" and args.method in ("d2q", "regression"):
        sys.exit(f"error: --point-estimate {args.point_estimate} needs a head with a distribution; "
                 f"{args.method} predicts a single number: use --point-estimate mean.")
    frame = _load(args)
    train, test = random_split(frame, seed=args.seed)
    print(f"data: {len(frame)} rows ({'simulated' if not args.data else args.data}), "
          f"train {len(train)}, test {len(test)}")
    result = fit_and_evaluate(args.method, train, test, exum=args.exum,
                              confidence_penalty=args.confidence_penalty, grid_spec=args.grid_spec,
                              time_scale=args.time_scale, epochs=args.epochs,
                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                              seed=args.seed, verbose=2, point_estimate=point_estimate)
    truth = test["watch_time_s"].to_numpy()
    constant = np.full_like(truth, np.median(train["watch_time_s"]))
    name = args.method + (" + EXUM" if args.exum else "")
    if point_estimate != "mean":
        name += f" ({point_estimate})"
    print(f"\n| model | MAE (s) | XAUC | XGAUC | Pearson | K | train s | mean c |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {name} | {result['mae']:.3f} | {result['xauc']:.4f} | {result['xgauc']:.4f} | "
          f"{result['pearson']:.4f} | {result['num_buckets']} | {result['train_seconds']:.1f} | "
          f"{result['mean_confidence']:.3f} |")
    print(f"| median of train (constant) | {metrics.mae(truth, constant):.3f} | 0.5 | 0.5 | – | – | – | – |")
    if result["guard_warnings"]:
        print(f"\nwarning: the predictions stopped tracking the training labels ("
              f"{result['guard_warnings']}); with --exum try a larger --confidence-penalty.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
