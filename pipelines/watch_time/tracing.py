"""AutoGraph leaves Keras 2 (`tf_keras`) unconverted, as it leaves `keras`.

AutoGraph's own do-not-convert rules name the `keras` package, but not
`tf_keras`, the package Keras 2 ships as with TensorFlow 2.16. Tracing the
ranker's train step therefore converted about 170 Keras internals (functional
model construction, `add_weight`, deserialisation) statement by statement:
16 of the Trainer's 38 s on 1e5 rows, the same at every size. Keras itself
still converts the `call` of user layers (`Layer.__call__` applies
`autograph.tf_convert`), exactly as under `keras`.

TensorFlow has no public setting for these rules, so this edits the list in
`tensorflow.python.autograph.core.config` (a private module) for the duration
of a `with` block, and does nothing if a TensorFlow version lacks it.
"""
import contextlib

try:
    from tensorflow.python.autograph.core import config as _autograph_config
except ImportError:   # a TensorFlow without the private module: keep its defaults
    _autograph_config = None


@contextlib.contextmanager
def keras_internals_unconverted():
    """Within the block, AutoGraph calls `tf_keras` functions as they are."""
    rules = getattr(_autograph_config, "CONVERSION_RULES", None)
    if rules is None or not hasattr(_autograph_config, "DoNotConvert"):
        yield
        return
    _autograph_config.CONVERSION_RULES = (_autograph_config.DoNotConvert("tf_keras"),) + rules
    try:
        yield
    finally:
        _autograph_config.CONVERSION_RULES = rules
