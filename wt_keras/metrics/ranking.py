"""Exact pairwise ranking metrics for watch time: XAUC and XGAUC (numpy).

XAUC (Zhan et al. 2022) is the probability that a random pair of examples with
different watch times is ordered correctly by the prediction:

    XAUC = (C + (T_pred - T_both) / 2) / (P - T_label)

where P = n(n-1)/2 is the number of pairs, T_label / T_pred / T_both count pairs
tied in the label / prediction / both, and C counts concordant pairs (same strict
order in label and prediction). Pairs tied in the label are excluded; pairs tied
only in the prediction count 1/2. Everything is exact over all pairs.
"""
import numpy as np
import pandas as pd

from wt_keras.metrics import _checks

try:
    # scipy.stats.kendalltau's compiled discordant-pair counter (a Fenwick tree over
    # one variable, scanning the other in sorted order): at n = 1e6 with a few
    # hundred distinct labels it takes about a fifth of the numpy counter's time.
    # It is private to scipy (pinned in constraints.txt); should a release move
    # it, `_inversions` below gives the same count.
    from scipy.stats._stats import _kendall_dis
except ImportError:  # pragma: no cover - depends on the installed scipy
    _kendall_dis = None

# Groups up to this size are scored by enumerating their pairs in one vectorised
# batch; bigger groups use the O(n log n) counter, whose fixed per-call overhead
# (about 0.3 ms) beats O(n^2) pair enumeration above roughly this size.
_SMALL_GROUP_MAX_SIZE = 150
# Upper bound on the pairs materialised at once: temporaries take ~50 B per pair.
_PAIRS_PER_CHUNK = 1 << 20


def _tied_pairs(sorted_values: np.ndarray) -> int:
    """Number of pairs with equal values, given the values in sorted order."""
    run_starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1],
                                      True])
    run_lengths = np.diff(run_starts).astype(np.int64)
    return int((run_lengths * (run_lengths - 1) // 2).sum())


def _inversions(ranks: np.ndarray, num_ranks: int) -> int:
    """Pairs i < j with ranks[i] > ranks[j], in O(n log num_ranks).

    The fallback for scipy's compiled counter (`_discordant_pairs`); numpy has
    none, so this is a most-significant-bit-first radix partition: at
    bit b, elements sharing the bits above b form a group kept in sequence
    order, and a pair of the group with bit b set before bit b clear is an
    inversion decided at b. Their count per group is Σ (ones before i) over
    the group minus o(o − 1)/2 for its o ones, one cumulative sum a level;
    the group is then split stably (zeros first). Watch times in rounded
    seconds have a few hundred distinct values: about 9 levels.
    """
    index_type = np.int32 if ranks.size < 2**31 else np.int64
    current = ranks.astype(index_type)
    levels = max(int(num_ranks - 1).bit_length(), 1)
    histogram = np.zeros(1 << levels, np.int64)
    histogram[:num_ranks] = np.bincount(current, minlength=num_ranks)
    index = np.arange(ranks.size, dtype=index_type)
    ones_before = np.zeros(ranks.size + 1, index_type)   # exclusive cumulative sum + total
    total = 0
    for bit in range(levels - 1, -1, -1):
        # [groups, 2]: sizes of each group's zero and one halves, from the rank histogram.
        halves = histogram.reshape(-1, 2, 1 << bit).sum(axis=2)
        sizes = halves.sum(axis=1)
        starts = np.cumsum(sizes) - sizes
        group = current >> (bit + 1)
        ones = (current >> bit) & 1
        np.cumsum(ones, out=ones_before[1:])
        ones_at_start = ones_before[starts].astype(np.int64)
        group_ones = halves[:, 1]
        total += int(ones_before[:-1].sum(dtype=np.int64) - (sizes * ones_at_start).sum()
                     - (group_ones * (group_ones - 1) // 2).sum())
        # Stable split: zeros to start + (zeros before), ones after the group's zeros.
        before = ones_before[:-1]
        zero_shift = ones_at_start.astype(index_type)
        one_shift = (starts + halves[:, 0] - ones_at_start).astype(index_type)
        position = np.where(ones.astype(bool), before + one_shift[group],
                            index - before + zero_shift[group])
        split = np.empty_like(current)
        split[position] = current
        current = split
    return total


def _discordant_pairs(tied_with_previous: np.ndarray, ranks: np.ndarray, num_ranks: int) -> int:
    """Pairs ordered one way by the prediction and the other by the label.

    Args:
      tied_with_previous: [n − 1], prediction k equal to prediction k − 1, in
        prediction order.
      ranks: [n] label ranks in prediction order, each run of equal predictions
        in label order (then the run has no inversion of its own).
      num_ranks: number of distinct labels.
    """
    if _kendall_dis is None:
        return _inversions(ranks, num_ranks)
    # Its scan variable: the prediction's dense rank (runs of ties share one, so a
    # pair tied in the prediction is not discordant); label ranks count from 1.
    if tied_with_previous.any():
        prediction_ranks = np.cumsum(np.r_[True, ~tied_with_previous], dtype=np.intp)
    else:
        prediction_ranks = np.arange(1, ranks.size + 1, dtype=np.intp)
    return int(_kendall_dis(prediction_ranks, np.add(ranks, 1, dtype=np.intp)))


def _pair_counts(labels: np.ndarray, predictions: np.ndarray):
    """Exact integer counts behind XAUC for one set of examples.

    One argsort of the predictions, a hash-based factorisation of the labels
    and the discordant pairs D of the label ranks in prediction order
    (`_discordant_pairs`). Then C + D = P − T_label − T_pred + T_both.

    Returns:
      (agreement_x2, valid_pairs): twice the XAUC numerator (concordant pairs
      count 2, prediction ties 1) and the number of pairs with different labels.
      XAUC = agreement_x2 / (2 * valid_pairs); valid_pairs == 0 means undefined.
    """
    n = labels.size
    total_pairs = n * (n - 1) // 2
    label_ranks, label_values = pd.factorize(labels, sort=True)
    label_counts = np.bincount(label_ranks, minlength=label_values.size).astype(np.int64)
    label_ties = int((label_counts * (label_counts - 1) // 2).sum())
    valid_pairs = total_pairs - label_ties
    if valid_pairs == 0:
        return 0, 0
    order = np.argsort(predictions)
    sorted_predictions = predictions[order]
    tied_with_previous = sorted_predictions[1:] == sorted_predictions[:-1]
    ranks = label_ranks[order]
    prediction_ties = both_ties = 0
    if tied_with_previous.any():
        prediction_ties = _tied_pairs(sorted_predictions)
        if prediction_ties == total_pairs:  # every prediction equal: all pairs are ties
            return valid_pairs, valid_pairs
        # Within each run of equal predictions, order by label: no inversion inside a run,
        # and pairs tied in both become runs of the (prediction, label) sequence.
        in_run = np.zeros(n, bool)
        in_run[1:] = tied_with_previous
        in_run[:-1] |= tied_with_previous
        members = np.flatnonzero(in_run)
        run_ids = np.cumsum(~np.r_[False, tied_with_previous])[members]
        ranks[members] = ranks[members][np.lexsort((ranks[members], run_ids))]
        joint_keys = run_ids.astype(np.int64) * label_values.size + ranks[members]
        both_ties = _tied_pairs(joint_keys)
    discordant = _discordant_pairs(tied_with_previous, ranks, label_values.size)
    # Pairs untied in both label and prediction are either concordant or discordant.
    concordant = total_pairs - label_ties - prediction_ties + both_ties - discordant
    agreement_x2 = 2 * concordant + (prediction_ties - both_ties)
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
