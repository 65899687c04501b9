"""Integer units of the count heads: Y = round(α·T).

SWaT-Geo and the vanilla geometric head count watch time in integer units,
α = `time_scale` units per second (SWaT-Binom's distribution counts its
trials the same way). Labels are converted here, in TensorFlow; the bucket
endpoints, which are numpy constants, by `wt_keras.buckets.endpoint_units`.
Both round half to even (tf.round and np.round agree), so a label equal to
an endpoint lands on the endpoint's unit.
"""
import tensorflow as tf


def watch_time_units(watch_time, time_scale):
    """Y = round(α·T), rounded half to even, same shape and dtype as `watch_time`.

    Args:
      watch_time: [B] (or any shape) seconds, a float tensor.
      time_scale: α > 0, integer units per second.

    Example:
    >>> watch_time_units(tf.constant([0.24, 1.25, 3.0]), 10.0).numpy().tolist()
    [2.0, 12.0, 30.0]
    """
    return tf.round(watch_time * tf.cast(time_scale, watch_time.dtype))
