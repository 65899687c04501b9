"""CRPS and completion ECE as TFMA metrics in a real `tfma.run_model_analysis` (Beam).

A tiny SavedModel (tf.Module, no wt_keras model) serves `serving_default`
(watch_time, completion_probability) and a `transform_features` signature
(survival_curve, survival_grid) as the exported rankers do. Its law is
exponential with a per-example mean: S(t) = exp(−t / mean). TFMA's values
must match numpy references computed here, overall and per slice, with TFMA's
per-example slicing and with the pipeline's `slice_batches` (groups of rows).
"""
import numpy as np
import pytest

from pipelines.watch_time.evaluation import distribution_metrics, slice_batches

import tensorflow as tf  # noqa: E402  (after wt_keras: Keras 2)
import tensorflow_model_analysis as tfma  # noqa: E402

pytestmark = pytest.mark.slow
NUM_EXAMPLES = 240
GRID = np.array([0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0], np.float32)
SPEC = {"mean_s": tf.io.FixedLenFeature([], tf.float32),
        "duration_s": tf.io.FixedLenFeature([], tf.float32)}


class TinyDistributionModel(tf.Module):
    """Exponential watch time with mean `mean_s`; completion = P(T ≥ duration_s)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        parsed = tf.io.parse_example(examples, SPEC)
        return {"watch_time": parsed["mean_s"],
                "completion_probability": tf.exp(-parsed["duration_s"] / parsed["mean_s"])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform(self, examples):
        parsed = tf.io.parse_example(examples, SPEC)
        grid = tf.tile(tf.constant(GRID)[None, :], [tf.shape(examples)[0], 1])
        return {"survival_curve": tf.exp(-grid / parsed["mean_s"][:, None]),
                "survival_grid": grid}


def _example(watch_time, mean, duration, platform):
    floats = {"watch_time_s": watch_time, "mean_s": mean, "duration_s": duration}
    feature = {name: tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
               for name, value in floats.items()}
    feature["platform"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[platform.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _step_crps(label, mean):
    """∫ (S_step(t) − 1[t < y])² dt by dense quadrature; S_step = S(g_j) on [g_j, g_j+1), 0 after."""
    t = np.linspace(0.0, 200.0, 2_000_001)
    index = np.searchsorted(GRID, t, side="right") - 1
    survival = np.where(t < GRID[-1], np.exp(-GRID[index] / mean), 0.0)
    return np.trapz((survival - (t < label)) ** 2, t)


def _ece(forecasts, outcomes, num_bins=10):
    bins = np.minimum((forecasts * num_bins).astype(int), num_bins - 1)
    return sum(abs(forecasts[bins == b].sum() - outcomes[bins == b].sum())
               for b in range(num_bins)) / len(forecasts)


@pytest.fixture(scope="module", params=["per_example", "batched"])
def evaluation(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("tfma_distribution")
    rng = np.random.default_rng(3)
    mean = rng.uniform(3.0, 30.0, NUM_EXAMPLES).astype(np.float32)
    labels = rng.exponential(mean).astype(np.float32)
    duration = rng.choice([5.0, 15.0, 40.0], NUM_EXAMPLES).astype(np.float32)
    platforms = np.array(["android" if p else "ios" for p in rng.random(NUM_EXAMPLES) < 0.5])
    data_path = str(root / "eval.tfrecord")
    with tf.io.TFRecordWriter(data_path) as writer:
        for row in zip(labels, mean, duration, platforms):
            writer.write(_example(*row))
    model = TinyDistributionModel()
    model_dir = str(root / "model")
    tf.saved_model.save(model, model_dir, signatures={"serving_default": model.serve,
                                                      "transform_features": model.transform})
    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="watch_time_s",
                                    prediction_key="watch_time",
                                    preprocessing_function_names=["transform_features"])],
        metrics_specs=[tfma.MetricsSpec(metrics=distribution_metrics.metric_configs("duration_s"))],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["platform"])])
    eval_shared_model = tfma.default_eval_shared_model(eval_saved_model_path=model_dir,
                                                       eval_config=eval_config)
    extractors = None
    if request.param == "batched":
        extractors = slice_batches.batch_slicing(tfma.default_extractors(
            eval_shared_model=eval_shared_model, eval_config=eval_config), eval_config)
    result = tfma.run_model_analysis(
        eval_shared_model=eval_shared_model, extractors=extractors,
        eval_config=eval_config, data_location=data_path, file_format="tfrecords",
        output_path=str(root / "output"))
    by_slice = {key: values[""][""] for key, values in result.slicing_metrics}
    completion = np.exp(-duration.astype(np.float64) / mean)
    crps = np.array([_step_crps(y, m) for y, m in zip(labels.astype(np.float64), mean)])
    return by_slice, labels.astype(np.float64), duration, completion, crps, platforms


def test_crps_matches_quadrature_overall_and_per_slice(evaluation):
    by_slice, _, _, _, crps, platforms = evaluation
    np.testing.assert_allclose(by_slice[()]["crps"]["doubleValue"], crps.mean(), rtol=1e-4)
    for platform in ("android", "ios"):
        np.testing.assert_allclose(by_slice[(("platform", platform),)]["crps"]["doubleValue"],
                                   crps[platforms == platform].mean(), rtol=1e-4)


def test_completion_ece_and_its_reliability_table(evaluation):
    by_slice, labels, duration, completion, _, platforms = evaluation
    outcomes = (labels >= duration).astype(np.float64)
    np.testing.assert_allclose(by_slice[()]["completion_ece"]["doubleValue"],
                               _ece(completion, outcomes), rtol=1e-5, atol=1e-6)
    ios = platforms == "ios"
    np.testing.assert_allclose(by_slice[(("platform", "ios"),)]["completion_ece"]["doubleValue"],
                               _ece(completion[ios], outcomes[ios]), rtol=1e-5, atol=1e-6)
    table = by_slice[()]["completion_reliability"]["arrayValue"]
    counts = np.asarray(table["float64Values"], np.float64).reshape(table["shape"])[0]
    assert counts.sum() == NUM_EXAMPLES
