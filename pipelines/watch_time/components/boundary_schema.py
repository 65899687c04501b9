"""bucket_boundaries.json: its schema, writer and validating reader.

The file is the only file of BucketBoundaryGen's `boundaries` output (a
HyperParameters artifact), so the TFX Trainer hands its parsed content to
`run_fn` as `fn_args.hyperparameters`. Required keys:

  grid_spec, time_scale (alpha of the integerised endpoints, 0 = not
  integerised; `time_scale_source` says whether it was "auto"-chosen or
  "given"), num_buckets (K),
  boundaries (t_1..t_K, seconds), rank_error (eps), num_examples (n),
  label_key, duration_key,
  cread: {boundaries, alpha, num_buckets (M requested; <= M survive)},
  d2q: {duration_edges [G-1], quantile_table [G][Q], num_quantiles (Q),
        group_sizes [G]}.

Extra keys (levels, split, sketch, d2q.rank_error, ...) are informational.
"""
import json
import os

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras import buckets  # isort: skip

import numpy as np
import tensorflow as tf

FILE_NAME = "bucket_boundaries.json"
_TOP_KEYS = ("grid_spec", "time_scale", "num_buckets", "boundaries",
             "rank_error", "num_examples", "label_key", "duration_key",
             "cread", "d2q")
_CREAD_KEYS = ("boundaries", "alpha", "num_buckets")
_D2Q_KEYS = ("duration_edges", "quantile_table", "num_quantiles", "group_sizes")


def write_bucket_boundaries(payload, directory):
    """Validates `payload` and writes it as `directory`/bucket_boundaries.json."""
    validate_bucket_boundaries(payload, source="the payload to write")
    path = os.path.join(directory, FILE_NAME)
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(payload, indent=1))
    return path


def _fail(source, message):
    raise ValueError(f"Invalid bucket boundaries in {source}: {message}. "
                     "Regenerate them with BucketBoundaryGen.")


def _require(mapping, keys, source, prefix=""):
    if not isinstance(mapping, dict):
        _fail(source, f"{prefix or 'the top level'} must be a JSON object")
    missing = [prefix + key for key in keys if key not in mapping]
    if missing:
        _fail(source, f"missing key(s) {', '.join(missing)}")


def _endpoints(values, source, name):
    try:
        return buckets.validate_boundaries(values)
    except ValueError as error:
        _fail(source, f"{name}: {error}")


def validate_bucket_boundaries(payload, source="bucket boundaries"):
    """Checks a parsed bucket_boundaries.json (e.g. fn_args.hyperparameters).

    Args:
      payload: the parsed JSON dict.
      source: where it came from, for error messages.

    Returns:
      `payload`, unchanged.

    Raises:
      ValueError: naming the first missing or inconsistent key.
    """
    _require(payload, _TOP_KEYS, source)
    boundaries = _endpoints(payload["boundaries"], source, "boundaries")
    if payload["num_buckets"] != boundaries.size or boundaries.size < 2:
        _fail(source, f"num_buckets is {payload['num_buckets']} but there are "
                      f"{boundaries.size} boundaries (need K >= 2)")
    if not 0 <= payload["rank_error"] <= 1 or payload["num_examples"] < 1:
        _fail(source, "rank_error must be in [0, 1] and num_examples >= 1")
    cread = payload["cread"]
    _require(cread, _CREAD_KEYS, source, "cread.")
    cread_endpoints = _endpoints(cread["boundaries"], source, "cread.boundaries")
    if cread_endpoints.size > cread["num_buckets"]:
        _fail(source, f"cread has {cread_endpoints.size} boundaries but "
                      f"num_buckets (M) is {cread['num_buckets']}")
    d2q = payload["d2q"]
    _require(d2q, _D2Q_KEYS, source, "d2q.")
    edges = np.asarray(d2q["duration_edges"], dtype=np.float64)
    if edges.ndim != 1 or np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
        _fail(source, "d2q.duration_edges must be a strictly increasing list")
    table = np.asarray(d2q["quantile_table"], dtype=np.float64)
    expected = (edges.size + 1, d2q["num_quantiles"])
    if table.shape != expected:
        _fail(source, f"d2q.quantile_table has shape {table.shape}, expected "
                      f"{expected} (groups = len(duration_edges) + 1, num_quantiles)")
    if np.any(np.diff(table, axis=1) < 0) or not np.all(np.isfinite(table)):
        _fail(source, "d2q.quantile_table rows must be finite and non-decreasing")
    if len(d2q["group_sizes"]) != expected[0]:
        _fail(source, f"d2q.group_sizes has {len(d2q['group_sizes'])} entries "
                      f"for {expected[0]} groups")
    return payload


def load_bucket_boundaries(path):
    """Reads and validates bucket_boundaries.json.

    Args:
      path: the `boundaries` artifact's URI (a directory holding
        bucket_boundaries.json) or the JSON file itself; local or any
        filesystem tf.io.gfile supports (gs://, ...).

    Returns:
      The parsed dict (schema in the module docstring).

    Raises:
      FileNotFoundError: no such file, or the directory lacks the file.
      ValueError: the file is not JSON or does not match the schema.
    """
    path = os.fspath(path)
    if tf.io.gfile.isdir(path):
        directory, path = path, os.path.join(path, FILE_NAME)
        if not tf.io.gfile.exists(path):
            found = sorted(tf.io.gfile.listdir(directory))
            raise FileNotFoundError(
                f"No {FILE_NAME} in {directory} (it holds: "
                f"{', '.join(found) or 'nothing'}). Pass the URI of "
                "BucketBoundaryGen's `boundaries` output.")
    elif not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"No bucket boundaries file at {path}.")
    with tf.io.gfile.GFile(path) as handle:
        text = handle.read()
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); regenerate it "
                         "with BucketBoundaryGen.") from None
    return validate_bucket_boundaries(payload, source=path)
