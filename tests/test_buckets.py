"""Tests for wt_keras.buckets grid specs, percentile endpoints, validation.

Expected values are worked out by hand (numpy's linear percentile: level p of
n sorted values sits at position p/100 * (n-1)) or by plain-Python loops.
"""
import numpy as np
import pytest

from wt_keras import buckets
from wt_keras.buckets import grid


def _reference_endpoints(values, levels):
    """Plain-Python dedup: keep a percentile only if above the last kept (t_0 = 0)."""
    kept, last = [], 0.0
    for level in levels:
        endpoint = float(np.percentile(values, level))
        if endpoint > last:
            kept.append(endpoint)
            last = endpoint
    return np.array(kept)


@pytest.mark.parametrize("name, count", [
    ("swat_choice_1", 20), ("swat_choice_2", 50), ("swat_choice_3", 100),
    ("swat_choice_4", 48 + 20), ("swat_choice_5", 48 + 50),
    ("swat_choice_6", 90 + 100)])
def test_preset_level_counts(name, count):
    levels = buckets.parse_grid_spec(name)
    assert levels.size == count
    assert np.all(np.diff(levels) > 0)
    assert levels[0] > 0 and levels[-1] == 100.0


def test_preset_strings():
    assert buckets.PRESETS["swat_choice_4"] == "0-96:2,96-100:0.2"
    assert buckets.PRESETS["swat_choice_6"] == "0-90:1,90-100:0.1"
    assert set(buckets.PRESETS) == {f"swat_choice_{i}" for i in range(1, 7)}


def test_uniform_equals_segments():
    np.testing.assert_array_equal(buckets.parse_grid_spec("uniform:20"),
                                  buckets.parse_grid_spec("0-100:5"))
    np.testing.assert_array_equal(buckets.parse_grid_spec("uniform:4"),
                                  [25.0, 50.0, 75.0, 100.0])


def test_fine_tail_segment_is_floating_point_safe():
    levels = buckets.parse_grid_spec("swat_choice_5")
    assert levels[47] == 96.0
    np.testing.assert_allclose(levels[48:], [96 + 0.08 * k for k in range(1, 51)],
                               atol=1e-9)
    assert levels[-1] == 100.0


def test_whitespace_and_partial_range():
    np.testing.assert_array_equal(buckets.parse_grid_spec(" 0-50:10 , 50-90:20 "),
                                  [10, 20, 30, 40, 50, 70, 90])


@pytest.mark.parametrize("spec, fragment", [
    ("uniform:0", "K >= 1"), ("0-100:-1", "STEP -1 <= 0"), ("abc", "cannot read"),
    ("50-40:5", "A < B"), ("0-50:5,40-100:5", "contiguous"),
    ("0-40:5,50-100:5", "must start at 40"), ("10-100:10", "start at 0"),
    ("0-100:3", "does not divide"), ("0-120:10", "B <= 100"), ("", "empty"),
    (20, "expected a string")])
def test_malformed_specs(spec, fragment):
    with pytest.raises(ValueError, match="Accepted forms") as info:
        buckets.parse_grid_spec(spec)
    assert fragment in str(info.value)


def test_boundaries_match_hand_computed_percentiles():
    # 0..10: levels 20, 40, ... sit exactly on the samples 2, 4, ...
    np.testing.assert_allclose(
        buckets.boundaries_from_percentiles(np.arange(11.0), "uniform:5"),
        [2, 4, 6, 8, 10])
    # [1, 2, 3, 4]: level 50 at position 1.5 -> 2.5; level 100 -> max.
    np.testing.assert_allclose(
        buckets.boundaries_from_percentiles([4, 1, 3, 2], "uniform:2"), [2.5, 4])
    # [10..50]: levels 25, 50, 100 at positions 1, 2, 4.
    np.testing.assert_allclose(buckets.boundaries_from_percentiles(
        [10, 20, 30, 40, 50], "0-50:25,50-100:50"), [20, 30, 50])
    np.testing.assert_allclose(
        buckets.boundaries_from_percentiles([0, 10], "uniform:4"), [2.5, 5, 7.5, 10])


