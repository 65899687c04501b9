"""CREAD error-adaptive discretisation (EAD) of watch time.

Sun et al., "CREAD", AAAI 2024 (arXiv 2401.07521). From the paper (as
restated in a public summary of it): endpoints
t_m = Ψ⁻¹(γ(m/M; a)), m = 1…M, with Ψ the training CDF of T and
γ(z; a) = (1 − e^{−az}) / (1 − e^{−a}); a is chosen to minimise the
learning error plus β times the restoration error (the paper's Eq. 21).

The concrete error formulas are a re-implementation's reading (EGMN
baseline code; the paper's formulas were not available as text): with
ΔΨ_m = γ(m/M) − γ((m−1)/M) and Δt_m = t_m − t_{m−1} (t_0 = 0),
A_w = Σ ΔΨ² · Σ Δt²/ΔΨ and A_b = Σ ΔΨ² · Σ Δt²;
the grid of a (0.001, 0.101, …, 4.901) and β = 50 are also theirs.
Our own choices: Ψ⁻¹ is np.quantile (linear interpolation); times are
divided by max(T) inside the errors; endpoints are deduplicated.
"""
import dataclasses

import numpy as np

from wt_keras.buckets._checks import as_labels, increasing_positive

DEFAULT_ALPHAS = np.round(0.001 + 0.1 * np.arange(50), 3)


def warp(z, a):
    """CREAD's warp γ(z; a) = (1 − e^{−az}) / (1 − e^{−a}).

    γ(0) = 0, γ(1) = 1, monotone increasing; a > 0 is concave (buckets
    hold less probability mass as m grows: finer in the tail), a < 0 convex,
    and a = 0 is the limit γ(z) = z (equal-frequency buckets).

    Args:
      z: array-like in [0, 1].
      a: finite float.

    Returns:
      np.ndarray (float64) of warped levels.

    Example:
      >>> warp([0.0, 0.5, 1.0], 0.0).tolist()
      [0.0, 0.5, 1.0]
    """
    z = np.asarray(z, dtype=np.float64)
    a = float(a)
    if not np.isfinite(a):
        raise ValueError(f"warp needs a finite `a`, got {a}.")
    if a == 0.0:
        return z.copy()
    if a < 0:
        # gamma(z; a) = 1 - gamma(1 - z; -a): avoids exp overflow for a << 0.
        return 1.0 - warp(1.0 - z, -a)
    # expm1 keeps precision when a*z is tiny (a -> 0 approaches z smoothly).
    return np.expm1(-a * z) / np.expm1(-a)


@dataclasses.dataclass(frozen=True, eq=False)
class CreadDiscretization:
    """Result of `cread_boundaries`.

    Attributes:
      boundaries: t_1…t_K (seconds), strictly increasing, > 0, K ≤ M.
      alpha: chosen warp parameter a.
      num_buckets_requested: M.
      learning_error: A_w at the chosen a (times divided by max(T)).
      restoration_error: A_b at the chosen a (times divided by max(T)).
      objective: A_w + β·A_b at the chosen a.
      alphas: the grid of a tried.
      objectives: objective for each a in `alphas`.
    """
    boundaries: np.ndarray
    alpha: float
    num_buckets_requested: int
    learning_error: float
    restoration_error: float
    objective: float
    alphas: np.ndarray
    objectives: np.ndarray


def _ead_errors(labels, num_buckets, alpha):
    """Returns (raw endpoints t_1…t_M, A_w, A_b) for one warp parameter a."""
    cdf_levels = warp(np.arange(num_buckets + 1) / num_buckets, alpha)
    endpoints = np.quantile(labels, cdf_levels[1:])
    mass = np.diff(cdf_levels)
    if np.any(mass <= 0):  # |a| so large that levels collapse in float64
        return endpoints, np.inf, np.inf
    # Dividing by max(T) makes A_w, A_b unit-free, so beta means the same for
    # seconds or milliseconds (the EGMN code gets this from normalised labels).
    gaps = np.diff(endpoints, prepend=0.0) / labels.max()
    mass_sq = np.sum(mass ** 2)
    return endpoints, mass_sq * np.sum(gaps ** 2 / mass), mass_sq * np.sum(gaps ** 2)


def cread_boundaries(values, num_buckets=50, beta=50.0, alphas=None,
                     min_buckets=2):
    """CREAD EAD endpoints: grid search over a of A_w + β·A_b.

    See the module docstring for which parts are the paper's and which the
    re-implementation's. Ties in the labels can repeat endpoints; repeats and
    zeros are dropped (after choosing a on the raw M endpoints).

    Args:
      values: training watch times in seconds (≥ 0, finite).
      num_buckets: M, endpoints requested (≥ 2).
      beta: β, weight of the restoration error (≥ 0).
      alphas: 1-D grid of finite values of a; default `DEFAULT_ALPHAS`.
      min_buckets: minimum number of endpoints that must survive.

    Returns:
      CreadDiscretization.

    Raises:
      ValueError: bad inputs, or fewer than `min_buckets` endpoints survive.

    Example:
      >>> result = cread_boundaries(np.arange(1.0, 101.0), num_buckets=4)
      >>> len(result.boundaries), result.boundaries[-1]
      (4, 100.0)
    """
    labels = as_labels(values, "values")
    if int(num_buckets) != num_buckets or num_buckets < 2:
        raise ValueError(f"num_buckets must be an integer >= 2, got {num_buckets!r}.")
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}.")
    if labels.max() <= 0:
        raise ValueError("All labels are 0: CREAD needs positive watch times.")
    grid = DEFAULT_ALPHAS if alphas is None else np.asarray(alphas, np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"alphas must be a non-empty 1-D grid of finite numbers, got {alphas!r}.")
    num_buckets = int(num_buckets)
    results = [_ead_errors(labels, num_buckets, a) for a in grid]
    objectives = np.array([a_w + beta * a_b for _, a_w, a_b in results])
    best = int(np.argmin(objectives))  # first minimum on ties: smallest index
    endpoints, learning_error, restoration_error = results[best]
    boundaries = increasing_positive(endpoints)
    if boundaries.size < min_buckets:
        raise ValueError(
            f"Only {boundaries.size} distinct positive CREAD endpoint(s) of "
            f"{num_buckets} survive (need {min_buckets}): the labels have too "
            "few distinct positive values. Use more varied training labels or "
            "lower min_buckets.")
    return CreadDiscretization(
        boundaries=boundaries, alpha=float(grid[best]),
        num_buckets_requested=num_buckets,
        learning_error=float(learning_error),
        restoration_error=float(restoration_error),
        objective=float(objectives[best]), alphas=grid.copy(),
        objectives=objectives)
