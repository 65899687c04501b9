"""SWaT-Binom watch-time distribution: a sum of independent binomials.

On integer units (α = time_scale units per second) bucket k has
n_k = round(α·t_k) − round(α·t_{k−1}) trials, each watched with probability
p_k = σ(z_k), so Y = Σ_k Bin(n_k, p_k) on {0, …, N}, N = Σ_k n_k, and T = Y / α.

The PMF is the exact convolution of the K binomials, computed through its
discrete Fourier transform: the DFT of Bin(n, p) at angle θ is
(1 − p + p e^{−iθ})^n, so with L > N (odd) points

    P(Y = y) = (1/L) Σ_j Π_k (1 − p_k + p_k e^{−iθ_j})^{n_k} e^{iθ_j y},  θ_j = 2πj/L.

This is exact up to floating-point rounding (the transform runs in float64:
about 1e-15 absolute, then rounded to the logits' dtype; tests measure it
against a direct convolution) and costs
O(B·L·K) instead of O(B·N²). Each factor is taken in polar form from the
logits: |·|² = tanh²(z/2) + 4σ(z)σ(−z)cos²(θ/2), which stays > 0 because L
is odd (θ_j ≠ π), so the gradient is finite for every p.
"""
import numpy as np
import tensorflow as tf

from wt_keras.buckets.time_scale import to_units

# Rounding noise of the (float64) transform, in float64 machine epsilons
# (measured: under 10 eps for a few hundred trials; see the tests).
_NOISE_ULPS = 64


def binomial_trials(boundaries, time_scale):
    """Integer trial counts n_k = round(α·t_k) − round(α·t_{k−1}) (numpy, may be 0)."""
    return np.diff(to_units(np.concatenate([[0.0], np.asarray(boundaries, np.float64)]),
                            time_scale))


def _frequencies(total_trials):
    """Odd DFT length L > N and (cos θ_j, sin θ_j, cos²(θ_j/2)) for j = 0..L//2."""
    length = int(total_trials) + 1
    length += 1 - length % 2
    angles = 2.0 * np.pi * np.arange(length // 2 + 1) / length
    # cos²(θ/2) = sin²((π − θ)/2): accurate near θ = π, where it is smallest.
    half_cos_squared = np.sin(np.pi * (length - 2 * np.arange(length // 2 + 1)) / (2 * length)) ** 2
    return length, np.cos(angles), np.sin(angles), half_cos_squared


def binomial_sum_pmf(logits, trials):
    """P(Y = y), y = 0..N, of Y = Σ_k Bin(n_k, σ(z_k)).

    Args:
      logits: [B, K] bucket logits.
      trials: [K] numpy integer trial counts n_k (static).

    Returns:
      [B, N + 1] probabilities (rounding noise of either sign, ~1e-16).

    Example:
    >>> binomial_sum_pmf(tf.zeros([1, 2], tf.float64), [1, 2]).numpy().round(6).tolist()  # Bin(3, ½)
    [[0.125, 0.375, 0.375, 0.125]]
    """
    trials = np.asarray(trials, np.float64)
    total = int(round(trials.sum()))
    length, cos, sin, half_cos_squared = _frequencies(total)
    # Phases Σ_k n_k·angle reach hundreds of radians: float32 would leave ~1e-5
    # errors in the PMF, so the transform always runs in float64.
    result_dtype, dtype = logits.dtype, tf.float64
    logits = tf.cast(logits, dtype)
    # Buckets that round to no trial are point masses at 0: leave them out.
    used = np.flatnonzero(trials > 0)
    z = tf.gather(logits, used, axis=-1)[:, None, :]              # [B, 1, K']
    n = tf.constant(trials[used], dtype)
    neg_sin, cos, half_cos_squared = (tf.constant(v[:, None], dtype)
                                      for v in (-sin, cos, half_cos_squared))   # [F, 1]
    p, q = tf.sigmoid(z), tf.sigmoid(-z)
    # Terms on [B, 1, K'] first: every [B, F, K'] pass costs as much as the rest together.
    squared_modulus = tf.square(tf.tanh(0.5 * z)) + (4.0 * p * q) * half_cos_squared
    total_log_modulus = tf.linalg.matvec(tf.math.log(squared_modulus), 0.5 * n)   # [B, F]
    total_angle = tf.linalg.matvec(tf.math.atan2(p * neg_sin, q + p * cos), n)
    modulus = tf.exp(total_log_modulus)
    spectrum = tf.complex(modulus * tf.cos(total_angle), modulus * tf.sin(total_angle))
    return tf.cast(tf.signal.irfft(spectrum, fft_length=[length])[:, :total + 1], result_dtype)


def binomial_sum_survival_table(logits, trials):
    """S(y) = P(Y ≥ y) for y = 0..N+1, shape [B, N + 2], monotone, S(0) = 1, S(N+1) = 0.

    Summed from the top (S(y) = Σ_{u≥y} P(Y = u)) after dropping negative
    rounding noise, so small tail probabilities keep their absolute accuracy.
    """
    pmf = tf.maximum(binomial_sum_pmf(logits, trials), 0.0)
    upper_tail = tf.math.cumsum(pmf, -1, reverse=True)             # y = 0..N
    table = tf.concat([tf.ones_like(pmf[:, :1]), tf.minimum(upper_tail[:, 1:], 1.0),
                       tf.zeros_like(pmf[:, :1])], -1)
    return table


def survival_from_table(table, units):
    """P(Y ≥ y) for unit counts y [B, J] from a table over y = 0..N+1."""
    last = tf.cast(tf.shape(table)[-1] - 1, units.dtype)
    index = tf.cast(tf.clip_by_value(units, 0.0, last), tf.int32)
    return tf.gather(table, index, batch_dims=1)


def quantile_from_table(table, q):
    """Smallest y with P(Y ≤ y) ≥ q, y in 0..N, from a survival table [B, N+2].

    P(Y ≤ y) = 1 − S(y + 1): y is the number of y' ≤ N with S(y' + 1) > 1 − q.
    Survival values within the transform's rounding noise of 1 − q count as
    equal to it, so q = 1 gives the largest y with a non-negligible
    probability rather than one lifted by noise.
    """
    noise = _NOISE_ULPS * np.finfo(np.float64).eps
    exceed = table[:, None, 1:] > (1.0 - q)[..., None] + noise            # [B, J, N+1]
    count = tf.reduce_sum(tf.cast(exceed, table.dtype), -1)
    return tf.minimum(count, tf.cast(tf.shape(table)[-1] - 2, table.dtype))
