"""The JSON layout of `BucketBoundaries` (private; use its to_json / from_json).

Format version 1 (``"format_version": 1``)::

  grid_spec, time_scale (α; 0 = not integerised), time_scale_source,
  num_buckets (K), boundaries [K], rank_error, num_examples,
  [label_key, duration_key, split, levels [K], sketch {size, exact, epsilon}],
  cread {boundaries, alpha, num_buckets (M requested), [levels, objective]},
  d2q {duration_edges [G-1], quantile_table [G][Q], num_quantiles, group_sizes [G],
       num_groups, [rank_error, group_rank_errors [G]]},
  [tpm {grid_spec, boundaries}]

Keys in brackets are optional. Files without `format_version` were written
before the field existed, in this same layout, and are read as version 1.
A newer version or an unknown key is refused with the fix in the message.
"""
import json

FORMAT_VERSION = 1
_REQUIRED = ("grid_spec", "time_scale", "num_buckets", "boundaries", "rank_error",
             "num_examples", "cread", "d2q")
_OPTIONAL = ("format_version", "time_scale_source", "label_key", "duration_key", "split",
             "levels", "sketch", "tpm")
_CREAD_REQUIRED = ("boundaries", "alpha", "num_buckets")
_CREAD_OPTIONAL = ("levels", "objective")
_D2Q_REQUIRED = ("duration_edges", "quantile_table", "num_quantiles", "group_sizes")
_D2Q_OPTIONAL = ("num_groups", "rank_error", "group_rank_errors")
_SKETCH_KEYS = ("size", "exact", "epsilon")
_TPM_KEYS = ("grid_spec", "boundaries")


def _list(array):
    return None if array is None else [float(v) for v in array]


def _levels(levels):
    return None if levels is None else [None if v is None else float(v) for v in levels]


def _without_none(mapping):
    return {key: value for key, value in mapping.items() if value is not None}


def to_dict(b):
    """BucketBoundaries → JSON-ready dict (format `FORMAT_VERSION`)."""
    payload = {
        "format_version": FORMAT_VERSION, "grid_spec": b.grid_spec,
        "time_scale": b.time_scale, "time_scale_source": b.time_scale_source,
        "num_buckets": b.num_buckets, "boundaries": _list(b.boundaries),
        "levels": _levels(b.levels), "rank_error": b.rank_error,
        "num_examples": b.num_examples, "label_key": b.label_key,
        "duration_key": b.duration_key, "split": b.split,
        "cread": _without_none({
            "boundaries": _list(b.cread_boundaries), "alpha": b.cread_alpha,
            "num_buckets": b.cread_num_buckets, "levels": _levels(b.cread_levels),
            "objective": b.cread_objective}),
        "d2q": _without_none({
            "duration_edges": _list(b.d2q_duration_edges),
            "quantile_table": [_list(row) for row in b.d2q_quantile_table],
            "num_quantiles": int(b.d2q_quantile_table.shape[1]),
            "group_sizes": [int(v) for v in b.d2q_group_sizes], "num_groups": b.num_groups,
            "rank_error": b.d2q_rank_error,
            "group_rank_errors": _list(b.d2q_group_rank_errors)}),
    }
    if b.sketch_size is not None or b.sketch_exact is not None:
        payload["sketch"] = {"size": b.sketch_size, "exact": b.sketch_exact,
                             "epsilon": b.sketch_epsilon}
    if b.tpm_boundaries is not None:
        payload["tpm"] = {"grid_spec": b.tpm_grid_spec, "boundaries": _list(b.tpm_boundaries)}
    return _without_none(payload)


def dumps(b, indent=1):
    # allow_nan=False: NaN/inf are not JSON; validate() has already refused them.
    return json.dumps(to_dict(b), indent=indent, allow_nan=False)


