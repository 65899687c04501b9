"""The distributional serving outputs: median, quantiles, completion probability.

Heads that fit a whole watch-time distribution (all but D2Q and the
regression baseline) answer survival and quantile queries; the export serves
three summaries of that distribution beside the point estimate `watch_time`:

  watch_time_median       Q(0.5) in seconds, [B]
  quantiles               Q(q_j) in seconds at `quantile_levels`, [B, J]
                          (Q(q) = smallest t with P(T ≤ t) ≥ q)
  completion_probability  P(T ≥ duration), [B]: the chance the video is
                          watched to its end (or beyond: replays)

The levels are fixed at export and recorded in the model's metadata
(`assets.extra/wt_keras_model.json`, key `quantile_levels`).
"""
import numpy as np
import tensorflow as tf

DEFAULT_QUANTILE_LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9)
DISTRIBUTION_OUTPUTS = ("watch_time_median", "quantiles", "completion_probability")


def distribution_error(head):
    """None if `head` fits a watch-time distribution (`has_distribution`), else why not."""
    if getattr(head, "has_distribution", False):
        return None
    return f"{type(head).__name__} predicts a point, not a watch-time distribution"


def check_quantile_levels(levels):
    """The levels as a float tuple; raises ValueError unless strictly increasing in (0, 1)."""
    array = np.asarray(levels, np.float64).reshape(-1)
    if array.size == 0 or not np.all((array > 0.0) & (array < 1.0)) or np.any(np.diff(array) <= 0):
        raise ValueError(f"quantile_levels must be strictly increasing levels in (0, 1), got "
                         f"{list(np.asarray(levels).reshape(-1))}; e.g. (0.1, 0.25, 0.5, 0.75, 0.9).")
    return tuple(float(q) for q in array)


def distribution_outputs(head, logits, quantile_levels, context):
    """{watch_time_median, quantiles[, completion_probability]} of a distributional head.

    One `head.distribution_summary` call: the head's law is computed once for
    the quantiles and the completion probability, and the median is a column
    of the quantiles (0.5 is added to the levels if missing).

    Args:
      head: a head with `distribution_summary`.
      logits: [B, num_logits] outputs of the head.
      quantile_levels: the J levels of `quantiles` (see `check_quantile_levels`).
      context: the ranker's head context; `completion_probability` needs its
        `duration` (seconds, [B]) and is left out without it.
    """
    levels = sorted(set(quantile_levels) | {0.5})
    rest = {key: value for key, value in context.items() if key != "duration"}
    with tf.name_scope("distribution"):
        summary = head.distribution_summary(logits, np.asarray(levels), context.get("duration"),
                                            **rest)
    every = summary["quantiles"]
    outputs = {"watch_time_median": every[:, levels.index(0.5)]}
    if len(levels) == len(quantile_levels):
        outputs["quantiles"] = every
    else:
        outputs["quantiles"] = tf.gather(every, [levels.index(q) for q in quantile_levels], axis=1)
    if "completion_probability" in summary:
        outputs["completion_probability"] = summary["completion_probability"]
    return outputs
