"""`wt-serve check PATH`: a pre-deployment check of a TF Serving SavedModel.

Uses TensorFlow (and tensorflow-serving-api for the warmup protos) only, so it
checks what TF Serving will see, not what wt_keras knows: it loads the model
with `tf.saved_model.load`, lists the signatures, replays every warmup request
through its signature and prints a sample prediction. It imports nothing from
wt_keras's model code (only the optional start-up quieting helper) and also runs
as a standalone script (`python check.py check PATH`).

Exit status: 0 all checks passed, 1 a check failed, 2 bad command line.
"""
import argparse
import os
import sys

WARMUP_PATH = os.path.join("assets.extra", "tf_serving_warmup_requests")
MODEL_INFO_PATH = os.path.join("assets.extra", "wt_keras_model.json")
DEFAULT_SIGNATURE = "serving_default"


class CheckFailed(Exception):
    """A problem that would stop TF Serving from loading or warming up the model."""


def resolve_saved_model_dir(path, tf):
    """`path` itself if it holds saved_model.pb, else its highest integer version.

    TF Serving's default version policy serves the highest version under a
    model's base path, so `wt-serve check saved_models/wt_keras` checks that one.
    """
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        return path
    if not tf.io.gfile.isdir(path):
        raise CheckFailed(f"{path} does not exist.")
    versions = sorted((int(entry.rstrip("/")) for entry in tf.io.gfile.listdir(path)
                       if entry.rstrip("/").isdigit()), reverse=True)
    for version in versions:
        candidate = os.path.join(path, str(version))
        if tf.io.gfile.exists(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise CheckFailed(f"no saved_model.pb in {path} nor in an integer version subdirectory "
                      "of it; pass a SavedModel directory or a model base path.")


def _spec_text(spec):
    """E.g. 'float32 [-1, 5]' (-1: any size, as saved_model_cli prints it)."""
    if spec.shape.rank is None:
        return f"{spec.dtype.name} [unknown rank]"
    return f"{spec.dtype.name} {[-1 if d is None else d for d in spec.shape.as_list()]}"


def describe_signatures(loaded):
    """Lines describing every signature's inputs and outputs."""
    lines = []
    for name, function in loaded.signatures.items():
        _, inputs = function.structured_input_signature
        lines.append(f"  {name}")
        # TensorFlow reports a wrong input dtype by position ("input #1 was expected
        # to be a float tensor"): number the inputs so the position names the feature.
        numbered = len(inputs) > 1
        lines.append("    inputs:  " + ", ".join(
            f"{f'#{index} ' if numbered else ''}{key}: {_spec_text(spec)}"
            for index, (key, spec) in enumerate(sorted(inputs.items()))))
        outputs = function.structured_outputs
        ordered = sorted(outputs, key=lambda key: (key != "watch_time", key))
        lines.append("    outputs: " + ", ".join(f"{key}: {_spec_text(outputs[key])}"
                                                 for key in ordered))
    return lines


def describe_request_features(saved_model_dir, tf):
    """Lines listing required and optional request features with their defaults.

    Read from the export's model description (written by wt_keras); a model
    without one gets no lines.
    """
    import json
    path = os.path.join(saved_model_dir, MODEL_INFO_PATH)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as handle:
        features = json.load(handle).get("features")
    if not features:
        return ["Request features: all required (this export recorded no defaults)."]

    def shown(value):
        return f"{value:.6g}" if isinstance(value, float) else repr(value)

    lines = ["Request features:",
             "  required: " + ", ".join(features["required"])]
    optional = features.get("optional", {})
    lines.append("  optional (default if absent): " + (
        ", ".join(f"{name}={shown(value)}" for name, value in optional.items()) or "none"))
    replaced = features.get("invalid_numbers_replaced", {})
    if replaced:
        lines.append("  NaN, inf or negative values replaced by: " + ", ".join(
            f"{name}={shown(value)}" for name, value in replaced.items()))
    return lines


def _prediction_log_class():
    try:
        from tensorflow_serving.apis import prediction_log_pb2
    except ImportError as error:
        raise CheckFailed("reading warmup records needs tensorflow-serving-api: "
                          "pip install 'tensorflow-serving-api>=2.16,<2.17'.") from error
    return prediction_log_pb2.PredictionLog


def read_warmup_logs(saved_model_dir, tf):
    """The warmup `PredictionLog`s, or None if the model has no warmup file."""
    path = os.path.join(saved_model_dir, WARMUP_PATH)
    if not tf.io.gfile.exists(path):
        return None
    prediction_log = _prediction_log_class()
    try:
        return [prediction_log.FromString(record)
                for record in tf.data.TFRecordDataset(path).as_numpy_iterator()]
    except Exception as error:   # a corrupt file stops TF Serving from loading the version
        raise CheckFailed(f"{WARMUP_PATH} is not a TFRecord of PredictionLog: {error}") from error


def _error_text(error, limit=500):
    """TensorFlow's error message without the graph-execution boilerplate."""
    boilerplate = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[")
    lines = [line.strip() for line in str(error).splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(boilerplate))
    return text[:limit] or type(error).__name__


def run_warmup_log(loaded, log, tf, np):
    """Runs one warmup request through its signature; returns the outputs as numpy.

    Raises:
      CheckFailed: unsupported request kind, unknown signature, an error, or
        a non-finite output.
    """
    kind = log.WhichOneof("log_type")
    if kind != "predict_log":
        raise CheckFailed(f"a '{kind}' record: TF2 SavedModels serve the Predict API only, "
                          "so warmup records must be predict_log.")
    request = log.predict_log.request
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    if name not in loaded.signatures:
        raise CheckFailed(f"signature '{name}' does not exist (have {sorted(loaded.signatures)}).")
    inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
    try:
        outputs = loaded.signatures[name](**inputs)
    except Exception as error:   # report TensorFlow's own message, as TF Serving would
        raise CheckFailed(f"signature '{name}' failed: {_error_text(error)}") from error
    outputs = {key: value.numpy() for key, value in outputs.items()}
    for key, value in outputs.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise CheckFailed(f"signature '{name}' returned non-finite values in '{key}'.")
    return name, inputs, outputs


def _first_example_text(inputs, tf):
    examples = inputs.get("examples")
    if examples is None or examples.dtype != tf.string or examples.shape[0] == 0:
        return {key: value.numpy().tolist() for key, value in inputs.items()}
    example = tf.train.Example.FromString(examples.numpy()[0])
    return {key: list(getattr(feature, feature.WhichOneof("kind")).value)
            for key, feature in sorted(example.features.feature.items())}


def check(path, require_warmup=False, out=print):
    """Runs all checks on the SavedModel at `path`; returns the number of failures."""
    import numpy as np
    import tensorflow as tf

    failures = 0
    try:
        saved_model_dir = resolve_saved_model_dir(os.fspath(path), tf)
    except CheckFailed as error:
        out(f"FAIL {error}")
        return 1
    out(f"SavedModel: {saved_model_dir}")
    try:
        loaded = tf.saved_model.load(saved_model_dir)
    except Exception as error:
        out(f"FAIL tf.saved_model.load: {error}")
        return 1
    if not loaded.signatures:
        out("FAIL the SavedModel has no signatures: TF Serving has nothing to serve.")
        return 1
    out("Signatures:")
    for line in describe_signatures(loaded):
        out(line)
    for line in describe_request_features(saved_model_dir, tf):
        out(line)
    if DEFAULT_SIGNATURE not in loaded.signatures:
        out(f"WARN no '{DEFAULT_SIGNATURE}' signature: clients must name one in every request.")

    try:
        logs = read_warmup_logs(saved_model_dir, tf)
    except CheckFailed as error:
        out(f"FAIL {error}")
        return 1
    if logs is None:
        level = "FAIL" if require_warmup else "WARN"
        out(f"{level} no {WARMUP_PATH}: TF Serving will initialise the model on its first requests.")
        return int(require_warmup)
    if not logs:
        out(f"FAIL {WARMUP_PATH} holds no records.")
        return 1
    if len(logs) > 1000:
        out(f"WARN {len(logs)} warmup records: TF Serving reads only the first 1000.")
    sample = None
    for index, log in enumerate(logs):
        try:
            result = run_warmup_log(loaded, log, tf, np)
        except CheckFailed as error:
            failures += 1
            out(f"FAIL warmup record {index}: {error}")
            continue
        sample = sample or result
    out(f"Warmup: {len(logs) - failures}/{len(logs)} records ran ({WARMUP_PATH}).")
    if sample:
        name, inputs, outputs = sample
        out(f"Sample prediction ({name}):")
        out(f"  request: {_first_example_text(inputs, tf)}")
        for key, value in outputs.items():
            out(f"  {key}: {np.array2string(value, precision=4, threshold=20)}")
    return failures


def build_parser():
    parser = argparse.ArgumentParser(
        prog="wt-serve",
        description="Tools for TF Serving exports of wt_keras models (TensorFlow only).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check_parser = commands.add_parser(
        "check", help="load a SavedModel, list its signatures, replay its warmup requests",
        description="Loads a SavedModel with tf.saved_model.load, lists its signatures with "
                    "their inputs and outputs, runs every record of "
                    "assets.extra/tf_serving_warmup_requests through its signature and prints a "
                    "sample prediction. Exit status 1 if anything fails.")
    check_parser.add_argument(
        "path", help="a SavedModel directory, or a model base path such as saved_models/wt_keras "
                     "(its highest integer version is checked, as TF Serving would serve it)")
    check_parser.add_argument("--require-warmup", action="store_true",
                              help="fail if the model has no warmup file")
    check_parser.add_argument("--verbose", action="store_true",
                              help="show TensorFlow's start-up logs (hidden by default)")
    return parser


def _quiet(argv):
    """Hides TensorFlow's start-up noise unless --verbose (wt_keras._quiet when importable).

    This module also runs as a standalone script without wt_keras, so the
    import is optional; the helper only sets environment variables and filters.
    """
    try:
        from wt_keras._quiet import quiet_command_line
    except ImportError:
        return
    quiet_command_line(argv)


def main(argv=None):
    """Console entry point `wt-serve`."""
    _quiet(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    failures = check(args.path, require_warmup=args.require_warmup)
    print("OK" if failures == 0 else f"FAILED ({failures} problem(s))")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
