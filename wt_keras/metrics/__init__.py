"""Watch-time metrics: exact numpy functions and streaming Keras metrics.

numpy (arrays in, float out; exact):
  xauc(y_true, y_pred)                       all-pairs XAUC in O(n log n)
  xgauc(y_true, y_pred, groups, weighted=False)   XAUC per group, averaged
  mae(y_true, y_pred), pearson(y_true, y_pred)
  crps(watch_time, grid, survival)           CRPS of predictive survival curves (seconds)
  reliability(probabilities, outcomes)       ECE + reliability table of binary forecasts
  reliability_bin_sums / reliability_from_bin_sums   the same from mergeable per-bin sums
  survival_calibration(watch_time, grid, survival)      of P(T > g_j) at grid points
  completion_calibration(watch_time, duration, completion_probability)   of P(T ≥ d)
  pit_histogram(watch_time, grid, survival)  randomised PIT histogram

Keras (`tf.keras.metrics.Metric`, registered as ``wt_keras>Name``; accept
tensors or the ranker's dict outputs):
  MeanAbsoluteError, PearsonCorrelation, XAUC, MeanConfidence
  CRPS(head, grid), CompletionECE(head)   of the head's distribution (need its logits)

Example:
  >>> from wt_keras import metrics
  >>> metrics.xauc([3.0, 10.0, 25.0], [4.0, 12.0, 9.0])
  0.6666666666666666
"""
# Importing the Keras classes here registers them for deserialisation as soon as
# `wt_keras.metrics` is imported (e.g. before `tf.keras.models.load_model`).
from wt_keras.metrics.keras_metrics import (MeanAbsoluteError, MeanConfidence,
                                            PearsonCorrelation)
from wt_keras.metrics.keras_xauc import XAUC
from wt_keras.metrics.keras_distribution import CRPS, CompletionECE
from wt_keras.metrics.ranking import xauc, xgauc
from wt_keras.metrics.calibration import (PITHistogram, Reliability, completion_calibration,
                                          pit_histogram, reliability, reliability_bin_sums,
                                          reliability_from_bin_sums, survival_calibration)
from wt_keras.metrics.regression import mae, pearson
from wt_keras.metrics.scoring import crps

__all__ = ["xauc", "xgauc", "mae", "pearson", "crps", "reliability", "reliability_bin_sums",
           "reliability_from_bin_sums", "survival_calibration",
           "completion_calibration", "pit_histogram", "Reliability", "PITHistogram", "MeanAbsoluteError",
           "PearsonCorrelation", "XAUC", "MeanConfidence", "CRPS", "CompletionECE"]
