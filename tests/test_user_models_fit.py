"""compile/fit of plain Keras and TFRS models with heads: context, metrics, XLA, DataFrames."""
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from wt_keras import buckets, heads, losses, metrics
from _head_cases import HEAD_NAMES, make_heads
from _user_models import MultiTaskModel, SubclassedModel, functional_model, matrix, rows


def _mean_loss(head, watch_time, logits, **context):
    return float(tf.reduce_mean(head.loss(watch_time, logits, **context)))


def test_packed_context_reaches_the_head_through_compile():
    features, watch_time, clicked = rows(32)
    head = heads.WeightedLogisticHead()
    model = functional_model(head)
    loss = losses.WatchTimeLoss(head, context_keys=("clicked",))
    model.compile(loss=loss)
    logits = model(matrix(features))
    keras_loss = model.evaluate(matrix(features), loss.pack_labels(watch_time, clicked=clicked),
                                batch_size=32, verbose=0)
    with_clicks = _mean_loss(head, watch_time, logits, clicked=clicked)
    assert keras_loss == pytest.approx(with_clicks, rel=1e-5)
    assert with_clicks != pytest.approx(_mean_loss(head, watch_time, logits), rel=1e-3)


def test_packed_labels_of_the_wrong_width_give_the_fix():
    loss = losses.WatchTimeLoss(heads.D2QHead([15.0], [[0, 5, 10], [0, 20, 40]]),
                                context_keys=("duration",))
    with pytest.raises(ValueError, match="pack_labels"):
        loss(tf.constant([[3.0]]), tf.zeros([1, 1]))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["d2q", "wlr_clicks"])
def test_context_heads_train_through_compile_and_fit(kind):
    features, watch_time, clicked = rows(512, seed=1)
    if kind == "d2q":
        tables = buckets.d2q_tables(watch_time, features["duration_s"], num_groups=3)
        head = heads.D2QHead(tables.duration_edges, tables.quantile_table)
        context_keys, context = ("duration",), {"duration": features["duration_s"]}
    else:
        head = heads.WeightedLogisticHead()
        context_keys, context = ("clicked", "duration"), {"clicked": clicked,
                                                         "duration": features["duration_s"]}
    model = functional_model(head, hidden_units=16)
    loss = losses.WatchTimeLoss(head, context_keys=context_keys)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-2), loss=loss,
                  metrics=[metrics.MeanAbsoluteError(head=head, context_keys=context_keys)])
    y = loss.pack_labels(watch_time, **context)
    before = model.evaluate(matrix(features), y, verbose=0, return_dict=True)
    model.fit(matrix(features), y, batch_size=64, epochs=15, verbose=0)
    after = model.evaluate(matrix(features), y, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"]
    expected = head.expected_value(model.predict(matrix(features), verbose=0),
                                   duration=features["duration_s"]).numpy()
    assert after["mae"] == pytest.approx(metrics.mae(watch_time, expected), rel=1e-4)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_metrics_given_the_head_convert_logits_to_seconds(name):
    head = make_heads()[name]
    features, watch_time, _ = rows(40, seed=2)
    logits = functional_model(head)(matrix(features))
    duration = features["duration_s"]
    seconds = head.expected_value(logits, duration=duration).numpy()
    y = {"watch_time": watch_time, "duration": duration}
    for metric, reference in ((metrics.MeanAbsoluteError(head=head), metrics.mae),
                              (metrics.PearsonCorrelation(head=head), metrics.pearson),
                              (metrics.XAUC(head=head), metrics.xauc)):
        metric.update_state(y, logits)
        assert float(metric.result()) == pytest.approx(reference(watch_time, seconds), rel=1e-6, abs=1e-5)


def test_logits_given_to_a_seconds_metric_name_the_fix():
    head = heads.BucketizedGeometricHead([3.0, 8.0, 20.0])
    logits = head(tf.zeros([2, 4]))
    for metric in (metrics.MeanAbsoluteError(), metrics.PearsonCorrelation(), metrics.XAUC()):
        with pytest.raises(ValueError, match=r"head=head.*expected_value"):
            metric.update_state([1.0, 2.0], logits)


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_label_checks_stay_meaningful_under_xla(name):
    head = make_heads()[name]
    logits = head(tf.random.stateless_normal([3, 4], seed=[1, 1]))
    duration = tf.constant([10.0, 30.0, 60.0])
    compiled = tf.function(lambda t: head.loss(t, logits, duration=duration), jit_compile=True)
    valid = tf.constant([2.0, 12.0, 50.0])
    np.testing.assert_allclose(compiled(valid).numpy(),
                               head.loss(valid, logits, duration=duration).numpy(), rtol=1e-5)
    # XLA drops tf.debugging.Assert: an invalid label must still show, as a NaN loss.
    for bad in (-1.0, float("inf"), float("nan")):
        loss = compiled(tf.constant([2.0, bad, 50.0])).numpy()
        assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAD_NAMES)
