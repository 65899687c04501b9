"""`export_serving_model`: a trained ranker → a TF Serving version directory."""
import json
import logging
import os

import numpy as np
import tensorflow as tf

from wt_keras.export import distribution, versions, warmup
from wt_keras.export.features import serialize_examples
from wt_keras.export.serving import SERVING_SIGNATURE, ServingModule

DEFAULT_WARMUP_RECORDS = 16
MODEL_INFO_FILE = "wt_keras_model.json"   # in assets.extra, beside the warmup file
_VERIFY_TOLERANCE = 1e-5
_log = logging.getLogger(__name__)


def _placeholder_rows(feature_spec, num_rows=2):
    """Rows of zeros and empty strings: enough to check the reloaded graph runs."""
    return {name: np.array([b""] * num_rows, dtype=object) if spec.dtype == tf.string
            else np.zeros(num_rows, spec.dtype.as_numpy_dtype)
            for name, spec in feature_spec.items()}


def _verify(saved_model_dir, module, serialized_examples):
    """Reloads the SavedModel and checks it reproduces the in-memory model."""
    loaded = tf.saved_model.load(saved_model_dir)
    examples = tf.constant(serialized_examples, tf.string)
    expected = module.serve_examples(examples)
    actual = loaded.signatures[SERVING_SIGNATURE](examples=examples)
    for name, value in expected.items():
        if not np.allclose(actual[name].numpy(), value.numpy(), rtol=_VERIFY_TOLERANCE,
                           atol=_VERIFY_TOLERANCE):
            raise RuntimeError(f"the reloaded SavedModel's '{name}' differs from the in-memory "
                               "model; nothing was published. Please report this as a bug.")


def _serving_source(model, feature_spec, head, **user_model_options):
    """The ranker itself, or a user's own Keras model wrapped for `ServingModule`."""
    if hasattr(model, "encoder") and hasattr(model, "label_key"):   # a WatchTimeRanker
        if head is not None and head is not model.head:
            raise ValueError("head= is for models that are not a WatchTimeRanker; "
                             "the ranker already has its head.")
        return model
    if head is None:
        raise ValueError(
            f"export_serving_model exports a WatchTimeRanker, or any Keras model whose output "
            f"is a head's logits when given that head; got a {type(model).__name__} without "
            "head=. Pass head=<the wt_keras head layer> (plus duration_feature= for D2Q, and "
            "output_key= when the model returns a dict).")
    from wt_keras.export.user_model import UserModelServing
    return UserModelServing(model, head, feature_spec, **user_model_options)


