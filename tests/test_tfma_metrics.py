"""The custom TFMA metrics in a real `tfma.run_model_analysis` (Beam DirectRunner).

A tiny SavedModel (tf.Module, no wt_keras model) serves `serving_default`:
serialized tf.Examples -> {"watch_time": ...}. TFMA's xauc / pearson / xgauc /
mean_absolute_error / example_count must match wt_keras.metrics, scipy and
numpy on the same labels and predictions, overall and per slice, with TFMA's
default per-example slicing and with the pipeline's `slice_batches` (metric
inputs that are groups of rows).
"""
import numpy as np
import pytest
import scipy.stats

from pipelines.watch_time.evaluation import slice_batches, tfma_metrics
from wt_keras import metrics as wt_metrics

import tensorflow as tf  # noqa: E402  (after wt_keras: Keras 2)
import tensorflow_model_analysis as tfma  # noqa: E402
from tensorflow_model_analysis.metrics import metric_specs, metric_types  # noqa: E402

NUM_EXAMPLES = 300


class TinyWatchTimeModel(tf.Module):
    """watch_time = 2 * score + 1, parsed from serialized tf.Examples."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        parsed = tf.io.parse_example(
            examples, {"score": tf.io.FixedLenFeature([], tf.float32)})
        return {"watch_time": 2.0 * parsed["score"] + 1.0}


def _example(watch_time, score, user, platform):
    feature = {
        "watch_time_s": tf.train.Feature(float_list=tf.train.FloatList(value=[watch_time])),
        "score": tf.train.Feature(float_list=tf.train.FloatList(value=[score])),
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[user.encode()])),
        "platform": tf.train.Feature(bytes_list=tf.train.BytesList(value=[platform.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _analyse(root, pipeline_options=None, slicing="per_example"):
    """Runs TFMA once; returns (metrics by slice, labels, predictions, users, platforms)."""
    rng = np.random.default_rng(7)
    labels = np.round(rng.lognormal(2.0, 1.0, NUM_EXAMPLES))  # rounded: label ties
    scores = np.log1p(labels) + rng.normal(0, 0.8, NUM_EXAMPLES)
    users = [f"user{u}" for u in rng.integers(0, 25, NUM_EXAMPLES)]
    platforms = ["android" if p else "ios" for p in rng.random(NUM_EXAMPLES) < 0.6]
    serialized = [_example(*row) for row in zip(labels, scores, users, platforms)]
    # Two files, so that a runner with two workers can give each one a share.
    data_paths = [str(root / f"eval-{part}.tfrecord") for part in range(2)]
    for part, data_path in enumerate(data_paths):
        with tf.io.TFRecordWriter(data_path) as writer:
            for record in serialized[part::2]:
                writer.write(record)

    model = TinyWatchTimeModel()
    model_dir = str(root / "model")
    tf.saved_model.save(model, model_dir, signatures={"serving_default": model.serve})
    predictions = model.serve(tf.constant(serialized))["watch_time"].numpy()

    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                    label_key="watch_time_s", prediction_key="watch_time")],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="BatchedExampleCount", module=tfma_metrics.__name__),
            *tfma_metrics.metric_configs(group_key="user_id")])],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["platform"])])
    eval_shared_model = tfma.default_eval_shared_model(eval_saved_model_path=model_dir,
                                                       eval_config=eval_config)
    extractors = None
    if slicing == "batched":
        extractors = slice_batches.batch_slicing(tfma.default_extractors(
            eval_shared_model=eval_shared_model, eval_config=eval_config), eval_config)
    result = tfma.run_model_analysis(
        eval_shared_model=eval_shared_model, extractors=extractors,
        eval_config=eval_config, data_location=str(root / "eval-*.tfrecord"),
        file_format="tfrecords", output_path=str(root / "output"),
        pipeline_options=pipeline_options)
    by_slice = {slice_key: {name: value["doubleValue"]
                            for name, value in metrics[""][""].items()}
                for slice_key, metrics in result.slicing_metrics}
    as_read = labels.astype(np.float32).astype(np.float64)
    return by_slice, as_read, predictions.astype(np.float64), np.array(users), np.array(platforms)


@pytest.fixture(scope="module", params=["per_example", "batched"])
def evaluation(request, tmp_path_factory):
    print_options = np.get_printoptions()
    result = _analyse(tmp_path_factory.mktemp("tfma"), slicing=request.param)
    # `slice_batches` shortens array prints during its bundles only.
    assert np.get_printoptions() == print_options
    return result


@pytest.mark.slow
@pytest.mark.parametrize("slicing", ["per_example", "batched"])
def test_two_worker_processes_give_the_in_process_metrics(evaluation, slicing, tmp_path):
    # Combiners, accumulators, metric classes and the slicing DoFn are pickled to
    # worker processes here, as on Dataflow/Flink/Spark; shared state would break.
    from apache_beam.options.pipeline_options import PipelineOptions
    options = PipelineOptions(["--direct_running_mode=multi_processing",
                               "--direct_num_workers=2"])
    by_slice, *_ = _analyse(tmp_path, options, slicing=slicing)
    expected = evaluation[0]
    assert by_slice.keys() == expected.keys()
    custom = (tfma_metrics.XAUC_NAME, tfma_metrics.XGAUC_NAME, tfma_metrics.PEARSON_NAME,
              tfma_metrics.MAE_NAME, tfma_metrics.EXAMPLE_COUNT_NAME)
    for slice_key, metrics in expected.items():
        ours = {name: value for name, value in metrics.items() if name in custom}
        assert len(ours) == 5
        assert {name: by_slice[slice_key][name] for name in ours} == pytest.approx(
            ours, rel=1e-9, nan_ok=True), slice_key


@pytest.mark.slow
def test_overall_metrics_match_reference_implementations(evaluation):
    by_slice, labels, predictions, users, _ = evaluation
    overall = by_slice[()]
    assert overall["xauc"] == pytest.approx(wt_metrics.xauc(labels, predictions), abs=1e-12)
    assert 0.6 < overall["xauc"] < 0.95  # a real, imperfect ranking
    assert overall["pearson"] == pytest.approx(scipy.stats.pearsonr(labels, predictions)[0],
                                               rel=1e-9)
    assert overall["mean_absolute_error"] == pytest.approx(
        np.mean(np.abs(labels - predictions)), rel=1e-6)
    assert overall["xgauc"] == pytest.approx(wt_metrics.xgauc(labels, predictions, users),
                                             abs=1e-12)
    assert overall["example_count"] == NUM_EXAMPLES


@pytest.mark.slow
def test_per_slice_metrics_use_only_the_slice(evaluation):
    by_slice, labels, predictions, users, platforms = evaluation
    for platform in ("android", "ios"):
        sliced = by_slice[(("platform", platform),)]
        rows = platforms == platform
        assert sliced["xauc"] == pytest.approx(
            wt_metrics.xauc(labels[rows], predictions[rows]), abs=1e-12)
        assert sliced["pearson"] == pytest.approx(
            scipy.stats.pearsonr(labels[rows], predictions[rows])[0], rel=1e-9)
        assert sliced["mean_absolute_error"] == pytest.approx(
            np.mean(np.abs(labels[rows] - predictions[rows])), rel=1e-6)
        assert sliced["xgauc"] == pytest.approx(
            wt_metrics.xgauc(labels[rows], predictions[rows], users[rows]), abs=1e-12)
        assert sliced["example_count"] == rows.sum()


def test_configs_name_loadable_classes():
    configs = tfma_metrics.metric_configs(group_key="user_id")
    assert [c.class_name for c in configs] == ["XAUC", "Pearson", "BatchedMeanAbsoluteError", "XGAUC"]
    for config in configs:
        metric = metric_specs.metric_instance(config)  # what the Evaluator does
        assert isinstance(metric, metric_types.Metric)
    assert [c.class_name for c in tfma_metrics.metric_configs()][-1] == "BatchedMeanAbsoluteError"


def _inputs(label, prediction, weight=1.0):
    return metric_types.StandardMetricInputs(
        labels=np.array([label]), predictions=np.array([prediction]),
        example_weights=np.array([weight]))


def test_pearson_combiner_merges_exactly_and_stays_stable():
    # Labels near 1e8 s with a spread of ~1: the naive sum-of-squares formula
    # cancels catastrophically here; the pairwise moment update does not.
    rng = np.random.default_rng(3)
    labels = 1e8 + rng.normal(size=400)
    predictions = labels - 1e8 + rng.normal(scale=0.5, size=400)
    [computation] = tfma_metrics.Pearson().computations()
    combiner = computation.combiner
    parts = []
    for chunk in np.array_split(np.arange(400), 7):
        accumulator = combiner.create_accumulator()
        for i in chunk:
            accumulator = combiner.add_input(accumulator, _inputs(labels[i], predictions[i]))
        parts.append(accumulator)
    [value] = combiner.extract_output(combiner.merge_accumulators(parts)).values()
    assert value == pytest.approx(scipy.stats.pearsonr(labels, predictions)[0], rel=1e-9)


def test_degenerate_slices_give_nan_not_errors():
    for metric in (tfma_metrics.XAUC(), tfma_metrics.Pearson()):
        [computation] = metric.computations()
        combiner = computation.combiner
        accumulator = combiner.create_accumulator()
        for prediction in (1.0, 2.0):
            accumulator = combiner.add_input(accumulator, _inputs(5.0, prediction))
        [value] = combiner.extract_output(accumulator).values()
        assert np.isnan(value)


def test_weighted_xauc_is_refused():
    with pytest.raises(ValueError, match="does not support example weights"):
        tfma_metrics.XAUC().computations(example_weighted=True)


@pytest.mark.slow   # 50k add_input calls under tracemalloc
@pytest.mark.parametrize("metric, bytes_per_row", [(tfma_metrics.XAUC(), 16),
                                                   (tfma_metrics.XGAUC("user_id"), 24)])
def test_exact_ranking_accumulator_holds_the_stated_bytes_per_row(metric, bytes_per_row):
    import tracemalloc
    [computation] = metric.computations()
    combiner = computation.combiner
    rows = 50_000
    element = metric_types.StandardMetricInputs(
        labels=np.array([3.0]), predictions=np.array([2.5]), example_weights=np.array([1.0]),
        features={"user_id": np.array([b"user7"])})
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    accumulator = combiner.create_accumulator()
    for _ in range(rows):
        accumulator = combiner.add_input(accumulator, element)
    accumulator = combiner.compact(accumulator)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert accumulator.nbytes() == bytes_per_row * rows
    # Everything the accumulator keeps (arrays, chunk lists, the one group id): ≤ 5 % over.
    assert bytes_per_row * rows <= held <= 1.05 * bytes_per_row * rows, held


def _held_bytes(build):
    """Bytes still allocated (tracemalloc) by what `build()` returns, after garbage collection."""
    import gc
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return kept, held


@pytest.mark.parametrize("metric, bytes_per_row", [(tfma_metrics.XAUC(), 16),
                                                   (tfma_metrics.XGAUC("user_id"), 24)])
def test_merged_accumulators_of_small_bundles_keep_the_stated_bytes_per_row(metric,
                                                                            bytes_per_row):
    # Beam gives every bundle its own accumulator: 5,000 bundles of 10 rows, merged.
    [computation] = metric.computations()
    combiner = computation.combiner
    rows, bundle = 50_000, 10

    def build():
        parts = []
        for _ in range(rows // bundle):
            accumulator = combiner.create_accumulator()
            for _ in range(bundle):
                element = metric_types.StandardMetricInputs(
                    labels=np.array([3.0]), predictions=np.array([2.5]),
                    example_weights=np.array([1.0]), features={"user_id": np.array([b"user7"])})
                accumulator = combiner.add_input(accumulator, element)
            parts.append(combiner.compact(accumulator))
        return combiner.merge_accumulators(parts)

    merged, held = _held_bytes(build)
    assert merged.nbytes() == bytes_per_row * rows
    assert bytes_per_row * rows <= held <= 1.05 * bytes_per_row * rows, held / rows


def test_pearson_accumulator_is_bounded_and_buffered_rows_cost_about_64_bytes():
    [computation] = tfma_metrics.Pearson().computations()
    combiner = computation.combiner

    def fill(rows):
        def build():
            accumulator = combiner.create_accumulator()
            for row in range(rows):   # a new float object per row, as TFMA's inputs give
                accumulator = combiner.add_input(accumulator, _inputs(3.0 + 1e-9 * row, 2.5))
            return accumulator
        return _held_bytes(build)[1]

    buffered = tfma_metrics.BUFFER_ROWS - 1              # all still in the list buffer
    assert 56 <= fill(buffered) / buffered <= 80
    flushed = 20 * tfma_metrics.BUFFER_ROWS              # flushed 20 times: six numbers remain
    assert fill(flushed) / flushed < 1.0


def test_chunked_combiners_agree_with_references_across_merges():
    # More rows than one buffer, split unevenly over accumulators as Beam would.
    rng = np.random.default_rng(11)
    n = 3 * tfma_metrics.BUFFER_ROWS + 123
    labels = np.round(rng.exponential(20.0, n))
    predictions = labels + rng.normal(0.0, 15.0, n)
    expected = {"xauc": wt_metrics.xauc(labels, predictions),
                "pearson": scipy.stats.pearsonr(labels, predictions)[0]}
    for metric in (tfma_metrics.XAUC(), tfma_metrics.Pearson()):
        [computation] = metric.computations()
        combiner = computation.combiner
        parts = []
        for chunk in np.array_split(np.arange(n), [5, 5000, 9000]):
            accumulator = combiner.create_accumulator()
            for i in chunk:
                accumulator = combiner.add_input(accumulator, _inputs(labels[i], predictions[i]))
            parts.append(accumulator)
        [value] = combiner.extract_output(combiner.merge_accumulators(parts)).values()
        assert value == pytest.approx(expected[metric.name], rel=1e-12)
