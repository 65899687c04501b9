"""wt-pipeline: run the watch-time TFX pipeline locally, or compile it for Kubeflow.

  wt-pipeline run                      simulate the built-in data, run, push to
                                       ./saved_models/wt_keras/<version>/
  wt-pipeline run --data DIR           CSV (header row) or TFRecord tf.Example files
  wt-pipeline compile --target kubeflow --output pipeline.json
  --beam-arg=--runner=DataflowRunner   (repeatable) Beam options of every Beam component
"""
import argparse
import glob
import logging
import os
import sys

from wt_keras._quiet import quiet_command_line  # no TensorFlow: `wt_keras` loads lazily
from wt_keras.cli.flags import add_flags, flag_values

from pipelines.watch_time import configs, preflight, run_settings  # light: no TensorFlow

DEFAULT_ROWS = 150_000
SIMULATED_DIR = "simulated_data"


def _names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated column names")
    return names


# `PipelineConfig` fields exposed as flags of both commands, in --help order.
TRAINING_FLAGS = ("head", "exum", "confidence_penalty", "point_estimate", "grid_spec",
                  "time_scale", "epochs", "batch_size", "learning_rate", "train_metrics",
                  "mae_max_relative_increase", "xauc_max_decrease", "min_xauc",
                  "beam_pipeline_args", "model_name", "pipeline_name")
# Per command: flags whose default is "decide from the other flags", not the config's.
RUN_OVERRIDES = {
    "data_root": {"default": None, "help": "directory of CSV or TFRecord files (default: "
                                           "simulate the built-in data into the work dir)"},
    "input_format": {"default": None, "help": "format of --data (default: csv if it holds "
                                              ".csv files; the built-in data is written as "
                                              "tf.Example TFRecords)"},
}
COMPILE_OVERRIDES = {
    "data_root": {"default": None,
                  "help": "input directory on the cluster (default <root>/data)"},
}


def _training_flags(parser):
    group = parser.add_argument_group("model and training")
    add_flags(group, configs.PipelineConfig, TRAINING_FLAGS)


def build_parser():
    parser = argparse.ArgumentParser(prog="wt-pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,compile}")
    run = commands.add_parser("run", help="run the pipeline locally (LocalDagRunner)",
                              description="Run the whole pipeline locally and push a blessed "
                                          "model to <saved-models>/<model-name>/<version>/.")
    add_flags(run, configs.PipelineConfig, ("data_root", "input_format", "input_pattern"),
              RUN_OVERRIDES)
    run.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                     help=f"rows of simulated data (default {DEFAULT_ROWS})")
    add_flags(run, configs.PipelineConfig, ("seed",))
    run.add_argument("--work-dir", default=configs.WORK_DIR,
                     help="pipeline outputs and ML Metadata (default ./%(default)s)")
    add_flags(run, configs.PipelineConfig, ("serving_model_dir", "enable_cache"))
    checks = run.add_argument_group("input checks (CSV, before any Beam work)")
    checks.add_argument("--features", type=_names,
                        help="comma-separated model inputs (default: the ids and features of "
                             "the data's metadata.json, else the known KuaiRand columns); "
                             "other columns are ignored with a warning")
    checks.add_argument("--allow-correlated-features", action="store_true",
                        help="train even when a feature's |correlation| with the label is "
                             "above 0.95 (by default a probable leak stops the run)")
    checks.add_argument("--outlier-policy", choices=("drop", "cap", "fail"), default="drop",
                        help="extreme labels (> 100 x the 99.99th percentile, or > "
                             "--max-play-ratio x duration): drop the rows, cap the labels, or "
                             "stop (default %(default)s)")
    checks.add_argument("--max-play-ratio", type=float,
                        help="labels above this x duration are extreme (default: the ratio "
                             "metadata.json records, else no ratio rule)")
    run.add_argument("--verbose", action="store_true", help="show TFX and Beam logs")
    _training_flags(run)
    compile_ = commands.add_parser("compile", help="compile for Kubeflow Pipelines v2",
                                   description="Write a KFP v2 PipelineJob JSON; no cluster "
                                               "is contacted.")
    compile_.add_argument("--target", choices=("kubeflow",), default="kubeflow")
    compile_.add_argument("--output", default="pipeline.json", help="(default %(default)s)")
    compile_.add_argument("--image", default=None,
                          help="pipeline image built from the Dockerfile")
    compile_.add_argument("--root", default=None,
                          help="bucket prefix for data/, pipeline_root/ and saved_models/ "
                               "(e.g. gs://my-bucket/wt_keras)")
    add_flags(compile_, configs.PipelineConfig, ("data_root", "input_format", "seed"),
              COMPILE_OVERRIDES)
    vertex = compile_.add_argument_group(
        "multi-machine training on Vertex AI (default: train inside the pipeline step)")
    vertex.add_argument("--vertex-project",
                        help="GCP project: run the Trainer as a Vertex AI custom job "
                             "(TF_CONFIG → MultiWorkerMirroredStrategy)")
    vertex.add_argument("--vertex-region", default="us-central1")
    vertex.add_argument("--training-replicas", type=int, default=2,
                        help="machines of the training job: 1 chief + N-1 workers (default 2)")
    vertex.add_argument("--training-machine-type", default="n1-standard-8")
    _training_flags(compile_)
    return parser


