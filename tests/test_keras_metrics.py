"""Streaming Keras metrics agree with the numpy metrics on concatenated data."""
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from wt_keras import metrics


def _batches(seed=0, n=600, batch_size=128, label_levels=None):
    """Random watch-time batches, labels rounded to create ties."""
    rng = np.random.default_rng(seed)
    labels = np.round(rng.exponential(30.0, n))
    if label_levels is not None:
        labels = rng.integers(0, label_levels, n).astype(float)
    predictions = (labels + rng.normal(0, 20.0, n)).astype(np.float32)
    confidence = rng.uniform(0, 1, n).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, n)
    splits = range(0, n, batch_size)
    batches = [(labels[i:i + batch_size], predictions[i:i + batch_size],
                confidence[i:i + batch_size], weights[i:i + batch_size])
               for i in splits]
    return labels, predictions.astype(np.float64), confidence, weights, batches


def _ranker_output(predictions, confidence):
    return {"logits": tf.zeros([len(predictions), 3]),
            "watch_time": tf.constant(predictions[:, None]),
            "confidence": tf.constant(confidence[:, None])}


def test_mae_and_pearson_stream_equals_numpy_on_concatenation():
    labels, predictions, confidence, _, batches = _batches()
    mae, pearson = metrics.MeanAbsoluteError(), metrics.PearsonCorrelation()
    for y, p, c, _ in batches:
        y_true = {"watch_time": tf.constant(y[:, None])}  # dict labels, [B, 1]
        y_pred = _ranker_output(p, c)                      # ranker's dict output
        mae.update_state(y_true, y_pred)
        pearson.update_state(y, p)
    assert float(mae.result()) == pytest.approx(np.mean(np.abs(labels - predictions)),
                                                rel=1e-6)
    assert float(pearson.result()) == pytest.approx(
        scipy.stats.pearsonr(labels, predictions)[0], abs=1e-6)


def test_weighted_mae_pearson_and_confidence():
    labels, predictions, confidence, weights, batches = _batches(seed=1)
    mae, pearson = metrics.MeanAbsoluteError(), metrics.PearsonCorrelation()
    mean_confidence = metrics.MeanConfidence()
    for y, p, c, w in batches:
        mae.update_state(y, p, sample_weight=w[:, None])
        pearson.update_state(y, p, sample_weight=w)
        mean_confidence.update_state(None, _ranker_output(p, c), sample_weight=w)
    mean_x, mean_y = np.average(labels, weights=weights), np.average(
        predictions, weights=weights)
    covariance = np.sum(weights * (labels - mean_x) * (predictions - mean_y))
    expected_r = covariance / np.sqrt(np.sum(weights * (labels - mean_x) ** 2)
                                      * np.sum(weights * (predictions - mean_y) ** 2))
    assert float(pearson.result()) == pytest.approx(expected_r, abs=1e-6)
    assert float(mae.result()) == pytest.approx(
        np.average(np.abs(labels - predictions), weights=weights), rel=1e-6)
    assert float(mean_confidence.result()) == pytest.approx(
        np.average(confidence, weights=weights), rel=1e-6)


def test_pearson_large_offset_and_undefined_cases():
    pearson = metrics.PearsonCorrelation()
    assert np.isnan(float(pearson.result()))  # nothing seen yet
    pearson.update_state([5.0, 5.0], [1.0, 2.0])
    assert np.isnan(float(pearson.result()))  # constant labels: undefined
    pearson.reset_state()
    rng = np.random.default_rng(2)
    labels = 1e6 + rng.normal(size=300)
    predictions = labels - 1e6 + rng.normal(size=300)
    for i in range(0, 300, 50):
        pearson.update_state(labels[i:i + 50], predictions[i:i + 50])
    assert float(pearson.result()) == pytest.approx(
        scipy.stats.pearsonr(labels, predictions)[0], abs=1e-6)


