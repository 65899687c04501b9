"""The `report` output of BucketBoundaryGen: label_distribution.png, summary.json.

The histogram is drawn from the watch-time summary (all training labels in
exact mode, equally spaced quantiles otherwise, each weighted n / m), so it
shows the training label distribution without a second pass over the data.
"""
import io
import json
import os

import numpy as np

PLOT_FILE = "label_distribution.png"
SUMMARY_FILE = "summary.json"
_NUM_BINS = 60


def _histogram_bins(values):
    """0 plus geometric bins: watch time is heavy-tailed with a mass at 0."""
    positive = values[values > 0]
    if positive.size == 0:
        return np.array([0.0, 1.0])
    low, high = positive.min(), positive.max()
    if high <= low:
        return np.array([0.0, low, 2.0 * low])
    return np.concatenate([[0.0], np.geomspace(low, high, _NUM_BINS)])


def plot_label_distribution(summary, boundaries):
    """Returns PNG bytes: label histogram (symlog x) with the endpoints drawn."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")  # no display in pipeline containers
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

    values = np.asarray(summary["values"], dtype=np.float64)
    weights = np.full(values.size, summary["count"] / max(values.size, 1))
    figure, axis = pyplot.subplots(figsize=(9, 4.5), dpi=100)
    axis.hist(values, bins=_histogram_bins(values), weights=weights,
              color="#8da0cb", edgecolor="white", linewidth=0.3,
              label=f"{boundaries.label_key} (training labels)")
    for index, endpoint in enumerate(boundaries.boundaries):
        axis.axvline(endpoint, color="#d95f02", linewidth=0.7, alpha=0.8,
                     label=f"grid endpoints (K={boundaries.num_buckets})"
                     if index == 0 else None)
    for index, endpoint in enumerate(boundaries.cread_boundaries):
        axis.axvline(endpoint, color="#1b9e77", linewidth=0.5, linestyle=":",
                     label=f"CREAD endpoints (alpha={boundaries.cread_alpha:g})"
                     if index == 0 else None)
    # symlog: linear below 1 s so the mass at 0 stays visible, log above.
    axis.set_xscale("symlog", linthresh=1.0)
    axis.set_xlim(left=0.0, right=max(values.max(initial=1.0), 1.0) * 1.1)
    axis.set_xlabel(f"{boundaries.label_key} (seconds, symlog scale)")
    axis.set_ylabel("training examples per bin")
    mode = "exact" if summary["exact"] else "sketch"
    axis.set_title(f"{boundaries.grid_spec}: n={boundaries.num_examples}, "
                   f"K={boundaries.num_buckets}, rank error "
                   f"{boundaries.rank_error:.2g} ({mode})")
    axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


def report_summary(boundaries, counts, seconds):
    """The small JSON summary shown next to the plot."""
    return {
        "num_examples": boundaries.num_examples,
        "num_buckets": boundaries.num_buckets,
        "grid_spec": boundaries.grid_spec,
        "time_scale": boundaries.time_scale,
        "rank_error": boundaries.rank_error,
        "rank_error_meaning": (
            "each endpoint t derived at target level q has F(t-) - eps <= q <= "
            "F(t) + eps, F the empirical CDF of the training labels"),
        "sketch": {"size": boundaries.sketch_size, "exact": boundaries.sketch_exact,
                   "epsilon": boundaries.sketch_epsilon},
        "boundaries": boundaries.boundaries.tolist(),
        "cread": {"alpha": boundaries.cread_alpha,
                  "num_boundaries": int(boundaries.cread_boundaries.size)},
        "d2q": {"num_groups": boundaries.num_groups,
                "group_sizes": boundaries.d2q_group_sizes.tolist(),
                "rank_error": boundaries.d2q_rank_error},
        "rows_read": counts["counts"].get("rows", 0),
        "beam_seconds": round(seconds, 3),
    }


def write_report(directory, summary, boundaries, counts, seconds):
    """Writes label_distribution.png and summary.json into `directory`."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(directory, PLOT_FILE), "wb") as handle:
        handle.write(plot_label_distribution(summary, boundaries))
    with tf.io.gfile.GFile(os.path.join(directory, SUMMARY_FILE), "w") as handle:
        handle.write(json.dumps(report_summary(boundaries, counts, seconds), indent=1))
