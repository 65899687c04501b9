"""TF Serving export: trained with EXUM, served without it, in a process without wt_keras.

Each head is trained for a few steps with a confidence tower, exported, and
loaded in a fresh Python process that blocks `import wt_keras`; both
signatures and every warmup record must reproduce the in-memory model.
No TF Serving binary can be installed here, so the SavedModel is checked
with TensorFlow's loaders (`tf.saved_model.load` and, through
`saved_model_cli run`, the TF1 session loader that TF Serving's C++ server
also uses) and with the warmup records.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import export
from _export_models import (FEATURES, NUM_WARMUP, export_ranker, fresh_process_env,
                            synthetic_rows, train_ranker)

pytestmark = pytest.mark.slow

HEADS = ["swat_geo", "swat_binom", "cread", "d2q", "geometric", "tpm"]
ATOL = 1e-5
# Quantiles and medians are float32 seconds found by dividing by the survival
# curve's slope: the served graph (Grappler rewrites its arithmetic) and the
# eager head can differ by a few ulps, and one ulp of 10 s is already 9.5e-7 s.
DISTRIBUTION_RTOL = 2e-6
QUANTILE_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)
DISTRIBUTION_OUTPUTS = ["completion_probability", "quantiles", "watch_time_median"]


def in_memory_outputs(ranker, rows, quantile_levels=QUANTILE_LEVELS):
    """(ranker(features) = its point estimate, every output the export must serve).

    The distributional outputs are asked of the in-memory head directly:
    median Q(0.5), Q at `quantile_levels`, P(T >= duration_s).
    """
    features = {name: tf.constant(rows[name]) for name in FEATURES}
    logits = ranker.head(ranker.hidden(features))
    outputs = ranker.head.serving_outputs(logits, **ranker.context(features))
    outputs["watch_time"] = ranker(features)
    if ranker.head.has_distribution:
        outputs["watch_time_median"] = ranker.head.quantile(logits, 0.5)
        outputs["quantiles"] = ranker.head.quantile(logits, list(quantile_levels))
        outputs["completion_probability"] = ranker.head.completion_probability(
            logits, features["duration_s"])
    return outputs["watch_time"].numpy(), {k: v.numpy() for k, v in outputs.items()}


# -- the serving process -------------------------------------------------------
# Runs with `python -c` in a fresh interpreter. `import wt_keras` raises, so a
# SavedModel that needed wt_keras (custom objects, registered Keras classes)
# would fail to load here.
SERVING_PROCESS = r'''
import importlib.abc, json, sys

class _BlockWtKeras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "wt_keras" or name.startswith("wt_keras."):
            raise ImportError("this serving process must not import " + name)

sys.meta_path.insert(0, _BlockWtKeras())

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

export_dir, requests_dir = sys.argv[1], sys.argv[2]
loaded = tf.saved_model.load(export_dir)
results, report = {}, {"signatures": {}}
for name, function in loaded.signatures.items():
    report["signatures"][name] = {
        "inputs": {k: [s.dtype.name, s.shape.as_list()]
                   for k, s in function.structured_input_signature[1].items()},
        "outputs": sorted(function.structured_outputs)}

examples = tf.constant(list(tf.data.TFRecordDataset(requests_dir + "/examples.tfrecord")
                            .as_numpy_iterator()))
for key, value in loaded.signatures["serving_default"](examples=examples).items():
    results["default/" + key] = value.numpy()
raw = dict(np.load(requests_dir + "/raw.npz"))
raw = {k: tf.constant(v) for k, v in raw.items()}
for key, value in loaded.signatures["predict_raw"](**raw).items():
    results["raw/" + key] = value.numpy()

warmup = []
path = export_dir + "/assets.extra/tf_serving_warmup_requests"
for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
    log = prediction_log_pb2.PredictionLog.FromString(record)
    request = log.predict_log.request
    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
    warmup.append(float(outputs["watch_time"].numpy()[0]))
results["warmup/watch_time"] = np.array(warmup, np.float32)
np.savez(requests_dir + "/results.npz", **results)

report["wt_keras_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "wt_keras")
assert "wt_keras" not in sys.modules, report["wt_keras_modules"]
print(json.dumps(report))
'''


def serve_in_fresh_process(export_dir, rows, work_dir):
    """Runs SERVING_PROCESS on `rows`; returns (report, {output key: numpy})."""
    spec = export.feature_spec_from_features(rows, FEATURES)
    with tf.io.TFRecordWriter(str(work_dir / "examples.tfrecord")) as writer:
        for example in export.serialize_examples(rows, spec):
            writer.write(example)
    np.savez(work_dir / "raw.npz", **{name: rows[name] for name in FEATURES})
    done = subprocess.run([sys.executable, "-c", SERVING_PROCESS, export_dir, str(work_dir)],
                          cwd=work_dir, env=fresh_process_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report, dict(np.load(work_dir / "results.npz"))


# -- fixtures --------------------------------------------------------------------
@pytest.fixture(scope="module", params=HEADS)
def served(request, tmp_path_factory):
    """A ranker trained with EXUM, its export, and the fresh process's answers."""
    rows = synthetic_rows()
    ranker = train_ranker(request.param, rows, exum=True)
    base_dir = tmp_path_factory.mktemp(f"saved_models_{request.param}")
    export_dir = export_ranker(ranker, base_dir, rows)
    # Unseen ids and durations beyond the training range, as well as training rows.
    probe = synthetic_rows(num_rows=40, seed=1)
    probe["user_id"][:5] = [10_000, 123_456_789, 7, 0, 2**40]
    probe["duration_s"][:3] = [1.0, 600.0, 0.0]
    work_dir = tmp_path_factory.mktemp(f"serving_{request.param}")
    report, results = serve_in_fresh_process(export_dir, probe, work_dir)
    return {"name": request.param, "ranker": ranker, "rows": rows, "probe": probe,
            "export_dir": export_dir, "report": report, "results": results}


