"""Bucket endpoints and label tables for watch-time heads (pure numpy).

* `parse_grid_spec`, `PRESETS`: percentile grids ("uniform:K", "A-B:STEP,...",
  the six SWaT bucket choices).
* `boundaries_from_percentiles`, `integerize`, `validate_boundaries`,
  `widths`: endpoints 0 = t_0 < t_1 < … < t_K from training percentiles.
* `choose_time_scale`, `time_scale_for_boundaries`: α (integer units
  per second of the count heads), the smallest power of ten that keeps
  >= 90 % of the grid's distinct endpoints; `check_time_scale`, `to_units`
  (round(alpha * x)) and `endpoint_units` (the count heads' endpoint rule).
* `warp`, `cread_boundaries`: CREAD error-adaptive discretisation.
* `d2q_tables`, `d2q_quantile_label`, `d2q_watch_time`: D2Q duration groups
  and per-group quantile tables; their parts `duration_edges`,
  `duration_group` (the group rule) and `quantile_row`.
* `BucketBoundaries`: all of the above for one training set as one
  validated, JSON-serialisable value (what the pipeline passes around).

Compute all of them on the training split only.

Example:
  >>> import numpy as np
  >>> from wt_keras import buckets
  >>> buckets.boundaries_from_percentiles(np.arange(11.0), "uniform:5").tolist()
  [2.0, 4.0, 6.0, 8.0, 10.0]
"""
from wt_keras.buckets.boundaries import BucketBoundaries, InvalidBoundariesError
from wt_keras.buckets.cread import (DEFAULT_ALPHAS, CreadDiscretization,
                                    cread_boundaries, warp)
from wt_keras.buckets.d2q import (D2QTables, d2q_quantile_label, d2q_tables,
                                  d2q_watch_time, duration_edges, duration_group,
                                  quantile_row)
from wt_keras.buckets.grid import PRESETS, parse_grid_spec
from wt_keras.buckets.percentiles import (boundaries_from_percentiles,
                                          integerize, validate_boundaries,
                                          widths)
from wt_keras.buckets.time_scale import (check_time_scale, choose_time_scale,
                                         endpoint_units, time_scale_for_boundaries,
                                         to_units)

__all__ = [
    "PRESETS", "parse_grid_spec", "boundaries_from_percentiles", "integerize",
    "validate_boundaries", "widths", "choose_time_scale",
    "time_scale_for_boundaries", "check_time_scale", "to_units", "endpoint_units", "warp", "cread_boundaries",
    "CreadDiscretization", "DEFAULT_ALPHAS", "d2q_tables",
    "d2q_quantile_label", "d2q_watch_time", "D2QTables", "duration_edges",
    "duration_group", "quantile_row", "BucketBoundaries", "InvalidBoundariesError",
]
