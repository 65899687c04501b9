"""The whole pipeline end to end through `wt-pipeline run`, then kill-and-rerun with the cache.

Run 1 pushes v1. Run 2 changes the Trainer's config (more epochs) and is
killed once its Trainer execution is RUNNING in ML Metadata: v1 must be
byte-identical and no other version may appear. Run 3 (same config as run 2)
must take every upstream component from the cache and push a new version
only if the Evaluator blessed it. Run 4 repeats run 3: all cached up to the
Trainer, and no duplicate of the served model is pushed.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

from pipelines.watch_time import configs, run_report
from _files import tree_digest
from _export_models import fresh_process_env

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
UPSTREAM = ("ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator",
            "DataValidationGate", "BucketBoundaryGen")
ALL_NODES = UPSTREAM + ("Trainer", "Evaluator", "Pusher")


def _command(work_dir, *extra):
    # -u: the test reads the progress lines as they are printed.
    return [sys.executable, "-u", "-m", "pipelines.watch_time.cli", "run", "--rows", "3000",
            "--work-dir", str(work_dir), "--saved-models", str(work_dir / "saved_models"),
            "--beam-arg=--direct_running_mode=in_memory", "--epochs", "2", "--min-xauc", "0.5",
            *extra]


def _versions(work_dir):
    """Every entry of the model's base path (TF Serving loads the integer ones)."""
    return sorted(os.listdir(work_dir / "saved_models" / configs.MODEL_NAME))


