"""Feature specs for parsing `tf.Example` at serving, and tf.Example builders.

TensorFlow only: nothing here imports the model code.
"""
import numpy as np
import tensorflow as tf

SUPPORTED_DTYPES = (tf.int64, tf.float32, tf.string)


def _column(features, name):
    try:
        values = features[name]
    except KeyError:
        raise KeyError(f"feature '{name}' is not in the sample data (columns: "
                       f"{sorted(features)}).") from None
    return np.asarray(values).reshape(-1)


def _dtype_of(values, name):
    kind = values.dtype.kind
    if kind in "iub":          # ints, unsigned ints and booleans travel as int64_list
        return tf.int64
    if kind == "f":
        return tf.float32
    if kind in "SU":
        return tf.string
    if kind == "O" and all(isinstance(v, (str, bytes)) for v in values):
        return tf.string
    raise TypeError(f"feature '{name}' has numpy dtype {values.dtype}, which tf.Example cannot "
                    "carry; convert it to int, float or str first.")


def feature_spec_from_features(features, names=None):
    """Builds a parsing spec {name: tf.io.FixedLenFeature([], dtype)} from sample data.

    int and bool columns become int64, float columns float32, str/bytes
    columns string: the three types a `tf.Example` can hold. Every feature is
    required (no default), so a request that lacks one fails with an error
    naming it instead of being scored with a made-up value.

    Args:
      features: dict (or DataFrame) of numpy-like columns, e.g. a few training rows.
      names: the model's input features; defaults to every column. Leave the
        label out: serving requests do not carry it.

    Returns:
      dict of `tf.io.FixedLenFeature`, in the order of `names`.

    Example:
    >>> feature_spec_from_features({"user_id": np.array([3, 7]), "duration_s": np.array([9.5, 30.0])})
    {'user_id': FixedLenFeature(shape=[], dtype=tf.int64, default_value=None), 'duration_s': FixedLenFeature(shape=[], dtype=tf.float32, default_value=None)}
    """
    names = list(features) if names is None else list(names)
    return {name: tf.io.FixedLenFeature([], _dtype_of(_column(features, name), name))
            for name in names}


def validate_feature_spec(feature_spec):
    """Checks that every entry is a scalar FixedLenFeature of a tf.Example dtype.

    Returns:
      a new dict {name: tf.io.FixedLenFeature} with shapes as lists.

    Raises:
      TypeError, ValueError: with the fix in the message.
    """
    if not isinstance(feature_spec, dict) or not feature_spec:
        raise TypeError("feature_spec must be a non-empty dict {name: tf.io.FixedLenFeature}; "
                        "build one with export.feature_spec_from_features(sample_rows, names).")
    checked = {}
    for name, feature in feature_spec.items():
        if not isinstance(feature, tf.io.FixedLenFeature):
            raise TypeError(
                f"feature_spec['{name}'] is a {type(feature).__name__}; the model takes exactly one "
                f"value per feature, so use tf.io.FixedLenFeature([], dtype).")
        shape = tf.TensorShape(feature.shape).as_list()
        if shape not in ([], [1]):
            raise ValueError(f"feature_spec['{name}'] has shape {shape}; the model takes one value "
                             "per feature: use shape [] (or [1]).")
        if feature.dtype not in SUPPORTED_DTYPES:
            raise ValueError(f"feature_spec['{name}'] has dtype {feature.dtype.name}; tf.Example "
                             "features are int64, float32 or string.")
        checked[str(name)] = tf.io.FixedLenFeature(shape, feature.dtype, feature.default_value)
    return checked


def _feature_proto(value, dtype):
    if dtype == tf.int64:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    if dtype == tf.float32:
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif not isinstance(value, bytes):
        value = str(value).encode("utf-8")
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def serialize_examples(features, feature_spec, limit=None):
    """Serialised `tf.Example`s, one per row, holding the spec's features.

    Args:
      features: dict (or DataFrame) of numpy-like columns; extra columns
        (e.g. the label) are ignored.
      feature_spec: {name: tf.io.FixedLenFeature}, gives each feature's type.
      limit: keep at most this many rows.

    Returns:
      list of bytes.
    """
    columns = {name: _column(features, name) for name in feature_spec}
    sizes = {len(values) for values in columns.values()}
    if len(sizes) != 1:
        raise ValueError(f"the feature columns have different lengths {sorted(sizes)}; "
                         "pass one value per row for every feature.")
    num_rows = sizes.pop() if limit is None else min(sizes.pop(), int(limit))
    return [tf.train.Example(features=tf.train.Features(feature={
                name: _feature_proto(columns[name][row], spec.dtype)
                for name, spec in feature_spec.items()})).SerializeToString()
            for row in range(num_rows)]


def raw_feature_tensors(features, feature_spec):
    """{name: [B] tensor} in the spec's dtypes: the `predict_raw` signature's inputs."""
    tensors = {}
    for name, spec in feature_spec.items():
        values = _column(features, name)
        if spec.dtype == tf.string:
            values = np.array([v.encode("utf-8") if isinstance(v, str) else v for v in values],
                              dtype=object)
        tensors[name] = tf.constant(values, dtype=spec.dtype)
    return tensors
