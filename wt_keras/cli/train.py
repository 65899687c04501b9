"""`wt-train`: train one watch-time method and print its test metrics.

Runs on the built-in KuaiRand-grounded simulator by default, or on a CSV made
by `wt-data prepare` (columns user_id, video_id, watch_time_s, duration_s,
...). The full TFX pipeline is `wt-pipeline run`; this is the quick loop.
"""
import argparse
import os
import sys

import numpy as np
import pandas as pd

from wt_keras._quiet import quiet_command_line
from wt_keras.cli.flags import add_flags, flag_values
from wt_keras.methods import METHODS, get_method
from wt_keras.training_settings import TrainingSettings

REQUIRED_COLUMNS = ("user_id", "video_id", "watch_time_s", "duration_s")


# Flags of the shared training settings (`wt_keras.training_settings`), in --help order.
TRAINING_FLAGS = ("seed", "method", "exum", "confidence_penalty", "grid_spec", "time_scale",
                  "point_estimate", "epochs", "batch_size", "learning_rate", "train_metrics")
SIMULATED_ROWS = 100_000


def _parser():
    parser = argparse.ArgumentParser(prog="wt-train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="CSV from `wt-data prepare` (default: simulate)")
    parser.add_argument("--rows", type=int, default=SIMULATED_ROWS,
                        help="simulated rows (default %(default)s)")
    # --method is checked by `_train` (a one-line error, like every other bad setting).
    add_flags(parser, TrainingSettings, TRAINING_FLAGS, overrides={"method": {"choices": None}})
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up logs and full tracebacks")
    return parser


class DataError(ValueError):
    """The --data file cannot be trained on; the message says why and how to fix it."""


def _resolve_data_path(path):
    if os.path.isdir(path):
        inside = os.path.join(path, "interactions.csv")
        if os.path.isfile(inside):
            return inside
        raise DataError(f"--data {path} is a folder without interactions.csv; pass the CSV "
                        "file that `wt-data prepare` wrote.")
    if not os.path.exists(path):
        raise DataError(f"--data {path} does not exist; pass the interactions.csv that "
                        "`wt-data prepare` wrote (or leave --data out to simulate data).")
    return path


def _refuse_rows(path, frame, column, bad, what, rule):
    """Raises `DataError` naming how many rows of `column` are bad and the first one's line."""
    first = int(np.flatnonzero(bad.to_numpy())[0])
    raise DataError(
        f"{path}: {int(bad.sum())} row(s) have a {column} that is {what} (first on line "
        f"{first + 2}: {frame[column].iloc[first]!r}); {rule}. Drop or repair those rows.")


def _check_labels(frame, path):
    """Watch times must be finite numbers >= 0 seconds; names the first bad line."""
    label = pd.to_numeric(frame["watch_time_s"], errors="coerce").astype(np.float64)
    for bad, what in ((label.isna() & frame["watch_time_s"].notna(), "not a number"),
                      (frame["watch_time_s"].isna(), "empty"),
                      (np.isinf(label), "inf"),
                      (label < 0, "negative")):
        if bad.any():
            _refuse_rows(path, frame, "watch_time_s", bad, what,
                         "watch times must be finite seconds >= 0")
    frame["watch_time_s"] = label
    duration = pd.to_numeric(frame["duration_s"], errors="coerce").astype(np.float64)
    bad = ~np.isfinite(duration) | (duration <= 0)
    if bad.any():
        _refuse_rows(path, frame, "duration_s", bad, "missing, not a number, inf or <= 0",
                     "durations must be finite seconds > 0")
    frame["duration_s"] = duration
    return frame


def load_training_csv(path):
    """Reads a `wt-data prepare` CSV for training, or raises `DataError` in one line."""
    path = _resolve_data_path(path)
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; expected a CSV with the header "
                        f"{','.join(REQUIRED_COLUMNS)},... and data rows.") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text (byte {error.start} cannot be decoded); "
                        "re-export it as UTF-8 CSV.") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise DataError(f"{path} is not a readable CSV: "
                        f"{str(error).splitlines()[0]}") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks columns {missing}; convert raw logs with "
                        "`wt-data prepare` first.")
    if len(frame) < 2:
        raise DataError(f"{path} has {len(frame)} data row(s) under its header; training "
                        "needs data rows (is the file cut short or only a header?).")
    return _check_labels(frame, path)


def _load(args):
    if args.data:
        return load_training_csv(args.data)
    from wt_keras.data import simulate_interactions
    return simulate_interactions(num_rows=args.rows, seed=args.seed)


def main(argv=None):
    quiet_command_line(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        return _train(args)
    except OSError as error:   # e.g. a --data file we may not read
        print(f"wt-train: error: cannot read {error.filename or args.data}: "
              f"{error.strerror or error}", file=sys.stderr)
        return 2
    except (DataError, ValueError) as error:
        if args.verbose:
            raise
        print(f"wt-train: error: {str(error).splitlines()[0] if str(error) else error}",
              file=sys.stderr)
        return 2


def _train(args):
    try:
        method = get_method(args.method)
    except ValueError:
        raise ValueError(f"unknown --method {args.method!r}; choose one of "
                         f"{', '.join(METHODS)}") from None
    frame = _load(args)   # before TensorFlow loads: data errors come in a second
    import wt_keras  # noqa: F401  (selects Keras 2 before TensorFlow loads)
    from wt_keras import metrics
    from wt_keras.models import parse_point_estimate
    from wt_keras.models.experiment import fit_and_evaluate, random_split
    try:
        point_estimate = parse_point_estimate(args.point_estimate)
    except ValueError as error:
        raise ValueError(f"--point-estimate: {error}") from None
    if point_estimate != "mean" and not method.has_distribution:
        raise ValueError(f"--point-estimate {args.point_estimate} needs a head with a "
                         f"distribution; {args.method} predicts a single number: use "
                         "--point-estimate mean.")
    train, test = random_split(frame, seed=args.seed)
    print(f"data: {len(frame)} rows ({'simulated' if not args.data else args.data}), "
          f"train {len(train)}, test {len(test)}")
    settings = flag_values(args, TrainingSettings, TRAINING_FLAGS)
    settings["point_estimate"] = point_estimate
    result = fit_and_evaluate(settings.pop("method"), train, test, verbose=2, **settings)
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
