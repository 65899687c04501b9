"""Exact pairwise ranking metrics for watch time: XAUC and XGAUC (numpy).

XAUC (Zhan et al. 2022) is the probability that a random pair of examples with
different watch times is ordered correctly by the prediction:

    XAUC = (C + (T_pred - T_both) / 2) / (P - T_label)

where P = n(n-1)/2 is the number of pairs, T_label / T_pred / T_both count pairs
tied in the label / prediction / both, and C counts concordant pairs (same strict
order in label and prediction). Pairs tied in the label are excluded; pairs tied
only in the prediction count 1/2. Everything is exact over all pairs.
"""
import math

import numpy as np
import scipy.stats

from wt_keras.metrics import _checks

# Groups up to this size are scored by enumerating their pairs in one vectorised
# batch; bigger groups use the O(n log n) counter, whose fixed per-call overhead
# (about 0.3 ms) beats O(n^2) pair enumeration above roughly this size.
_SMALL_GROUP_MAX_SIZE = 150
# Upper bound on the pairs materialised at once: temporaries take ~50 B per pair.
_PAIRS_PER_CHUNK = 1 << 20
# tau_b * sqrt(...) * sqrt(...) recovers C - D after ~7 float64 roundings, i.e.
# with absolute error <= 7 * 2**-53 * P. Below P = 2**48 pairs (n ~ 2.4e7) that is
# < 0.25, so rounding to the nearest integer gives the exact count.
_EXACT_ROUNDING_LIMIT = 1 << 48