def _object(value, name, fail):
    if not isinstance(value, dict):
        fail(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _keys(mapping, required, optional, prefix, fail):
    missing = [prefix + key for key in required if key not in mapping]
    if missing:
        fail(f"missing key(s) {', '.join(missing)}")
    unknown = sorted(set(mapping) - set(required) - set(optional))
    if unknown:
        fail(f"unknown key(s) {', '.join(prefix + key for key in unknown)} (a file written "
             "by another program, or a typo)")


def _version(payload, fail):
    version = payload.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        fail(f"format_version is {version!r}; this wt_keras reads version {FORMAT_VERSION}")
    if version > FORMAT_VERSION:
        fail(f"format_version {version} is newer than this wt_keras reads "
             f"({FORMAT_VERSION}): upgrade wt_keras to read it")


def _count(mapping, key, actual, prefix, fail):
    if mapping.get(key, actual) != actual:
        fail(f"{prefix}{key} is {mapping[key]} but the data has {actual}")


def parse(text_or_mapping, source, error_type):
    """JSON text or decoded dict → keyword arguments of BucketBoundaries."""
    def fail(message):
        raise error_type(f"Invalid bucket boundaries in {source}: {message}. "
                         "Regenerate them with BucketBoundaryGen.")

    payload = text_or_mapping
    if isinstance(payload, (str, bytes, bytearray)):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as error:
            fail(f"not valid JSON ({error})")
    payload = _object(payload, "the top level", fail)
    _version(payload, fail)
    _keys(payload, _REQUIRED, _OPTIONAL, "", fail)
    cread = _object(payload["cread"], "cread", fail)
    _keys(cread, _CREAD_REQUIRED, _CREAD_OPTIONAL, "cread.", fail)
    d2q = _object(payload["d2q"], "d2q", fail)
    _keys(d2q, _D2Q_REQUIRED, _D2Q_OPTIONAL, "d2q.", fail)
    sketch = _object(payload.get("sketch", {}), "sketch", fail)
    _keys(sketch, (), _SKETCH_KEYS, "sketch.", fail)
    tpm = _object(payload.get("tpm", {}), "tpm", fail)
    _keys(tpm, (), _TPM_KEYS, "tpm.", fail)
    boundaries, table = payload["boundaries"], d2q["quantile_table"]
    if not isinstance(boundaries, list) or not isinstance(table, list):
        fail("boundaries and d2q.quantile_table must be lists")
    _count(payload, "num_buckets", len(boundaries), "", fail)
    widths = {len(row) if isinstance(row, list) else -1 for row in table}
    expected = (len(d2q["duration_edges"]) + 1, d2q["num_quantiles"])
    if widths != {expected[1]} or len(table) != expected[0]:
        fail(f"d2q.quantile_table has shape ({len(table)}, {sorted(widths)}), expected "
             f"{expected} (groups = len(duration_edges) + 1, num_quantiles)")
    _count(d2q, "num_groups", len(table), "d2q.", fail)
    return {
        "grid_spec": payload["grid_spec"], "boundaries": boundaries,
        "time_scale": payload["time_scale"],
        "time_scale_source": payload.get("time_scale_source", "given"),
        "rank_error": payload["rank_error"], "num_examples": payload["num_examples"],
        "label_key": payload.get("label_key"), "duration_key": payload.get("duration_key"),
        "split": payload.get("split"), "levels": payload.get("levels"),
        "sketch_size": sketch.get("size"), "sketch_exact": sketch.get("exact"),
        "sketch_epsilon": sketch.get("epsilon"),
        "cread_boundaries": cread["boundaries"], "cread_alpha": cread["alpha"],
        "cread_num_buckets": cread["num_buckets"], "cread_levels": cread.get("levels"),
        "cread_objective": cread.get("objective"),
        "d2q_duration_edges": d2q["duration_edges"], "d2q_quantile_table": table,
        "d2q_group_sizes": d2q["group_sizes"], "d2q_rank_error": d2q.get("rank_error"),
        "d2q_group_rank_errors": d2q.get("group_rank_errors"),
        "tpm_grid_spec": tpm.get("grid_spec"), "tpm_boundaries": tpm.get("boundaries"),
    }
