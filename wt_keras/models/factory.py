"""Builds heads and rankers by method name from bucket boundaries.

The method names live in `wt_keras.methods.METHODS` (no TensorFlow), which
points at the `<name>_head` factories below; the CLIs, the benchmarks and the
TFX trainer all build heads through `build_head`, so they train the same
models. The boundaries are a `wt_keras.buckets.BucketBoundaries`, from the
pipeline's BucketBoundaryGen (approximate, Beam) or computed exactly here by
`bucket_tables` (numpy).
"""
from wt_keras import buckets, heads
from wt_keras.methods import METHODS, get_method  # noqa: F401  (METHODS: re-exported)

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
    """Exact numpy `buckets.BucketBoundaries` of the training labels.

    `time_scale` None chooses α automatically (`buckets.choose_time_scale`:
    the smallest power of ten keeping ≥ 90 % of the grid's distinct
    endpoints) and integerises the endpoints at it; α > 0 integerises at that
    α; 0 keeps the endpoints in seconds. The α used is the value's
    `time_scale` (0 = not integerised), the one α `build_head` gives the
    count heads.

    Adds TPM's own grid (`tpm_grid_spec`, the authors' 16 equal-frequency
    leaves); boundaries without it (BucketBoundaryGen's) give TPM the main grid.
    """
    return buckets.BucketBoundaries.from_labels(
        watch_time, duration, grid_spec=grid_spec, time_scale=time_scale,
        cread_num_buckets=cread_num_buckets, d2q_num_groups=d2q_num_groups,
        num_quantiles=num_quantiles, tpm_grid_spec=tpm_grid_spec)


def _time_scale(boundaries, time_scale):
    """α of the count heads: the boundaries' own; `time_scale` may only confirm it."""
    if time_scale is not None and float(time_scale) != boundaries.time_scale:
        raise ValueError(
            f"time_scale={time_scale:g} differs from the α the boundaries were built at "
            f"({boundaries.time_scale:g}, {boundaries.time_scale_source}; 0 = seconds as they "
            "are): α has one source. Build the boundaries with that time_scale "
            "(bucket_tables(..., time_scale=...) / BucketBoundaryGen(time_scale=...)), or leave "
            "time_scale out here.")
    return boundaries.head_time_scale


def regression_head(boundaries, time_scale=None, **options):
    """Squared error on seconds: the baseline."""
    return heads.RegressionHead(**options)


def wlr_head(boundaries, time_scale=None, **options):
    """Weighted logistic regression (YouTube)."""
    return heads.WeightedLogisticHead(**options)


def geometric_head(boundaries, time_scale=None, **options):
    """Vanilla geometric counts of integer units at α (whole seconds if unset)."""
    return heads.GeometricHead(time_scale=time_scale or 1.0, **options)


def d2q_head(boundaries, time_scale=None, **options):
    """Duration-deconfounded quantiles: the duration groups' quantile tables."""
    return heads.D2QHead(boundaries.d2q_duration_edges, boundaries.d2q_quantile_table,
                         **options)


def ordinal_head(boundaries, time_scale=None, **options):
    """Ordinal regression over the main grid's endpoints."""
    return heads.OrdinalHead(boundaries.boundaries, **options)


def cread_head(boundaries, time_scale=None, **options):
    """CREAD: ordinal regression over its own EAD endpoints."""
    return heads.CreadHead(boundaries.cread_boundaries, **options)


def swat_binom_head(boundaries, time_scale=None, **options):
    """SWaT with binomial soft labels over the main grid."""
    return heads.BinomialSoftLabelHead(boundaries.boundaries, **options)


def swat_geo_head(boundaries, time_scale=None, **options):
    """SWaT with bucketized geometric counts at α."""
    return heads.BucketizedGeometricHead(boundaries.boundaries, time_scale=time_scale, **options)


def tpm_head(boundaries, time_scale=None, **options):
    """TPM's tree over its own grid (the main grid when the boundaries have none)."""
    tpm = boundaries.tpm_boundaries
    return heads.TPMHead(boundaries.boundaries if tpm is None else tpm, **options)


def build_head(method, boundaries, time_scale=None, confidence_penalty=None):
    """A configured head for `method` (a name of `wt_keras.methods.METHODS`) from `buckets.BucketBoundaries`.

    Count models (`swat_geo`, `geometric`) use integer units at the
    boundaries' α (`time_scale`; if that is 0, SWaT-Geo chooses α from its
    endpoints and the geometric head counts whole seconds). `time_scale`, if
    given, must equal that α (a check, never a second source).
    """
    if not isinstance(boundaries, buckets.BucketBoundaries):
        raise TypeError(f"build_head needs a wt_keras.buckets.BucketBoundaries, got "
                        f"{type(boundaries).__name__}: build one with bucket_tables(...) or "
                        "BucketBoundaries.from_json(...).")
    factory = get_method(method).load_head_factory()
    options = {} if confidence_penalty is None else {"confidence_penalty": confidence_penalty}
    return factory(boundaries, time_scale=_time_scale(boundaries, time_scale), **options)


def build_ranker(method, boundaries, columns, exum=False, confidence_penalty=None, time_scale=None,
                 confidence_tower_options=None, **ranker_options):
    """A `WatchTimeRanker` with the method's head and default features of `columns`.

    `confidence_tower_options`: keyword arguments of the EXUM `ConfidenceTower`
    (e.g. `{"stop_gradient_to_bottom": True}`) overriding its defaults.
    """
    from wt_keras.models.ranker import WatchTimeRanker
    categorical, dense = default_features(columns)
    tower_options = {"units": (32,), **dict(confidence_tower_options or {})}
    tower = heads.ConfidenceTower(**tower_options) if exum else None
    return WatchTimeRanker(build_head(method, boundaries, time_scale, confidence_penalty),
                           categorical, dense, confidence_tower=tower, **ranker_options)
