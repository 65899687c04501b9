"""The single place that resolves Keras and registers public classes."""
import tensorflow as tf

keras = tf.keras
PACKAGE = "wt_keras"


def is_keras3() -> bool:
    """True when `tf.keras` resolves to Keras 3 (it has `version()`)."""
    return getattr(keras, "version", None) is not None


def register(cls):
    """Registers `cls` for (de)serialisation as ``wt_keras>ClassName``."""
    return keras.utils.register_keras_serializable(package=PACKAGE)(cls)
