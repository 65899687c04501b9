"""TFRS ranking models with watch-time heads (needs Keras 2 / tf_keras)."""
from wt_keras._keras import is_keras3

if is_keras3():
    raise ImportError(
        "wt_keras.models builds on TensorFlow Recommenders, which needs Keras 2: set "
        "TF_USE_LEGACY_KERAS=1 before TensorFlow is imported (the heads, losses and "
        "metrics also work under Keras 3).")

from wt_keras.models.factory import METHODS, bucket_tables, build_head, build_ranker  # noqa: E402
from wt_keras.models.factory import default_features  # noqa: E402
from wt_keras.models.features import FeatureEncoder  # noqa: E402
from wt_keras.models.guard import PredictionGuard  # noqa: E402
from wt_keras.models.point_estimate import parse_point_estimate  # noqa: E402
from wt_keras.models.ranker import WatchTimeRanker, shared_bottom  # noqa: E402

__all__ = ["FeatureEncoder", "PredictionGuard", "WatchTimeRanker", "shared_bottom", "METHODS",
           "bucket_tables", "build_head", "build_ranker", "default_features",
           "parse_point_estimate"]
