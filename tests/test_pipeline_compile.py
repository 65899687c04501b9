"""`wt-pipeline compile --target kubeflow` writes a valid KFP v2 PipelineJob naming every step."""
import json
import subprocess
import sys

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.watch_time import configs, pipeline

STEPS = ("CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
         "DataValidationGate", "BucketBoundaryGen", "Trainer", pipeline.RESOLVER_ID,
         "Evaluator", "Pusher")


pytestmark = pytest.mark.slow   # each compile is a subprocess importing TFX and KFP

IMAGE = "europe-docker.pkg.dev/p/r/wt-keras-pipeline:1"


def _compile(output, *extra):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.watch_time.cli", "compile", "--target", "kubeflow",
         "--output", str(output), "--root", "gs://test-bucket/wt", "--image", IMAGE, *extra],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("kfp") / "pipeline.json", "--head", "d2q", "--exum",
                    "--beam-arg=--runner=DataflowRunner", "--beam-arg=--region=europe-west4")


def test_output_parses_as_pipeline_job_and_spec(compiled):
    job = json_format.ParseDict(compiled, pipeline_spec_pb2.PipelineJob(),
                                ignore_unknown_fields=False)
    spec = json_format.ParseDict(compiled["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == configs.PIPELINE_NAME
    assert job.runtime_config.gcs_output_directory == "gs://test-bucket/wt/pipeline_root"


def test_every_component_is_a_task_with_an_executor(compiled):
    tasks = compiled["pipelineSpec"]["root"]["dag"]["tasks"]
    executors = compiled["pipelineSpec"]["deploymentSpec"]["executors"]
    for step in STEPS:
        # The blessed-model resolver compiles into two resolver tasks sharing its id.
        assert any(task == step or task.startswith(step + "-") for task in tasks), step
        assert any(name.startswith(step) for name in executors), step


def test_gate_precedes_boundaries_and_images_and_beam_args_are_set(compiled):
    tasks = compiled["pipelineSpec"]["root"]["dag"]["tasks"]
    assert "DataValidationGate" in tasks["BucketBoundaryGen"]["dependentTasks"]
    executors = compiled["pipelineSpec"]["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        container = executor.get("container")
        if container:
            assert container["image"] == IMAGE, name
    pusher_args = executors["Pusher_executor"]["container"]["args"]
    assert "pipelines.watch_time.atomic_push.Executor" in pusher_args
    assert "--runner=DataflowRunner" in executors["StatisticsGen_executor"]["container"]["args"]


def test_trainer_gets_the_dotted_run_fn_and_the_training_config(compiled):
    text = json.dumps(compiled["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"])
    assert configs.RUN_FN in text
    assert '\\"head\\": \\"d2q\\"' in text and '\\"exum\\": true' in text


def test_vertex_training_runs_the_trainer_on_several_machines(tmp_path):
    compiled = _compile(tmp_path / "vertex.json", "--vertex-project", "my-project",
                        "--vertex-region", "europe-west4", "--training-replicas", "3")
    executor = compiled["pipelineSpec"]["deploymentSpec"]["executors"]["Trainer_executor"]
    assert "google_cloud_ai_platform.trainer.executor" in json.dumps(executor)
    trainer = json.dumps(compiled["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"])
    for expected in ('\\"replica_count\\": 1', '\\"replica_count\\": 2',
                     '\\"project\\": \\"my-project\\"', IMAGE):
        assert expected in trainer, expected
