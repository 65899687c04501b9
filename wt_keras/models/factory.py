"""Builds heads and rankers by method name from bucket tables.

One place maps the method names used by the CLI, the benchmarks and the TFX
trainer to configured heads, so they all train the same models. `tables`
is the dict written by the pipeline's BucketBoundaryGen (approximate, Beam)
or computed exactly here by `bucket_tables` (numpy); both share one schema.
"""
import numpy as np

from wt_keras import buckets, heads

METHODS = ("regression", "wlr", "geometric", "d2q", "ordinal", "cread",
           "swat_binom", "swat_geo", "tpm")

# Columns of the built-in simulator / KuaiRand log, used when present.
CATEGORICAL_FEATURES = {"user_id": 100_003, "video_id": 100_003, "user_active_degree": 17,
                        "is_lowactive_period": 5, "is_live_streamer": 5, "is_video_author": 5,
                        "video_type": 11, "upload_type": 101, "music_type": 101, "tag": 101,
                        "onehot_feat0": 11, "onehot_feat1": 31, "onehot_feat2": 101,
                        "onehot_feat6": 101, "onehot_feat9": 101, "onehot_feat10": 101,
                        "onehot_feat11": 101}
DENSE_FEATURES = ("duration_s", "follow_user_num", "fans_user_num", "friend_user_num",
                  "register_days")


def default_features(columns):
    """(categorical {name: bins}, dense names) among the known columns present."""
    columns = set(columns)
    return ({name: bins for name, bins in CATEGORICAL_FEATURES.items() if name in columns},
            [name for name in DENSE_FEATURES if name in columns])


def bucket_tables(watch_time, duration, grid_spec="uniform:20", time_scale=None,
                  cread_num_buckets=50, d2q_num_groups=30, num_quantiles=101,
                  tpm_grid_spec="uniform:16"):
    """Exact numpy version of BucketBoundaryGen's output (training labels only).

    `time_scale` None chooses α automatically (`buckets.choose_time_scale`:
    the smallest power of ten keeping ≥ 90 % of the grid's distinct
    endpoints) and integerises the endpoints at it; α > 0 integerises at that
    α; 0 keeps the endpoints in seconds. The α used is recorded as
    `time_scale` (0 = not integerised), and `build_head` gives it to the
    count heads unless told otherwise.

    Adds TPM's own grid (`tpm_grid_spec`, the authors' 16 equal-frequency
    leaves); tables without it (BucketBoundaryGen's) give TPM the main grid.
    """
    time_scale_source = "given"
    if time_scale is None:
        time_scale, time_scale_source = buckets.choose_time_scale(watch_time, grid_spec), "auto"
    boundaries = buckets.boundaries_from_percentiles(watch_time, grid_spec,
                                                     time_scale=time_scale or None)
    tpm = buckets.boundaries_from_percentiles(watch_time, tpm_grid_spec)
    cread = buckets.cread_boundaries(watch_time, num_buckets=cread_num_buckets)
    d2q = buckets.d2q_tables(watch_time, duration, num_groups=d2q_num_groups,
                             num_quantiles=num_quantiles)
    return {"grid_spec": grid_spec, "time_scale": float(time_scale or 0.0),
            "time_scale_source": time_scale_source,
            "num_buckets": len(boundaries), "boundaries": boundaries.tolist(),
            "rank_error": 0.0, "num_examples": int(len(watch_time)),
            "cread": {"boundaries": cread.boundaries.tolist(), "alpha": float(cread.alpha),
                      "num_buckets": len(cread.boundaries)},
            "d2q": {"duration_edges": d2q.duration_edges.tolist(),
                    "quantile_table": d2q.quantile_table.tolist(),
                    "num_quantiles": int(d2q.quantile_table.shape[1]),
                    "group_sizes": d2q.group_sizes.tolist()},
            "tpm": {"grid_spec": tpm_grid_spec, "boundaries": tpm.tolist()}}


def build_head(method, tables, time_scale=None, confidence_penalty=None):
    """A configured head for `method` (one of METHODS).

    Count models (`swat_geo`, `geometric`) use integer units at `time_scale`
    (None: the α recorded in `tables`; if that is 0, SWaT-Geo chooses α from
    its endpoints and the geometric head counts whole seconds); their
    endpoints are integerised again here (round(α·t_k), deduplicated).
    """
    options = {} if confidence_penalty is None else {"confidence_penalty": confidence_penalty}
    if time_scale is None:
        time_scale = float(tables.get("time_scale") or 0.0) or None
    boundaries = np.asarray(tables["boundaries"], np.float64)
    if method == "swat_binom":
        return heads.BinomialSoftLabelHead(boundaries, **options)
    if method == "swat_geo":
        return heads.BucketizedGeometricHead(boundaries, time_scale=time_scale, **options)
    if method == "geometric":
        return heads.GeometricHead(time_scale=time_scale or 1.0, **options)
    if method == "wlr":
        return heads.WeightedLogisticHead(**options)
    if method == "ordinal":
        return heads.OrdinalHead(boundaries, **options)
    if method == "cread":
        return heads.CreadHead(tables["cread"]["boundaries"], **options)
    if method == "d2q":
        return heads.D2QHead(tables["d2q"]["duration_edges"], tables["d2q"]["quantile_table"],
                             **options)
    if method == "regression":
        return heads.RegressionHead(**options)
    if method == "tpm":
        return heads.TPMHead(tables.get("tpm", {}).get("boundaries", boundaries), **options)
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}.")


def build_ranker(method, tables, columns, exum=False, confidence_penalty=None, time_scale=None,
                 confidence_tower_options=None, **ranker_options):
    """A `WatchTimeRanker` with the method's head and default features of `columns`.

    `confidence_tower_options`: keyword arguments of the EXUM `ConfidenceTower`
    (e.g. `{"stop_gradient_to_bottom": True}`) overriding its defaults.
    """
    from wt_keras.models.ranker import WatchTimeRanker
    categorical, dense = default_features(columns)
    tower_options = {"units": (32,), **dict(confidence_tower_options or {})}
    tower = heads.ConfidenceTower(**tower_options) if exum else None
    return WatchTimeRanker(build_head(method, tables, time_scale, confidence_penalty),
                           categorical, dense, confidence_tower=tower, **ranker_options)
