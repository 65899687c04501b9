"""numpy metrics: XAUC/XGAUC against brute force, MAE/Pearson, input errors."""
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats

from wt_keras import metrics
from wt_keras.metrics import ranking


def brute_force_xauc(labels, predictions):
    """O(n^2) loop over all pairs, exactly as XAUC is defined."""
    agreement, valid = Fraction(0), 0
    n = len(labels)
    for i in range(n):
        for j in range(i + 1, n):
            if labels[i] == labels[j]:
                continue  # label ties are excluded
            valid += 1
            if predictions[i] == predictions[j]:
                agreement += Fraction(1, 2)
            elif (labels[i] < labels[j]) == (predictions[i] < predictions[j]):
                agreement += 1
    return agreement, valid


def brute_force_xauc_value(labels, predictions):
    agreement, valid = brute_force_xauc(labels, predictions)
    return float(agreement / valid)


def contingency_xauc(labels, predictions):
    """Integer-exact XAUC for data with few distinct values, via a 2-D table.

    Independent of the code under test and cheap for huge n, so it checks
    precision when the number of pairs is ~5e11.
    """
    _, label_codes = np.unique(labels, return_inverse=True)
    _, prediction_codes = np.unique(predictions, return_inverse=True)
    shape = (label_codes.max() + 1, prediction_codes.max() + 1)
    table = np.bincount(label_codes * shape[1] + prediction_codes,
                        minlength=shape[0] * shape[1]).reshape(shape)
    # above[a, b] = examples with label > a and prediction > b.
    suffix = table[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1]
    above = np.zeros_like(table)
    above[:-1, :-1] = suffix[1:, 1:]
    concordant = sum(int(x) for x in (table * above).ravel())
    # Same prediction, different label: per prediction column, all pairs minus
    # pairs inside one cell.
    column = table.sum(0)
    prediction_only_ties = (sum(int(c) * int(c) for c in column)
                            - sum(int(c) * int(c) for c in table.ravel())) // 2
    n = len(labels)
    label_ties = sum(int(r) * (int(r) - 1) // 2 for r in table.sum(1))
    valid = n * (n - 1) // 2 - label_ties
    return Fraction(2 * concordant + prediction_only_ties, 2 * valid)


@pytest.mark.parametrize("labels, predictions, expected", [
    ([1, 2, 3], [1, 2, 3], 1.0),
    ([1, 2, 3], [3, 2, 1], 0.0),
    ([1, 2, 3], [7, 7, 7], 0.5),                 # all predictions tied
    ([0, 1], [1, 0], 0.0),                       # n = 2
    ([0, 1], [5, 5], 0.5),
    ([1, 1, 2], [0, 5, 3], 0.5),                 # one right, one wrong, one excluded
    ([0, 1, 2, 2], [0.1, 0.1, 0.5, 0.3], 0.9),   # (0.5 + 4) / 5 valid pairs
    ([1, 2, 3], [0.1, 0.3, 0.2], 2 / 3),
])
def test_xauc_hand_computed(labels, predictions, expected):
    assert metrics.xauc(np.array(labels), np.array(predictions)) == pytest.approx(
        expected, abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [2, 3, 7, 40, 150])
def test_xauc_matches_brute_force_with_ties(seed, n):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, n)
    labels[:2] = [0, 1]  # guarantee 2 distinct labels
    predictions = rng.integers(0, 4, n).astype(float)  # many prediction ties
    assert metrics.xauc(labels, predictions) == pytest.approx(
        brute_force_xauc_value(labels, predictions), abs=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_xauc_matches_brute_force_continuous(seed):
    rng = np.random.default_rng(seed)
    labels = rng.exponential(30.0, 200)
    predictions = labels + rng.normal(0, 20.0, 200)
    assert metrics.xauc(labels, predictions) == pytest.approx(
        brute_force_xauc_value(labels, predictions), abs=1e-15)


def test_xauc_counts_negative_and_positive_zero_labels_as_one_value():
    labels = np.array([0.0, -0.0, 1.0, 2.0, -0.0, 1.0])
    predictions = np.array([0.3, 0.1, 0.2, 0.9, 0.2, 0.2])
    assert metrics.xauc(labels, predictions) == pytest.approx(
        brute_force_xauc_value(np.abs(labels), predictions), abs=1e-15)


@pytest.fixture(params=["scipy", "numpy"])
def discordant_counter(request, monkeypatch):
    """XAUC with scipy's compiled discordant-pair counter, and with the numpy fallback."""
    if request.param == "numpy":
        monkeypatch.setattr(ranking, "_kendall_dis", None)
    else:
        assert ranking._kendall_dis is not None, "the pinned scipy has lost _kendall_dis"
    return request.param


@pytest.mark.parametrize("seed", range(3))
def test_both_discordant_pair_counters_match_brute_force(discordant_counter, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 9, 300)
    ties = rng.integers(0, 30, 300).astype(float)                   # runs of equal predictions
    continuous = labels + rng.normal(0, 3.0, 300)
    for predictions in (ties, continuous):
        assert metrics.xauc(labels, predictions) == pytest.approx(
            brute_force_xauc_value(labels, predictions), abs=1e-15)


def test_xauc_is_exact_for_half_a_trillion_pairs(discordant_counter):
    # n = 1e6 -> 5e11 pairs; few distinct values make an integer-exact check cheap.
    rng = np.random.default_rng(7)
    n = 1_000_000
    labels = rng.integers(0, 40, n)
    predictions = np.round(labels + rng.normal(0, 15, n) / 4)
    expected = contingency_xauc(labels, predictions)
    assert metrics.xauc(labels, predictions) == float(expected)


def test_contingency_reference_agrees_with_brute_force():
    rng = np.random.default_rng(3)
    labels, predictions = rng.integers(0, 5, 60), rng.integers(0, 5, 60)
    agreement, valid = brute_force_xauc(labels, predictions)
    assert contingency_xauc(labels, predictions) == agreement / valid


def test_xauc_accepts_column_vectors_and_is_label_scale_invariant():
    rng = np.random.default_rng(1)
    labels, predictions = rng.normal(size=50), rng.normal(size=50)
    expected = metrics.xauc(labels, predictions)
    assert metrics.xauc(labels[:, None], predictions[:, None]) == expected
    assert metrics.xauc(np.exp(labels), predictions * 3 + 1) == expected


def brute_force_xgauc(labels, predictions, groups, weighted=False):
    per_group, agreement_sum, valid_sum = [], Fraction(0), 0
    for group in np.unique(groups):
        rows = groups == group
        agreement, valid = brute_force_xauc(labels[rows], predictions[rows])
        if valid:
            per_group.append(float(agreement / valid))
            agreement_sum += agreement
            valid_sum += valid
    return float(agreement_sum / valid_sum) if weighted else float(np.mean(per_group))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_xgauc_matches_brute_force_per_group(seed, weighted):
    rng = np.random.default_rng(seed)
    # Sizes cover singletons, small groups and groups above the small-group
    # cutoff (which use the O(n log n) path).
    sizes = [1, 2, 3, 5, 8, 20, 151, 260] + list(rng.integers(1, 30, 10))
    groups = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(groups)
    labels = rng.integers(0, 5, groups.size).astype(float)
    labels[groups == 3] = 2.0  # one group with a single label: excluded
    predictions = rng.integers(0, 6, groups.size).astype(float)
    assert metrics.xgauc(labels, predictions, groups, weighted=weighted) == (
        pytest.approx(brute_force_xgauc(labels, predictions, groups, weighted),
                      abs=1e-12))


def test_xgauc_string_groups_and_single_group_equals_xauc():
    labels = np.array([1.0, 2.0, 1.0, 2.0, 3.0])
    predictions = np.array([0.1, 0.2, 0.2, 0.1, 0.3])
    groups = np.array(["a", "a", "b", "b", "b"])
    # a: 1 pair right -> 1.0; b: (1,2) wrong, (1,3) right, (2,3) right -> 2/3.
    assert metrics.xgauc(labels, predictions, groups) == pytest.approx(5 / 6)
    assert metrics.xgauc(labels, predictions, np.zeros(5)) == metrics.xauc(
        labels, predictions)


def test_mae_and_pearson():
    assert metrics.mae([10.0, 20.0, 0.0], [12.0, 17.0, 1.0]) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    labels = rng.exponential(40.0, 500)
    predictions = labels + rng.normal(0, 30, 500)
    assert metrics.pearson(labels, predictions) == pytest.approx(
        scipy.stats.pearsonr(labels, predictions)[0], abs=1e-12)
    # Large offset, small spread: the centred formula keeps full precision.
    assert metrics.pearson(labels + 1e6, predictions) == pytest.approx(
        scipy.stats.pearsonr(labels, predictions)[0], abs=1e-9)


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.xauc([1, 2, 3], [1, 2]), "different lengths"),
    (lambda: metrics.xauc([], []), "empty"),
    (lambda: metrics.xauc([1, np.nan], [1, 2]), "NaN/inf"),
    (lambda: metrics.mae([1, 2], [1, np.inf]), "NaN/inf"),
    (lambda: metrics.xauc(np.ones((3, 2)), np.ones((3, 2))), r"shape \[n\]"),
    (lambda: metrics.xauc(["a", "b"], [1, 2]), "numeric"),
    (lambda: metrics.xauc([4, 4, 4], [1, 2, 3]), "fewer than 2 distinct"),
    (lambda: metrics.pearson([1, 2, 3], [5, 5, 5]), "constant"),
    (lambda: metrics.pearson([1], [2]), "at least 2"),
    (lambda: metrics.xgauc([1, 2], [1, 2], [0]), "groups has length"),
    (lambda: metrics.xgauc([1, 2, 1], [1, 2, 3], [0, 1, 2]), "no group"),
])
def test_invalid_input_raises_value_error_with_fix(call, message):
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "Fix" in str(error.value) or "undefined" in str(error.value)