def test_every_head_in_subclassed_and_tfrs_multitask_models_with_xla(name):
    features, watch_time, clicked = rows(128, seed=4)
    head = make_heads()[name]
    model = SubclassedModel(head)
    loss = losses.WatchTimeLoss(head, context_keys=("duration",))
    model.compile(optimizer="adam", loss=loss, jit_compile=True)
    history = model.fit(matrix(features), loss.pack_labels(watch_time, duration=features["duration_s"]),
                        batch_size=32, epochs=2, verbose=0).history["loss"]
    assert np.isfinite(history).all()

    multitask = MultiTaskModel(make_heads()[name])
    multitask.compile(optimizer="adam", jit_compile=True)
    data = {**features, "watch_time": watch_time, "clicked": clicked}
    history = multitask.fit(data, batch_size=32, epochs=2, verbose=0).history["loss"]
    assert np.isfinite(history).all()
    outputs = multitask.predict(data, batch_size=32, verbose=0)
    assert outputs["watch_time"].shape == (128, head.num_logits) and outputs["click"].shape == (128, 1)


def _ranker_data():
    from _synthetic import interactions
    return interactions(num_rows=512)


@pytest.mark.slow
def test_ranker_trains_with_jit_compile():
    from wt_keras.models import WatchTimeRanker
    data = _ranker_data()
    ranker = WatchTimeRanker(heads.BucketizedGeometricHead([3.0, 8.0, 20.0, 45.0]),
                             {"user_id": 100, "video_id": 100}, bottom_units=(16,))
    ranker.adapt(data)
    ranker.compile(optimizer=tf.keras.optimizers.Adam(1e-2), jit_compile=True)
    history = ranker.fit(data, batch_size=64, epochs=2, verbose=0).history["loss"]
    assert np.isfinite(history).all()
    eager = WatchTimeRanker(ranker.head, {"user_id": 100, "video_id": 100}, bottom_units=(16,))
    eager.encoder, eager.bottom = ranker.encoder, ranker.bottom
    compiled = tf.function(ranker.call, jit_compile=True)
    np.testing.assert_allclose(compiled(data).numpy(), eager(data).numpy(), rtol=1e-4)


@pytest.mark.slow
def test_ranker_accepts_a_dataframe():
    from wt_keras.models import WatchTimeRanker
    frame = pd.DataFrame(_ranker_data())
    ranker = WatchTimeRanker(heads.GeometricHead(), {"user_id": 100, "video_id": 100},
                             bottom_units=(8,))
    ranker.adapt(frame)
    ranker.compile(optimizer="adam")
    history = ranker.fit(frame, batch_size=64, epochs=1, verbose=0).history["loss"]
    assert np.isfinite(history).all()
    np.testing.assert_allclose(ranker.predict(frame, batch_size=64, verbose=0),
                               ranker(dict(frame)).numpy(), rtol=1e-5)


def test_xgauc_with_missing_groups_gives_a_clear_error():
    with pytest.raises(ValueError, match="missing id"):
        metrics.xgauc([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], ["a", None, "a", "b"])
