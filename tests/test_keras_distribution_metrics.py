"""Keras CRPS and completion-ECE metrics against closed forms, and in the ranker's logs."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, metrics, models
from _export_models import synthetic_rows


def _geometric_crps(label, p, horizon=400):
    """CRPS of P(Y = y) = p^y (1 − p) on whole seconds, summed unit by unit.

    S(k) = P(T > k) = p^(k+1) holds on [k, k+1); the integrand is (S − 1)² before
    the label and S² after it.
    """
    units = np.arange(horizon)
    survival = p ** (units + 1.0)
    return float(np.sum(np.where(units < label, (survival - 1.0) ** 2, survival ** 2)))


def test_crps_streams_the_closed_form_over_batches_with_weights():
    head = heads.GeometricHead()
    logits = np.array([[0.0], [1.0], [-1.0], [2.0]], np.float32)
    labels = np.array([1.0, 0.0, 4.0, 7.0], np.float32)
    weights = np.array([1.0, 2.0, 0.5, 1.0])
    p = 1.0 / (1.0 + np.exp(-logits[:, 0].astype(np.float64)))
    expected = [_geometric_crps(y, q) for y, q in zip(labels, p)]
    metric = metrics.CRPS(head, grid=np.arange(0.0, 400.0))
    for rows in (slice(0, 2), slice(2, 4)):
        metric.update_state({"watch_time": labels[rows]}, {"logits": logits[rows]},
                            sample_weight=weights[rows])
    np.testing.assert_allclose(float(metric.result()), np.average(expected, weights=weights),
                               rtol=1e-5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_crps_of_a_linear_curve_uses_linear_interpolation():
    # OR endpoints 10 s and 20 s with φ = (σ(0), σ(−30)) = (1/2, ≈0): S falls linearly
    # 1 → 1/2 on [0, 10], 1/2 → 0 on [10, 20] (no mass left at 20 s).
    head = heads.OrdinalHead(boundaries=[10.0, 20.0])
    metric = metrics.CRPS(head, grid=[10.0, 20.0])
    assert metric.interpolation == "linear"
    metric.update_state({"watch_time": [4.0, 13.0]}, {"logits": tf.constant([[0.0, -30.0]] * 2)})
    t = np.linspace(0.0, 20.0, 400_001)
    survival = np.interp(t, [0.0, 10.0, 20.0], [1.0, 0.5, 0.0])
    expected = [np.trapz(np.where(t < y, (survival - 1.0) ** 2, survival ** 2), t)
                for y in (4.0, 13.0)]
    np.testing.assert_allclose(float(metric.result()), np.mean(expected), rtol=1e-5)


def test_completion_ece_accumulates_bins_over_batches():
    head = heads.GeometricHead()
    logits = np.array([[-3.0], [-3.0], [0.0], [0.0], [3.0], [3.0]], np.float32)
    duration = np.full(6, 1.0, np.float32)          # P(T ≥ 1) = P(Y ≥ 1) = p
    watch_time = np.array([0.0, 2.0, 0.0, 0.0, 5.0, 1.0], np.float32)
    metric = metrics.CompletionECE(head, num_bins=10)
    for rows in (slice(0, 3), slice(3, 6)):
        metric.update_state({"watch_time": watch_time[rows], "duration": duration[rows]},
                            {"logits": logits[rows]})
    p = 1.0 / (1.0 + np.exp(3.0))
    # Bins: {p, p} with 1 completion, {1/2, 1/2} with none, {1 − p, 1 − p} with two.
    expected = (2 * abs(p - 0.5) + 2 * abs(0.5 - 0.0) + 2 * abs((1 - p) - 1.0)) / 6
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-6)


def test_metrics_refuse_heads_without_a_distribution_and_missing_inputs():
    with pytest.raises(ValueError, match="predicts a point"):
        metrics.CRPS(heads.RegressionHead(), grid=[1.0, 2.0])
    metric = metrics.CompletionECE(heads.GeometricHead())
    with pytest.raises(ValueError, match="'duration'"):
        metric.update_state({"watch_time": [1.0]}, {"logits": tf.zeros([1, 1])})
    with pytest.raises(ValueError, match="'logits'"):
        metric.update_state({"watch_time": [1.0], "duration": [1.0]}, tf.zeros([1]))


def test_metric_configs_round_trip():
    crps = metrics.CRPS(heads.BucketizedGeometricHead([3.0, 8.0]), grid=[0.0, 1.0, 5.0])
    again = metrics.CRPS.from_config(crps.get_config())
    assert again.grid.tolist() == [0.0, 1.0, 5.0] and again.interpolation == "step"
    assert isinstance(again.head, heads.BucketizedGeometricHead)
    ece = metrics.CompletionECE.from_config(metrics.CompletionECE(heads.GeometricHead(), 5).get_config())
    assert ece.num_bins == 5


@pytest.mark.slow
def test_the_ranker_logs_crps_and_completion_ece_while_training():
    rows = synthetic_rows(num_rows=256)
    tf.keras.utils.set_random_seed(0)
    ranker = models.WatchTimeRanker(heads.BucketizedGeometricHead([3.0, 8.0, 20.0, 40.0]),
                                    {"user_id": 100, "video_id": 100}, ["duration_s"],
                                    bottom_units=(8,), embedding_dim=4,
                                    crps_grid=np.arange(0.0, 400.0))
    ranker.adapt(rows)
    ranker.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    logs = ranker.fit(tf.data.Dataset.from_tensor_slices(rows).batch(64), epochs=1,
                      verbose=0).history
    assert np.isfinite(logs["crps"][-1]) and logs["crps"][-1] > 0
    assert 0.0 <= logs["completion_ece"][-1] <= 1.0
