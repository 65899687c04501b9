"""Settings refused before a run starts: they would fail late, or never work.

`--time-scale inf` and a one-bucket grid are `PipelineConfig.check`'s; this
module adds what only the command line knows: the simulated row count, and
whether the output folders can be written (found only at the Pusher, after
a full run, otherwise).
"""
import math
import os
import tempfile

from pipelines.watch_time.preflight import PreflightError


def _check_writable(path, flag):
    """PreflightError unless a file can be written in folder `path` (created if needed)."""
    if "://" in path:
        return   # remote file systems are checked by their own client
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise PreflightError(f"{flag} {path} is not a writable folder ({error.strerror}); "
                             "pass a folder you can write to.") from None


def check_run_settings(rows, saved_models, work_dir, max_play_ratio=None):
    """Refuses, before anything runs, settings that would fail late (or never work)."""
    if rows < 1:
        raise PreflightError(f"--rows must be >= 1, got {rows}.")
    if max_play_ratio is not None and not (max_play_ratio > 0 and math.isfinite(max_play_ratio)):
        raise PreflightError(f"--max-play-ratio must be a finite number > 0, got "
                             f"{max_play_ratio}.")
    _check_writable(saved_models, "--saved-models")
    _check_writable(work_dir, "--work-dir")
