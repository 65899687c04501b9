"""TF Serving warmup records: `assets.extra/tf_serving_warmup_requests`.

TF Serving replays these requests when it loads a version, before the
version takes traffic, so the first real requests do not pay for
initialisation. The file is a TFRecord of `PredictionLog` protos
(tensorflow-serving-api) and may hold at most 1000 records.

TensorFlow and tensorflow-serving-api only: nothing here imports the model code.
"""
import os

import tensorflow as tf

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000   # TF Serving reads no more than this


def serving_protos():
    """(predict_pb2, prediction_log_pb2) from tensorflow-serving-api, or a clear ImportError."""
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError as error:
        raise ImportError(
            "Warmup records need tensorflow-serving-api: pip install "
            "'tensorflow-serving-api>=2.16,<2.17' (or wt_keras[pipeline]).") from error
    return predict_pb2, prediction_log_pb2


def warmup_file_path(saved_model_dir):
    """`<saved_model_dir>/assets.extra/tf_serving_warmup_requests`."""
    return os.path.join(os.fspath(saved_model_dir), WARMUP_DIR, WARMUP_FILE)


def predict_log(serialized_examples, model_name, signature_name="serving_default",
                input_name="examples"):
    """A `PredictionLog` whose Predict request sends serialised tf.Examples.

    Args:
      serialized_examples: list of bytes (a batch; TF Serving accepts any size).
      model_name: the name TF Serving serves the model under.
      signature_name: the signature to call.
      input_name: the signature's string input.
    """
    predict_pb2, prediction_log_pb2 = serving_protos()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    request.inputs[input_name].CopyFrom(
        tf.make_tensor_proto(list(serialized_examples), dtype=tf.string))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(saved_model_dir, serialized_examples, model_name,
                          signature_name="serving_default", input_name="examples"):
    """Writes one single-example Predict request per example; returns the record count.

    One example per request mirrors online traffic (and what TFX's
    InfraValidator writes).

    Raises:
      ValueError: no examples, or more than 1000.
    """
    serialized_examples = list(serialized_examples)
    if not serialized_examples:
        raise ValueError("no warmup examples: pass a few representative rows.")
    if len(serialized_examples) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(serialized_examples)} warmup records requested; TF Serving reads at "
                         f"most {MAX_WARMUP_RECORDS}. A few dozen representative rows suffice.")
    path = warmup_file_path(saved_model_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for example in serialized_examples:
            log = predict_log([example], model_name, signature_name, input_name)
            writer.write(log.SerializeToString())
    return len(serialized_examples)


def read_warmup_requests(saved_model_dir_or_file):
    """Yields the `PredictionLog`s of a warmup file (or of a SavedModel's warmup file)."""
    path = os.fspath(saved_model_dir_or_file)
    if tf.io.gfile.isdir(path):
        path = warmup_file_path(path)
    _, prediction_log_pb2 = serving_protos()
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        yield prediction_log_pb2.PredictionLog.FromString(record)


def predict_inputs(log):
    """{input name: tf.Tensor} of a `PredictionLog`'s Predict request."""
    return {name: tf.constant(tf.make_ndarray(proto))
            for name, proto in log.predict_log.request.inputs.items()}
