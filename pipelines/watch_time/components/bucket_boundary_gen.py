"""BucketBoundaryGen: a Beam-powered TFX component for watch-time buckets.

Reads the training split of ExampleGen's Examples and writes
  boundaries  HyperParameters artifact; exactly one file, bucket_boundaries.json:
              a `wt_keras.buckets.BucketBoundaries` (grid endpoints with their
              α and grid spec, CREAD endpoints, D2Q tables, rank error) as
              `to_json` writes it. Wire it to `Trainer(hyperparameters=...)`:
              the Trainer decodes the only file of that directory into
              `fn_args.hyperparameters`, and `run_fn` reads it back with
              `BucketBoundaries.from_json`.
  report      BucketBoundaryReport artifact: label_distribution.png, summary.json.

Example:
  gen = BucketBoundaryGen(examples=example_gen.outputs["examples"],
                          grid_spec="swat_choice_4")
  trainer = Trainer(..., hyperparameters=gen.outputs["boundaries"])

Approximation: see `quantile_sketch` (exact up to `sketch_size` examples per
summary; beyond, Beam's quantile sketch with rank error eps reported in the
JSON as `rank_error`). Runs on any Beam runner via `beam_pipeline_args`;
remote runners (Dataflow, Flink, Spark) need this project on their workers:
add `--setup_file=<repo>/setup.py` or an `--sdk_container_image` with wt_keras
installed (TFX itself only ships its own sdist to the workers).

How the summaries reach the executor: the Beam job ends in one small
record (counts and quantile summaries), written with WriteToText to this
execution's temporary directory (TFX's per-execution tmp dir under the
pipeline root, which remote workers can write and the launcher deletes),
then read back here. No output artifact holds scratch files. A PCollection
cannot be handed to the launching process on Dataflow/Flink/Spark, so a file
is the one runner-independent channel; deriving the boundaries inside the
Beam job instead would raise the data errors (`BoundaryDataError`) on a
worker, where they surface as a job failure wrapped in a runner traceback,
and the report could not show the job's wall time.

Why not TFT/TFDV quantiles: TFDV's statistics hold a coarse quantile
histogram per feature (`StatsOptions.num_quantiles_histogram_buckets`, 10 by
default) and the statistics proto records no rank-error bound; `tft.quantiles`
runs inside a Transform graph and returns bucket edges only. The D2Q tables
need one watch-time summary per duration group, with groups whose edges are
themselves learnt from the data (a keyed stage with the edges as a side
input), and CREAD searches its warp on the label summary itself, so one Beam
pass with Beam's `ApproximateQuantilesCombineFn` serves all of them with a
reported ε.
"""
import json
import os
import tempfile
import time

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras import buckets  # isort: skip

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.components.util import examples_utils, tfxio_utils
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact, artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from pipelines.watch_time.components import boundary_derivation, boundary_report
from pipelines.watch_time.components.boundary_pipeline import SummarizeTrainingLabels
from pipelines.watch_time.components.boundary_schema import (  # noqa: F401 (re-export)
    FILE_NAME, load_bucket_boundaries, write_bucket_boundaries)
from pipelines.watch_time.components.quantile_sketch import MIN_CAPACITY

DEFAULT_SKETCH_SIZE = 10_000
_SUMMARIES_FILE = "training_label_summaries.json"


class BucketBoundaryReport(artifact.Artifact):
    """Directory with label_distribution.png and summary.json."""
    # "<namespace>.<Title>": the form Kubeflow V2 needs for custom artifact types.
    TYPE_NAME = "wt_keras.BucketBoundaryReport"


