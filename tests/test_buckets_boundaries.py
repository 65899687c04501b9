"""BucketBoundaries: construction from labels, validation, versioned JSON round trips."""
import dataclasses
import doctest
import json

import numpy as np
import pytest

from wt_keras import buckets
from wt_keras.buckets import BucketBoundaries, InvalidBoundariesError
from wt_keras.buckets import boundaries as boundaries_module


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(3)
    duration = np.round(rng.uniform(5.0, 120.0, 600), 1)
    watch = np.round(duration * rng.beta(0.9, 1.6, 600) + rng.exponential(1.0, 600), 2)
    return watch, duration


@pytest.fixture(scope="module")
def exact(sample):
    return BucketBoundaries.from_labels(*sample, grid_spec="uniform:10", time_scale=1.0,
                                        cread_num_buckets=12, d2q_num_groups=5, num_quantiles=11,
                                        tpm_grid_spec="uniform:4", label_key="watch_time_s",
                                        duration_key="duration_s")


def test_from_labels_uses_the_percentiles_of_the_training_labels():
    watch = np.arange(1.0, 101.0)
    b = BucketBoundaries.from_labels(watch, watch, "uniform:4", time_scale=1.0,
                                     cread_num_buckets=4, d2q_num_groups=4, num_quantiles=3)
    # Linear-interpolation percentiles of 1..100: 25.75, 50.5, 75.25, 100, rounded
    # half to even to whole seconds.
    assert b.boundaries.tolist() == [26.0, 50.0, 75.0, 100.0]
    assert b.num_buckets == 4 and b.time_scale == 1.0 and b.time_scale_source == "given"
    assert b.d2q_duration_edges.tolist() == [25.5, 50.5, 75.5]   # ranks 25, 50, 75
    assert b.d2q_quantile_table[0].tolist() == [1.0, 13.0, 25.0]
    assert b.d2q_group_sizes.tolist() == [25, 25, 25, 25]
    assert b.num_examples == 100 and b.rank_error == 0.0


def test_from_labels_chooses_alpha_when_not_given():
    watch = np.random.default_rng(0).exponential(1.2, 2000)   # mostly < 6 s
    b = BucketBoundaries.from_labels(watch, np.ones_like(watch) + np.arange(2000),
                                     cread_num_buckets=10, d2q_num_groups=3, num_quantiles=5)
    assert b.time_scale_source == "auto" and b.time_scale == 10.0
    assert np.array_equal(b.boundaries, np.unique(np.round(b.boundaries * 10) / 10))
    assert b.head_time_scale == 10.0


def test_json_round_trip_keeps_every_value_exactly(exact):
    text = exact.to_json()
    back = BucketBoundaries.from_json(text)
    assert back == exact and back is not exact
    for field in dataclasses.fields(BucketBoundaries):
        left, right = getattr(exact, field.name), getattr(back, field.name)
        if isinstance(left, np.ndarray):
            assert left.dtype == right.dtype and np.array_equal(left, right), field.name
        else:
            assert left == right, field.name
    assert json.loads(text)["format_version"] == 1
    # The TFX Trainer hands over the decoded dict: the same parser reads it.
    assert BucketBoundaries.from_json(json.loads(text)) == exact


def test_round_trip_of_a_pipeline_style_value_with_levels_and_sketch(exact):
    rich = dataclasses.replace(
        exact, levels=tuple([10.0 * k for k in range(1, exact.num_buckets)] + [None]),
        sketch_size=500, sketch_exact=False, sketch_epsilon=0.002, split="train",
        rank_error=0.1 + 0.2, d2q_rank_error=1 / 3, cread_objective=2.0 ** -40,
        d2q_group_rank_errors=tuple(0.01 * g for g in range(exact.num_groups)),
        time_scale_source="auto")
    back = BucketBoundaries.from_json(rich.to_json())
    assert back == rich and back.rank_error == 0.1 + 0.2 and back.levels[-1] is None
    assert back.sketch_exact is False and back.sketch_size == 500


def test_value_is_frozen(exact):
    with pytest.raises(dataclasses.FrozenInstanceError):
        exact.time_scale = 10.0
    with pytest.raises(ValueError, match="read-only"):
        exact.boundaries[0] = 0.5