def test_preset_names_accepted():
    values = np.random.default_rng(1).exponential(30.0, size=5000)
    by_name = buckets.boundaries_from_percentiles(values, "swat_choice_4")
    by_spec = buckets.boundaries_from_percentiles(values, "0-96:2,96-100:0.2")
    levels = np.concatenate([np.arange(2, 97, 2), 96 + 0.2 * np.arange(1, 21)])
    np.testing.assert_array_equal(by_name, by_spec)
    np.testing.assert_allclose(by_name, np.percentile(values, levels))
    assert by_name[-1] == values.max()


def test_forty_percent_zeros_are_dropped():
    values = np.array([0.0] * 40 + list(range(1, 61)))  # value at index i>=40 is i-39
    # Levels 10, 20, 30 give 0; level 40 sits at position 39.6 -> 0.6, etc.
    np.testing.assert_allclose(
        buckets.boundaries_from_percentiles(values, "uniform:10"),
        [0.6, 10.5, 20.4, 30.3, 40.2, 50.1, 60.0])


def test_swat_18_of_20_effect():
    rng = np.random.default_rng(7)
    values = np.concatenate([np.zeros(150), rng.exponential(20.0, 850)])
    # 15 % zeros: the 5th and 10th percentiles are 0; the 15th (position
    # 149.85) interpolates towards the first positive value.
    endpoints = buckets.boundaries_from_percentiles(values, "swat_choice_1")
    assert endpoints.size == 18
    np.testing.assert_allclose(endpoints, np.percentile(values, np.arange(15, 101, 5)))


def test_ties_from_rounded_seconds_match_reference():
    rng = np.random.default_rng(3)
    values = np.round(rng.exponential(3.0, 2000))  # few distinct values
    levels = np.arange(2, 101, 2)
    endpoints = buckets.boundaries_from_percentiles(values, "swat_choice_2")
    np.testing.assert_array_equal(endpoints, _reference_endpoints(values, levels))
    assert endpoints.size < 50


