"""Serving defaults: which request features are required, and what the others default to.

Real requests often carry only the ids and the duration. At export every
optional feature gets a default recorded in the SavedModel: the most
frequent value (mode) of a string or integer feature, the median of a float
feature, computed from training rows. ``serving_default`` parses a missing
optional feature as its default (`tf.io.FixedLenFeature.default_value`);
``predict_raw_required`` takes the required features only.

Numeric model inputs that are NaN, inf or negative (a watch-time model's
numeric features are durations and counts) are treated as missing and
replaced by their default, so a broken client value never produces an
ordinary-looking prediction from an input the model never saw. Integer
categorical codes (ids, -1 for "unknown") are left as they are.

TensorFlow and numpy only: nothing here imports the model code.
"""
import collections

import numpy as np
import tensorflow as tf


def _column(features, name):
    try:
        return np.asarray(features[name]).reshape(-1)
    except KeyError:
        raise KeyError(f"feature '{name}' is not in the training rows given for the serving "
                       f"defaults (columns: {sorted(features)}).") from None


def _mode(values):
    """Most frequent value; ties go to the smallest, so the choice is reproducible."""
    counts = collections.Counter(values.tolist())
    best = max(counts.values())
    return min(value for value, count in counts.items() if count == best)


def default_value(values, dtype):
    """The serving default of one feature: mode (int64, string) or median (float32).

    Args:
      values: 1-D numpy array of training values.
      dtype: the feature's `tf.DType` in the feature spec.

    Example:
    >>> default_value(np.array([3, 7, 7, 1]), tf.int64)
    7
    >>> default_value(np.array([1.0, np.nan, 4.0, 10.0, -2.0]), tf.float32)
    4.0
    >>> default_value(np.array([b"b", b"a", b"b"], dtype=object), tf.string)
    b'b'
    """
    if dtype == tf.float32:
        values = values.astype(np.float64)
        usable = values[np.isfinite(values) & (values >= 0)]
        if usable.size == 0:
            raise ValueError("no finite, non-negative value to take the median of.")
        return float(np.median(usable))
    if values.size == 0:
        raise ValueError("no value to take the mode of.")
    if dtype == tf.int64:
        return int(_mode(values.astype(np.int64)))
    return _mode(np.array([v.encode("utf-8") if isinstance(v, str) else bytes(v)
                           for v in values], dtype=object))


def serving_defaults(training_rows, feature_spec, required):
    """{optional feature: default} from training rows (mode or median, see `default_value`).

    Args:
      training_rows: dict (or DataFrame) of numpy columns from the training split.
      feature_spec: {name: tf.io.FixedLenFeature} of the served features.
      required: names a request must carry (the ids and the duration). Every
        other feature of the spec gets a default. Numeric required features
        also get one, used only in place of a NaN, inf or negative value.

    Returns:
      dict {name: int | float | bytes} for every feature of the spec.

    Raises:
      ValueError: a required name is not in the spec, or a column has no usable value.
    """
    unknown = [name for name in required if name not in feature_spec]
    if unknown:
        raise ValueError(f"required features {unknown} are not served features "
                         f"{sorted(feature_spec)}; name served features only.")
    defaults = {}
    for name, spec in feature_spec.items():
        try:
            defaults[name] = default_value(_column(training_rows, name), spec.dtype)
        except ValueError as error:
            raise ValueError(f"serving default of '{name}': {error} Check the training "
                             "rows of that column.") from None
    return defaults


def parsing_spec(feature_spec, defaults, required):
    """The spec ``serving_default`` parses with: optional features carry their default."""
    return {name: spec if name in required else
            tf.io.FixedLenFeature(spec.shape, spec.dtype, defaults[name])
            for name, spec in feature_spec.items()}


def replace_invalid_numbers(features, numeric_names, defaults):
    """Replaces NaN, inf and negative values of numeric features by their default.

    Args:
      features: {name: [B] tensor}.
      numeric_names: the model's numeric inputs (durations, counts).
      defaults: {name: default}.

    Returns:
      a new dict with the numeric columns repaired.
    """
    repaired = dict(features)
    for name in numeric_names:
        if name not in repaired or name not in defaults:
            continue
        column = repaired[name]
        if column.dtype.is_floating:
            invalid = ~tf.math.is_finite(column) | (column < 0)
        elif column.dtype.is_integer:
            invalid = column < 0
        else:
            continue
        repaired[name] = tf.where(invalid, tf.cast(defaults[name], column.dtype), column)
    return repaired


def check_same_length(features):
    """Stops when the `predict_raw` features have different numbers of values, naming them."""
    names = sorted(features)
    first = names[0]
    checks = []
    for name in names[1:]:
        checks.append(tf.debugging.assert_equal(
            tf.size(features[name]), tf.size(features[first]),
            message=f"predict_raw: feature {name} has a different number of values than "
                    f"feature {first}; send exactly one value per instance for every feature."))
    return checks


def describe(feature_spec, defaults, required, numeric_names):
    """JSON-ready description of the request contract for clients and `wt-serve check`."""
    def plain(value):
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return {"required": [name for name in feature_spec if name in required],
            "optional": {name: plain(defaults[name]) for name in feature_spec
                         if name not in required},
            "invalid_numbers_replaced": {name: plain(defaults[name]) for name in feature_spec
                                         if name in numeric_names and name in defaults}}