# -- tests -------------------------------------------------------------------------
def test_both_signatures_match_the_in_memory_model_in_a_process_without_wt_keras(served):
    report, results = served["report"], served["results"]
    assert report["wt_keras_modules"] == []
    expected, extra_outputs = in_memory_outputs(served["ranker"], served["probe"])
    assert set(extra_outputs) >= {"watch_time"}
    for signature in ("default", "raw"):
        np.testing.assert_allclose(results[f"{signature}/watch_time"], expected, rtol=0, atol=ATOL)
        for key, value in extra_outputs.items():
            np.testing.assert_allclose(results[f"{signature}/{key}"], value,
                                       rtol=DISTRIBUTION_RTOL, atol=ATOL)
        assert results[f"{signature}/watch_time"].dtype == np.float32
        assert results[f"{signature}/watch_time"].shape == (len(expected),)


def test_signatures_take_tf_examples_and_raw_feature_tensors(served):
    signatures = served["report"]["signatures"]
    assert set(signatures) == {"serving_default", "predict_raw"}
    assert signatures["serving_default"]["inputs"] == {"examples": ["string", [None]]}
    assert signatures["predict_raw"]["inputs"] == {
        "user_id": ["int64", [None]], "video_id": ["int64", [None]], "duration_s": ["float32", [None]]}
    expected_outputs = {"swat_geo": ["bucket_probabilities"], "swat_binom": ["bucket_probabilities"],
                        "cread": ["survival_probabilities"], "d2q": ["quantile"], "geometric": [],
                        "tpm": ["leaf_probabilities"]}
    distributional = [] if served["name"] == "d2q" else DISTRIBUTION_OUTPUTS
    for signature in signatures.values():
        assert signature["outputs"] == sorted(["watch_time"] + expected_outputs[served["name"]]
                                              + distributional)


def test_distributional_outputs_have_their_shapes_and_ranges(served):
    if served["name"] == "d2q":
        pytest.skip("D2Q fits no distribution")
    results, size = served["results"], len(served["probe"]["duration_s"])
    for signature in ("default", "raw"):
        quantiles = results[f"{signature}/quantiles"]
        assert quantiles.shape == (size, len(QUANTILE_LEVELS))
        assert np.all(np.diff(quantiles, axis=1) >= 0) and np.all(quantiles >= 0)
        np.testing.assert_allclose(results[f"{signature}/watch_time_median"], quantiles[:, 2], atol=ATOL)
        completion = results[f"{signature}/completion_probability"]
        assert completion.shape == (size,) and np.all((completion >= 0) & (completion <= 1))
    # The probe asks for duration 0 s in row 2: every watch is complete.
    np.testing.assert_allclose(results["default/completion_probability"][2], 1.0, atol=ATOL)
    info = json.load(open(os.path.join(served["export_dir"], "assets.extra", "wt_keras_model.json")))
    assert info["quantile_levels"] == list(QUANTILE_LEVELS)
    assert info["point_estimate"] == "mean"


