"""Proper scoring of predictive watch-time distributions (numpy): CRPS."""
import numpy as np

from wt_keras.metrics import _curves


def crps(watch_time, grid, survival, interpolation="linear", average=True):
    """Continuous ranked probability score of predictive survival curves.

        CRPS(F, y) = ∫_0^∞ (F(t) − 1[t ≥ y])² dt = ∫_0^∞ (S(t) − 1[t < y])² dt

    in seconds (lower is better; for a point forecast it is |y − ŷ|, so it
    is on MAE's scale). The curve S is given on a grid, `survival[i, j] =
    P(T_i > grid[j])`, and integrated exactly for the assumed interpolation:

    - "linear": S linear between grid points (OR/CREAD/TPM's own curves);
      each cell contributes (c − a)(u_a² + u_a u_c + u_c²)/3 with u = S − 1
      before y and the same with u = S after y, c = clip(y, a, b).
    - "step": S(t) = S(g_j) on [g_j, g_{j+1}); exact for the integer-unit
      laws (SWaT-Geo/Binom, geometric, WLR) when the grid holds every unit
      k/α, where CRPS = Σ_k (1/α)(S(k/α) − 1[k/α < y])².

    Below the first grid point S starts from S(0) = 1 (unless grid[0] = 0);
    from the last grid point g_J on S = 0, i.e. the mass left above g_J sits
    at g_J and a label y > g_J adds y − g_J: choose a grid that covers the
    labels (e.g. up to their 99.9th percentile).

    Args:
      watch_time: [n] observed watch time in seconds (≥ 0).
      grid: [J] seconds, ≥ 0, strictly increasing.
      survival: [n, J] P(T > grid[j]) per example, in [0, 1].
      interpolation: "linear" or "step".
      average: return the mean over examples (float) or the [n] scores.

    Example:
      >>> # point mass at 10 s as a step curve; the label is 7 s: CRPS = |7 − 10|
      >>> crps([7.0], grid=[0.0, 10.0], survival=[[1.0, 0.0]], interpolation="step")
      3.0
      >>> # uniform on [0, 10] s (linear curve), label 5 s: ∫_0^5 (t/10)² + ∫_5^10 (1 − t/10)² = 5/6
      >>> round(crps([5.0], grid=[10.0], survival=[[0.0]]), 6)
      0.833333
    """
    y, knots, values = _curves.curves(watch_time, grid, survival, interpolation)
    a, b = knots[:-1], knots[1:]
    s_a, s_b = values[:, :-1], values[:, 1:]
    c = np.clip(y[:, None], a, b)
    if interpolation == "linear":
        width = b - a
        s_c = s_a + (s_b - s_a) * (c - a) / width
        before = (c - a) * ((s_a - 1) ** 2 + (s_a - 1) * (s_c - 1) + (s_c - 1) ** 2) / 3.0
        after = (b - c) * (s_c ** 2 + s_c * s_b + s_b ** 2) / 3.0
    else:
        before = (c - a) * (s_a - 1) ** 2
        after = (b - c) * s_a ** 2
    scores = np.sum(before + after, 1) + np.maximum(y - knots[-1], 0.0)
    return float(np.mean(scores)) if average else scores
