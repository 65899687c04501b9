"""Independent numpy references for the heads' watch-time distributions.

Written from the models' generative stories, not from wt_keras.ops: a unit-by-unit
product for SWaT-Geo, direct convolution of scipy binomials for SWaT-Binom,
np.interp for the piecewise-linear curves.
"""
import numpy as np
from scipy import special, stats


def sigmoid(logits):
    return special.expit(np.asarray(logits, np.float64))


def geo_unit_survival(logits_row, unit_boundaries, max_units):
    """P(Y ≥ y), y = 0..max_units, by multiplying the continuation probability unit by unit."""
    p = sigmoid(logits_row)
    survival = np.empty(max_units + 1)
    survival[0] = 1.0
    for y in range(max_units):
        bucket = int(np.searchsorted(unit_boundaries, y, side="right"))   # unit y lies in [l_m, u_m)
        survival[y + 1] = survival[y] * p[bucket]
    return survival


def binomial_sum_pmf(logits_row, trials):
    """PMF of Σ_k Bin(n_k, p_k) by direct convolution of scipy's binomial PMFs."""
    pmf = np.array([1.0])
    for n, p in zip(np.asarray(trials, int), sigmoid(logits_row)):
        pmf = np.convolve(pmf, stats.binom.pmf(np.arange(n + 1), n, p))
    return pmf


def discrete_quantile(pmf, q):
    """Smallest y with Σ_{u≤y} pmf_u ≥ q, by scanning the CDF."""
    cdf = np.cumsum(pmf)
    for y, value in enumerate(cdf):
        if value >= q:
            return y
    return len(pmf) - 1


def ordinal_curve(logits_row, boundaries):
    """(knots, survival values) of OR/CREAD: S(0) = 1, then the running minimum of φ."""
    phi = np.minimum.accumulate(sigmoid(logits_row))
    return np.concatenate([[0.0], boundaries]), np.concatenate([[1.0], phi])


def interpolated_survival(knots, values, t):
    """Linear interpolation between knots, 1 below 0, 0 from the last knot on."""
    t = np.asarray(t, np.float64)
    inside = np.interp(t, knots, values)
    return np.where(t >= knots[-1], 0.0, np.where(t < 0, 1.0, inside))
