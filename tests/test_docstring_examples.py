"""Every docstring example in the shipped code runs as written.

Collects each module under `wt_keras/` and `pipelines/` whose source holds an example (`>>>`)
and runs its doctests. As in TensorFlow's own docstrings, an example may use `tf` and `np`
without importing them; anything else it imports itself. The number of examples doctest ran must
equal the number of `>>>` lines in the file, so an example doctest cannot see (in a comment, a
nested function, an object defined elsewhere) fails the test instead of being skipped silently.
"""
import doctest
import importlib
import os
import re

import numpy as np
import pytest
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("wt_keras", "pipelines")
# A prompt followed by code (a prompt followed only by a comment is not an example).
EXAMPLE_LINE = re.compile(r"^\s*>>> *[^#\s]", re.MULTILINE)


def modules_with_examples():
    """(dotted module name, number of examples) for every source file holding an example."""
    found = []
    for package in PACKAGES:
        for folder, subfolders, files in os.walk(os.path.join(REPO, package)):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for file_name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, file_name)
                with open(path, encoding="utf-8") as source:
                    examples = len(EXAMPLE_LINE.findall(source.read()))
                if examples:
                    parts = os.path.relpath(path, REPO)[:-len(".py")].split(os.sep)
                    if parts[-1] == "__init__":
                        parts.pop()
                    found.append((".".join(parts), examples))
    return found


MODULES = modules_with_examples()


def test_the_examples_of_the_public_modules_are_collected():
    names = {name for name, _ in MODULES}
    # One module per area that must keep its examples; a wrong walk would find none of them.
    for expected in ("wt_keras.losses", "wt_keras.heads.base", "wt_keras.buckets.percentiles",
                     "wt_keras.ops.geometric_distribution", "wt_keras.metrics.keras_metrics",
                     "wt_keras.models.ranker", "wt_keras.export.defaults",
                     "wt_keras.data.tfrecord", "pipelines.watch_time.outliers"):
        assert expected in names, sorted(names)


@pytest.mark.parametrize("module_name, examples", MODULES, ids=[name for name, _ in MODULES])
def test_docstring_examples_run(module_name, examples):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, extraglobs={"tf": tf, "np": np}, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed (see stdout)"
    assert result.attempted == examples, (
        f"doctest ran {result.attempted} of the {examples} examples in {module.__file__}: "
        "put each example in the docstring of a module, class or function defined there")
