"""Compiles the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines.

`KubeflowV2DagRunner` writes a PipelineJob JSON (pipelineSpec +
runtimeConfig); nothing runs here. Every step runs in the pipeline image
built from the repository's `Dockerfile` (the package and its schema are
installed there; `TF_USE_LEGACY_KERAS=1` is set). Paths must be reachable
from the cluster (gs://...); Beam components take `beam_pipeline_args`,
e.g. `--runner=DataflowRunner --project=... --region=... --temp_location=gs://...`.
The command line around it is `wt-pipeline compile` (`pipelines.watch_time.cli`).
"""
import os
import sys

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
import wt_keras  # noqa: F401  isort: skip

from tfx import v1 as tfx

from pipelines.watch_time import configs
from pipelines.watch_time import pipeline as wt_pipeline

DEFAULT_IMAGE = "wt-keras-pipeline:latest"
# Where the Dockerfile puts the repository: the curated schema inside the image.
IMAGE_SCHEMA_PATH = "/pipeline/pipelines/watch_time/schema/schema.pbtxt"
PLACEHOLDER_ROOT = "gs://YOUR_BUCKET/wt_keras"


def kubeflow_config(root=PLACEHOLDER_ROOT, **overrides):
    """A `PipelineConfig` with every path under `root` and no local MLMD.

    Args:
      root: a bucket prefix the cluster can read and write.
      **overrides: any other `PipelineConfig` field.
    """
    root = root.rstrip("/")
    settings = dict(data_root=f"{root}/data", pipeline_root=f"{root}/pipeline_root",
                    serving_model_dir=f"{root}/saved_models", metadata_path=None,
                    schema_path=IMAGE_SCHEMA_PATH,
                    # KFP v2 compiles only TFX's built-in resolver strategies.
                    baseline="latest_blessed")
    settings.update(overrides)
    return configs.PipelineConfig(**settings)


def compile_pipeline(config, output_path, image=DEFAULT_IMAGE):
    """Writes the PipelineJob JSON (or YAML for .yaml/.yml) and returns its path."""
    output_path = os.path.abspath(output_path)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(output_path), output_filename=os.path.basename(output_path))
    runner.run(wt_pipeline.create_pipeline(config))
    return output_path


if __name__ == "__main__":
    # The command line lives in `cli`, which imports this module (never the reverse).
    sys.exit("error: kubeflow_runner is a library module; on the command line use "
             "`wt-pipeline compile` (python -m pipelines.watch_time.cli compile).")
