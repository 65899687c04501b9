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


def test_count_heads_integerise_the_boundaries_they_are_given():
    # α = 1: 1.2 and 1.4 both round to 1 unit, so one of them goes (round(α·t_k), deduplicated).
    head = heads.BucketizedGeometricHead([1.2, 1.4, 3.0], time_scale=1.0)
    assert head.num_logits == 3 and head.boundaries.tolist() == [1.0, 3.0]
    head = heads.BucketizedGeometricHead([1.2, 1.4, 3.0], time_scale=10.0)   # 12, 14, 30 units
    assert head.num_logits == 4
    with pytest.raises(ValueError, match="rounds to 0"):
        heads.BucketizedGeometricHead([0.2, 0.4], time_scale=1.0)


def test_readme_first_example_on_sub_second_labels():
    """Percentile endpoints of labels in [0, 6) s go straight into the head."""
    labels = np.random.default_rng(0).exponential(1.0, 3000)
    labels = labels[labels < 6.0]
    t = buckets.boundaries_from_percentiles(labels, spec="swat_choice_4")
    assert np.any(t != np.round(t))
    head = heads.BucketizedGeometricHead(boundaries=t)
    # α chosen from the endpoints: the smallest power of ten keeping >= 90 % of them.
    kept = {alpha: len(set(np.round(alpha * t)) - {0.0}) for alpha in (1.0, 10.0, 100.0, 1000.0)}
    expected_alpha = min(alpha for alpha, count in kept.items() if count >= 0.9 * t.size)
    assert head.time_scale == expected_alpha > 1.0
    assert head.num_logits == kept[expected_alpha] + 1
    np.testing.assert_allclose(head.boundaries * head.time_scale,
                               np.round(head.boundaries * head.time_scale))
    logits = head(tf.zeros([4, 8]))
    loss = head.loss(tf.constant(labels[:4], tf.float32), logits)
    assert np.all(np.isfinite(loss.numpy()))
    rebuilt = heads.BucketizedGeometricHead.from_config(head.get_config())
    assert rebuilt.num_logits == head.num_logits and rebuilt.time_scale == head.time_scale


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
