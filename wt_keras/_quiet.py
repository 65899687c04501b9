"""Quiet command lines: a user's first screen is the tool's own output.

TensorFlow prints C++ log lines on import (CUDA factory registration
errors on machines without a GPU, CPU-feature notes, TF-TRT warnings) and
Google client libraries warn about the Python version on import. None of
them is about the user's data or settings, so the CLIs hide them unless
`--verbose` is given.

Call `quiet_command_line(argv)` first thing in a CLI's `main`, before
TensorFlow is imported: TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` once, at
import. The environment variables also reach the processes the CLI starts
(Beam workers).

Example:

>>> import os
>>> from wt_keras._quiet import is_verbose, quiet_command_line
>>> is_verbose(["run", "--verbose"]), is_verbose(["run"])
(True, False)
>>> environment = {}
>>> quiet_command_line(["run"], environ=environment)
True
>>> environment["TF_CPP_MIN_LOG_LEVEL"]
'3'
>>> quiet_command_line(["run", "--verbose"], environ={})
False
"""
import os
import sys
import warnings

VERBOSE_FLAG = "--verbose"
# 3 hides INFO, WARNING and ERROR lines of TensorFlow's C++ logging: the
# CUDA-registration lines are logged as errors although nothing failed.
QUIET_TF_CPP_LOG_LEVEL = "3"
_IGNORED_CATEGORIES = ("FutureWarning", "DeprecationWarning")


def is_verbose(argv=None):
    """True when the command line asks for `--verbose`."""
    return VERBOSE_FLAG in (sys.argv[1:] if argv is None else list(argv))


def quiet_command_line(argv=None, environ=None):
    """Silences library start-up noise unless `--verbose` is in `argv`.

    Args:
      argv: the CLI's arguments (default `sys.argv[1:]`).
      environ: the environment to change (default `os.environ`).

    Returns:
      True when the noise was silenced, False in verbose mode.
    """
    if is_verbose(argv):
        return False
    environ = os.environ if environ is None else environ
    environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_TF_CPP_LOG_LEVEL
    # Child processes (Beam workers) import the Google clients again.
    ignored = [f"ignore::{category}" for category in _IGNORED_CATEGORIES]
    current = [item for item in environ.get("PYTHONWARNINGS", "").split(",") if item]
    environ["PYTHONWARNINGS"] = ",".join(dict.fromkeys(current + ignored))
    if environ is os.environ:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    return True
