"""What a trained distributional head adds to the comparison: its median, CRPS, completion ECE.

Computed from the model the main table already trained (no extra training):
the same logits give the mean (the main row), the median (the "(median)"
row), the CRPS of the whole predicted curve and the ECE of the completion
probability P(T ≥ duration) against 1[T ≥ duration].

CRPS is integrated on a grid of every whole second from 0 to the largest
training label (plus the head's own endpoints below it), where it is exact:
the integer-unit laws (SWaT-Geo, SWaT-Binom, vanilla geometric, WLR, α = 1)
jump only at whole seconds ("step" curves), OR/CREAD/TPM are linear between
their endpoints ("linear" curves; a grid point 1 ms before their last
endpoint keeps the drop to 0 there, so the error is at most 1 ms × S_K).
Mass the model puts beyond the largest training label is not scored
(`wt_keras.metrics.crps` sets S = 0 there).
"""
import numpy as np
import tensorflow as tf

from wt_keras import metrics
from wt_keras.metrics.keras_distribution import curve_interpolation
from wt_keras.models.experiment import dataset, evaluate_predictions

PREDICT_BATCH_SIZE = 2048


# OR/CREAD curves drop from S_K to 0 at their last endpoint e_K (the mass above
# e_K sits there); a grid point this many seconds before e_K keeps that step.
_BEFORE_LAST_ENDPOINT = 1e-3


def crps_grid(train_labels, head):
    """Every whole second up to the largest training label, plus the head's endpoints."""
    top = float(np.ceil(np.max(train_labels)))
    grid = np.arange(0.0, top + 1.0)
    endpoints = np.asarray(getattr(head, "boundaries", []), np.float64).reshape(-1)
    if endpoints.size:
        endpoints = np.append(endpoints, endpoints[-1] - _BEFORE_LAST_ENDPOINT)
    return np.unique(np.concatenate([grid, endpoints[endpoints <= top]]))


# Cells of the largest [rows, ...] tensor an evaluation batch may create (float64:
# 8 bytes a cell, complex128 16): keeps a worker well below 1 GB per tensor.
_MAX_CELLS = 50_000_000


def rows_per_batch(head, grid_size):
    """Evaluation rows per batch so that no [rows, ...] intermediate gets too large.

    SWaT-Binom's exact law convolves K binomials over all N integer units
    ([rows, K, N] complex numbers inside `ops.binomial_sum_pmf`), and every
    head's survival on the grid is [rows, grid_size, K] before it is reduced:
    on fine grids at a large α a batch of 2048 rows would need several GB.
    """
    # Survival on the grid compares each grid point with every bucket endpoint
    # ([rows, grid, K] inside the ops): at K ≈ 200 and a 1,000-point grid, a
    # 2048-row batch held ~13 GB of such intermediates.
    num_buckets = np.asarray(getattr(head, "boundaries", [0.0])).size + 1
    cells = grid_size * num_buckets
    trials = getattr(head, "trials", None)
    if trials is not None:
        trials = np.asarray(trials).reshape(-1)
        cells = max(cells, 2 * trials.size * (int(trials.sum()) + 2))
    return int(max(16, min(PREDICT_BATCH_SIZE, _MAX_CELLS // max(cells, 1))))


def distribution_metrics(model, train_labels, test_columns, test_frame,
                         label="watch_time_s", duration="duration_s", group="user_id"):
    """Median-estimate metrics, CRPS and completion ECE of a trained ranker's head.

    Returns:
      {} for heads without a distribution; else `crps`, `completion_ece` and
      `median_mae`, `median_xauc`, `median_pearson`, `median_xgauc`,
      `median_mean_ratio` (the median as the point estimate).
    """
    head = model.head
    if not getattr(head, "has_distribution", False):
        return {}
    grid = crps_grid(train_labels, head)
    interpolation = curve_interpolation(head)
    grid_tensor = tf.constant(grid[None, :], tf.float32)
    medians, completion, scores = [], [], []
    truth_batches = []
    for batch in dataset(test_columns, rows_per_batch(head, grid.size)):
        logits = head(model.hidden(batch, training=False))
        context = model.context(batch)
        medians.append(head.quantile(logits, 0.5, **context).numpy())
        completion.append(head.completion_probability(logits, context["duration"]).numpy())
        size = tf.shape(logits)[0]
        survival = head.survival(logits, tf.tile(grid_tensor, [size, 1])).numpy()
        truth = batch[label].numpy().astype(np.float64)
        truth_batches.append(truth)
        scores.append(metrics.crps(truth, grid, np.clip(survival, 0.0, 1.0),
                                   interpolation=interpolation, average=False))
    truth = np.concatenate(truth_batches)
    median = np.concatenate(medians)
    completion = np.clip(np.concatenate(completion), 0.0, 1.0)
    groups = test_frame[group].to_numpy() if group in test_frame else None
    try:
        scored = evaluate_predictions(truth, median, groups)
    except ValueError:
        # The same median for every example (e.g. 0 units when most labels are
        # short): Pearson is undefined, MAE and XAUC (ties count ½) are not.
        scored = {"mae": metrics.mae(truth, median), "xauc": metrics.xauc(truth, median),
                  "pearson": float("nan")}
        if groups is not None:
            scored["xgauc"] = metrics.xgauc(truth, median, groups)
    result = {f"median_{name}": value for name, value in scored.items()}
    result["median_mean_ratio"] = float(np.mean(median) / max(np.mean(truth), 1e-9))
    result["crps"] = float(np.mean(np.concatenate(scores)))
    result["completion_ece"] = metrics.completion_calibration(
        truth, test_frame[duration].to_numpy(), completion).ece
    return result