def _common_settings(args):
    """The `PipelineConfig` settings both commands take from their flags."""
    return flag_values(args, configs.PipelineConfig, TRAINING_FLAGS + ("seed",))


# Written beside the data by `wt-data prepare`; never data.
_SIDE_FILES = (".json", ".md", ".txt")


def detect_input_format(data_dir):
    """'csv' when `data_dir` holds .csv files, else 'tfrecord' (tf.Example records)."""
    names = sorted(os.path.basename(path) for path in glob.glob(os.path.join(data_dir, "*"))
                   if os.path.isfile(path))
    if any(name.endswith(".csv") for name in names):
        return "csv"   # ExampleGen reads only *.csv then
    records = [name for name in names if not name.endswith(_SIDE_FILES)]
    if records and len(records) == len(names):
        return "tfrecord"
    raise SystemExit(f"error: {data_dir} holds {names or 'no files'}: pass a directory of .csv "
                     "files, or of TFRecord files only (or choose them with --input-pattern).")


def simulated_data_dir(work_dir, rows, seed):
    """Where the built-in data of `rows` rows and `seed` lives in the work dir."""
    return os.path.join(work_dir, SIMULATED_DIR, f"rows{rows}_seed{seed}")


# The built-in data as tf.Example records, already split: ImportExampleGen reads the two
# files as its splits, without the CSV parsing that costs CsvExampleGen most of its time
# (CSV stays for user data) and without serialising every record again to hash it.
SIMULATED_SPLITS = ("train.tfrecord", "eval.tfrecord")
SIMULATED_PATTERN = "*.tfrecord"


def ensure_simulated_data(directory, rows, seed, eval_fraction=0.2):
    """Simulates the default data once, split at random into train and eval files.

    Each row goes to eval with probability `eval_fraction` (0.2: ExampleGen's
    default 4:1 hash split), drawn with `seed`. Later runs reuse the files
    (and the cache).
    """
    paths = [os.path.join(directory, name) for name in SIMULATED_SPLITS]
    if all(os.path.exists(path) for path in paths):
        return
    # pylint: disable=import-outside-toplevel
    import numpy as np
    from wt_keras.data import simulate_interactions
    from wt_keras.data.tfrecord import write_tfrecord
    print(f"simulating {rows:,} rows of the built-in data into {directory}", flush=True)
    os.makedirs(directory, exist_ok=True)
    # `behavior` is the simulator's latent label: never part of the pipeline's input.
    frame = simulate_interactions(num_rows=rows, seed=seed).drop(columns=["behavior"])
    is_eval = np.random.default_rng([seed, 1]).random(len(frame)) < eval_fraction
    for path, rows_of_split in zip(paths, (~is_eval, is_eval)):
        # Atomic: a killed run never leaves half a file.
        write_tfrecord(frame[rows_of_split].reset_index(drop=True), path)


