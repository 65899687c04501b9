"""Extreme labels: found before training, then dropped, capped or refused.

A label is extreme when it is above

  - `PERCENTILE_FACTOR` x the `PERCENTILE`-th percentile of all labels
    (100 x the 99.99th; the percentile is the order statistic just below the
    level, so a single absurd row cannot raise its own bar on small inputs),
  - or `max_play_ratio` x the row's duration, when a ratio is known (given
    with --max-play-ratio, or recorded by `wt-data prepare` in metadata.json,
    e.g. the WeChat converter's DADF filter).

One 1e12 s row among watch times of minutes moves MAE by hundreds of
seconds, so such rows never reach training silently. Policies:

  drop  (default) the row is left out of the pipeline's copy of the input;
  cap   the label is set to the row's threshold;
  fail  the run stops, naming the count and the threshold.

Example:

>>> import numpy as np
>>> labels = np.array([10.0, 20.0, 30.0, 1e12])
>>> found = find_extreme_labels(labels, np.full(4, 60.0), policy="cap")
>>> found.count, found.percentile_threshold
(1, 3000.0)
>>> keep, capped = found.apply(labels, np.full(4, 60.0))
>>> keep.tolist(), capped.tolist()
([True, True, True, True], [10.0, 20.0, 30.0, 3000.0])
"""
import dataclasses
from typing import Optional

import numpy as np

PERCENTILE = 99.99
PERCENTILE_FACTOR = 100.0
POLICIES = ("drop", "cap", "fail")


def extreme_label_thresholds(labels, durations, percentile_threshold, max_play_ratio=None):
    """Per-row upper bound: min(percentile threshold, max_play_ratio x duration)."""
    bound = np.full(np.shape(labels), np.inf if percentile_threshold is None
                    else percentile_threshold, np.float64)
    if max_play_ratio is not None:
        bound = np.minimum(bound, max_play_ratio * np.asarray(durations, np.float64))
    return bound


@dataclasses.dataclass
class ExtremeLabels:
    """How many labels are extreme, by which thresholds, and the policy applied."""
    count: int
    policy: str
    percentile_threshold: Optional[float]
    max_play_ratio: Optional[float]
    largest: float

    def apply(self, labels, durations):
        """(rows to keep, labels after capping) for one file's labels."""
        bound = extreme_label_thresholds(labels, durations, self.percentile_threshold,
                                         self.max_play_ratio)
        extreme = np.asarray(labels) > bound
        if self.policy == "cap":
            return np.ones(extreme.shape, bool), np.where(extreme, bound, labels)
        if self.policy == "drop":
            return ~extreme, np.asarray(labels, np.float64)
        return np.ones(extreme.shape, bool), np.asarray(labels, np.float64)

    def describe(self):
        rules = []
        if self.percentile_threshold is not None:
            rules.append(f"> {self.percentile_threshold:.6g} s ({PERCENTILE_FACTOR:g} x the "
                         f"{PERCENTILE:g}th percentile)")
        if self.max_play_ratio is not None:
            rules.append(f"> {self.max_play_ratio:g} x duration")
        done = {"drop": "dropped", "cap": "capped to the threshold",
                "fail": "found"}[self.policy]
        return (f"extreme labels: {self.count:,} {done} ({' or '.join(rules)}; largest "
                f"{self.largest:.6g} s)")


def find_extreme_labels(labels, durations, max_play_ratio=None, policy="drop"):
    """Counts extreme labels (see the module docstring); labels must be finite."""
    if policy not in POLICIES:
        raise ValueError(f"outlier policy {policy!r} is unknown; use one of {', '.join(POLICIES)}.")
    if max_play_ratio is not None and not max_play_ratio > 0:
        raise ValueError(f"max_play_ratio must be > 0, got {max_play_ratio}.")
    labels = np.asarray(labels, np.float64)
    level = np.percentile(labels, PERCENTILE, method="lower")
    # All-zero heads of the distribution give no scale to compare with.
    percentile_threshold = float(PERCENTILE_FACTOR * level) if level > 0 else None
    bound = extreme_label_thresholds(labels, durations, percentile_threshold, max_play_ratio)
    extreme = labels > bound
    return ExtremeLabels(count=int(extreme.sum()), policy=policy,
                         percentile_threshold=percentile_threshold,
                         max_play_ratio=max_play_ratio,
                         largest=float(labels[extreme].max()) if extreme.any() else 0.0)
