"""The Trainer's model: features from the schema, a ranker from config + bucket boundaries.

The head itself comes from `wt_keras.models.factory.build_head`, the same
factory `wt-train` and the benchmarks use, so the pipeline trains exactly the
models they measure. This module adds what is pipeline-specific: choosing
the features from the training schema (any dataset `wt-data prepare`
writes, not only the simulator's columns) and the distribution options.
"""
# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras import heads  # isort: skip

from tensorflow_metadata.proto.v0 import schema_pb2

from wt_keras.buckets import BucketBoundaries
from wt_keras.data import LABEL_SIDE_COLUMNS
from wt_keras.models import WatchTimeRanker, build_head, default_features

# Never features: label-side columns leak the label (play_time_ms *is* the
# label in ms, behaviour is latent), log timestamps identify no user or video,
# duration_ms duplicates duration_s.
NON_FEATURE_COLUMNS = frozenset(LABEL_SIDE_COLUMNS) | {"time_ms", "date", "duration_ms"}
ID_HASH_BINS = 100_003      # ids: many values, hashing needs no vocabulary
# String columns named `*_ids` hold space-separated id lists (e.g. CIKM16's
# search tokens and result items from `wt-data prepare cikm16`): a bag of ids.
ID_LIST_SUFFIX = "_ids"
STRING_HASH_BINS = 1_009    # other string categories seen only in new datasets
CONFIDENCE_TOWER_UNITS = (32,)


def _is_scalar(feature):
    """One value per example (shape [1]): the only kind the ranker's encoder reads."""
    return [dim.size for dim in feature.shape.dim] == [1]


def select_features(schema, label_key, override=None):
    """Chooses the model inputs among the schema's columns.

    Known columns of the KuaiRand family keep their tuned hash sizes
    (`wt_keras.models.factory`); other columns become categorical when they
    hold strings or are named `*_id` (string columns named `*_ids` are id
    lists: `build_ranker` encodes them as the mean of their ids'
    embeddings), dense otherwise. Columns that are not
    present in every example are skipped (the serving contract is one value
    per feature).

    Args:
      schema: the training schema (schema_pb2.Schema).
      label_key: the label column, never a feature.
      override: optional {"categorical": {name: bins}, "dense": [names]} that
        replaces the automatic choice, or a list of declared feature names
        (`features_selection`): only those, typed as above.

    Returns:
      (categorical {name: bins}, dense [names], skipped [names]).

    Raises:
      ValueError: an override names a column that is not in the schema.
    """
    columns = {feature.name: feature for feature in schema.feature}
    if isinstance(override, (list, tuple)):
        unknown = sorted(set(override) - set(columns))
        if unknown:
            raise ValueError(f"features {unknown} are not in the data (columns: "
                             f"{sorted(columns)}); fix the `features` setting.")
        candidates = {name: columns[name] for name in override if name != label_key}
    elif override:
        categorical = {str(k): int(v) for k, v in override.get("categorical", {}).items()}
        dense = [str(name) for name in override.get("dense", [])]
        unknown = sorted(set(categorical).union(dense) - set(columns))
        if unknown:
            raise ValueError(f"features {unknown} are not in the data (columns: "
                             f"{sorted(columns)}); fix the `features` setting.")
        return categorical, dense, []
    else:
        candidates = {name: feature for name, feature in columns.items()
                      if name != label_key and name not in NON_FEATURE_COLUMNS}
    skipped = sorted(name for name, feature in candidates.items() if not _is_scalar(feature))
    usable = {name: feature for name, feature in candidates.items() if name not in skipped}
    categorical, dense = default_features(usable)
    for name, feature in sorted(usable.items()):
        if name in categorical or name in dense:
            continue
        if name.endswith("_id") or (name.endswith(ID_LIST_SUFFIX)
                                    and feature.type == schema_pb2.BYTES):
            categorical[name] = ID_HASH_BINS
        elif feature.type == schema_pb2.BYTES:
            categorical[name] = STRING_HASH_BINS
        else:
            dense.append(name)
    return categorical, dense, skipped


def check_boundaries(boundaries, custom_config):
    """Validates the Trainer's boundaries and that the training settings agree with them.

    α (`time_scale`) and the grid spec have one source, the boundaries. The
    custom_config repeats the pipeline settings BucketBoundaryGen ran with
    only so that a mismatch (boundaries from other settings, e.g. a cached
    output or a hand-wired artifact) stops training here instead of training
    a head on the wrong units.

    Raises:
      TypeError: `boundaries` is not a BucketBoundaries.
      ValueError: invalid boundaries, or a setting that contradicts them.
    """
    if not isinstance(boundaries, BucketBoundaries):
        raise TypeError(f"The Trainer needs a wt_keras.buckets.BucketBoundaries, got "
                        f"{type(boundaries).__name__}: read BucketBoundaryGen's output with "
                        "BucketBoundaries.from_json(fn_args.hyperparameters).")
    boundaries.validate(source="the Trainer's bucket boundaries")
    expected = {"time_scale": custom_config.get("time_scale"),
                "grid_spec": custom_config.get("grid_spec"),
                "label_key": custom_config.get("label_key"),
                "duration_key": custom_config.get("duration_key")}
    for name, wanted in expected.items():
        actual = getattr(boundaries, name)
        if wanted is None or actual is None or wanted == actual:
            continue
        raise ValueError(
            f"The bucket boundaries were built with {name}={actual!r} but the Trainer's "
            f"settings say {name}={wanted!r}. BucketBoundaryGen and the Trainer must run with "
            "the same PipelineConfig: rerun BucketBoundaryGen with these settings (or without "
            "its cache) and train on its output.")
    return boundaries


def build_ranker(custom_config, boundaries, categorical, dense, global_batch_size=None):
    """A `WatchTimeRanker` with the configured head, built from the bucket boundaries.

    Args:
      custom_config: the Trainer's custom_config (`PipelineConfig.trainer_custom_config`).
      boundaries: `wt_keras.buckets.BucketBoundaries` from BucketBoundaryGen;
        the count heads' α is its `time_scale` (see `check_boundaries`).
      categorical, dense: the model inputs (see `select_features`).
      global_batch_size: set under a multi-worker strategy (loss = SUM / global batch).

    Returns:
      an uncompiled, un-adapted `WatchTimeRanker`.
    """
    head = build_head(custom_config["head"], boundaries,
                      confidence_penalty=custom_config.get("confidence_penalty"))
    tower = heads.ConfidenceTower(units=CONFIDENCE_TOWER_UNITS) if custom_config["exum"] else None
    id_lists = {name: bins for name, bins in categorical.items() if name.endswith(ID_LIST_SUFFIX)}
    categorical = {name: bins for name, bins in categorical.items() if name not in id_lists}
    return WatchTimeRanker(
        head, categorical, dense, id_list_features=id_lists,
        label_key=custom_config["label_key"],
        duration_feature=custom_config["duration_key"],
        bottom_units=tuple(custom_config["bottom_units"]),
        embedding_dim=custom_config["embedding_dim"], confidence_tower=tower,
        global_batch_size=global_batch_size,
        point_estimate=custom_config.get("point_estimate", "mean"),
        train_metrics=custom_config.get("train_metrics", True))
