"""From Beam's quantile summaries to a `wt_keras.buckets.BucketBoundaries`.

Every output comes from the exact numpy functions of `wt_keras.buckets`
applied to equal-weight summaries (see `quantile_sketch`): percentile
endpoints and CREAD endpoints from the watch-time summary, D2Q edges from the
duration summary (computed inside the Beam job, `boundary_pipeline`), and
each D2Q table row from its group's watch-time summary. Group sizes are exact
counts. When every summary is exact the payload equals the library's result
on the full training split.
"""
import numpy as np

from pipelines.watch_time.components.quantile_sketch import rank_error
from wt_keras import buckets


class BoundaryDataError(ValueError):
    """The training split cannot give boundaries; the message says why."""


def check_counts(counts, label_key, duration_key, split, location):
    """Raises BoundaryDataError for an empty split, missing or bad columns."""
    rows = counts["counts"].get("rows", 0)
    where = f"the {split!r} split of the Examples at {location}"
    if rows == 0:
        raise BoundaryDataError(
            f"{where} holds no examples: bucket boundaries need training labels. "
            "Check the ExampleGen output (and its split config) upstream.")
    for role, key in (("label", label_key), ("duration", duration_key)):
        if key not in counts["columns"]:
            raise BoundaryDataError(
                f"The {role} column {key!r} is missing from {where} (features "
                f"present: {', '.join(counts['columns']) or 'none'}). Set "
                f"{role}_key to the feature that holds it.")
        if role in counts["types"]:
            raise BoundaryDataError(
                f"The {role} column {key!r} in {where} has type "
                f"{counts['types'][role]}, but must be a numeric (float or int64) "
                "feature of seconds.")
        problems = [f"{counts['counts'].get(f'{role}.{name}', 0)} {text}"
                    for name, text in (("missing", "missing"),
                                       ("multiple_values", "with several values"),
                                       ("nan_or_inf", "NaN/inf"),
                                       ("negative", "negative"))
                    if counts["counts"].get(f"{role}.{name}", 0)]
        if problems:
            raise BoundaryDataError(
                f"The {role} column {key!r} in {where} must hold one finite "
                f"value >= 0 (seconds) per example, but of {rows} examples "
                f"{', '.join(problems)}. Clean or drop these rows upstream "
                "(e.g. in ExampleGen's query or a Transform).")


def _source_levels(raw, levels, endpoints, time_scale=None):
    """Target level of each surviving endpoint: the first level giving it."""
    mapped = raw if not time_scale else buckets.to_units(raw, time_scale) / time_scale
    found = []
    for endpoint in endpoints:
        match = np.flatnonzero(mapped == endpoint)
        found.append(float(levels[match[0]]) if match.size else None)
    return found


def _boundaries(values, grid_spec, time_scale):
    try:
        endpoints = buckets.boundaries_from_percentiles(
            values, spec=grid_spec, time_scale=time_scale or None, min_buckets=2)
    except ValueError as error:
        raise BoundaryDataError(f"grid_spec {grid_spec!r} on the training "
                                f"labels: {error}") from None
    levels = buckets.parse_grid_spec(grid_spec)
    raw = np.percentile(values, levels)  # the library's own rule, for labels
    return endpoints, _source_levels(raw, levels, endpoints, time_scale)


def _chosen_time_scale(values, grid_spec):
    try:
        return buckets.choose_time_scale(values, grid_spec)
    except ValueError as error:
        raise BoundaryDataError(f"choosing time_scale for grid_spec {grid_spec!r} on the "
                                f"training labels: {error}") from None


def _cread(values, num_buckets):
    try:
        result = buckets.cread_boundaries(values, num_buckets=num_buckets)
    except ValueError as error:
        raise BoundaryDataError(f"CREAD endpoints (cread_num_buckets="
                                f"{num_buckets}): {error}") from None
    levels = buckets.warp(np.arange(1, num_buckets + 1) / num_buckets, result.alpha)
    raw = np.quantile(values, levels)
    return {"cread_boundaries": result.boundaries, "cread_alpha": result.alpha,
            "cread_num_buckets": int(num_buckets),
            "cread_levels": _source_levels(raw, levels, result.boundaries),
            "cread_objective": result.objective}


def _d2q(results, num_groups, num_quantiles):
    edges = results["edges"]
    if edges is None:
        count = results["duration"]["count"]
        raise BoundaryDataError(
            f"{count} training examples are too few for d2q_num_groups="
            f"{num_groups} duration groups (need >= 2 per group): lower "
            "d2q_num_groups or add training data.")
    rows, sizes, errors = [], [], []
    for group in range(len(edges) + 1):
        summary = results["groups"].get(str(group))
        if summary is None or summary["count"] < 2:
            raise BoundaryDataError(
                f"D2Q duration group {group} holds fewer than 2 training "
                "examples after the approximate split; lower d2q_num_groups.")
        rows.append(buckets.quantile_row(summary["values"], num_quantiles))
        sizes.append(int(summary["count"]))
        errors.append(rank_error(summary))
    return {"d2q_duration_edges": list(edges), "d2q_quantile_table": rows,
            "d2q_group_sizes": sizes, "d2q_rank_error": rank_error(results["duration"]),
            "d2q_group_rank_errors": errors}


def derive_boundaries(results, params):
    """Builds the `BucketBoundaries` from the Beam job's results.

    Args:
      results: the dict of `boundary_pipeline.SummarizeTrainingLabels`.
      params: the component's execution properties (keys as in the component).

    Returns:
      a validated `wt_keras.buckets.BucketBoundaries`.

    Raises:
      BoundaryDataError: bad data or a grid that leaves fewer than 2 buckets.
    """
    label = results["label"]
    values = np.asarray(label["values"], dtype=np.float64)
    time_scale, source = params.get("time_scale"), "given"
    if time_scale is None:
        time_scale, source = _chosen_time_scale(values, params["grid_spec"]), "auto"
    endpoints, levels = _boundaries(values, params["grid_spec"], time_scale)
    return buckets.BucketBoundaries(
        grid_spec=params["grid_spec"], boundaries=endpoints, levels=levels,
        time_scale=float(time_scale), time_scale_source=source,
        rank_error=rank_error(label), num_examples=int(label["count"]),
        label_key=params["label_key"], duration_key=params["duration_key"],
        split=params["split"], sketch_size=int(params["sketch_size"]),
        sketch_exact=bool(label["exact"]), sketch_epsilon=float(label["epsilon"]),
        **_cread(values, int(params["cread_num_buckets"])),
        **_d2q(results, int(params["d2q_num_groups"]), int(params["num_quantiles"]))
    ).validate(source="the boundaries derived from the Beam summaries")