def command_run(args):
    if args.data and not os.path.isdir(args.data):
        raise SystemExit(f"error: --data {args.data} is not a directory; pass the directory "
                         "holding the CSV or TFRecord files.")
    run_settings.check_run_settings(rows=args.rows, saved_models=args.saved_models,
                                 work_dir=args.work_dir, max_play_ratio=args.max_play_ratio)
    data = args.data or simulated_data_dir(args.work_dir, args.rows, args.seed)
    if not args.data and args.input_format not in (None, "tfrecord"):
        raise SystemExit("error: the built-in data is written as tf.Example TFRecords; "
                         "--input-format applies to --data only.")
    input_format = args.input_format or (detect_input_format(data) if args.data else "tfrecord")
    input_pattern = args.input_pattern or (None if args.data else SIMULATED_PATTERN)
    config = configs.PipelineConfig(
        data_root=data, input_format=input_format, input_pattern=input_pattern,
        split_patterns=None if args.data else SIMULATED_SPLITS,
        pipeline_root=os.path.join(args.work_dir, "pipeline_root"),
        metadata_path=os.path.join(args.work_dir, "metadata.sqlite"),
        **flag_values(args, configs.PipelineConfig, ("serving_model_dir", "enable_cache")),
        **_common_settings(args))
    if not args.data:
        ensure_simulated_data(data, args.rows, args.seed)
    config, data_report = preflight.check_input(
        config, args.work_dir, explicit_features=args.features,
        allow_correlated=args.allow_correlated_features, outlier_policy=args.outlier_policy,
        max_play_ratio=args.max_play_ratio)
    print("\n".join(data_report), flush=True)
    # pylint: disable-next=import-outside-toplevel  (TFX loads only when running)
    from pipelines.watch_time import local_runner, run_report, validation
    if not args.verbose:   # progress lines and the summary only
        for name in ("apache_beam", "tensorflow"):
            logging.getLogger(name).setLevel(logging.ERROR)
    print(f"pipeline {config.pipeline_name}: data {data} ({config.input_format}), "
          f"head {config.head}{' + EXUM' if config.exum else ''}, grid {config.grid_spec}",
          flush=True)
    try:
        runs, summary, progress = local_runner.run(config, verbose=args.verbose)
    except validation.DataValidationError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 2
    summary["reliability_diagram"] = run_report.write_reliability_diagram(
        summary, os.path.join(args.work_dir, "reports"))
    print(run_report.format_summary(runs, summary, progress.wall_times, progress.order))
    print("\n".join(data_report))
    return 0


def command_compile(args):
    overrides = _common_settings(args)
    overrides["input_format"] = args.input_format
    if args.data:
        overrides["data_root"] = args.data
    configs.PipelineConfig(**overrides)   # fail on bad settings before importing TFX
    from pipelines.watch_time import kubeflow_runner  # pylint: disable=import-outside-toplevel
    root = args.root or kubeflow_runner.PLACEHOLDER_ROOT
    image = args.image or kubeflow_runner.DEFAULT_IMAGE
    if args.vertex_project:
        if args.training_replicas < 1:
            raise configs.ConfigError("--training-replicas must be >= 1.")
        overrides["vertex_training"] = {
            "project": args.vertex_project, "region": args.vertex_region,
            "replicas": args.training_replicas, "machine_type": args.training_machine_type,
            "image_uri": image}
    config = kubeflow_runner.kubeflow_config(root, **overrides)
    path = kubeflow_runner.compile_pipeline(config, args.output, image)
    print(f"wrote {path} (Kubeflow Pipelines v2 PipelineJob; image {image}, root {root})")
    if not args.root:
        print("note: paths point to the placeholder bucket; pass --root gs://<bucket>/<prefix>.")
    return 0


def main(argv=None):
    # Before TensorFlow is imported anywhere (here, TFX, Beam workers we spawn):
    # TFRS needs Keras 2, and library start-up noise would drown the progress output.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    quiet_command_line(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return command_run(args) if args.command == "run" else command_compile(args)
    except (configs.ConfigError, preflight.PreflightError) as error:   # says how to fix it
        for line in getattr(error, "report_lines", ()):
            print(line)
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
