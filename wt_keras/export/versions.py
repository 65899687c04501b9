"""TF Serving's versioned layout `<base>/<model_name>/<int version>/` and atomic publishing.

TF Serving loads every integer subdirectory of a model's base path that its
version policy selects, as soon as it appears. A version must therefore
appear complete or not at all: exports are written to a hidden staging
directory beside the target (TF Serving ignores names that are not integers)
and renamed into place in one step.
"""
import contextlib
import os
import time
import uuid

import tensorflow as tf

STAGING_PREFIX = ".staging-"


def _is_local(path):
    return "://" not in path or path.startswith("file://")


def _local(path):
    return path[len("file://"):] if path.startswith("file://") else path


def existing_versions(model_dir):
    """Sorted integer versions under `model_dir` (other entries are ignored)."""
    if not tf.io.gfile.isdir(model_dir):
        return []
    return sorted(int(entry.rstrip("/")) for entry in tf.io.gfile.listdir(model_dir)
                  if entry.rstrip("/").isdigit())


def next_version_dir(base_dir, model_name):
    """The directory for a new version: `<base_dir>/<model_name>/<version>`.

    The version is the current Unix time in seconds (as the TFX Pusher
    does), or one more than the highest existing version if that is larger,
    so a new export always sorts last and never reuses an existing version.
    The directory is not created.

    Args:
      base_dir: TF Serving's model base path, e.g. "saved_models".
      model_name: the served model's name, e.g. "wt_keras".

    Returns:
      str path.
    """
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise ValueError(f"model_name must be a plain directory name, got {model_name!r}.")
    model_dir = os.path.join(os.fspath(base_dir), model_name)
    versions = existing_versions(model_dir)
    version = max(int(time.time()), versions[-1] + 1 if versions else 0)
    return os.path.join(model_dir, str(version))


def _check_target_is_free(export_dir):
    if tf.io.gfile.exists(export_dir) and (not tf.io.gfile.isdir(export_dir)
                                           or tf.io.gfile.listdir(export_dir)):
        raise FileExistsError(
            f"{export_dir} already exists and is not empty; exports never overwrite a version. "
            "Use export.next_version_dir(base_dir, model_name) for a fresh one.")


def _copy_tree_saved_model_last(source, target):
    """Copies a SavedModel directory so that `saved_model.pb` lands last.

    Object stores (gs://, s3://) cannot rename directories; a loader that
    looks for saved_model.pb then never sees a version without its variables.
    """
    files = []
    for directory, _, names in tf.io.gfile.walk(source):
        relative = os.path.relpath(directory, source)
        tf.io.gfile.makedirs(os.path.join(target, relative))
        files.extend(os.path.normpath(os.path.join(relative, name)) for name in names)
    files.sort(key=lambda name: name == "saved_model.pb")
    for name in files:
        tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name))


def _publish(staging_dir, export_dir):
    if _is_local(export_dir):
        try:
            # rename(2) is atomic, and fails rather than replace a non-empty directory.
            os.rename(_local(staging_dir), _local(export_dir))
        except OSError as error:
            if tf.io.gfile.exists(export_dir):
                raise FileExistsError(f"{export_dir} appeared while exporting (another export "
                                      "chose the same version?); nothing was overwritten.") from error
            raise
        return
    if tf.io.gfile.exists(export_dir):
        tf.io.gfile.rmtree(export_dir)   # checked empty before the export started
    try:
        _copy_tree_saved_model_last(staging_dir, export_dir)
    except Exception:
        tf.io.gfile.rmtree(export_dir)
        raise
    tf.io.gfile.rmtree(staging_dir)


@contextlib.contextmanager
def staged_export(export_dir):
    """Yields a staging directory that becomes `export_dir` if the block succeeds.

    On any error the staging directory is deleted, `export_dir` is not
    created, and sibling versions are never touched.

    Raises:
      FileExistsError: `export_dir` exists and is not empty.
    """
    export_dir = os.fspath(export_dir).rstrip("/")
    _check_target_is_free(export_dir)
    parent, name = os.path.split(export_dir)
    tf.io.gfile.makedirs(parent or ".")
    staging_dir = os.path.join(parent, f"{STAGING_PREFIX}{name}-{uuid.uuid4().hex[:8]}")
    try:
        yield staging_dir
        _publish(staging_dir, export_dir)
    except BaseException:
        if tf.io.gfile.exists(staging_dir):
            tf.io.gfile.rmtree(staging_dir)
        raise
