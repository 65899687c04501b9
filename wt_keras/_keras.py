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


class HeadReference:
    """Mixin for losses and metrics that use a head's maths but not its weights.

    The model owns the head (and its projection weights). Keras' `.keras`
    saver walks every attribute of a loss or metric and writes a layer's
    weights under the first path that reaches it; if that path is the loss's
    `head`, the model's own path gets no weights and loading fails
    ("Layer 'logits' expected 2 variables, but received 0"). Hiding `head`
    from `dir()` keeps the weights under the model only.
    """

    def __dir__(self):
        return [name for name in super().__dir__() if name != "head"]


def deserialize_head(config):
    """A head from its config, also when the config names it without the package.

    `.h5` files store nested configs with the bare class name
    ("BucketizedGeometricHead"), which the registry keys as "wt_keras>…".
    """
    import wt_keras.heads  # noqa: F401  (registers the head classes)

    custom_objects = {name.split(">", 1)[1]: cls
                      for name, cls in keras.utils.get_custom_objects().items()
                      if name.startswith(PACKAGE + ">")}
    return keras.layers.deserialize(config, custom_objects=custom_objects)
