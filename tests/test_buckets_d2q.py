"""Tests for the D2Q duration groups and quantile tables in wt_keras.buckets."""
import numpy as np
import pytest
from scipy import stats

from wt_keras import buckets


def _continuous(seed=0, size=3007):
    rng = np.random.default_rng(seed)
    duration = rng.uniform(5.0, 300.0, size)
    watch = duration * rng.beta(0.8, 1.5, size) + rng.exponential(2.0, size)
    return watch, duration


def test_equal_frequency_groups_without_ties():
    watch, duration = _continuous()
    tables = buckets.d2q_tables(watch, duration, num_groups=30)
    assert tables.duration_edges.shape == (29,)
    assert np.all(np.diff(tables.duration_edges) > 0)
    assert tables.group_sizes.sum() == duration.size
    assert np.all(np.abs(tables.group_sizes - duration.size / 30) <= 1)
    groups = np.searchsorted(tables.duration_edges, duration, side="right")
    np.testing.assert_array_equal(tables.group_index(duration), groups)
    np.testing.assert_array_equal(np.bincount(groups), tables.group_sizes)
    for g in range(29):  # groups are ordered by duration
        assert duration[groups == g].max() < duration[groups == g + 1].min()


def test_quantile_rows_equal_numpy_quantiles():
    watch, duration = _continuous(seed=1, size=2000)
    tables = buckets.d2q_tables(watch, duration, num_groups=7, num_quantiles=21)
    assert tables.quantile_table.shape == (7, 21)
    groups = np.searchsorted(tables.duration_edges, duration, side="right")
    for g in range(7):
        np.testing.assert_allclose(tables.quantile_table[g],
                                   np.quantile(watch[groups == g], np.linspace(0, 1, 21)))
    assert np.all(np.diff(tables.quantile_table, axis=1) >= 0)


def test_hand_computed_labels_and_inverse():
    # One group per half of 0..7: rows [0, 1.5, 3] and [4, 5.5, 7] at levels 0, .5, 1.
    tables = buckets.d2q_tables(np.arange(8.0), np.arange(8.0), num_groups=2,
                                num_quantiles=3)
    np.testing.assert_array_equal(tables.duration_edges, [3.5])
    labels = buckets.d2q_quantile_label([0.75, 1.5, 3.0, 9.0, 4.5, 3.5],
                                        [0.0, 1.0, 3.4, 2.0, 3.5, 7.0], tables)
    # 4.5 in group 1: (4.5 - 4) / 1.5 * 0.5; 3.5 in group 1 is below its min 4 -> 0.
    np.testing.assert_allclose(labels, [0.25, 0.5, 1.0, 1.0, 0.5 / 3, 0.0])
    np.testing.assert_allclose(
        buckets.d2q_watch_time([0.25, -1.0, 2.0, 0.75], [1.0, 1.0, 1.0, 4.0], tables),
        [0.75, 0.0, 3.0, 6.25])


def test_round_trip_inside_table_range():
    watch, duration = _continuous(seed=2)
    tables = buckets.d2q_tables(watch, duration, num_groups=10)
    labels = buckets.d2q_quantile_label(watch, duration, tables)
    assert np.all((labels >= 0) & (labels <= 1))
    np.testing.assert_allclose(buckets.d2q_watch_time(labels, duration, tables), watch,
                               rtol=1e-9, atol=1e-9)


def test_tie_midpoint_and_out_of_range():
    # 31 zeros among 101 values: table entries at levels 0.00..0.30 are 0.
    watch = np.concatenate([np.zeros(31), np.arange(1.0, 71.0)])
    duration = np.full(101, 60.0)
    tables = buckets.d2q_tables(watch, duration, num_groups=1, num_quantiles=101)
    assert tables.duration_edges.size == 0
    label = buckets.d2q_quantile_label([0.0], [60.0], tables)
    np.testing.assert_allclose(label, [0.15])
    np.testing.assert_allclose(buckets.d2q_watch_time(label, [60.0], tables), [0.0])
    # A single (untied) table entry gives its own level: value 1 is entry 31.
    np.testing.assert_allclose(buckets.d2q_quantile_label([1.0], [60.0], tables), [0.31])
    np.testing.assert_allclose(buckets.d2q_quantile_label([500.0], [60.0], tables), [1.0])
    shifted = buckets.d2q_tables(watch + 2.0, duration, num_groups=1)
    np.testing.assert_allclose(buckets.d2q_quantile_label([1.0], [60.0], shifted), [0.0])


def test_labels_uniform_within_group():
    watch, duration = _continuous(seed=3, size=8000)
    tables = buckets.d2q_tables(watch, duration, num_groups=4)
    labels = buckets.d2q_quantile_label(watch, duration, tables)
    groups = tables.group_index(duration)
    for g in range(4):
        assert stats.kstest(labels[groups == g], "uniform").pvalue > 0.01


def test_tied_durations_collapse_groups():
    rng = np.random.default_rng(4)
    duration = rng.integers(1, 4, size=600).astype(float)  # 3 distinct durations
    watch = rng.exponential(10.0, 600)
    tables = buckets.d2q_tables(watch, duration, num_groups=10)
    groups = tables.group_index(duration)
    assert tables.num_groups <= 3 and np.all(np.diff(tables.duration_edges) > 0)
    assert np.all(tables.group_sizes >= 2)
    for value in (1.0, 2.0, 3.0):  # a tie run is never split
        assert np.unique(groups[duration == value]).size == 1


def test_small_groups_after_ties_are_merged():
    duration = np.array([1.0] * 5 + [2.0] + [3.0] * 4)
    tables = buckets.d2q_tables(np.arange(10.0), duration, num_groups=5)
    np.testing.assert_array_equal(tables.duration_edges, [2.5])
    np.testing.assert_array_equal(tables.group_sizes, [6, 4])


@pytest.mark.parametrize("args, kwargs, fragment", [
    (([1.0, 2.0], [1.0]), {}, "one per sample"),
    (([1.0, np.nan] * 40, [1.0] * 80), {"num_groups": 2}, "non-finite"),
    (([1.0] * 80, [-1.0] * 80), {"num_groups": 2}, "negative"),
    ((np.arange(20.0), np.arange(20.0)), {"num_groups": 11}, "lower num_groups"),
    ((np.arange(20.0), np.arange(20.0)), {"num_quantiles": 1}, "num_quantiles"),
    ((np.arange(20.0), np.arange(20.0)), {"num_groups": 0}, "num_groups")])
def test_d2q_errors(args, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        buckets.d2q_tables(*args, **kwargs)


def test_label_and_inverse_input_errors():
    tables = buckets.d2q_tables(np.arange(8.0), np.arange(8.0), 2, 3)
    with pytest.raises(ValueError, match="one per sample"):
        buckets.d2q_quantile_label([1.0, 2.0], [1.0], tables)
    with pytest.raises(ValueError, match="NaN"):
        buckets.d2q_watch_time([np.nan], [1.0], tables)
    with pytest.raises(ValueError, match="one per sample"):
        buckets.d2q_watch_time([0.5, 0.5], [1.0], tables)