@pytest.mark.parametrize("edit, match", [
    (lambda p: p.update(format_version=2), r"format_version 2 is newer .* upgrade wt_keras"),
    (lambda p: p.update(format_version="1"), r"format_version is '1'"),
    (lambda p: p.pop("d2q"), r"missing key\(s\) d2q"),
    (lambda p: p["cread"].pop("alpha"), r"missing key\(s\) cread.alpha"),
    (lambda p: p.update(boundary=[1.0]), r"unknown key\(s\) boundary"),
    (lambda p: p.update(num_buckets=3), r"num_buckets is 3 but the data has"),
    (lambda p: p["d2q"].update(quantile_table=[[1.0, 0.5]]), r"d2q.quantile_table has shape"),
    (lambda p: p.update(boundaries=[2.0, 1.0] + p["boundaries"][2:]), "strictly increasing"),
    (lambda p: p.update(time_scale=0.1), "not integerised at time_scale=0.1"),
    (lambda p: p.update(boundaries=[0.5, 1.5] + p["boundaries"][2:]), "not integerised"),
    (lambda p: p.update(time_scale_source="cli"), "time_scale_source"),
    (lambda p: p.update(grid_spec="uniform:0"), "grid_spec"),
    (lambda p: p["d2q"].update(group_sizes=[1, 2]), "group_sizes has 2 entries"),
    (lambda p: p.update(rank_error=2.0), r"rank_error must be in \[0, 1\]"),
    (lambda p: p["cread"].update(num_buckets=3), r"cread has \d+ boundaries but num_buckets"),
])
def test_from_json_refuses_broken_payloads_saying_what_is_wrong(exact, edit, match):
    payload = json.loads(exact.to_json())
    edit(payload)
    with pytest.raises(InvalidBoundariesError, match=match) as caught:
        BucketBoundaries.from_json(json.dumps(payload), source="the test file")
    assert "the test file" in str(caught.value) and "Regenerate" in str(caught.value)


def test_a_file_without_format_version_is_read_as_version_1(exact):
    payload = json.loads(exact.to_json())
    del payload["format_version"]
    assert BucketBoundaries.from_json(payload) == exact


def test_not_json_and_not_an_object():
    with pytest.raises(InvalidBoundariesError, match="not valid JSON"):
        BucketBoundaries.from_json("{nope")
    with pytest.raises(InvalidBoundariesError, match="must be a JSON object"):
        BucketBoundaries.from_json("[1, 2]")


def test_validate_checks_objects_built_in_code(exact):
    assert exact.validate() is exact
    with pytest.raises(InvalidBoundariesError, match="need K >= 2"):
        dataclasses.replace(exact, boundaries=[5.0]).validate()
    with pytest.raises(InvalidBoundariesError, match="must be finite"):
        dataclasses.replace(exact, cread_alpha=float("nan")).validate()
    with pytest.raises(InvalidBoundariesError, match="rows must be finite and non-decreasing"):
        table = exact.d2q_quantile_table.copy()
        table[0, ::-1] = table[0].copy() + 1.0
        dataclasses.replace(exact, d2q_quantile_table=table).validate()
    with pytest.raises(InvalidBoundariesError):   # to_json never writes an invalid value
        dataclasses.replace(exact, d2q_duration_edges=exact.d2q_duration_edges[::-1]).to_json()


def test_duration_group_counts_the_edges_at_or_below_each_duration():
    rng = np.random.default_rng(1)
    edges = np.sort(rng.choice(np.arange(1.0, 50.0), 7, replace=False))
    duration = np.r_[rng.uniform(0.0, 60.0, 200), edges]   # edges themselves go up a group
    expected = [sum(edge <= d for edge in edges) for d in duration]
    assert buckets.duration_group(duration, edges).tolist() == expected


def test_duration_edges_and_quantile_row_make_up_d2q_tables(sample):
    watch, duration = sample
    tables = buckets.d2q_tables(watch, duration, num_groups=6, num_quantiles=21)
    edges = buckets.duration_edges(duration, num_groups=6)
    np.testing.assert_array_equal(edges, tables.duration_edges)
    groups = buckets.duration_group(duration, edges)
    for g in range(edges.size + 1):
        members = np.sort(watch[groups == g])
        row = buckets.quantile_row(members, num_quantiles=21)
        np.testing.assert_array_equal(row, tables.quantile_table[g])
        # Linear interpolation between order statistics at positions level * (n - 1).
        position = np.linspace(0.0, 1.0, 21) * (members.size - 1)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, members.size - 1)
        by_hand = members[low] + (position - low) * (members[high] - members[low])
        np.testing.assert_allclose(row, by_hand, rtol=1e-12)
    with pytest.raises(ValueError, match="too few for 6 duration groups"):
        buckets.duration_edges(duration[:11], num_groups=6)
    with pytest.raises(ValueError, match="num_quantiles must be an integer >= 2"):
        buckets.quantile_row(watch, num_quantiles=1)


def test_docstring_examples_run():
    result = doctest.testmod(boundaries_module)
    assert result.attempted >= 3 and result.failed == 0