def _tied_pairs(sorted_values: np.ndarray) -> int:
    """Number of pairs with equal values, given the values in sorted order."""
    run_starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1],
                                      True])
    run_lengths = np.diff(run_starts).astype(np.int64)
    return int((run_lengths * (run_lengths - 1) // 2).sum())


def _dense_ranks(values: np.ndarray):
    """Integer ranks 0..k-1 (equal values share a rank) and the number k."""
    unique_values, ranks = np.unique(values, return_inverse=True)
    return ranks.astype(np.int64), unique_values.size


def _pair_counts(labels: np.ndarray, predictions: np.ndarray):
    """Exact integer counts behind XAUC for one set of examples.

    Returns:
      (agreement_x2, valid_pairs): twice the XAUC numerator (concordant pairs
      count 2, prediction ties 1) and the number of pairs with different labels.
      XAUC = agreement_x2 / (2 * valid_pairs); valid_pairs == 0 means undefined.
    """
    n = labels.size
    total_pairs = n * (n - 1) // 2
    label_ranks, label_levels = _dense_ranks(labels)
    prediction_ranks, prediction_levels = _dense_ranks(predictions)
    label_ties = _tied_pairs(np.sort(label_ranks))
    valid_pairs = total_pairs - label_ties
    if valid_pairs == 0:
        return 0, 0
    prediction_ties = _tied_pairs(np.sort(prediction_ranks))
    if prediction_ties == total_pairs:  # every prediction equal: all pairs are ties
        return valid_pairs, valid_pairs
    # One integer key per (label, prediction) combination: joint ties are runs.
    joint_key = label_ranks * prediction_levels + prediction_ranks
    both_ties = _tied_pairs(np.sort(joint_key))

    # Discordant pairs need a merge-sort inversion count. scipy.stats.kendalltau
    # (tau-b) does exactly that sort + merge in compiled code, so we reuse it
    # instead of hand-writing one: tau_b = (C - D) / sqrt((P - T_label)(P - T_pred)).
    tau_b = scipy.stats.kendalltau(label_ranks, prediction_ranks).statistic
    concordant_minus_discordant = (
        tau_b * math.sqrt(valid_pairs) * math.sqrt(total_pairs - prediction_ties))
    if total_pairs < _EXACT_ROUNDING_LIMIT:
        concordant_minus_discordant = round(concordant_minus_discordant)
    # Pairs untied in both label and prediction are either concordant or discordant.
    concordant_plus_discordant = (
        total_pairs - label_ties - prediction_ties + both_ties)
    concordant_x2 = concordant_plus_discordant + concordant_minus_discordant
    agreement_x2 = concordant_x2 + (prediction_ties - both_ties)
    return agreement_x2, valid_pairs


def xauc(y_true, y_pred) -> float:
    """Exact XAUC over all pairs in O(n log n).

    XAUC = (C + (T_pred - T_both) / 2) / (P - T_label): the fraction of pairs with
    different labels whose predicted order agrees with the label order, where
    prediction ties count 1/2 and label ties are excluded (see module docstring).

    Args:
      y_true: observed watch times, shape [n] or [n, 1].
      y_pred: predicted watch times (or any score), same shape.

    Returns:
      XAUC in [0, 1] as a Python float; 0.5 when all predictions are equal.

    Raises:
      ValueError: on invalid input, or when y_true has fewer than 2 distinct
        values (no pair has different labels, so XAUC is undefined).

    Example:
      >>> xauc([1.0, 2.0, 3.0], [0.1, 0.3, 0.2])  # 2 of 3 pairs ordered right
      0.6666666666666666
    """
    labels, predictions = _checks.as_pair(y_true, y_pred)
    agreement_x2, valid_pairs = _pair_counts(labels, predictions)
    if valid_pairs == 0:
        raise ValueError(
            "XAUC is undefined: y_true has fewer than 2 distinct values, so there "
            "is no pair with different watch times to rank. Fix: evaluate on more "
            "examples, or skip this slice.")
    # Python int / int is correctly rounded, so no precision is lost here.
    return agreement_x2 / (2 * valid_pairs)


def _small_group_counts(labels, predictions, starts, sizes):
    """Pair counts for many small groups by enumerating all their pairs at once.

    Groups of equal size s form one [groups, s] matrix, so a whole size class is
    scored with a few vectorised operations over its s(s-1)/2 column pairs.

    Args:
      labels, predictions: float64 arrays sorted by group.
      starts, sizes: int64 arrays, first index and size of each group.

    Returns:
      (agreement_x2, valid_pairs) as int64 arrays, one entry per group.
    """
    agreement_x2 = np.zeros(starts.size, np.int64)
    valid_pairs = np.zeros(starts.size, np.int64)
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        first, second = np.triu_indices(size, 1)
        groups_per_chunk = max(1, _PAIRS_PER_CHUNK // first.size)
        for lo in range(0, members.size, groups_per_chunk):
            chunk = members[lo:lo + groups_per_chunk]
            rows = starts[chunk, None] + np.arange(size)
            group_labels, group_predictions = labels[rows], predictions[rows]
            label_sign = np.sign(group_labels[:, first] - group_labels[:, second])
            prediction_sign = np.sign(group_predictions[:, first]
                                      - group_predictions[:, second])
            valid = label_sign != 0
            # Concordant -> 2, prediction tie -> 1, discordant -> 0 (x2 keeps ints).
            agreement = (1 + label_sign * prediction_sign) * valid
            agreement_x2[chunk] = agreement.sum(axis=1)
            valid_pairs[chunk] = valid.sum(axis=1)
    return agreement_x2, valid_pairs


def xgauc(y_true, y_pred, groups, weighted: bool = False) -> float:
    """Group-averaged XAUC (e.g. per user), exact within each group.

    XGAUC = (1 / |G|) * sum_{g in G} XAUC_g, where G holds the groups with at least
    2 distinct labels (unweighted mean over groups, as in the D2Q paper). With
    `weighted=True` each group is weighted by its number of valid pairs, which
    equals XAUC over all within-group pairs pooled together.

    Args:
      y_true: observed watch times, shape [n] or [n, 1].
      y_pred: predictions, same shape.
      groups: group id per example (ints or strings), same length.
      weighted: weight groups by their number of pairs with different labels.

    Returns:
      XGAUC in [0, 1] as a Python float.

    Raises:
      ValueError: on invalid input, or when no group has 2 distinct labels.

    Example:
      >>> xgauc([1, 2, 1, 2], [0.1, 0.2, 0.2, 0.1], groups=["a", "a", "b", "b"])
      0.5
    """
    labels, predictions = _checks.as_pair(y_true, y_pred)
    group_ids = _checks.as_vector(groups, "groups", numeric=False)
    _checks.check_group_ids(group_ids)
    if group_ids.size != labels.size:
        raise ValueError(
            f"groups has length {group_ids.size} but y_true has {labels.size}. "
            "Fix: pass one group id (e.g. user id) per example.")
    if group_ids.dtype.kind == "f" and not np.isfinite(group_ids).all():
        raise ValueError("groups contains NaN/inf. Fix: give every example a "
                         "valid group id (drop or fill missing ones).")
    # Sort by group once; each group is then one contiguous slice.
    _, group_codes = np.unique(group_ids, return_inverse=True)
    order = np.argsort(group_codes, kind="stable")
    labels, predictions = labels[order], predictions[order]
    sizes = np.bincount(group_codes).astype(np.int64)
    starts = np.cumsum(sizes) - sizes

    agreement_x2 = np.zeros(sizes.size, np.int64)
    valid_pairs = np.zeros(sizes.size, np.int64)
    small = np.flatnonzero((sizes >= 2) & (sizes <= _SMALL_GROUP_MAX_SIZE))
    agreement_x2[small], valid_pairs[small] = _small_group_counts(
        labels, predictions, starts[small], sizes[small])
    for group in np.flatnonzero(sizes > _SMALL_GROUP_MAX_SIZE):
        rows = slice(starts[group], starts[group] + sizes[group])
        agreement_x2[group], valid_pairs[group] = _pair_counts(
            labels[rows], predictions[rows])

    scored = valid_pairs > 0
    if not scored.any():
        raise ValueError(
            "XGAUC is undefined: no group has 2 distinct values of y_true, so "
            "no within-group pair can be ranked. Fix: check the group ids (e.g. "
            "one id per user, not per example) or evaluate on more data.")
    if weighted:
        return int(agreement_x2.sum()) / (2 * int(valid_pairs.sum()))
    per_group = agreement_x2[scored] / (2.0 * valid_pairs[scored])
    return float(per_group.mean())
