"""Watch-time metrics: exact numpy functions and streaming Keras metrics.

numpy (arrays in, float out; exact):
  xauc(y_true, y_pred)                       all-pairs XAUC in O(n log n)
  xgauc(y_true, y_pred, groups, weighted=False)   XAUC per group, averaged
  mae(y_true, y_pred), pearson(y_true, y_pred)

Keras (`tf.keras.metrics.Metric`, registered as ``wt_keras>Name``; accept
tensors or the ranker's dict outputs):
  MeanAbsoluteError, PearsonCorrelation, XAUC, MeanConfidence

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
from wt_keras.metrics.ranking import xauc, xgauc
from wt_keras.metrics.regression import mae, pearson

__all__ = ["xauc", "xgauc", "mae", "pearson", "MeanAbsoluteError",
           "PearsonCorrelation", "XAUC", "MeanConfidence"]