def test_xauc_exact_when_within_capacity_and_in_tf_function():
    labels, predictions, confidence, _, batches = _batches(seed=3)
    metric = metrics.XAUC(capacity=1000)

    @tf.function
    def update(y_true, y_pred):
        metric.update_state(y_true, y_pred)

    for y, p, c, _ in batches:
        update(tf.constant(y), _ranker_output(p, c))
    # Buffers hold float64; the numpy metric on the same values must match exactly.
    expected = np.float32(metrics.xauc(labels, predictions))
    assert float(tf.function(metric.result)()) == expected
    metric.reset_state()
    assert np.isnan(float(metric.result()))


def test_xauc_reservoir_estimate_and_sample_uniformity():
    labels, predictions, _, _, batches = _batches(seed=4, n=20_000, batch_size=500)
    metric = metrics.XAUC(capacity=2000, seed=11)
    for y, p, _, _ in batches:
        metric.update_state(y, p)
    assert int(metric.seen) == 20_000
    kept_labels = metric.label_buffer.numpy()
    kept_predictions = metric.prediction_buffer.numpy()
    # Every buffered pair is a real (label, prediction) example ...
    index = {(float(y), float(p)) for y, p in zip(labels, predictions)}
    assert all((y, p) in index for y, p in zip(kept_labels, kept_predictions))
    # ... from a uniform sample: about 1/4 come from the first quarter of the stream.
    first_quarter = set(predictions[:5000])
    share = np.mean([p in first_quarter for p in kept_predictions])
    assert abs(share - 0.25) < 0.05  # sd of the share is ~0.01
    assert float(metric.result()) == pytest.approx(
        metrics.xauc(labels, predictions), abs=0.02)


def test_xauc_sample_weight_is_a_mask():
    metric = metrics.XAUC(capacity=10)
    metric.update_state([1.0, 2.0, 3.0, 4.0], [0.1, 0.2, 0.4, 0.3],
                        sample_weight=[1.0, 1.0, 1.0, 0.0])
    assert float(metric.result()) == 1.0


@pytest.mark.parametrize("metric", [
    metrics.MeanAbsoluteError(name="wt_mae"), metrics.PearsonCorrelation(),
    metrics.XAUC(capacity=123, seed=5), metrics.MeanConfidence(dtype="float64"),
])
def test_serialize_round_trip(metric):
    config = tf.keras.metrics.serialize(metric)
    assert config["registered_name"] == f"wt_keras>{type(metric).__name__}"
    restored = tf.keras.metrics.deserialize(config)
    assert type(restored) is type(metric)
    assert restored.get_config() == metric.get_config()


def test_dict_without_watch_time_key_is_rejected():
    with pytest.raises(ValueError, match="watch_time"):
        metrics.MeanAbsoluteError().update_state([1.0], {"logits": [[0.0]]})


@pytest.mark.slow   # two epochs of fit, then evaluate and predict
def test_metrics_in_model_fit_and_evaluate():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(512, 4)).astype(np.float32)
    watch_time = (features @ np.array([3.0, -2.0, 1.0, 0.5]) + 10.0
                  + rng.normal(size=512)).astype(np.float32)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=[
        metrics.MeanAbsoluteError(), metrics.PearsonCorrelation(),
        metrics.XAUC(capacity=1024)])
    history = model.fit(features, watch_time[:, None], batch_size=64, epochs=2,
                        verbose=0)
    assert {"mae", "pearson", "xauc"} <= set(history.history)
    results = model.evaluate(features, watch_time[:, None], batch_size=64,
                             verbose=0, return_dict=True)
    predicted = model.predict(features, batch_size=64, verbose=0)[:, 0]
    assert results["mae"] == pytest.approx(metrics.mae(watch_time, predicted),
                                           rel=1e-5)
    assert results["pearson"] == pytest.approx(metrics.pearson(watch_time, predicted),
                                               abs=1e-5)
    assert results["xauc"] == pytest.approx(metrics.xauc(watch_time, predicted),
                                            abs=1e-6)
