"""Exclusive cumulative sums over the last axis, O(K) work per row.

Hand-written because `tf.math.cumsum` runs about 2.5 times slower on CPU at
the bucket counts the heads use (16–1024) and one [K, K] triangular matmul
grows quadratically in K.
"""
import tensorflow as tf


# Block size of the two-level scan.
SCAN_BLOCK = 32


def exclusive_cumsum(values):
    """Exclusive cumulative sum over the last axis, O(K) work per example.

    A two-level scan: within blocks of 32 a matmul with a strictly upper
    triangular ones matrix (32 multiply-adds per element), then the blocks'
    totals scanned the same way and added back. On CPU this is faster than
    tf.math.cumsum at every K tried (16–1024) and, unlike one [K, K] matmul,
    grows linearly in K. An unknown last dimension falls back to tf.math.cumsum.
    """
    size = values.shape[-1]
    if size is None:
        return tf.math.cumsum(values, axis=-1, exclusive=True)
    if size <= 2 * SCAN_BLOCK:
        return tf.linalg.matmul(values, _strictly_upper_ones(size, values.dtype))
    padding = scan_width(size) - size
    padded = values if not padding else tf.pad(
        values, [[0, 0]] * (values.shape.rank - 1) + [[0, padding]])
    within, offsets = blocked_exclusive_cumsum(padded)
    scanned = tf.reshape(within + tf.expand_dims(offsets, -1), tf.shape(padded))
    return scanned[..., :size] if padding else scanned


def blocked_exclusive_cumsum(values, block_totals=None):
    """`exclusive_cumsum` in two parts, (within [..., n, 32], offsets [..., n]).

    For `values` whole blocks of 32 wide (n ≥ 2 of them), the scan is
    `within + offsets[..., None]` reshaped to `values`' shape: the exclusive
    sums within each block and the exclusive sums of the blocks' totals. A
    caller that adds the offsets inside an XLA computation of its own saves
    that add as an op. `block_totals`: `block_sums(values)` if the caller has
    them already.

    Example:
    >>> values = tf.ones([1, 64])
    >>> within, offsets = blocked_exclusive_cumsum(values)
    >>> within.shape, offsets.numpy().tolist()
    (TensorShape([1, 2, 32]), [[0.0, 32.0]])
    >>> float(within[0, 1, 5] + offsets[0, 1])          # element 37: 37 ones before it
    37.0
    """
    num_blocks = values.shape[-1] // SCAN_BLOCK
    if num_blocks < 2 or num_blocks * SCAN_BLOCK != values.shape[-1]:
        raise ValueError(f"blocked_exclusive_cumsum takes at least two whole blocks of "
                         f"{SCAN_BLOCK}, got width {values.shape[-1]}: pad to scan_width(size).")
    within = tf.linalg.matmul(_blocks(values), _strictly_upper_ones(SCAN_BLOCK, values.dtype))
    if block_totals is None:
        block_totals = block_sums(values)
    return within, exclusive_cumsum(block_totals)


def block_sums(values):
    """[..., n]: the sums of `values`' n blocks of 32 (its width a multiple of 32).

    Example:
    >>> block_sums(tf.range(64.0)[tf.newaxis]).numpy().tolist()      # 0+…+31, 32+…+63
    [[496.0, 1520.0]]
    """
    return tf.reduce_sum(_blocks(values), axis=-1)


def _blocks(values):
    num_blocks = values.shape[-1] // SCAN_BLOCK
    return tf.reshape(values, tf.concat([tf.shape(values)[:-1], [num_blocks, SCAN_BLOCK]], 0))


def scan_width(size):
    """The width `exclusive_cumsum` scans without padding of its own: whole blocks of 32.

    A caller that can pad cheaply (inside an XLA computation, where the padding
    is fused into the loop writing the values; a TF Pad op costs about as much
    as the scan's matmul) passes values this wide, padded with zeros at the end.
    """
    if size <= 2 * SCAN_BLOCK:
        return size
    return -(-size // SCAN_BLOCK) * SCAN_BLOCK


def _strictly_upper_ones(size, dtype):
    """[size, size] matrix with ones above the diagonal: x @ U is x's exclusive cumsum."""
    return tf.linalg.band_part(tf.ones([size, size], dtype), 0, -1) - tf.eye(size, dtype=dtype)