@pytest.mark.parametrize("seed", range(6))
def test_random_data_strictly_increasing_and_positive(seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([np.zeros(rng.integers(0, 300)),
                             np.round(rng.lognormal(2, 1.5, 1000), seed % 3),
                             np.full(rng.integers(0, 200), 5.0)])
    spec = list(buckets.PRESETS)[seed]
    endpoints = buckets.boundaries_from_percentiles(values, spec)
    assert np.all(endpoints > 0) and np.all(np.diff(endpoints) > 0)
    np.testing.assert_array_equal(buckets.validate_boundaries(endpoints), endpoints)
    np.testing.assert_array_equal(
        endpoints, _reference_endpoints(values, buckets.parse_grid_spec(spec)))
    integer = buckets.boundaries_from_percentiles(values, spec, time_scale=1)
    assert np.all(integer == np.round(integer)) and np.all(np.diff(integer) > 0)


def test_time_scale_integerisation():
    values = 0.37 * np.arange(11.0)  # uniform:5 -> 0.74, 1.48, 2.22, 2.96, 3.7
    np.testing.assert_allclose(
        buckets.boundaries_from_percentiles(values, "uniform:5", time_scale=1),
        [1, 2, 3, 4])
    np.testing.assert_allclose(
        buckets.boundaries_from_percentiles(values, "uniform:5", time_scale=10),
        [0.7, 1.5, 2.2, 3.0, 3.7])


def test_integerize():
    np.testing.assert_allclose(buckets.integerize([0.3, 1.2, 1.4, 2.6], 1), [1, 3])
    np.testing.assert_allclose(buckets.integerize([0.04, 0.26, 0.31, 1.449], 10),
                               [0.3, 1.4])
    # Half to even, like tf.round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
    np.testing.assert_allclose(buckets.integerize([0.5, 1.5, 2.5], 1), [2])
    with pytest.raises(ValueError, match="larger time_scale"):
        buckets.integerize([0.1, 0.2], 1)
    for bad_scale in (0, -1, float("nan"), "1"):
        with pytest.raises(ValueError, match="time_scale must be"):
            buckets.integerize([1.0, 2.0], bad_scale)


@pytest.mark.parametrize("values, fragment", [
    (np.full(100, 5.0), "Only 1 bucket"), (np.zeros(50), "Only 0 bucket"),
    ([1.0, np.nan, 2.0], "non-finite"), ([1.0, -2.0, 3.0], "negative"),
    ([1.0, np.inf], "non-finite"), ([], "empty")])
def test_boundary_errors(values, fragment):
    with pytest.raises(ValueError, match=fragment):
        buckets.boundaries_from_percentiles(values, "uniform:20")


def test_too_few_buckets_message_and_min_buckets():
    with pytest.raises(ValueError, match="lower min_buckets"):
        buckets.boundaries_from_percentiles(np.full(100, 5.0))
    np.testing.assert_array_equal(
        buckets.boundaries_from_percentiles(np.full(100, 5.0), min_buckets=1), [5.0])
    with pytest.raises(ValueError, match="time_scale=1"):
        buckets.boundaries_from_percentiles(np.linspace(0, 0.4, 50), time_scale=1)


@pytest.mark.parametrize("boundaries, fragment", [
    ([1.0, 1.0, 2.0], "index 1 (1) <= index 0"), ([3.0, 2.0], "strictly increasing"),
    ([0.0, 1.0], "index 0 is 0"), ([1.0, -1.0], "must be > 0"),
    ([1.0, np.nan], "index 1 is nan"), ([], "non-empty"), ([[1.0, 2.0]], "1-D"),
    (["a"], "numeric")])
def test_validate_boundaries_errors(boundaries, fragment):
    with pytest.raises(ValueError, match="boundaries_from_percentiles") as info:
        buckets.validate_boundaries(boundaries)
    assert fragment in str(info.value)


def test_validate_boundaries_and_widths():
    checked = buckets.validate_boundaries([1, 2.5, 7])
    assert checked.dtype == np.float64
    np.testing.assert_array_equal(checked, [1.0, 2.5, 7.0])
    np.testing.assert_array_equal(buckets.widths([2, 5, 6]), [2.0, 3.0, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        buckets.widths([2, 2])


def _kept_at(endpoints, alpha):
    """Plain-Python count of endpoints distinct and > 0 after rounding to units of 1/alpha."""
    kept, last = 0, 0
    for value in endpoints:
        units = round(value * alpha)   # Python's round is half to even, like np.round
        if units > last:
            kept, last = kept + 1, units
    return kept


@pytest.mark.parametrize("scale", [0.01, 0.3, 1.0, 6.0, 40.0, 900.0])
def test_auto_time_scale_is_the_smallest_power_of_ten_keeping_90_percent(scale):
    labels = np.random.default_rng(7).lognormal(0.0, 1.0, 4000) * scale
    for spec in ("uniform:20", "swat_choice_4"):
        requested = sorted(set(float(v) for v in np.percentile(labels, grid.parse_grid_spec(spec))
                               if v > 0))
        alpha = buckets.choose_time_scale(labels, spec)
        exponent = int(round(np.log10(alpha)))
        assert alpha == 10.0 ** exponent and exponent >= 0
        assert _kept_at(requested, alpha) >= 0.9 * len(requested)
        if exponent > 0:   # one power of ten less keeps too few
            assert _kept_at(requested, alpha / 10) < 0.9 * len(requested)
        auto = buckets.boundaries_from_percentiles(labels, spec, time_scale="auto")
        np.testing.assert_allclose(
            auto, buckets.boundaries_from_percentiles(labels, spec, time_scale=alpha))
        assert auto.size >= 0.9 * len(requested)


def test_auto_time_scale_on_labels_below_six_seconds():
    # Labels in [0, 6) s (CIKM16 dwell): whole seconds keep at most 6 endpoints.
    labels = np.random.default_rng(3).uniform(0, 6, 2000) ** 2 / 6
    with pytest.raises(ValueError, match="Only 1 bucket"):
        buckets.boundaries_from_percentiles(labels[labels < 0.6], "uniform:20", time_scale=1)
    alpha = buckets.choose_time_scale(labels, "swat_choice_4")
    assert alpha in (10.0, 100.0, 1000.0)
    kept = buckets.boundaries_from_percentiles(labels, "swat_choice_4", time_scale="auto")
    assert kept.size >= 0.9 * buckets.boundaries_from_percentiles(labels, "swat_choice_4").size
    assert buckets.time_scale_for_boundaries([3.0, 8.0, 20.0]) == 1.0
    assert buckets.time_scale_for_boundaries([1.2, 1.4, 3.0]) == 10.0
    with pytest.raises(ValueError, match="min_fraction"):
        buckets.time_scale_for_boundaries([1.0], min_fraction=0)
    with pytest.raises(ValueError, match="keeps fewer"):
        buckets.time_scale_for_boundaries([1e-9, 2e-9], max_exponent=3)
