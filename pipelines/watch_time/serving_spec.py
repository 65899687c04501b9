"""The export's tf.Example parsing spec, read from the training schema.

Inside the pipeline the Trainer has the schema its examples were validated
against, so the serving spec comes from it (`tensorflow_transform`'s
`schema_utils.schema_as_feature_spec`, the TFX convention) rather than from
the numpy dtypes of a sample. `wt-train`, which has no schema, keeps
`wt_keras.export.feature_spec_from_features`.

Example:

>>> from google.protobuf import text_format
>>> schema = text_format.Parse('''
...   feature { name: "user_id" type: INT shape { dim { size: 1 } }
...             presence { min_fraction: 1.0 } }
...   feature { name: "duration_s" type: FLOAT shape { dim { size: 1 } }
...             presence { min_fraction: 1.0 } }''', schema_pb2.Schema())
>>> feature_spec_from_schema(schema, ["user_id", "duration_s"])["user_id"]
FixedLenFeature(shape=[], dtype=tf.int64, default_value=None)
"""
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import schema_utils

_ONE_VALUE = ("set `shape { dim { size: 1 } }` and `presence { min_fraction: 1.0 }` for it in "
              "the schema (the model serves exactly one value per feature)")


def feature_spec_from_schema(schema, names):
    """{name: tf.io.FixedLenFeature([], dtype)} of the served features, from the schema.

    Only the served features are converted, so a column the model does not
    read cannot stop the export. Shape [1] (one value per example) becomes
    [], so the serving signatures take [batch] tensors.

    Args:
      schema: the training schema (schema_pb2.Schema).
      names: the served features, in order.

    Returns:
      dict of `tf.io.FixedLenFeature` in the order of `names`.

    Raises:
      ValueError: a feature is not in the schema, or is not one value per
        example; the message says how to fix the schema.
    """
    by_name = {feature.name: feature for feature in schema.feature}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ValueError(f"the served features {missing} are not in the training schema "
                         f"(columns: {sorted(by_name)}); declare them in the schema or serve "
                         "other features.")
    served = schema_pb2.Schema(feature=[by_name[name] for name in names],
                               string_domain=schema.string_domain)
    try:
        spec = schema_utils.schema_as_feature_spec(served).feature_spec
    except ValueError as error:
        reason = " ".join(str(error).split())    # TFT's message spans several lines
        raise ValueError(f"the training schema cannot describe the served features ({reason}); "
                         f"for each of them {_ONE_VALUE}.") from None
    checked = {}
    for name in names:
        feature = spec[name]
        if (not isinstance(feature, tf.io.FixedLenFeature)
                or tf.TensorShape(feature.shape).as_list() not in ([], [1])):
            raise ValueError(f"the training schema gives the served feature '{name}' "
                             f"{type(feature).__name__} {getattr(feature, 'shape', '')}; "
                             f"{_ONE_VALUE}.")
        checked[name] = tf.io.FixedLenFeature([], feature.dtype)
    return checked
