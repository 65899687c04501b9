"""bucket_boundaries.json: where BucketBoundaryGen writes a `BucketBoundaries`, and reads it back.

The file is the only file of BucketBoundaryGen's `boundaries` output (a
HyperParameters artifact), so the TFX Trainer hands its decoded content to
`run_fn` as `fn_args.hyperparameters`, which `BucketBoundaries.from_json`
reads and validates. The layout (versioned) is documented in
`wt_keras.buckets._boundaries_json`; this module only adds the file handling
(any filesystem tf.io.gfile supports: local, gs://, ...).
"""
import os

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras.buckets import BucketBoundaries  # isort: skip

import tensorflow as tf

FILE_NAME = "bucket_boundaries.json"


def write_bucket_boundaries(boundaries, directory):
    """Validates `boundaries` (a BucketBoundaries) and writes `directory`/bucket_boundaries.json."""
    if not isinstance(boundaries, BucketBoundaries):
        raise TypeError(f"write_bucket_boundaries needs a wt_keras.buckets.BucketBoundaries, "
                        f"got {type(boundaries).__name__}.")
    text = boundaries.to_json()
    path = os.path.join(directory, FILE_NAME)
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(text)
    return path


def load_bucket_boundaries(path):
    """Reads and validates bucket_boundaries.json.

    Args:
      path: the `boundaries` artifact's URI (a directory holding
        bucket_boundaries.json) or the JSON file itself.

    Returns:
      `wt_keras.buckets.BucketBoundaries`.

    Raises:
      FileNotFoundError: no such file, or the directory lacks the file.
      ValueError (`InvalidBoundariesError`): not JSON, a newer format, or
        not a valid BucketBoundaries.
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
        return BucketBoundaries.from_json(handle.read(), source=path)
