"""`ops.exclusive_cumsum` and its two-part form against numpy's cumulative sum."""
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


@pytest.mark.parametrize("width", [64, 96, 1056])
def test_blocked_parts_add_up_to_the_scan(width):
    values = np.random.default_rng(width).normal(size=(2, width))
    within, offsets = ops.blocked_exclusive_cumsum(tf.constant(values))
    scanned = (within + offsets[..., None]).numpy().reshape(2, width)
    np.testing.assert_allclose(scanned, np.cumsum(values, axis=-1) - values, atol=1e-10)
    totals = ops.block_sums(tf.constant(values)).numpy()
    np.testing.assert_allclose(totals, values.reshape(2, -1, 32).sum(-1), atol=1e-12)
    given = ops.blocked_exclusive_cumsum(tf.constant(values), tf.constant(totals))
    np.testing.assert_allclose(given[1].numpy(), offsets.numpy(), atol=1e-12)


@pytest.mark.parametrize("width", [32, 65])
def test_blocked_parts_need_whole_blocks(width):
    with pytest.raises(ValueError, match="pad to scan_width"):
        ops.blocked_exclusive_cumsum(tf.zeros([2, width]))
