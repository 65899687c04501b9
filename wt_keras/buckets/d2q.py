"""D2Q duration groups and per-group watch-time quantile tables.

Zhan et al., "Deconfounding Duration Bias in Watch-time Prediction for Video
Recommendation", KDD 2022: split training samples into G equal-frequency
duration groups; the label is q = F_g(T), the empirical CDF of watch time
inside the sample's group g; serving maps a predicted q back with F_g⁻¹.
F_g is stored as a table of Q quantiles per group (levels linspace(0, 1, Q))
and interpolated piecewise-linearly both ways (conventions in the docstrings
of `d2q_quantile_label` and `d2q_watch_time`; the TF head mirrors them).
"""
import dataclasses

import numpy as np

from wt_keras.buckets._checks import as_labels

MIN_GROUP_SIZE = 2


@dataclasses.dataclass(frozen=True, eq=False)
class D2QTables:
    """Duration groups and quantile tables (from `d2q_tables`).

    Attributes:
      duration_edges: [G-1] interior edges (seconds), strictly increasing.
        Group of duration d: g = number of edges <= d, in 0..G-1
        (`duration_group`).
      quantile_table: [G, Q] watch-time quantiles per group at levels
        linspace(0, 1, Q); rows are non-decreasing.
      group_sizes: [G] training samples per group.
    """
    duration_edges: np.ndarray
    quantile_table: np.ndarray
    group_sizes: np.ndarray

    @property
    def num_groups(self):
        return self.quantile_table.shape[0]

    @property
    def quantile_levels(self):
        return np.linspace(0.0, 1.0, self.quantile_table.shape[1])

    def group_index(self, duration):
        """Group g of each duration (`duration_group` with these edges)."""
        return duration_group(as_labels(duration, "duration"), self.duration_edges)


def duration_group(duration, duration_edges):
    """D2Q group of each duration: g = number of edges <= d, in 0..G-1.

    The one numpy statement of the rule (`wt_keras.ops.d2q.d2q_duration_group`
    is its TensorFlow twin inside the head and the export): a duration equal
    to an edge belongs to the group above it.

    Args:
      duration: array-like of durations (seconds).
      duration_edges: [G-1] strictly increasing interior edges.

    Returns:
      np.ndarray (int64) of group indices, the shape of `duration`.

    Example:
      >>> duration_group([3.0, 10.0, 29.9, 400.0], [10.0, 30.0]).tolist()
      [0, 1, 1, 2]
    """
    return np.searchsorted(np.asarray(duration_edges, np.float64),
                           np.asarray(duration, np.float64), side="right")


def _paired(first, second, first_name, second_name):
    first, second = as_labels(first, first_name), as_labels(second, second_name)
    if first.size != second.size:
        raise ValueError(f"`{first_name}` has {first.size} values but "
                         f"`{second_name}` has {second.size}: pass one per sample.")
    return first, second


def _merge_small_groups(edges, duration):
    """Drops edges until every group holds ≥ MIN_GROUP_SIZE samples."""
    while edges.size:
        sizes = np.bincount(duration_group(duration, edges), minlength=edges.size + 1)
        small = int(np.argmin(sizes))
        if sizes[small] >= MIN_GROUP_SIZE:
            break
        # Merge with the smaller neighbour: drop the edge between them.
        if small == 0 or (small < edges.size and sizes[small + 1] <= sizes[small - 1]):
            edges = np.delete(edges, small)
        else:
            edges = np.delete(edges, small - 1)
    return edges


def _check_count(value, name, low):
    if int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def duration_edges(duration, num_groups=30):
    """Interior edges of G equal-frequency duration groups (D2Q).

    Edges split the sorted durations at ranks round(k n / G), k = 1..G-1, and
    sit midway between the neighbouring durations (so float32 rounding in the
    TF head rarely moves a training sample across an edge). Tied durations
    are never split: an edge equal to a tie goes below the whole run. Repeated
    edges are dropped and groups with fewer than 2 samples are merged into
    their smaller neighbour, so G (the number that survive) can be less than
    `num_groups`.

    Args:
      duration: training video durations d (seconds, >= 0).
      num_groups: requested G (needs >= 2 samples per group).

    Returns:
      np.ndarray (float64) of G-1 strictly increasing edges (empty for G = 1).

    Raises:
      ValueError: NaN/inf/negative durations, a bad `num_groups`, or fewer
        than 2 samples per requested group.

    Example:
      >>> duration_edges(np.arange(8.0), num_groups=2).tolist()
      [3.5]
    """
    dur = as_labels(duration, "duration")
    num_groups = _check_count(num_groups, "num_groups", 1)
    if dur.size < MIN_GROUP_SIZE * num_groups:
        raise ValueError(
            f"{dur.size} samples are too few for {num_groups} duration groups "
            f"(need >= {MIN_GROUP_SIZE} per group): lower num_groups or pass "
            "more training samples.")
    sorted_dur = np.sort(dur)
    ranks = np.round(np.arange(1, num_groups) * dur.size / num_groups).astype(int)
    edges = np.unique(0.5 * (sorted_dur[ranks - 1] + sorted_dur[ranks]))
    return _merge_small_groups(edges, dur)


def quantile_row(watch_time, num_quantiles=101):
    """One group's table row: watch-time quantiles at levels linspace(0, 1, Q).

    np.quantile with linear interpolation, so the first entry is the group's
    minimum and the last its maximum.

    Args:
      watch_time: the group's training watch times (seconds, >= 0).
      num_quantiles: Q >= 2 entries.

    Returns:
      np.ndarray (float64) [Q], non-decreasing.

    Example:
      >>> quantile_row([0.0, 1.0, 2.0, 3.0], num_quantiles=3).tolist()
      [0.0, 1.5, 3.0]
    """
    values = as_labels(watch_time, "watch_time")
    num_quantiles = _check_count(num_quantiles, "num_quantiles", 2)
    return np.quantile(values, np.linspace(0.0, 1.0, num_quantiles))


