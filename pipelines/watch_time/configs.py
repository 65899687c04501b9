"""Defaults and the one config object of the watch-time pipeline.

`PipelineConfig` holds everything `create_pipeline` needs: where data,
pipeline outputs and pushed models live, the bucket grid, the head and its
training knobs, the blessing thresholds and the Beam options. It is the one
declaration of these settings: each field carries its default and its
`--help` text (`wt_keras.cli.flags.setting`), the `wt-pipeline` flags are
generated from the fields, and the training settings it shares with
`wt-train` come from `wt_keras.training_settings`. Runners build one and pass
it on; the Trainer receives the training part as `custom_config`
(`trainer_custom_config`).
"""
import dataclasses
import math
import os
from typing import Dict, List, Optional, Tuple, Union

from wt_keras.cli.flags import setting
from wt_keras.methods import METHODS, NO_DISTRIBUTION_METHODS
from wt_keras.training_settings import shared_setting

# Kubeflow accepts only [a-z0-9][a-z0-9-]{0,127}.
PIPELINE_NAME = "wt-keras-watch-time"
MODEL_NAME = "wt_keras"
# Dotted path, not a module file: TFX then needs no wheel of user code, and the
# same import works in the Docker image where the package is installed.
RUN_FN = "pipelines.watch_time.trainer.run_fn"
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema",
                           "schema.pbtxt")
WORK_DIR = "tfx_pipeline_output"
SAVED_MODELS_DIR = "saved_models"
# DirectRunner on every local core; Dataflow/Flink/Spark users replace these.
LOCAL_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")
# With the defaults above, the Evaluator alone runs in one process: measured faster than
# two workers that each import TensorFlow and load the model (benchmarks/pipeline_scaling.py:
# 17.8 s vs 19.4 s at 1e6 rows, about 7 s vs 14 s at 1e5). Explicit --beam-arg values apply
# to it unchanged.
EVALUATOR_LOCAL_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
HEADS = tuple(METHODS)   # the method registry's names
NO_DISTRIBUTION_HEADS = NO_DISTRIBUTION_METHODS   # they predict one number: mean only
INPUT_FORMATS = ("csv", "tfrecord")
BASELINES = ("served", "latest_blessed")
# Files ExampleGen reads in `data_root`: `wt-data prepare` writes metadata.json and
# README.md beside interactions.csv, and they must not be read as data.
DEFAULT_INPUT_PATTERNS = {"csv": "*.csv", "tfrecord": "*"}


class ConfigError(ValueError):
    """A setting that can never work; the message says how to fix it."""


