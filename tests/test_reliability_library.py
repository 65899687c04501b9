"""Bad inputs to the Python API (docs/reliability.md, "Library")."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads, metrics

BOUNDARIES = [3.0, 8.0, 20.0]


def _geo_head():
    return heads.BucketizedGeometricHead(boundaries=BOUNDARIES)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -0.5, 1.5])
def test_loss_refuses_a_bad_confidence_like_a_bad_label(bad):
    head = _geo_head()
    logits = tf.zeros([3, 4])
    confidence = tf.constant([[0.5], [bad], [0.9]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="confidence must be finite"):
        head.loss(tf.constant([1.0, 2.0, 3.0]), logits, confidence=confidence)
    with pytest.raises(tf.errors.InvalidArgumentError, match="watch_time must be finite"):
        head.loss(tf.constant([1.0, bad if bad != 1.5 else np.nan, 3.0]), logits)


def test_loss_refuses_a_confidence_of_another_batch_size():
    head = _geo_head()
    with pytest.raises(ValueError, match=r"confidence has shape \(2, 1\), logits \(3, 4\)"):
        head.loss(tf.constant([1.0, 2.0, 3.0]), tf.zeros([3, 4]), confidence=tf.fill([2, 1], .5))


@pytest.mark.parametrize("make_head", [_geo_head, heads.GeometricHead,
                                       lambda: heads.OrdinalHead(boundaries=BOUNDARIES)])
def test_loss_names_both_shapes_when_batch_sizes_differ(make_head):
    head = make_head()
    logits = tf.zeros([4, head.num_logits])
    with pytest.raises(ValueError) as error:
        head.loss(tf.constant([1.0, 2.0, 3.0]), logits)
    assert f"watch_time has shape (3,), logits (4, {head.num_logits})" in str(error.value)


def test_loss_batch_check_also_runs_inside_tf_function():
    head = _geo_head()

    @tf.function(input_signature=[tf.TensorSpec([None]), tf.TensorSpec([None, 4])])
    def loss(watch_time, logits):
        return head.loss(watch_time, logits)

    assert loss(tf.constant([1.0, 2.0]), tf.zeros([2, 4])).shape == [2]
    with pytest.raises(tf.errors.InvalidArgumentError, match="different batch sizes"):
        loss(tf.constant([1.0, 2.0, 3.0]), tf.zeros([4, 4]))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_keras_xauc_and_numpy_xauc_both_raise_on_a_non_finite_prediction(bad):
    labels, predictions = [1.0, 2.0, 3.0], [0.1, bad, 0.2]
    with pytest.raises(ValueError, match="y_pred has 1 NaN/inf"):
        metrics.xauc(labels, predictions)
    metric = metrics.XAUC()
    with pytest.raises(tf.errors.InvalidArgumentError, match="XAUC: y_pred has NaN/inf"):
        metric.update_state(labels, {"watch_time": predictions})
    with pytest.raises(tf.errors.InvalidArgumentError, match="XAUC: y_true has NaN/inf"):
        metric.update_state([1.0, bad, 3.0], {"watch_time": [0.1, 0.3, 0.2]})
    # Nothing was buffered by the refused updates: a good batch gives the exact XAUC
    # (pairs (1,2) wrong, (1,3) right, (2,3) right: 2/3).
    metric.update_state(labels, {"watch_time": [0.3, 0.1, 0.5]})
    assert float(metric.result()) == pytest.approx(2 / 3)
