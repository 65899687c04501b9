"""Every Python code block of README.md runs as written.

A block runs when its info string is exactly ``python``. Blocks are executed in
order in one namespace (later blocks may use what earlier ones defined), after
`_readme_inputs` has defined the names the README leaves to the reader (the
user's labels, hidden vectors, datasets). New blocks are picked up
automatically; if a block needs another input, define it in `_readme_inputs`.
Fragments that cannot run on their own (``...``, ``self``, a TF Serving
client) are tagged ``python no-run`` (still highlighted as Python), shell
commands ``bash``.

The blocks run twice: on labels of tens of seconds, and on labels in [0, 6) s
(CIKM16's dwell in search results), where whole-second buckets would collapse.
"""
import os
import re

import numpy as np
import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def readme_blocks(text):
    """[(info string, first line number, code)] of the fenced blocks of `text`."""
    return [(match.group(1).strip(), text.count("\n", 0, match.start()) + 1, match.group(2))
            for match in _FENCE.finditer(text)]


def runnable_blocks():
    with open(README, encoding="utf-8") as handle:
        return [(line, code) for info, line, code in readme_blocks(handle.read())
                if info == "python"]


def _readme_inputs(label_scale, num_rows=600, seed=0):
    """The names the README's blocks leave to the reader, on small synthetic data."""
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    duration = rng.uniform(0.5, 2.0, num_rows) * label_scale
    watch = np.minimum(rng.exponential(0.4, num_rows) * label_scale, 0.999 * label_scale * 2)
    columns = {"user_id": rng.integers(0, 50, num_rows).astype(str),
               "video_id": rng.integers(0, 80, num_rows).astype(str),
               "duration_s": duration.astype(np.float32),
               "watch_time_s": watch.astype(np.float32)}
    train = {name: values[:500] for name, values in columns.items()}
    test = {name: values[500:] for name, values in columns.items()}
    batch = 8
    return {
        # "Using the heads in your own ranker"
        "train_watch_time": train["watch_time_s"],
        "hidden": tf.random.stateless_normal([batch, 16], seed=[seed, 1]),
        "watch_time": tf.constant(train["watch_time_s"][:batch]),
        "train_columns": train,
        "train_dataset": tf.data.Dataset.from_tensor_slices(train).batch(128),
        "test_dataset": tf.data.Dataset.from_tensor_slices(test).batch(128),
        # "Bucket boundaries"
        "train_duration": train["duration_s"],
    }


def test_blocks_are_found_and_fragments_are_marked():
    text = "a\n```python\nx = 1\n```\n```python no-run\nself.x\n```\n```bash\nls\n```\n"
    assert [(info, line) for info, line, _ in readme_blocks(text)] == [
        ("python", 2), ("python no-run", 5), ("bash", 8)]
    assert len(runnable_blocks()) >= 3   # the README's own examples


@pytest.mark.slow
@pytest.mark.parametrize("label_scale", [30.0, 3.0], ids=["tens_of_seconds", "below_6_s"])
def test_readme_python_blocks_run(label_scale, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the examples write my_model.keras and saved_models/
    import wt_keras  # noqa: F401  (Keras 2 before TensorFlow, as the README says)
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    namespace = _readme_inputs(label_scale)
    for line, code in runnable_blocks():
        try:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)  # noqa: S102
        except Exception as error:  # report which block failed, with its line
            raise AssertionError(f"README.md block at line {line} failed: "
                                 f"{type(error).__name__}: {error}") from error
    # The head built from real-valued percentile endpoints predicts finite seconds.
    seconds = np.asarray(namespace["seconds"])
    # (the last block that names `seconds` wins: any batch size, one value per row)
    assert seconds.ndim == 1 and np.all(np.isfinite(seconds)) and np.all(seconds >= 0)