@dataclasses.dataclass
class PipelineConfig:
    """Pipeline, data, model, evaluation and execution settings.

    Attributes:
      data_root: directory of input files (CSV with a header row, or
        TFRecord files of tf.Example for `input_format="tfrecord"`).
      input_pattern: glob of the data files in `data_root`; None means
        DEFAULT_INPUT_PATTERNS[input_format].
      pipeline_root: where TFX writes component outputs.
      metadata_path: local MLMD SQLite file; None on Kubeflow (the cluster
        provides MLMD).
      serving_model_dir: TF Serving base path; pushes land in
        `<serving_model_dir>/<model_name>/<version>/`.
      schema_path: curated schema (the data contract checked before training).
      train_eval_buckets: hash buckets of the train/eval split in ExampleGen.
      split_patterns: (train, eval) globs in `data_root` of data that is
        already split (the built-in data); ExampleGen then reads them as its
        two splits and hashes nothing (`train_eval_buckets` is unused).
      grid_spec, time_scale, cread_num_buckets, d2q_num_groups, num_quantiles:
        BucketBoundaryGen settings; `time_scale` α > 0 also sets the count
        heads' integer units (1.0: whole seconds), as in `wt-train`; None
        (default) lets BucketBoundaryGen choose α on the training labels (the
        smallest power of ten keeping >= 90 % of the grid's buckets) and
        record it in bucket_boundaries.json, where the Trainer reads it.
      head: one of HEADS. exum: attach EXUM's confidence tower (training only).
      confidence_penalty: EXUM λ; None keeps the head's default.
      point_estimate: the served `watch_time`: "mean" (E[T | x]), "median"
        or a quantile level q in (0, 1) as a float or text ("0.25"); not
        "mean" needs a head with a distribution (not d2q or regression).
      quantile_levels: levels of the served `quantiles` output.
      features: optional {"categorical": {name: hash_bins}, "dense": [names]},
        or a list of declared column names typed automatically (what
        `wt-pipeline run` passes, see `features_selection`); None picks them
        from the schema (see `model_factory.select_features`).
      mae_max_relative_increase / mae_max_absolute_increase: a candidate is
        blessed only if its MAE is at most this much worse than the last
        baseline model's (relative: 0.02 = 2 %; absolute: seconds; None = off).
      xauc_max_decrease: a candidate is blessed only if its XAUC is at most
        this much (absolute) below the baseline's (None = off); MAE and XAUC
        must both hold.
      min_xauc: sanity bound every candidate (also the first) must pass.
      baseline: "served" compares with the model last pushed successfully
        (`served_baseline`); "latest_blessed" with TFX's latest blessed
        model (Kubeflow v2 compiles only that one).
      max_mae: optional sanity bound on MAE in seconds.
      vertex_training: optional {"project", "region", "replicas",
        "machine_type", "image_uri"}: run the Trainer as a Vertex AI custom
        job with `replicas` machines (1 chief + replicas-1 workers; Vertex
        sets TF_CONFIG, `trainer.run_fn` then trains with
        MultiWorkerMirroredStrategy). None trains inside the pipeline step.
      beam_pipeline_args: options of every Beam-powered component.
    """
    data_root: str = setting(
        "", flag="--data", help="directory of CSV (header row) or TFRecord (tf.Example) files")
    input_format: str = setting("csv", choices=INPUT_FORMATS,
                                help="format of the files in --data (default %(default)s)")
    input_pattern: Optional[str] = setting(
        None, help="glob of the data files in --data (default: *.csv for CSV, * for TFRecord)")
    pipeline_name: str = setting(PIPELINE_NAME, help="TFX pipeline name (default %(default)s)")
    model_name: str = setting(
        MODEL_NAME, help="pushes land in <saved-models>/<model-name>/<version>/ "
                         "(default %(default)s)")
    pipeline_root: str = setting(os.path.join(WORK_DIR, "pipeline_root"),
                                 help="where TFX writes component outputs")
    metadata_path: Optional[str] = setting(os.path.join(WORK_DIR, "metadata.sqlite"),
                                           help="local ML Metadata SQLite file")
    serving_model_dir: str = setting(SAVED_MODELS_DIR, flag="--saved-models",
                                     help="TF Serving base path (default ./%(default)s)")
    schema_path: str = setting(SCHEMA_PATH, help="curated schema: the data contract")
    label_key: str = setting("watch_time_s", help="label column (seconds)")
    duration_key: str = setting("duration_s", help="video duration column (seconds)")
    train_eval_buckets: Tuple[int, int] = setting(
        (4, 1), help="hash buckets of the train/eval split in ExampleGen")
    split_patterns: Optional[Tuple[str, str]] = setting(
        None, help="(train, eval) globs of data already split (ExampleGen hashes nothing)")
    # Bucket boundaries (BucketBoundaryGen).
    grid_spec: str = shared_setting("grid_spec")
    time_scale: Optional[float] = shared_setting("time_scale")
    cread_num_buckets: int = setting(50, help="CREAD's EAD buckets M")
    d2q_num_groups: int = setting(30, help="D2Q's duration groups")
    num_quantiles: int = setting(101, help="quantiles of each D2Q duration group")
    # Model and training (Trainer custom_config); the shared ones as `wt-train`'s.
    head: str = shared_setting("method")
    exum: bool = shared_setting("exum")
    confidence_penalty: Optional[float] = shared_setting("confidence_penalty")
    point_estimate: str = shared_setting("point_estimate")
    quantile_levels: Tuple[float, ...] = setting((0.1, 0.25, 0.5, 0.75, 0.9),
                                                 help="levels of the served quantiles")
    epochs: int = shared_setting("epochs")
    batch_size: int = shared_setting("batch_size")
    learning_rate: float = shared_setting("learning_rate")
    train_metrics: bool = shared_setting("train_metrics")
    embedding_dim: int = setting(16, help="embedding size of the categorical features")
    bottom_units: Tuple[int, ...] = setting((128, 64, 32), help="shared bottom layer sizes")
    features: Optional[Union[Dict, List[str]]] = setting(
        None, help="model inputs (None: chosen from the schema)")
    seed: int = shared_setting("seed")
    # Blessing (Evaluator).
    mae_max_relative_increase: Optional[float] = setting(
        0.02, help="bless only if MAE is at most this much worse than the served model's "
                   "(0.02 = 2%%)")
    mae_max_absolute_increase: Optional[float] = setting(
        None, help="bless only if MAE is at most this many seconds worse (None: off)")
    xauc_max_decrease: Optional[float] = setting(
        0.01, help="bless only if XAUC is at most this much below the served model's "
                   "(absolute; default %(default)s)")
    min_xauc: float = setting(0.55, help="sanity bound every model must pass, the first "
                                         "included")
    max_mae: Optional[float] = setting(None, help="sanity bound on MAE in seconds (None: off)")
    baseline: str = setting("served", choices=BASELINES,
                            help="model the candidate is compared with (default %(default)s)")
    # Execution.
    vertex_training: Optional[Dict] = setting(
        None, help="run the Trainer as a Vertex AI custom job (None: inside the step)")
    beam_pipeline_args: Tuple[str, ...] = setting(
        LOCAL_BEAM_ARGS, flag="--beam-arg", action="append", metavar="ARG",
        help="Beam pipeline option, repeatable; write it as --beam-arg=--runner=DataflowRunner "
             "(default: DirectRunner on all local cores)")
    enable_cache: bool = setting(True, flag="--no-cache", help="rerun every component")

    def __post_init__(self):
        self.check()

    def check(self):
        """Raises ConfigError, with the fix, for settings that can never work."""
        if self.head not in HEADS:
            raise ConfigError(f"head={self.head!r} is unknown; choose one of {', '.join(HEADS)}.")
        if self.input_format not in INPUT_FORMATS:
            raise ConfigError(f"input_format={self.input_format!r} is unknown; use 'csv' "
                             "(files with a header row) or 'tfrecord' (tf.Example records).")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.time_scale is not None and not (self.time_scale > 0
                                                and math.isfinite(self.time_scale)):
            raise ConfigError(f"time_scale (α, integer units per second of the count heads) must "
                              f"be a finite number > 0, got {self.time_scale}; 1.0 counts whole "
                              "seconds, None chooses it from the training labels.")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if self.split_patterns is not None and (
                len(self.split_patterns) != 2 or not all(self.split_patterns)):
            raise ConfigError("split_patterns must be two globs (train, eval) inside "
                              f"data_root, or None; got {self.split_patterns}.")
        if len(self.train_eval_buckets) != 2 or min(self.train_eval_buckets) < 1:
            raise ConfigError("train_eval_buckets must be two positive integers "
                             f"(train, eval), got {self.train_eval_buckets}.")
        if self.confidence_penalty is not None and self.confidence_penalty < 0:
            raise ConfigError(
                f"confidence_penalty (λ) must be >= 0, got {self.confidence_penalty}.")
        if self.baseline not in BASELINES:
            raise ConfigError(f"baseline={self.baseline!r} is unknown; use one of "
                              f"{', '.join(BASELINES)}.")
        if self.xauc_max_decrease is not None and not 0.0 <= self.xauc_max_decrease <= 1.0:
            raise ConfigError(f"xauc_max_decrease must be in [0, 1], got "
                              f"{self.xauc_max_decrease}.")
        estimate = str(self.point_estimate).strip().lower()
        if estimate not in ("mean", "median"):
            try:
                level = float(estimate)
            except ValueError:
                level = float("nan")
            if not 0.0 < level < 1.0:
                raise ConfigError(f"point_estimate={self.point_estimate!r}: use 'mean', 'median' "
                                  "or a quantile level q in (0, 1) such as 0.25.")
        if estimate != "mean" and self.head in NO_DISTRIBUTION_HEADS:
            raise ConfigError(f"point_estimate={self.point_estimate!r} needs a head with a "
                              f"distribution; {self.head} predicts one number: use 'mean'.")
        levels = list(self.quantile_levels)
        if not levels or any(not 0.0 < q < 1.0 for q in levels) or any(
                b <= a for a, b in zip(levels, levels[1:])):
            raise ConfigError(f"quantile_levels must be strictly increasing levels in (0, 1), "
                              f"got {self.quantile_levels}.")
        if not 0.0 <= self.min_xauc < 1.0:
            raise ConfigError(f"min_xauc must be in [0, 1), got {self.min_xauc}.")
        from wt_keras import buckets  # pylint: disable=import-outside-toplevel  (numpy only)
        try:
            levels = buckets.parse_grid_spec(self.grid_spec)
        except ValueError as error:
            raise ConfigError(f"grid_spec={self.grid_spec!r}: {error}") from None
        if len(levels) < 2:
            raise ConfigError(f"grid_spec={self.grid_spec!r} gives {len(levels)} bucket; the "
                             "heads need at least 2 (e.g. uniform:20).")

    @property
    def data_pattern(self):
        """The glob of input files inside `data_root`."""
        return self.input_pattern or DEFAULT_INPUT_PATTERNS[self.input_format]

    @property
    def push_base_directory(self):
        """`<serving_model_dir>/<model_name>`: TF Serving's base path of this model."""
        return os.path.join(self.serving_model_dir, self.model_name)

    def trainer_custom_config(self):
        """The JSON-ready training settings handed to `run_fn` as custom_config."""
        return {
            "label_key": self.label_key, "duration_key": self.duration_key,
            "model_name": self.model_name, "head": self.head, "exum": bool(self.exum),
            "confidence_penalty": self.confidence_penalty,
            "point_estimate": str(self.point_estimate).strip().lower(),
            "quantile_levels": [float(q) for q in self.quantile_levels],
            "grid_spec": self.grid_spec,
            "time_scale": None if self.time_scale is None else float(self.time_scale),
            "epochs": int(self.epochs), "batch_size": int(self.batch_size),
            "learning_rate": float(self.learning_rate),
            "train_metrics": bool(self.train_metrics),
            "embedding_dim": int(self.embedding_dim),
            "bottom_units": [int(units) for units in self.bottom_units],
            "features": self.features, "seed": int(self.seed),
        }

    def replace(self, **changes):
        """A copy with `changes` applied (and checked)."""
        return dataclasses.replace(self, **changes)
