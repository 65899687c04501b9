"""Predictive survival curves on a grid (numpy): validation and evaluation.

A curve is given by S_ij = P(T_i > g_j) on a grid 0 ≤ g_1 < … < g_J in
seconds. Between grid points it is interpolated ("linear": mass uniform
within a cell, as OR/CREAD/TPM; "step": S(t) = S(g_j) on [g_j, g_{j+1}), exact
for the integer-unit laws of SWaT and the geometric heads when the grid holds
every unit). Below g_1 the curve starts from S(0) = 1 (unless g_1 = 0); from
g_J on it is 0: the mass the curve leaves above g_J sits at g_J.
"""
import numpy as np

from wt_keras.metrics import _checks

INTERPOLATIONS = ("linear", "step")


def curves(watch_time, grid, survival, interpolation):
    """Validated (y [n], knots [M], values [n, M]) with a knot at 0."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    y = _checks.as_vector(watch_time, "watch_time")
    if np.any(y < 0):
        raise ValueError("watch_time must be >= 0 seconds; found a negative value. "
                         "Fix: drop or repair those rows.")
    grid = _checks.as_vector(grid, "grid")
    if np.any(grid < 0) or np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be >= 0 and strictly increasing (seconds); "
                         f"got {grid[:8].tolist()}{' …' if grid.size > 8 else ''}.")
    values = np.asarray(survival, np.float64)
    if values.shape != (y.size, grid.size):
        raise ValueError(f"survival must have shape [n, J] = [{y.size}, {grid.size}] (one "
                         f"P(T > g_j) per example and grid point), got {values.shape}.")
    if not np.all(np.isfinite(values)) or np.any(values < -1e-6) or np.any(values > 1 + 1e-6):
        raise ValueError("survival must hold probabilities in [0, 1] (P(T > g_j)); found NaN, "
                         "inf or values outside. Fix: pass head.survival(...) evaluated on the grid.")
    values = np.clip(values, 0.0, 1.0)
    if grid[0] > 0:
        grid = np.concatenate([[0.0], grid])
        values = np.concatenate([np.ones((y.size, 1)), values], 1)
    return y, grid, values


def evaluate(knots, values, y, interpolation):
    """(S(y), S(y−)) per example: the curve at its own label and its left limit."""
    rows = np.arange(y.size)
    last = knots.size - 1
    # j with knots[j] ≤ y < knots[j + 1] (clipped into the grid).
    j = np.clip(np.searchsorted(knots, y, side="right") - 1, 0, last)
    at_knot = knots[j] == y
    if interpolation == "linear":
        nxt = np.minimum(j + 1, last)
        width = np.where(nxt > j, knots[nxt] - knots[j], 1.0)
        fraction = np.clip((y - knots[j]) / width, 0.0, 1.0)
        value = values[rows, j] + (values[rows, nxt] - values[rows, j]) * fraction
        left = value
    else:
        value = values[rows, j]
        left = np.where(at_knot & (j > 0), values[rows, np.maximum(j - 1, 0)], value)
    beyond = y >= knots[-1]
    value = np.where(beyond, 0.0, value)
    left = np.where(y > knots[-1], 0.0, np.where(beyond, values[:, -1], left))
    left = np.where(y <= 0, 1.0, left)          # T ≥ 0: S(0−) = 1, an atom at 0 is S(0−) − S(0)
    return value, left