def d2q_tables(watch_time, duration, num_groups=30, num_quantiles=101):
    """Equal-frequency duration groups and per-group watch-time quantiles.

    Edges as `duration_edges`, rows as `quantile_row` over each group's
    samples, groups as `duration_group`.

    Args:
      watch_time: training watch times T (seconds, >= 0).
      duration: training video durations d (seconds, >= 0), one per sample.
      num_groups: requested G (needs >= 2 samples per group).
      num_quantiles: Q >= 2 table entries per group.

    Returns:
      D2QTables; quantile_table[g] = np.quantile(T[group == g], levels).

    Raises:
      ValueError: length mismatch, NaN/inf/negative input, bad sizes, or
        fewer than 2 samples per requested group.

    Example:
      >>> tables = d2q_tables(np.arange(8.0), np.arange(8.0), 2, 3)
      >>> tables.duration_edges.tolist(), tables.quantile_table.tolist()
      ([3.5], [[0.0, 1.5, 3.0], [4.0, 5.5, 7.0]])
    """
    watch, dur = _paired(watch_time, duration, "watch_time", "duration")
    _check_count(num_groups, "num_groups", 1)
    num_quantiles = _check_count(num_quantiles, "num_quantiles", 2)
    edges = duration_edges(dur, num_groups)
    groups = duration_group(dur, edges)
    table = np.stack([quantile_row(watch[groups == g], num_quantiles)
                      for g in range(edges.size + 1)])
    return D2QTables(duration_edges=edges, quantile_table=table,
                     group_sizes=np.bincount(groups, minlength=edges.size + 1))


def d2q_quantile_label(watch_time, duration, tables):
    """Label q = F_g(T) in [0, 1] (numpy reference for the TF head).

    With row v_0 ≤ … ≤ v_{Q−1} = tables.quantile_table[g] at levels
    L_j = j / (Q − 1), g = tables.group_index(d), lo = #{j: v_j < T} and
    hi = #{j: v_j ≤ T}:
      * hi > lo (T equals the tied entries v_lo…v_{hi−1}): q = (L_lo +
        L_{hi−1}) / 2, the mid-point (30 % mass at 0 s gives q = 0.15);
      * lo == 0 (T below the table): q = 0; lo == Q (above): q = 1;
      * otherwise q = L_{lo−1} + (L_lo − L_{lo−1})·(T − v_{lo−1}) /
        (v_lo − v_{lo−1}).

    Example:
      >>> tables = d2q_tables(np.arange(8.0), np.arange(8.0), 2, 3)
      >>> d2q_quantile_label([0.75, 6.25], [1.0, 5.0], tables).tolist()
      [0.25, 0.75]
    """
    watch, dur = _paired(watch_time, duration, "watch_time", "duration")
    groups = tables.group_index(dur)
    levels = tables.quantile_levels
    last = levels.size - 1
    labels = np.empty_like(watch)
    for g in np.unique(groups):
        members = groups == g
        row, value = tables.quantile_table[g], watch[members]
        lo = np.searchsorted(row, value, side="left")
        hi = np.searchsorted(row, value, side="right")
        upper = np.clip(lo, 1, last)
        gap = row[upper] - row[upper - 1]
        frac = (value - row[upper - 1]) / np.where(gap > 0, gap, 1.0)
        inside = levels[upper - 1] + (levels[upper] - levels[upper - 1]) * np.clip(frac, 0, 1)
        tie_mid = 0.5 * (levels[np.minimum(lo, last)] + levels[np.maximum(hi - 1, 0)])
        outside = np.where(lo == 0, 0.0, 1.0)
        labels[members] = np.where(hi > lo, tie_mid,
                                   np.where((lo == 0) | (lo > last), outside, inside))
    return labels


def d2q_watch_time(quantile, duration, tables):
    """Inverse map T = F_g⁻¹(q) (numpy reference for the TF head).

    q is clipped to [0, 1]; with p = q·(Q − 1), j = min(⌊p⌋, Q − 2) and
    row = tables.quantile_table[g]: T = row[j] + (p − j)·(row[j+1] − row[j]),
    i.e. np.interp(q, linspace(0, 1, Q), row).

    Example:
      >>> tables = d2q_tables(np.arange(8.0), np.arange(8.0), 2, 3)
      >>> d2q_watch_time([0.25, 0.75, 2.0], [1.0, 5.0, 5.0], tables).tolist()
      [0.75, 6.25, 7.0]
    """
    try:
        q = np.asarray(quantile, dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        raise ValueError(f"`quantile` must be numeric: {error}") from None
    if not np.all(np.isfinite(q)):
        raise ValueError("`quantile` holds NaN/inf: check the model output.")
    dur = as_labels(duration, "duration")
    if q.size != dur.size:
        raise ValueError(f"`quantile` has {q.size} values but `duration` has "
                         f"{dur.size}: pass one per sample.")
    groups = tables.group_index(dur)
    position = np.clip(q, 0.0, 1.0) * (tables.quantile_table.shape[1] - 1)
    lower = np.minimum(np.floor(position).astype(int), tables.quantile_table.shape[1] - 2)
    left = tables.quantile_table[groups, lower]
    right = tables.quantile_table[groups, lower + 1]
    return left + (position - lower) * (right - left)
