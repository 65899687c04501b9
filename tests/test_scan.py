"""`ops.exclusive_cumsum` against numpy's cumulative sum."""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import ops


@pytest.mark.parametrize("width", [1, 16, 64, 65, 96, 1025, 3000])
def test_exclusive_cumsum_is_numpys(width):
    values = np.random.default_rng(width).normal(size=(3, width))
    expected = np.cumsum(values, axis=-1) - values
    np.testing.assert_allclose(ops.exclusive_cumsum(tf.constant(values)).numpy(), expected,
                               rtol=1e-10, atol=1e-10)