def _runs(work_dir, after=0):
    store = run_report.open_store(str(work_dir / "metadata.sqlite"))
    return run_report.component_runs(store, configs.PIPELINE_NAME, ALL_NODES, after)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("pipeline")
    result = subprocess.run(_command(work_dir), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return work_dir, result.stdout


def test_first_run_pushes_a_servable_model_and_prints_a_summary(first_run):
    work_dir, stdout = first_run
    (version,) = _versions(work_dir)
    model_dir = work_dir / "saved_models" / configs.MODEL_NAME / version
    for line in ("rows: ", "buckets: K=", "MAE (s)", "XAUC", "blessed: yes",
                 f"pushed to: {model_dir}"):
        assert line in stdout, stdout
    assert (model_dir / "saved_model.pb").exists()
    assert (model_dir / "assets.extra" / "tf_serving_warmup_requests").exists()
    loaded = tf.saved_model.load(str(model_dir))
    assert {"serving_default", "predict_raw", "transform_features"} <= set(loaded.signatures)
    runs = _runs(work_dir)
    assert {node: run.state for node, run in runs.items()} == {node: "ran" for node in ALL_NODES}


# A process that never imports wt_keras replays the pushed model's warmup examples
# through serving_default, as one batch, and reports what came back.
DISTRIBUTION_PROBE = r'''
import importlib.abc, json, sys

class _BlockWtKeras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "wt_keras" or name.startswith("wt_keras."):
            raise ImportError("this serving process must not import " + name)

sys.meta_path.insert(0, _BlockWtKeras())
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

model_dir = sys.argv[1]
examples = []
for record in tf.data.TFRecordDataset(model_dir + "/assets.extra/tf_serving_warmup_requests"):
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    examples.extend(tf.make_ndarray(request.inputs["examples"]).tolist())
outputs = tf.saved_model.load(model_dir).signatures["serving_default"](examples=tf.constant(examples))
print(json.dumps({key: value.numpy().tolist() for key, value in outputs.items()}))
'''


def test_pushed_model_serves_the_distribution_in_a_process_without_wt_keras(first_run):
    work_dir, _ = first_run
    (version,) = _versions(work_dir)
    model_dir = work_dir / "saved_models" / configs.MODEL_NAME / version
    done = subprocess.run([sys.executable, "-c", DISTRIBUTION_PROBE, str(model_dir)],
                          env=fresh_process_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = {key: np.asarray(value) for key, value in
               json.loads(done.stdout.strip().splitlines()[-1]).items()}
    size = len(outputs["watch_time"])
    assert size > 1
    assert outputs["watch_time_median"].shape == (size,)
    assert outputs["quantiles"].shape == (size, 5)
    assert np.all(np.diff(outputs["quantiles"], axis=1) >= 0)
    np.testing.assert_allclose(outputs["watch_time_median"], outputs["quantiles"][:, 2], atol=1e-5)
    completion = outputs["completion_probability"]
    assert completion.shape == (size,) and np.all((completion >= 0) & (completion <= 1))
    info = json.loads((model_dir / "assets.extra" / "wt_keras_model.json").read_text())
    assert info["quantile_levels"] == [0.1, 0.25, 0.5, 0.75, 0.9]
    # The head was built from BucketBoundaryGen's output at its α: same K, same α.
    assert info["bucket_boundaries"]["num_buckets"] == len(info["boundaries"])
    assert info["bucket_boundaries"]["time_scale"] == info["time_scale"]


def test_run_report_draws_the_completion_reliability_diagram(first_run):
    work_dir, stdout = first_run
    path = work_dir / "reports" / run_report.RELIABILITY_PNG
    assert f"reliability diagram: {path}" in stdout, stdout
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    for line in ("CRPS (s)", "completion ECE"):
        assert line in stdout, stdout


def test_trainer_leaves_tensorboard_curves_in_its_model_run_artefact(first_run):
    work_dir, _ = first_run
    model_run = _runs(work_dir)["Trainer"].outputs["model_run"][0].uri
    for run in ("train", "validation"):      # `tensorboard --logdir <pipeline root>` finds them
        (events,) = tf.io.gfile.glob(os.path.join(model_run, run, "events.out.tfevents*"))
        steps = [event.step for event in tf.compat.v1.train.summary_iterator(events)
                 for value in event.summary.value if value.tag == "epoch_loss"]
        assert steps == [0, 1], (run, steps)   # --epochs 2


def test_evaluator_reports_watch_time_metrics_per_duration_group(first_run):
    work_dir, _ = first_run
    evaluation = _runs(work_dir)["Evaluator"].outputs["evaluation"][0].uri
    slices = {}
    for metrics in tfma.load_metrics(evaluation):
        key = tuple((k.column, k.bytes_value) for k in metrics.slice_key.single_slice_keys)
        slices[key] = {entry.key.name for entry in metrics.metric_keys_and_values}
    assert {"mean_absolute_error", "xauc", "pearson", "example_count", "crps",
            "completion_ece"} <= slices[()]
    groups = [key for key in slices if key and key[0][0] == "duration_group"]
    assert len(groups) >= 5
    assert all({"crps", "completion_ece"} <= slices[key] for key in groups)


def _start_and_kill_when_trainer_runs(work_dir, *extra):
    before = run_report.last_execution_id(run_report.open_store(str(work_dir / "metadata.sqlite")))
    process = subprocess.Popen(_command(work_dir, *extra), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            trainer = _runs(work_dir, before).get("Trainer")
            if trainer is not None and trainer.state == "running":   # its MLMD execution exists
                break
            assert process.poll() is None, "run 2 ended before its Trainer started"
            time.sleep(0.5)
        else:
            pytest.fail("run 2's Trainer never started")
        time.sleep(2.0)   # well inside training: the Trainer takes > 15 s here
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    return before


def test_killed_run_keeps_v1_and_the_rerun_resumes_from_cache(first_run):
    work_dir, _ = first_run
    (v1,) = _versions(work_dir)
    v1_digest = tree_digest(work_dir / "saved_models" / configs.MODEL_NAME / v1)

    _start_and_kill_when_trainer_runs(work_dir, "--epochs", "3")
    assert _versions(work_dir) == [v1], "a killed run must not leave a version behind"
    assert tree_digest(work_dir / "saved_models" / configs.MODEL_NAME / v1) == v1_digest

    before = run_report.last_execution_id(run_report.open_store(str(work_dir / "metadata.sqlite")))
    result = subprocess.run(_command(work_dir, "--epochs", "3"), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    runs = _runs(work_dir, before)
    assert {node: runs[node].state for node in UPSTREAM} == {node: "cached" for node in UPSTREAM}
    assert runs["Trainer"].state == "ran" and runs["Evaluator"].state == "ran"

    blessing = runs["Evaluator"].outputs["blessing"][0].custom_properties["blessed"].int_value
    versions = _versions(work_dir)
    assert versions[0] == v1
    assert len(versions) == (2 if blessing else 1), result.stdout
    assert tree_digest(work_dir / "saved_models" / configs.MODEL_NAME / v1) == v1_digest

    # Run 4 = run 3 again: the Trainer comes from the cache too, and the model
    # already served is not pushed a second time.
    before = run_report.last_execution_id(run_report.open_store(str(work_dir / "metadata.sqlite")))
    result = subprocess.run(_command(work_dir, "--epochs", "3"), capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert _runs(work_dir, before)["Trainer"].state == "cached"
    assert _versions(work_dir) == versions


def test_pushed_model_answers_a_request_with_only_the_ids_and_the_duration(first_run):
    """Real requests carry the ids and the duration; the other features take the
    defaults recorded at export (docs/serving.md)."""
    import json

    import numpy as np

    work_dir, _ = first_run
    # The newest version: the kill-and-rerun test may have pushed a second one.
    version = max((v for v in _versions(work_dir) if v.isdigit()), key=int)
    model_dir = work_dir / "saved_models" / configs.MODEL_NAME / version
    info = json.loads((model_dir / "assets.extra" / "wt_keras_model.json").read_text())
    assert info["features"]["required"] == ["user_id", "video_id", "duration_s"]
    assert info["features"]["optional"]          # every other served feature has a default
    int64 = lambda value: tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    example = tf.train.Example(features=tf.train.Features(feature={
        "user_id": int64(42), "video_id": int64(1234),
        "duration_s": tf.train.Feature(float_list=tf.train.FloatList(value=[31.5]))}))
    loaded = tf.saved_model.load(str(model_dir))
    outputs = loaded.signatures["serving_default"](
        examples=tf.constant([example.SerializeToString()]))
    watch_time = outputs["watch_time"].numpy()
    assert watch_time.shape == (1,) and np.isfinite(watch_time).all() and watch_time[0] > 0
