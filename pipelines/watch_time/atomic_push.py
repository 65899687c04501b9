"""A Pusher executor whose pushes appear in the serving directory all at once.

TFX's Pusher copies the blessed model straight into
`<base>/<version>/`, file by file (saved_model.pb last). A run killed during
that copy leaves a partial version directory that TF Serving will try to
load, and that no later run removes. This executor lets the stock Pusher
copy into `<base>/.staging/<version>/` (TF Serving ignores names that are not
integers) and then renames the finished directory to `<base>/<version>/`:
one atomic rename(2) on a local filesystem, so a killed run leaves either
no new version or a complete one. Earlier versions are never touched, and a
model identical to the newest served version (a rerun whose Trainer came
from the cache) is not pushed a second time.

Object stores (gs://, s3://) have no atomic rename; there the stock
behaviour (saved_model.pb copied last) is kept.
"""
import filecmp
import os
import shutil
import time

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
import wt_keras  # noqa: F401  isort: skip

from absl import logging
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.utils import proto_utils

STAGING_DIR = ".staging"
# Staged copies older than this were left by killed runs: safe to delete.
STALE_SECONDS = 3600
_PUSHED, _DESTINATION, _VERSION = "pushed", "pushed_destination", "pushed_version"


def _is_local(path):
    return "://" not in path


def remove_stale_staging(staging_base, now=None):
    """Deletes staged copies that killed runs left behind; returns their names."""
    if not os.path.isdir(staging_base):
        return []
    now = time.time() if now is None else now
    stale = [name for name in os.listdir(staging_base)
             if now - os.path.getmtime(os.path.join(staging_base, name)) > STALE_SECONDS]
    for name in stale:
        shutil.rmtree(os.path.join(staging_base, name), ignore_errors=True)
    return stale


def _files(directory):
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in os.walk(directory) for name in names)


def same_model(first, second):
    """True when two SavedModel directories hold byte-identical files."""
    files = _files(first)
    return files == _files(second) and all(
        filecmp.cmp(os.path.join(first, name), os.path.join(second, name), shallow=False)
        for name in files)


def latest_version(base_directory):
    """The highest integer version directory under `base_directory`, or None."""
    versions = [int(name) for name in os.listdir(base_directory) if name.isdigit()]
    return os.path.join(base_directory, str(max(versions))) if versions else None


def publish(staged_dir, base_directory, version):
    """Renames a staged version into `base_directory`; a taken version becomes the next free one.

    Returns:
      (final directory, version) as strings.
    """
    version = int(version)
    while os.path.exists(os.path.join(base_directory, str(version))):
        version += 1   # two pushes in one second: keep both, newest sorts last
    final = os.path.join(base_directory, str(version))
    os.rename(staged_dir, final)
    return final, str(version)


class Executor(pusher_executor.Executor):
    """TFX Pusher executor with staged, atomic publishing on local filesystems."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 (TFX API)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties["push_destination"], destination)
        base = destination.filesystem.base_directory
        if destination.WhichOneof("destination") != "filesystem" or not _is_local(base):
            return super().Do(input_dict, output_dict, exec_properties)

        staging_base = os.path.join(base, STAGING_DIR)
        for name in remove_stale_staging(staging_base):
            logging.info("Removed %s/%s, left by an interrupted push.", staging_base, name)
        destination.filesystem.base_directory = staging_base
        staged_properties = dict(exec_properties)
        staged_properties["push_destination"] = proto_utils.proto_to_json(destination)
        super().Do(input_dict, output_dict, staged_properties)

        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        if not pushed.get_int_custom_property(_PUSHED):
            return None
        staged = pushed.get_string_custom_property(_DESTINATION)
        latest = latest_version(base)
        if latest and same_model(staged, latest):
            # A rerun re-blessed the model already served (e.g. everything
            # upstream came from the cache): no duplicate version.
            shutil.rmtree(staged)
            final, version = latest, os.path.basename(latest)
            logging.info("The blessed model is already served as %s; not pushing a copy.", final)
        else:
            final, version = publish(staged, base, pushed.get_string_custom_property(_VERSION))
        pushed.set_string_custom_property(_DESTINATION, final)
        pushed.set_string_custom_property(_VERSION, version)
        if not os.listdir(staging_base):
            os.rmdir(staging_base)
        logging.info("Model published to %s.", final)
        return None


class Pusher(pusher_component.Pusher):
    """TFX's Pusher with the staged, atomic `Executor` (same inputs, outputs and id)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
