"""Train one method on a DataFrame split and measure it (CLI and benchmarks)."""
import time

import numpy as np
import tensorflow as tf

from wt_keras import metrics
from wt_keras.models.factory import build_ranker, bucket_tables, default_features
from wt_keras.models.guard import PredictionGuard
from wt_keras.training_settings import TRAINING_DEFAULTS

# Training rows the PredictionGuard predicts on after every epoch.
GUARD_ROWS = 4096


def random_split(frame, test_fraction=0.2, seed=0):
    """Random train/test split (the SWaT Table 1 protocol uses 80/20)."""
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = int(round(len(frame) * (1.0 - test_fraction)))
    return frame.iloc[order[:cut]].reset_index(drop=True), frame.iloc[order[cut:]].reset_index(drop=True)


def feature_columns(frame, label_key="watch_time_s"):
    """numpy columns of the model features (+ the label), dtypes TF understands."""
    categorical, dense = default_features(frame.columns)
    columns = {}
    for name in list(categorical) + dense + [label_key]:
        values = frame[name].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        elif name in dense or name == label_key:
            values = values.astype(np.float32)
        columns[name] = values
    return columns


def dataset(columns, batch_size, shuffle_seed=None):
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if shuffle_seed is not None:
        ds = ds.shuffle(min(len(next(iter(columns.values()))), 100_000), seed=shuffle_seed)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def evaluate_predictions(truth, predicted, groups=None):
    """MAE, XAUC, Pearson (and XGAUC by `groups`) of predictions in seconds."""
    result = {"mae": metrics.mae(truth, predicted), "xauc": metrics.xauc(truth, predicted),
              "pearson": metrics.pearson(truth, predicted)}
    if groups is not None:
        result["xgauc"] = metrics.xgauc(truth, predicted, groups)
    return result


_DEFAULTS = TRAINING_DEFAULTS


def fit_and_evaluate(method, train, test, exum=_DEFAULTS.exum,
                     confidence_penalty=_DEFAULTS.confidence_penalty,
                     grid_spec=_DEFAULTS.grid_spec, time_scale=_DEFAULTS.time_scale,
                     epochs=_DEFAULTS.epochs, batch_size=_DEFAULTS.batch_size,
                     learning_rate=_DEFAULTS.learning_rate, seed=_DEFAULTS.seed,
                     train_metrics=_DEFAULTS.train_metrics, tables=None, callbacks=None, verbose=0,
                     point_estimate=_DEFAULTS.point_estimate, confidence_tower_options=None):
    """Trains `method` on `train` (a DataFrame) and evaluates it on `test`.

    The training settings default to `wt_keras.training_settings.TRAINING_DEFAULTS`
    (those of `wt-train` and the pipeline).

    `time_scale` None chooses α from the training labels (see `bucket_tables`);
    `confidence_tower_options` are passed to `build_ranker`.
    `point_estimate` ("mean", "median" or a quantile level) is what the
    model predicts and the metrics score (see `WatchTimeRanker`).
    `train_metrics=False`: training batches skip the metrics (`WatchTimeRanker`),
    so `history` holds the losses only and `mean_confidence` is NaN.

    Returns:
      dict with the test metrics, `train_seconds`, `mean_confidence` (EXUM,
      last epoch), `history` (per-epoch training logs, e.g. the
      mean-confidence trace), the test `predictions` (seconds, [N]), the
      trained `model` and `guard_warnings` ("" or the `PredictionGuard`
      findings: mean prediction outside [0.5, 2] × mean label, XAUC < 0.5).
    """
    tf.keras.utils.set_random_seed(seed)
    if tables is None:
        tables = bucket_tables(train["watch_time_s"].to_numpy(), train["duration_s"].to_numpy(),
                               grid_spec=grid_spec, time_scale=time_scale)
    model = build_ranker(method, tables, train.columns, exum=exum,
                         confidence_penalty=confidence_penalty, time_scale=time_scale,
                         point_estimate=point_estimate, train_metrics=train_metrics,
                         confidence_tower_options=confidence_tower_options)
    train_columns, test_columns = feature_columns(train), feature_columns(test)
    model.adapt(train_columns)
    # Warn when the predictions drift from the labels (e.g. EXUM with too small a λ).
    guard_rows = np.random.default_rng(seed).permutation(len(train))[:GUARD_ROWS]
    guard = PredictionGuard({name: values[guard_rows] for name, values in train_columns.items()},
                            "watch_time_s")
    callbacks = list(callbacks or []) + [guard]
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate))
    start = time.perf_counter()
    history = model.fit(dataset(train_columns, batch_size, shuffle_seed=seed), epochs=epochs,
                        callbacks=callbacks, verbose=verbose).history   # predict() replaces model.history
    train_seconds = time.perf_counter() - start
    predicted = np.reshape(model.predict(dataset(test_columns, 4096), verbose=0), [-1])
    result = evaluate_predictions(test["watch_time_s"].to_numpy(), predicted,
                                  test["user_id"].to_numpy() if "user_id" in test else None)
    result.update(train_seconds=train_seconds, num_buckets=tables.num_buckets, model=model,
                  history=history, predictions=predicted,
                  mean_confidence=history.get("mean_confidence", [float("nan")])[-1],
                  guard_warnings=" | ".join(f"epoch {entry['epoch'] + 1}: " + "; ".join(entry["problems"])
                                            for entry in guard.history if entry["problems"]))
    return result
