"""A tiny trained and exported WatchTimeRanker, shared by the export and serving tests."""
import os

import numpy as np
import tensorflow as tf

from wt_keras import buckets, export, heads, models

FEATURES = ["user_id", "video_id", "duration_s"]
NUM_WARMUP = 6


def synthetic_rows(num_rows=512, seed=0):
    """Ids, durations and exponential watch times around a duration-dependent mean."""
    rng = np.random.default_rng(seed)
    duration = rng.choice([8.0, 15.0, 30.0, 60.0, 120.0], num_rows)
    user = rng.integers(0, 50, num_rows)
    share = 1.0 / (1.0 + np.exp(-rng.normal(0.0, 0.8, 50)[user]))
    return {"user_id": user.astype(np.int64),
            "video_id": rng.integers(0, 80, num_rows).astype(np.int64),
            "duration_s": duration.astype(np.float32),
            "watch_time_s": rng.exponential(duration * share).astype(np.float32)}


def make_head(name, rows):
    if name == "swat_geo":
        return heads.BucketizedGeometricHead(boundaries=[3.0, 8.0, 20.0, 40.0])
    if name == "swat_binom":
        return heads.BinomialSoftLabelHead(boundaries=[3.0, 8.0, 20.0, 40.0, 120.0])
    if name == "cread":
        return heads.CreadHead(boundaries=[3.0, 8.0, 20.0, 40.0])
    if name == "geometric":
        return heads.GeometricHead()
    if name == "tpm":
        return heads.TPMHead(boundaries=[3.0, 8.0, 20.0, 40.0, 120.0])
    tables = buckets.d2q_tables(rows["watch_time_s"], rows["duration_s"], num_groups=4)
    return heads.D2QHead(tables.duration_edges, tables.quantile_table)


def train_ranker(head_name, rows, exum=True, seed=0, steps_per_epoch=None):
    """A tiny WatchTimeRanker trained for a few steps (len(rows) / 64)."""
    tf.keras.utils.set_random_seed(seed)
    tower = heads.ConfidenceTower(units=(8,)) if exum else None
    ranker = models.WatchTimeRanker(make_head(head_name, rows), {"user_id": 1000, "video_id": 1000},
                                    ["duration_s"], bottom_units=(16, 8), embedding_dim=4,
                                    confidence_tower=tower)
    ranker.adapt(rows)
    # Eager: tracing a train step costs more than the handful of steps taken here.
    ranker.compile(optimizer=tf.keras.optimizers.Adam(1e-2), run_eagerly=True)
    ranker.fit(tf.data.Dataset.from_tensor_slices(rows).batch(64), epochs=1, verbose=0,
               steps_per_epoch=steps_per_epoch)
    return ranker


def export_ranker(ranker, base_dir, rows, **kwargs):
    spec = export.feature_spec_from_features(rows, FEATURES)
    export_dir = export.next_version_dir(base_dir, "wt_keras")
    return export.export_serving_model(ranker, export_dir, spec, warmup_examples=rows,
                                       num_warmup_records=NUM_WARMUP, **kwargs)


def fresh_process_env():
    """The environment of a serving process: no wt_keras, no Keras choice made for it."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env
