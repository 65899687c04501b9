"""The README's "Use it in your own model" examples run as written."""
import numpy as np
import pytest
import tensorflow as tf

from _readme import python_blocks


@pytest.mark.slow
def test_use_it_in_your_own_model_section_runs(tmp_path, monkeypatch):
    blocks = python_blocks("Use it in your own model")
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)            # the examples write my_model.keras and saved_models/
    namespace = {}
    for block in blocks:                   # later blocks use names of earlier ones
        exec(compile(block, "README.md", "exec"), namespace)
    features = namespace["features"]
    np.testing.assert_allclose(namespace["restored"].predict(features, verbose=0),
                               namespace["model"].predict(features, verbose=0), rtol=1e-6)
    served = tf.saved_model.load("saved_models/my_model/1").signatures["predict_raw"](
        **{name: tf.constant(value) for name, value in features.items()})
    np.testing.assert_allclose(served["watch_time"].numpy(), namespace["seconds"].numpy(), rtol=1e-5)
