"""The CRPS and completion-ECE TFMA combiners: chunked scoring, merging, bounded memory.

Fed `StandardMetricInputs` directly (as TFMA's Beam stage does), in bundles
that are merged as Beam merges them; values must equal a one-shot numpy
computation on all the rows, and the accumulators must not grow with the
number of rows. The Beam run itself is in test_tfma_distribution_metrics.py.
"""
import pickle

import numpy as np
import pytest

from pipelines.watch_time.evaluation import distribution_metrics, tfma_metrics
from wt_keras import metrics as wt_metrics

import tensorflow_model_analysis as tfma  # noqa: E402  (after wt_keras: Keras 2)
from tensorflow_model_analysis.metrics import metric_types  # noqa: E402

EVAL_CONFIG = tfma.EvalConfig(model_specs=[tfma.ModelSpec(label_key="watch_time_s",
                                                         prediction_key="watch_time")])

GRID = np.array([0.0, 2.0, 5.0, 10.0, 20.0, 40.0])


def _rows(count, seed=0):
    rng = np.random.default_rng(seed)
    mean = rng.uniform(3.0, 30.0, count)
    labels = rng.exponential(mean)
    duration = rng.choice([5.0, 15.0, 40.0], count)
    curves = np.exp(-GRID[None, :] / mean[:, None])
    completion = np.exp(-duration / mean)
    return labels, duration, curves, completion


def _element(label, duration, curve, completion):
    return metric_types.StandardMetricInputs(
        labels=np.array([label]), predictions={"watch_time": np.array([1.0]),
                                               "completion_probability": np.array([completion])},
        example_weights=np.array([1.0]), features={"duration_s": np.array([duration])},
        transformed_features={"survival_curve": curve, "survival_grid": GRID})


def _combiner(metric):
    computations = metric.computations(eval_config=EVAL_CONFIG)
    return computations[0].combiner, computations[0].keys


def _run_in_bundles(combiner, rows, bundle):
    parts = []
    for start in range(0, len(rows[0]), bundle):
        accumulator = combiner.create_accumulator()
        for row in zip(*(column[start:start + bundle] for column in rows)):
            accumulator = combiner.add_input(accumulator, _element(*row))
        parts.append(combiner.compact(accumulator))
    return combiner.extract_output(combiner.merge_accumulators(parts))


@pytest.mark.parametrize("bundle", [7, 5000])
def test_crps_combiner_equals_the_mean_crps_of_all_rows(bundle):
    rows = _rows(9_000)
    combiner, [key] = _combiner(distribution_metrics.CRPS(interpolation="step"))
    got = _run_in_bundles(combiner, rows, bundle)[key]
    expected = wt_metrics.crps(rows[0], GRID, rows[2], interpolation="step")
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bundle", [7, 5000])
def test_completion_combiner_equals_the_ece_of_all_rows(bundle):
    labels, duration, curves, completion = rows = _rows(9_000, seed=1)
    combiner, [ece_key, table_key] = _combiner(distribution_metrics.CompletionECE(num_bins=10))
    output = _run_in_bundles(combiner, rows, bundle)
    outcomes = (labels >= duration).astype(float)
    bins = np.minimum((completion * 10).astype(int), 9)
    expected = sum(abs(completion[bins == b].sum() - outcomes[bins == b].sum())
                   for b in range(10)) / len(labels)
    assert output[ece_key] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(output[table_key][0], np.bincount(bins, minlength=10))


@pytest.mark.parametrize("metric", [distribution_metrics.CRPS(), distribution_metrics.CompletionECE()])
def test_accumulators_do_not_grow_with_the_rows(metric):
    # What compact() leaves (and Beam pickles between workers) is a fixed-size
    # summary: the same bytes after 1 and after 3 buffers' worth of rows.
    combiner, _ = _combiner(metric)
    rows = _rows(3 * tfma_metrics.BUFFER_ROWS, seed=2)
    sizes = []
    for count in (tfma_metrics.BUFFER_ROWS, 3 * tfma_metrics.BUFFER_ROWS):
        accumulator = combiner.create_accumulator()
        for row in zip(*(column[:count] for column in rows)):
            accumulator = combiner.add_input(accumulator, _element(*row))
        sizes.append(len(pickle.dumps(combiner.compact(accumulator))))
    assert sizes[0] == sizes[1] < 1024, sizes


@pytest.mark.parametrize("labels_per_model", [False, True])
def test_direct_label_and_prediction_reading_agrees_with_tfma_helper(labels_per_model):
    # Two models (candidate + baseline), dict outputs selected by prediction_key: the
    # Evaluator's case. The direct read must give what TFMA's general helper gives.
    from tensorflow_model_analysis.metrics import metric_util
    config = tfma.EvalConfig(model_specs=[
        tfma.ModelSpec(name="candidate", label_key="watch_time_s", prediction_key="watch_time"),
        tfma.ModelSpec(name="baseline", label_key="watch_time_s", prediction_key="watch_time",
                       is_baseline=True)])
    label = np.array([12.5])
    element = metric_types.StandardMetricInputs(
        labels={"candidate": label, "baseline": label} if labels_per_model else label,
        predictions={"candidate": {"watch_time": np.array([9.0]), "quantiles": np.ones(5)},
                     "baseline": {"watch_time": np.array([11.0]), "quantiles": np.ones(5)}},
        example_weights=np.array([1.0]))
    for model in ("candidate", "baseline"):
        key = metric_types.MetricKey(name="xauc", model_name=model)
        got = tfma_metrics.label_and_prediction_arrays(
            element, key, tfma_metrics.model_prediction_key(config, model))
        [(want_label, want_prediction, _)] = list(metric_util.to_label_prediction_example_weight(
            element, eval_config=config, model_name=model, flatten=True))
        assert (float(got[0][0]), float(got[1][0])) == (float(want_label), float(want_prediction))
    # Outside the common case (an output name) it declines and the helper is used.
    assert tfma_metrics.label_and_prediction_arrays(
        element, metric_types.MetricKey(name="xauc", model_name="candidate", output_name="head"),
        "watch_time") is None
