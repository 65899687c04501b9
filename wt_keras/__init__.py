"""wt_keras: Keras heads, losses and metrics for video watch-time prediction.

Importing the package selects Keras 2 (``tf_keras``) for TensorFlow when
TensorFlow has not been imported yet, because TensorFlow Recommenders needs
it. Submodules load lazily so ``import wt_keras`` stays cheap.

Keras 3: the heads, losses, metrics and bucket utilities only use ``tf`` ops
and ``tf.keras`` base classes and also run under Keras 3. To opt in, set
``TF_USE_LEGACY_KERAS=0`` before importing TensorFlow; ``wt_keras.models``
(a ``tfrs.Model``) then raises ImportError because TFRS requires Keras 2.
"""
import importlib
import os
import sys

__version__ = "0.1.0"

_LEGACY_ENV = "TF_USE_LEGACY_KERAS"
_FALSE_VALUES = ("0", "false", "False", "FALSE")


def _select_keras():
    if "tensorflow" not in sys.modules:
        # Must happen before TensorFlow's first import: TF reads it then.
        os.environ.setdefault(_LEGACY_ENV, "1")
        return
    import tensorflow as tf  # already imported: only inspect it.

    is_keras3 = getattr(tf.keras, "version", None) is not None
    if is_keras3 and os.environ.get(_LEGACY_ENV) not in _FALSE_VALUES:
        raise ImportError(
            "wt_keras needs Keras 2 (tf_keras) for TensorFlow Recommenders, but "
            "TensorFlow was imported before wt_keras with Keras 3 "
            f"(tf.keras {tf.keras.version()}). Fix: set the environment variable "
            "TF_USE_LEGACY_KERAS=1 before the first `import tensorflow`, or "
            "`import wt_keras` first. To use only the Keras-3-compatible parts "
            "(heads, losses, metrics, buckets), set TF_USE_LEGACY_KERAS=0."
        )


_select_keras()

_SUBMODULES = ("buckets", "heads", "losses", "metrics", "models", "data", "ops",
               "export", "methods")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'wt_keras' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
