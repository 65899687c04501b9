"""The consistency checks behind `BucketBoundaries.validate` (private)."""
import numpy as np

from wt_keras.buckets.grid import parse_grid_spec
from wt_keras.buckets.percentiles import validate_boundaries
from wt_keras.buckets.time_scale import rounded_endpoints

TIME_SCALE_SOURCES = ("auto", "given")


def check(b, source, error_type):
    """Raises `error_type` naming the first inconsistent part of BucketBoundaries `b`."""
    def fail(message):
        raise error_type(f"Invalid bucket boundaries in {source}: {message}. "
                         "Regenerate them with BucketBoundaryGen (or "
                         "BucketBoundaries.from_labels).")

    def endpoints(values, name):
        try:
            return validate_boundaries(values)
        except ValueError as error:
            fail(f"{name}: {error}")

    try:
        parse_grid_spec(b.grid_spec)
    except ValueError as error:
        fail(f"grid_spec: {error}")
    t = endpoints(b.boundaries, "boundaries")
    if t.size < 2:
        fail(f"there are {t.size} boundaries (need K >= 2)")
    if not (np.isfinite(b.time_scale) and b.time_scale >= 0):
        fail(f"time_scale is {b.time_scale} (must be 0 or a finite α > 0)")
    if b.time_scale_source not in TIME_SCALE_SOURCES:
        fail(f"time_scale_source is {b.time_scale_source!r} (one of {TIME_SCALE_SOURCES})")
    if b.time_scale > 0:
        on_grid = rounded_endpoints(t, b.time_scale)
        if on_grid.size != t.size or not np.allclose(on_grid, t, rtol=1e-9, atol=0):
            fail(f"the boundaries are not integerised at time_scale={b.time_scale:g} "
                 "(round(α t) / α differs from t): α and the endpoints disagree")
    if b.levels is not None and len(b.levels) != t.size:
        fail(f"levels has {len(b.levels)} entries for {t.size} boundaries")
    if not 0 <= b.rank_error <= 1 or b.num_examples < 1:
        fail("rank_error must be in [0, 1] and num_examples >= 1")
    cread = endpoints(b.cread_boundaries, "cread.boundaries")
    if cread.size > b.cread_num_buckets:
        fail(f"cread has {cread.size} boundaries but num_buckets (M) is "
             f"{b.cread_num_buckets}")
    if not np.isfinite(b.cread_alpha):
        fail(f"cread.alpha is {b.cread_alpha} (must be finite)")
    if b.cread_levels is not None and len(b.cread_levels) != cread.size:
        fail(f"cread.levels has {len(b.cread_levels)} entries for {cread.size} boundaries")
    edges, table = b.d2q_duration_edges, b.d2q_quantile_table
    if edges.ndim != 1 or np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
        fail("d2q.duration_edges must be a strictly increasing list")
    if table.ndim != 2 or table.shape[0] != edges.size + 1 or table.shape[1] < 2:
        fail(f"d2q.quantile_table has shape {table.shape}, expected ({edges.size + 1}, Q >= 2) "
             "(groups = len(duration_edges) + 1, num_quantiles)")
    if np.any(np.diff(table, axis=1) < 0) or not np.all(np.isfinite(table)):
        fail("d2q.quantile_table rows must be finite and non-decreasing")
    if b.d2q_group_sizes.shape != (edges.size + 1,) or np.any(b.d2q_group_sizes < 0):
        fail(f"d2q.group_sizes has {b.d2q_group_sizes.size} entries for "
             f"{edges.size + 1} groups (need one count >= 0 per group)")
    if (b.d2q_group_rank_errors is not None
            and len(b.d2q_group_rank_errors) != edges.size + 1):
        fail(f"d2q.group_rank_errors has {len(b.d2q_group_rank_errors)} entries for "
             f"{edges.size + 1} groups")
    if b.tpm_boundaries is not None:
        endpoints(b.tpm_boundaries, "tpm.boundaries")