def test_checkpoint_holds_no_confidence_tower_optimizer_or_metric_variables(served):
    ranker = served["ranker"]
    tower_variables = ranker.confidence_tower.variables
    assert len(tower_variables) == 4   # the in-memory model has a trained tower: the test can fail
    saved = dict(tf.train.list_variables(os.path.join(served["export_dir"], "variables", "variables")))
    saved.pop("_CHECKPOINTABLE_OBJECT_GRAPH")
    serving_variables = ranker.encoder.variables + ranker.bottom.variables + ranker.head.variables
    assert len(saved) == len(serving_variables)
    assert all(name.startswith(("weights/encoder/", "weights/bottom/", "weights/head/"))
               for name in saved), sorted(saved)
    forbidden = ("confidence", "optimizer", "adam", "iteration", "learning_rate", "task/",
                 "/mae", "pearson")
    assert not [name for name in saved if any(word in name.lower() for word in forbidden)]
    # By value too: no saved tensor equals a tower variable.
    reader = tf.train.load_checkpoint(os.path.join(served["export_dir"], "variables", "variables"))
    for variable in tower_variables:
        assert not any(reader.get_tensor(name).shape == tuple(variable.shape)
                       and np.array_equal(reader.get_tensor(name), variable.numpy())
                       for name in saved), variable.name


def test_warmup_records_are_predict_requests_that_all_run(served):
    logs = list(export.read_warmup_requests(served["export_dir"]))
    assert len(logs) == NUM_WARMUP
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "wt_keras"
        assert request.model_spec.signature_name == "serving_default"
        examples = tf.make_ndarray(request.inputs["examples"])
        assert examples.shape == (1,)
        parsed = tf.train.Example.FromString(examples[0])
        assert sorted(parsed.features.feature) == sorted(FEATURES)   # the label stays out
    # One row at a time, as the warmup requests are: float32 matmuls at batch 1 and at
    # batch 6 may round differently by a few ulps, which at ~60 s exceeds the tolerance.
    expected = np.concatenate([
        in_memory_outputs(served["ranker"],
                          {name: values[i:i + 1] for name, values in served["rows"].items()})[0]
        for i in range(NUM_WARMUP)])
    np.testing.assert_allclose(served["results"]["warmup/watch_time"], expected, rtol=0, atol=ATOL)


def test_saved_graph_uses_only_standard_tensorflow_ops(served):
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(served["export_dir"], "saved_model.pb")
    with open(path, "rb") as handle:
        content = handle.read()
    saved_model = saved_model_pb2.SavedModel.FromString(content)
    graph = saved_model.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    ops.update(node.op for function in graph.library.function for node in function.node_def)
    assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
    assert "ParseExampleV2" in ops
    assert b"wt_keras>" not in content   # no registered Keras class names: nothing to deserialise


def _run_cli(*args):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    done = subprocess.run([cli, *args], env=fresh_process_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _cli_result(stdout, key):
    match = re.search(rf"Result for output key {key}:\n\[([^\]]*)\]", stdout)
    return np.array(match.group(1).split(), np.float32)


def test_saved_model_cli_shows_and_runs_both_signatures(tmp_path):
    rows = synthetic_rows(num_rows=128)
    ranker = train_ranker("swat_geo", rows, exum=True)
    export_dir = export_ranker(ranker, tmp_path, rows)
    shown = _run_cli("show", "--all", "--dir", export_dir)
    for expected in ("signature_def['serving_default']", "signature_def['predict_raw']",
                     "inputs['examples']", "outputs['watch_time']", "outputs['bucket_probabilities']",
                     "inputs['user_id']", "Method name is: tensorflow/serving/predict"):
        assert expected in shown
    assert "confidence" not in shown

    # `saved_model_cli run` loads through the TF1 session loader, as TF Serving does.
    expected, _ = in_memory_outputs(ranker, {"user_id": np.array([1, 2], np.int64),
                                             "video_id": np.array([3, 4], np.int64),
                                             "duration_s": np.array([10.0, 45.0], np.float32)})
    raw = _run_cli("run", "--dir", export_dir, "--tag_set", "serve", "--signature_def", "predict_raw",
                   "--input_exprs", "user_id=[1,2];video_id=[3,4];duration_s=[10.0,45.0]")
    np.testing.assert_allclose(_cli_result(raw, "watch_time"), expected, rtol=1e-5)
    examples = _run_cli("run", "--dir", export_dir, "--tag_set", "serve",
                        "--signature_def", "serving_default", "--input_examples",
                        'examples=[{"user_id":[1],"video_id":[3],"duration_s":[10.0]},'
                        '{"user_id":[2],"video_id":[4],"duration_s":[45.0]}]')
    np.testing.assert_allclose(_cli_result(examples, "watch_time"), expected, rtol=1e-5)
