"""Invalid input raises a clear error that says how to fix it."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import buckets, heads


@pytest.mark.parametrize("boundaries, fragment", [
    ([3.0, 2.0, 8.0], "increasing"),
    ([3.0, 3.0, 8.0], "increasing"),
    ([0.0, 3.0], "> 0"),
    ([-1.0, 3.0], "> 0"),
    ([3.0, np.nan], "finite"),
    ([], "non-empty"),
])
@pytest.mark.parametrize("head_class", [heads.BinomialSoftLabelHead, heads.BucketizedGeometricHead,
                                        heads.OrdinalHead, heads.CreadHead])
def test_bad_boundaries(head_class, boundaries, fragment):
    with pytest.raises(ValueError, match="boundaries") as error:
        head_class(boundaries)
    assert fragment in str(error.value)


def test_spec_leaving_fewer_than_two_buckets():
    with pytest.raises(ValueError, match="bucket"):
        buckets.boundaries_from_percentiles(np.full(100, 7.0), "uniform:20")


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
@pytest.mark.parametrize("head_class", [heads.BucketizedGeometricHead, heads.GeometricHead])
def test_negative_or_nan_watch_time(head_class, bad):
    head = head_class([3.0, 8.0]) if head_class is heads.BucketizedGeometricHead else head_class()
    logits = tf.zeros([2, head.num_logits])
    with pytest.raises(tf.errors.InvalidArgumentError, match="watch_time must be finite and >= 0"):
        head.loss(tf.constant([1.0, bad]), logits)


def test_mismatched_logits_width():
    head = heads.BucketizedGeometricHead([3.0, 8.0, 20.0])     # needs 4 logits
    with pytest.raises(ValueError, match=r"\[batch, 4\]"):
        head.loss(tf.constant([1.0]), tf.zeros([1, 3]))
    with pytest.raises(ValueError, match=r"\[batch, 4\]"):
        head.expected_value(tf.zeros([1, 5]))


def test_time_scale_that_merges_boundaries():
    with pytest.raises(ValueError, match="integerize"):
        heads.BucketizedGeometricHead([1.2, 1.4, 3.0], time_scale=1.0)
    head = heads.BucketizedGeometricHead([1.2, 1.4, 3.0], time_scale=10.0)   # 12, 14, 30 units
    assert head.num_logits == 4


def test_d2q_needs_duration_and_consistent_tables():
    head = heads.D2QHead([30.0], [[0, 10, 20], [0, 30, 60]])
    with pytest.raises(ValueError, match="duration"):
        head.loss(tf.constant([1.0]), tf.zeros([1, 1]))
    with pytest.raises(ValueError, match="2 groups"):
        heads.D2QHead([30.0], [[0, 10, 20]])
    with pytest.raises(ValueError, match="non-decreasing"):
        heads.D2QHead([], [[0, 10, 5]])


def test_negative_confidence_penalty():
    with pytest.raises(ValueError, match="confidence_penalty"):
        heads.GeometricHead(confidence_penalty=-1.0)
