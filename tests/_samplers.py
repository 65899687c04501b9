"""Monte-Carlo samplers of the heads' generative models (numpy only, independent of wt_keras)."""
import numpy as np


def simulate_bucketized_geometric(p, boundaries, size, rng):
    """Y under SWaT-Geo: sequential seconds, continue with p_k in bucket k."""
    widths = np.diff(np.concatenate([[0.0], boundaries]))
    watch = np.zeros(size)
    alive = np.ones(size, bool)
    for k, p_k in enumerate(p):
        # Seconds watched in this bucket before stopping: Geometric on {0, 1, ...}.
        run = rng.geometric(1.0 - p_k, size) - 1
        width = widths[k] if k < len(widths) else np.inf
        stays = np.minimum(run, width)
        watch += np.where(alive, stays, 0.0)
        alive &= run >= width
    return watch
