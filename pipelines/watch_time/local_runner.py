"""Runs the pipeline locally with LocalDagRunner and reports progress per component.

LocalDagRunner runs the components one after the other in this process;
Beam components use the DirectRunner with the pipeline's
`beam_pipeline_args` (all local cores by default). ML Metadata lives in a
SQLite file, so a second run reuses every component whose inputs and
settings did not change (TFX caching).

This module only runs a `PipelineConfig`; the command line around it is
`wt-pipeline run` (`pipelines.watch_time.cli`), which imports it, never the
other way round.
"""
import logging
import os
import re
import sys
import time

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
import wt_keras  # noqa: F401  isort: skip

from absl import logging as absl_logging
from tfx import v1 as tfx

from pipelines.watch_time import pipeline as wt_pipeline
from pipelines.watch_time import preflight, run_report

# LocalDagRunner logs these two lines around every component (via absl).
_STARTED = re.compile(r"Component (\S+) is running\.")
_FINISHED = re.compile(r"Component (\S+) is finished\.")


class ProgressHandler(logging.Handler):
    """Turns LocalDagRunner's log lines into one progress line per component."""

    def __init__(self, stream=None):
        super().__init__(logging.INFO)
        self.stream = stream or sys.stdout
        self.wall_times = {}
        self.order = []
        self._started = {}

    def emit(self, record):
        message = record.getMessage()
        started, finished = _STARTED.search(message), _FINISHED.search(message)
        if started:
            node_id = started.group(1)
            self._started[node_id] = time.monotonic()
            self.order.append(node_id)
            self._print(f"[{len(self.order):2d}] {node_id} ...")
        elif finished:
            node_id = finished.group(1)
            seconds = time.monotonic() - self._started.get(node_id, time.monotonic())
            self.wall_times[node_id] = seconds
            self._print(f"     {node_id} done in {seconds:.1f} s")

    def _print(self, line):
        self.stream.write(line + "\n")
        self.stream.flush()


def absolute_paths(config):
    """Local paths made absolute: the pipeline IR must not depend on the cwd."""
    changes = {}
    for name in ("data_root", "pipeline_root", "metadata_path", "serving_model_dir",
                 "schema_path"):
        value = getattr(config, name)
        if value and "://" not in value:
            changes[name] = os.path.abspath(value)
    return config.replace(**changes)


def run(config, stream=None, verbose=False):
    """Runs the pipeline; returns (runs by node id, summary dict, wall times).

    Args:
      config: a `configs.PipelineConfig` with a local `metadata_path`.
      stream: where progress lines go (stdout by default).
      verbose: also let TFX/Beam INFO logs through (to stderr).

    Raises:
      preflight.PreflightError: with `config.features` None, a CSV feature
        that probably leaks the label (features are then the declared ones,
        see `features_selection`).
      whatever the failing component raised (e.g. validation.DataValidationError),
      after the progress lines up to it.
    """
    config = absolute_paths(config)
    if config.features is None and config.input_format == "csv":
        # Declared features only, as `wt-pipeline run` chooses them.
        config, lines = preflight.declared_features(config)
        for line in lines:
            absl_logging.warning(line.strip())
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    store = run_report.open_store(config.metadata_path)
    before = run_report.last_execution_id(store)
    handler = ProgressHandler(stream)
    absl_logger = logging.getLogger("absl")
    saved_verbosity, saved_propagate = absl_logging.get_verbosity(), absl_logger.propagate
    # Through absl's verbosity flag, not the logger level: TF's SavedModel
    # writer lowers the verbosity while saving and restores it from the flag.
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.propagate = verbose   # quiet unless asked: only the progress lines
    absl_logger.addHandler(handler)
    try:
        tfx.orchestration.LocalDagRunner().run(wt_pipeline.create_pipeline(config))
    finally:
        absl_logger.removeHandler(handler)
        absl_logging.set_verbosity(saved_verbosity)
        absl_logger.propagate = saved_propagate
    runs = run_report.component_runs(store, config.pipeline_name, handler.order, before)
    return runs, run_report.summarize(runs), handler


if __name__ == "__main__":
    # The command line lives in `cli`, which imports this module (never the reverse).
    sys.exit("error: local_runner is a library module; on the command line use "
             "`wt-pipeline run` (python -m pipelines.watch_time.cli run).")
