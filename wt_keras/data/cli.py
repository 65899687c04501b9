"""``wt-data``: prepare public datasets or write the simulated default data.

Examples::

  wt-data prepare kuairand --input ~/KuaiRand-1K/data --output data/kuairand
  wt-data prepare cikm16 --input ~/dataset-train-diginetica --output data/cikm16
  wt-data simulate --output data/simulated --rows 200000 --seed 0
"""
import argparse
import sys
import time

from wt_keras.data import kuairand, simulator

# CLI flag -> (converter keyword, datasets that accept it).
_DATASET_OPTIONS = {
    "variant": ("variant", {"kuairand"}),
    "matrix": ("matrix", {"kuairec"}),
    "source": ("source", {"cikm16"}),
    "max_dwell_ms": ("max_dwell_ms", {"cikm16"}),
    "min_views": ("min_views", {"cikm16"}),
    "max_items": ("max_items", {"cikm16"}),
    "max_play_ratio": ("max_play_ratio", {"wechat"}),
}


def _parser():
    parser = argparse.ArgumentParser(prog="wt-data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser(
        "prepare", help="convert a public dataset to OUTPUT/interactions.csv",
        description="Convert a public dataset (its original files) to the pipeline's "
                    "CSV plus metadata.json and README.md.")
    prepare.add_argument("dataset", choices=["kuairand", "kuairec", "cikm16", "wechat"])
    prepare.add_argument("--input", required=True, help="folder with the original files")
    prepare.add_argument("--output", required=True, help="folder to write into")
    prepare.add_argument("--variant", choices=["1k", "pure", "27k"],
                         help="kuairand: which release (default: the one found)")
    prepare.add_argument("--matrix", choices=["auto", "small", "big", "both"],
                         help="kuairec: which interaction matrix (default auto = big if present)")
    prepare.add_argument("--source", choices=["queries", "item-views"],
                         help="cikm16: label source: queries = dwell on the search result "
                              "page, train-queries.csv (default, as TPM and SWaT); item-views "
                              "= session dwell from train-item-views.csv")
    prepare.add_argument("--max-dwell-ms", type=float,
                         help="cikm16: drop rows with dwell >= this (default 6000, TPM)")
    prepare.add_argument("--min-views", type=int,
                         help="cikm16 --source item-views: drop sessions with fewer item "
                              "views (default 1)")
    prepare.add_argument("--max-items", type=int,
                         help="cikm16: ids kept per id list (search tokens, result items; "
                              "default 10)")
    prepare.add_argument("--max-play-ratio", type=float,
                         help="wechat: drop play >= this x duration (default 10, DADF)")

    simulate = commands.add_parser(
        "simulate", help="write the seeded simulated data (the built-in default)")
    simulate.add_argument("--output", required=True,
                          help="a .csv path, or a folder that receives interactions.csv")
    simulate.add_argument("--rows", type=int, default=200_000)
    simulate.add_argument("--users", type=int, default=5_000)
    simulate.add_argument("--videos", type=int, default=4_000)
    simulate.add_argument("--seed", type=int, default=0)
    return parser


def _prepare(args):
    from wt_keras.data import formats  # imported here: `simulate` does not need it
    options = {}
    for flag, (keyword, datasets) in _DATASET_OPTIONS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if args.dataset not in datasets:
            print(f"wt-data: error: --{flag.replace('_', '-')} applies to "
                  f"{', '.join(sorted(datasets))}, not {args.dataset}.", file=sys.stderr)
            return 2
        options[keyword] = value
    try:
        report = formats.prepare_dataset(args.dataset, args.input, args.output, **options)
    except (formats.DatasetFormatError, ValueError) as error:
        print(f"wt-data: error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"wrote {args.output}/interactions.csv, metadata.json, README.md")
    return 0


def _simulate(args):
    start = time.perf_counter()
    try:
        path = simulator.write_simulated_csv(args.output, num_rows=args.rows,
                                             num_users=args.users,
                                             num_videos=args.videos, seed=args.seed)
    except ValueError as error:
        print(f"wt-data: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.rows:,} simulated rows to {path} in "
          f"{time.perf_counter() - start:.1f} s (seed {args.seed}).\n"
          f"It contains real values from {kuairand.ATTRIBUTION}")
    return 0


def main(argv=None):
    """Entry point of the ``wt-data`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    return _prepare(args) if args.command == "prepare" else _simulate(args)


if __name__ == "__main__":
    sys.exit(main())