def export_serving_model(ranker, export_dir, feature_spec, warmup_examples=None,
                         model_name="wt_keras", num_warmup_records=DEFAULT_WARMUP_RECORDS,
                         verify=True, transform_features=None, feature_defaults=None,
                         required_features=None, head=None, duration_feature=None,
                         output_key=None, feature_names=None,
                         quantile_levels=distribution.DEFAULT_QUANTILE_LEVELS,
                         bucket_boundaries=None):
    """Writes a TF Serving SavedModel of a trained `WatchTimeRanker` or of your own model.

    The SavedModel holds the feature encoder, the shared bottom and the head
    only (see `ServingModule`): no confidence tower, optimizer or metric
    variables. It has two signatures, ``serving_default`` (serialised
    tf.Example strings, input ``examples``) and ``predict_raw`` (one tensor
    per feature), both returning ``watch_time`` [batch] in seconds (the
    ranker's point estimate) plus the head's extra outputs; heads with a
    distribution add ``watch_time_median`` [batch], ``quantiles`` [batch,
    levels] and ``completion_probability`` [batch] (`export.distribution`).
    It loads with `tf.saved_model.load` alone.

    The export is written to a staging directory beside `export_dir`,
    checked, and renamed into place: a failed export leaves nothing behind
    and never touches other versions.

    Your own Keras model (functional, subclassed, TFRS multi-task) whose
    output is a head's logits exports the same way with `head=` given; see
    `export.user_model.UserModelServing` for the inputs it accepts.

    Args:
      ranker: a trained `wt_keras.models.WatchTimeRanker`, or a Keras model
        mapping a feature dict to a head's logits (then pass `head`).
      export_dir: the SavedModel directory to create, e.g.
        `export.next_version_dir("saved_models", "wt_keras")` or a TFX
        Trainer's `fn_args.serving_model_dir`. Must not exist or be empty.
      feature_spec: {name: tf.io.FixedLenFeature([], dtype)} of the model's
        input features, label excluded (see `feature_spec_from_features`).
      warmup_examples: optional dict of numpy columns (a few real rows);
        written as `assets.extra/tf_serving_warmup_requests`.
      model_name: the name TF Serving serves the model under (warmup requests carry it).
      num_warmup_records: at most this many rows become warmup records (≤ 1000).
      verify: reload the SavedModel before publishing and check it reproduces
        the in-memory model within 1e-5.
      transform_features: optional callable, parsed features → {name: [B]
        tensor}, served as a third signature ``transform_features`` (e.g. the
        TFX pipeline's duration-group slice key for TFMA); see `ServingModule`.
      feature_defaults, required_features: let requests carry only the
        `required_features` (ids and duration); every other feature takes its
        default from `feature_defaults` ({name: value}, e.g.
        `export.serving_defaults(training_rows, feature_spec, required)`), and
        NaN, inf or negative numeric inputs take it too. Adds the
        ``predict_raw_required`` signature. See `ServingModule`.
      head: the head whose logits `ranker` outputs, when it is not a ranker.
      duration_feature: (own model) duration column in seconds, the head's `duration`.
      output_key: (own model) the output entry holding the logits, for dict outputs.
      feature_names: (own model) the features it reads; default: its input names.
      quantile_levels: levels of the ``quantiles`` output, strictly
        increasing in (0, 1); recorded as `quantile_levels` in
        `assets.extra/wt_keras_model.json`. None exports the point estimate
        only, without the distributional outputs.
      bucket_boundaries: optional `wt_keras.buckets.BucketBoundaries` the
        head was built from; its `describe()` (grid spec, α, K, rank error,
        n) is recorded as `bucket_boundaries` in wt_keras_model.json.

    Returns:
      `export_dir` as a str.

    Raises:
      FileExistsError: `export_dir` exists and is not empty.
      ValueError: the feature spec does not match the model.
    """
    export_dir = os.fspath(export_dir).rstrip("/")
    if not 0 < num_warmup_records <= warmup.MAX_WARMUP_RECORDS:
        raise ValueError(f"num_warmup_records must be in 1..{warmup.MAX_WARMUP_RECORDS}, "
                         f"got {num_warmup_records}.")
    source = _serving_source(ranker, feature_spec, head, duration_feature=duration_feature,
                             output_key=output_key, feature_names=feature_names)
    module = ServingModule(source, feature_spec, transform_features=transform_features,
                           feature_defaults=feature_defaults, required_features=required_features,
                           quantile_levels=quantile_levels)
    examples = None
    if warmup_examples is not None:
        examples = serialize_examples(warmup_examples, module.feature_spec, limit=num_warmup_records)
    with versions.staged_export(export_dir) as staging_dir:
        tf.saved_model.save(module, staging_dir, signatures=module.signatures())
        if examples:
            warmup.write_warmup_requests(staging_dir, examples, model_name, SERVING_SIGNATURE)
        else:
            _log.warning("No warmup_examples: TF Serving will initialise the model on its first "
                         "real requests. Pass a few training rows as warmup_examples.")
        info = {"model_name": model_name, **module.info(),
                "warmup_records": len(examples) if examples else 0}
        if bucket_boundaries is not None:
            info["bucket_boundaries"] = bucket_boundaries.describe()
        tf.io.gfile.makedirs(os.path.join(staging_dir, warmup.WARMUP_DIR))
        with tf.io.gfile.GFile(os.path.join(staging_dir, warmup.WARMUP_DIR, MODEL_INFO_FILE),
                               "w") as handle:
            json.dump(info, handle, indent=2)
        if verify:
            _verify(staging_dir, module, examples or serialize_examples(
                _placeholder_rows(module.feature_spec), module.feature_spec))
    return export_dir