def check_parameters(grid_spec, time_scale, cread_num_buckets, d2q_num_groups,
                     num_quantiles, sketch_size):
    """Raises ValueError with a fix for parameters that can never work."""
    buckets.parse_grid_spec(grid_spec)  # raises, listing the accepted forms
    if time_scale is not None and not time_scale >= 0:
        raise ValueError(f"time_scale must be None (choose it), 0 (keep seconds as "
                         f"they are) or > 0 (integer units per second), got {time_scale!r}.")
    for name, value, low in (("cread_num_buckets", cread_num_buckets, 2),
                             ("d2q_num_groups", d2q_num_groups, 1),
                             ("num_quantiles", num_quantiles, 2),
                             ("sketch_size", sketch_size, MIN_CAPACITY)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if sketch_size < 2 * d2q_num_groups:
        raise ValueError(f"sketch_size ({sketch_size}) must be >= 2 * "
                         f"d2q_num_groups ({d2q_num_groups}).")


class BucketBoundaryGenSpec(ComponentSpec):
    """Inputs, outputs and execution properties of BucketBoundaryGen."""
    PARAMETERS = {
        "label_key": ExecutionParameter(type=str),
        "duration_key": ExecutionParameter(type=str),
        "grid_spec": ExecutionParameter(type=str),
        # Absent (None): chosen on the training labels, see `derive_boundaries`.
        "time_scale": ExecutionParameter(type=float, optional=True),
        "cread_num_buckets": ExecutionParameter(type=int),
        "d2q_num_groups": ExecutionParameter(type=int),
        "num_quantiles": ExecutionParameter(type=int),
        "sketch_size": ExecutionParameter(type=int),
        "split": ExecutionParameter(type=str),
    }
    INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {
        "boundaries": ChannelParameter(type=standard_artifacts.HyperParameters),
        "report": ChannelParameter(type=BucketBoundaryReport),
    }


class Executor(base_beam_executor.BaseBeamExecutor):
    """Runs the Beam summaries, then derives and writes the outputs."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 (TFX API)
        """Computes bucket boundaries over the configured split.

        Args:
          input_dict: {"examples": [Examples]}.
          output_dict: {"boundaries": [HyperParameters], "report": [BucketBoundaryReport]}.
          exec_properties: the BucketBoundaryGenSpec parameters.

        Raises:
          ValueError: unknown split or no files; `BoundaryDataError` (a
            ValueError) for an empty split, a missing/non-numeric/invalid
            label or duration column, or a grid leaving fewer than 2 buckets.
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        params = dict(exec_properties)
        params.setdefault("time_scale", None)
        check_parameters(params["grid_spec"], params["time_scale"],
                         params["cread_num_buckets"], params["d2q_num_groups"],
                         params["num_quantiles"], params["sketch_size"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        boundaries = artifact_utils.get_single_instance(output_dict["boundaries"])
        report = artifact_utils.get_single_instance(output_dict["report"])
        split = params["split"]
        self._check_split_files(examples, split)

        started = time.monotonic()
        results = self._summarize(examples, params)
        seconds = time.monotonic() - started

        boundary_derivation.check_counts(results["counts"], params["label_key"],
                                         params["duration_key"], split, examples.uri)
        derived = boundary_derivation.derive_boundaries(results, params)
        path = write_bucket_boundaries(derived, boundaries.uri)
        boundary_report.write_report(report.uri, results["label"], derived,
                                     results["counts"], seconds)
        logging.info("BucketBoundaryGen: K=%d endpoints from n=%d examples "
                     "(rank error %.3g) written to %s", derived.num_buckets,
                     derived.num_examples, derived.rank_error, path)

    @staticmethod
    def _check_split_files(examples, split):
        names = artifact_utils.decode_split_names(examples.split_names)
        if split not in names:
            raise ValueError(f"Split {split!r} is not in the Examples at "
                             f"{examples.uri} (splits: {names}). Set `split` to "
                             "the training split's name.")
        pattern = examples_utils.get_split_file_patterns([examples], split)[0]
        if not fileio.glob(pattern):
            raise ValueError(f"The {split!r} split of the Examples has no files "
                             f"matching {pattern}: it is empty. Check ExampleGen.")

    def _scratch_dir(self):
        """(directory, made here): this execution's TFX tmp dir, or a local one.

        Every TFX launcher sets the context's tmp_dir and unique_id. Called
        directly (tests, benchmarks) with neither, a local temporary
        directory serves, which only runners sharing this machine's disk
        (DirectRunner) can write.
        """
        try:
            return self._get_tmp_dir(), False
        except RuntimeError:
            return tempfile.mkdtemp(prefix="bucket_boundary_gen_"), True

    def _summarize(self, examples, params):
        """Runs the Beam job and returns its single JSON result as a dict."""
        tfxio = tfxio_utils.get_split_tfxio(
            examples=[examples], split=params["split"],
            telemetry_descriptors=["BucketBoundaryGen"])
        scratch, made_here = self._scratch_dir()
        prefix = os.path.join(scratch, _SUMMARIES_FILE)
        with self._make_beam_pipeline() as pipeline:
            _ = (pipeline
                 | "ReadTrainSplit" >> tfxio.BeamSource()
                 | "Summarize" >> SummarizeTrainingLabels(
                     params["label_key"], params["duration_key"],
                     params["d2q_num_groups"], params["sketch_size"])
                 | "Write" >> beam.io.WriteToText(prefix, num_shards=1,
                                                 shard_name_template=""))
        try:
            with fileio.open(prefix, "r") as handle:
                return json.loads(handle.read())
        finally:
            if made_here:
                fileio.rmtree(scratch)
            elif fileio.exists(prefix):
                fileio.remove(prefix)


class BucketBoundaryGen(base_beam_component.BaseBeamComponent):
    """Bucket endpoints, CREAD endpoints and D2Q tables from training labels.

    Outputs: "boundaries" (HyperParameters holding bucket_boundaries.json) and
    "report" (BucketBoundaryReport: label_distribution.png, summary.json).
    Beam options come from the pipeline's `beam_pipeline_args` (or
    `.with_beam_pipeline_args(...)`), so Dataflow/Flink/Spark work unchanged.
    """

    SPEC_CLASS = BucketBoundaryGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples, label_key="watch_time_s", duration_key="duration_s",
                 grid_spec="uniform:20", time_scale=None, cread_num_buckets=50,
                 d2q_num_groups=30, num_quantiles=101,
                 sketch_size=DEFAULT_SKETCH_SIZE, split="train"):
        """Configures the component.

        Args:
          examples: Channel of Examples (e.g. example_gen.outputs["examples"]).
          label_key: feature holding watch time in seconds (one value >= 0).
          duration_key: feature holding the video duration in seconds.
          grid_spec: percentile grid, see `wt_keras.buckets.parse_grid_spec`
            ("uniform:20", "0-96:2,96-100:0.2", "swat_choice_4", ...).
          time_scale: None (default) chooses alpha on the training labels
            (`wt_keras.buckets.choose_time_scale`: the smallest power of ten
            keeping >= 90 % of the grid's distinct endpoints) and integerises
            at it; 0 keeps endpoints in seconds; alpha > 0 integerises them
            to round(alpha t) / alpha like `boundaries_from_percentiles`. The
            alpha used is recorded as `time_scale` in bucket_boundaries.json.
          cread_num_buckets: M, CREAD endpoints requested.
          d2q_num_groups: G, equal-frequency duration groups requested.
          num_quantiles: Q, entries per D2Q quantile-table row.
          sketch_size: values kept exactly per summary, and the quantiles of
            the Beam sketch beyond; rank error ~ 3 / sketch_size beyond it.
          split: the split to learn from (never the eval split).
        """
        check_parameters(grid_spec, time_scale, cread_num_buckets,
                         d2q_num_groups, num_quantiles, sketch_size)
        spec = BucketBoundaryGenSpec(
            examples=examples, label_key=label_key, duration_key=duration_key,
            grid_spec=grid_spec, time_scale=None if time_scale is None else float(time_scale),
            cread_num_buckets=int(cread_num_buckets),
            d2q_num_groups=int(d2q_num_groups), num_quantiles=int(num_quantiles),
            sketch_size=int(sketch_size), split=split,
            boundaries=types.Channel(type=standard_artifacts.HyperParameters),
            report=types.Channel(type=BucketBoundaryReport))
        super().__init__(spec=spec)
