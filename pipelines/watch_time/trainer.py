"""The TFX Trainer's `run_fn`: train a WatchTimeRanker and export it for TF Serving.

Referenced by dotted path (`configs.RUN_FN`). `run_fn` only unpacks
`fn_args`; the work is in `train_and_export`, which takes file patterns, a
schema, the bucket boundaries and the training settings, so it also runs
without TFX (the multi-worker test launches it in several processes).

Distribution: with a `TF_CONFIG` naming two or more workers (Kubeflow /
Vertex training replicas), training runs under
`tf.distribute.MultiWorkerMirroredStrategy`: the ranker is built inside the
strategy scope with `global_batch_size` (loss = SUM / global batch, so N
workers take the same gradient steps as one), the input is auto-sharded by
data, and only the chief writes the export (the others write to a
temporary directory that is deleted, as the TF multi-worker guide advises).
"""
import contextlib
import json
import math
import os
import shutil
import tempfile
import time

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
from wt_keras import export, metrics  # isort: skip
from wt_keras.buckets import BucketBoundaries  # isort: skip

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from pipelines.watch_time import eval_config, model_factory, serving_spec, tracing

ADAPT_ROWS = 50_000        # rows that set feature statistics and the head's starting bias
EVAL_ROWS = 100_000        # held-out rows for the Trainer's own metrics
WARMUP_ROWS = 16           # TF Serving warmup requests in the export
PREDICT_BATCH = 8_192
# Parsed batches stay in memory when the training split needs at most this much
# (estimated at CACHED_BYTES_PER_VALUE per feature value: 1e6 rows of 28 columns
# take ~0.7 GiB); larger splits are read from disk every epoch.
CACHE_BUDGET_BYTES = 1 << 30
CACHED_BYTES_PER_VALUE = 32
CACHED_BATCH_SHUFFLE = 256
METRICS_FILE = "trainer_metrics.json"


def cluster_spec():
    """(number of workers, this process is the chief) from TF_CONFIG."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster = config.get("cluster", {})
    task = config.get("task", {})
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    if task.get("type") == "chief" or not task:
        return max(workers, 1), True
    chief_is_worker_0 = not cluster.get("chief") and task.get("type") == "worker"
    return max(workers, 1), chief_is_worker_0 and int(task.get("index", 0)) == 0


def make_strategy(num_workers):
    """MultiWorkerMirroredStrategy for >= 2 workers, else the default strategy."""
    if num_workers >= 2:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def tfrecord_dataset_factory(file_patterns, options, schema):
    """Reads gzipped tf.Example TFRecords (ExampleGen's format) outside TFX."""
    return tfxio.TFExampleRecord(file_pattern=file_patterns, schema=schema).TensorFlowDataset(
        options)


def read_rows(dataset_factory, file_patterns, schema, max_rows):
    """The first `max_rows` examples as a dict of flat numpy columns."""
    options = tfxio.TensorFlowDatasetOptions(batch_size=max_rows, num_epochs=1, shuffle=False)
    for batch in dataset_factory(file_patterns, options, schema).take(1):
        return {name: tf.reshape(value, [-1]).numpy() for name, value in batch.items()}
    raise ValueError(f"no examples in {file_patterns}; the split is empty.")


def fits_in_memory(num_examples, schema):
    """Whether parsed batches of `num_examples` rows stay under CACHE_BUDGET_BYTES."""
    return num_examples * len(schema.feature) * CACHED_BYTES_PER_VALUE <= CACHE_BUDGET_BYTES


def _training_dataset(dataset_factory, file_patterns, schema, batch_size, seed, cache=False):
    """Shuffled batches, repeated; with `cache`, parsed once and replayed from memory.

    Reading, decompressing and parsing a batch took about as much CPU as the
    training step on 2 cores; cached, later epochs only reorder the first
    pass's batches (each epoch anew, within CACHED_BATCH_SHUFFLE batches).
    """
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=True,
                                             shuffle_seed=seed,
                                             num_epochs=1 if cache else None)
    dataset = dataset_factory(file_patterns, options, schema)
    if cache:
        dataset = dataset.cache().shuffle(CACHED_BATCH_SHUFFLE, seed=seed).repeat()
    # ExampleGen may write a single file: shard by element, not by file.
    shard = tf.data.Options()
    shard.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(shard)


def _evaluation_dataset(dataset_factory, file_patterns, schema, batch_size, steps,
                        cache=False):
    """The eval split for `fit`'s validation: all of it once, or repeated when `steps` is set.

    With `cache` (and no `steps`) the parsed batches of the first validation
    pass are kept for the next epochs' passes.
    """
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=False,
                                             num_epochs=None if steps else 1)
    dataset = dataset_factory(file_patterns, options, schema)
    if cache and not steps:
        dataset = dataset.cache()
    shard = tf.data.Options()
    shard.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(shard)


def fit_schedule(train_steps, num_examples, batch_size, epochs):
    """(epochs, steps per epoch) for `fit`.

    `train_steps` (TFX `TrainArgs.num_steps`, as `fn_args.train_steps`) is
    spread over the epochs, rounded up to whole steps per epoch; without it
    every epoch is one pass over the `num_examples` training examples.
    """
    if train_steps:
        epochs = max(1, min(int(epochs), int(train_steps)))
        return epochs, math.ceil(int(train_steps) / epochs)
    return int(epochs), max(1, math.ceil(num_examples / batch_size))


@contextlib.contextmanager
def tensorboard_callbacks(log_dir, is_chief):
    """[TensorBoard callback] writing to `log_dir` (chief), a deleted temporary directory
    (other workers, as the TF multi-worker guide advises), or [] without a `log_dir`."""
    if not log_dir:
        yield []
        return
    target = log_dir if is_chief else tempfile.mkdtemp(prefix="wt_keras_worker_logs_")
    try:
        # The graph of a TFRS train step with the heads' losses is large and
        # shows little: the curves (epoch_loss, epoch_mae, ...) are the point.
        yield [tf.keras.callbacks.TensorBoard(log_dir=target, write_graph=False)]
    finally:
        if not is_chief:
            shutil.rmtree(target, ignore_errors=True)


def _create_variables(ranker, sample, feature_names):
    """Builds every layer and the optimizer's slots before `fit`.

    A tf.function whose first call creates variables is traced twice; Keras'
    train function is large (TFRS task + head losses), so creating them
    eagerly here halves the start-up time of `fit`.
    """
    rows = {name: tf.constant(sample[name][:2]) for name in feature_names}
    hidden = ranker.hidden(rows)
    ranker.head(hidden)
    if ranker.confidence_tower is not None:
        ranker.confidence_tower(hidden)
    ranker.optimizer.build(ranker.trainable_variables)


def serving_required_features(categorical, duration_key):
    """What a serving request must carry: the id features (`*_id`) and the duration."""
    return [name for name in categorical if name.endswith("_id")] + [duration_key]


def predict(ranker, rows, feature_names):
    """The ranker's point estimate (seconds) for numpy rows, in batches."""
    size = len(next(iter(rows.values())))
    chunks = []
    for start in range(0, size, PREDICT_BATCH):
        batch = {name: tf.constant(rows[name][start:start + PREDICT_BATCH])
                 for name in feature_names}
        chunks.append(ranker(batch, training=False).numpy())
    return np.concatenate(chunks)


def train_and_export(*args, **kwargs):
    """`fit_and_export` with AutoGraph leaving Keras internals unconverted (`tracing`)."""
    with tracing.keras_internals_unconverted():
        return fit_and_export(*args, **kwargs)


def fit_and_export(train_files, eval_files, schema, boundaries, custom_config, serving_model_dir,
                   dataset_factory=tfrecord_dataset_factory, metrics_dir=None,
                   train_steps=None, eval_steps=None, log_dir=None):
    """Trains the configured ranker and exports it (chief only).

    Args:
      train_files, eval_files: lists of file patterns of tf.Example records.
      schema: schema_pb2.Schema the examples are parsed with.
      boundaries: `wt_keras.buckets.BucketBoundaries` (BucketBoundaryGen's
        output), validated and checked against `custom_config` first.
      custom_config: `PipelineConfig.trainer_custom_config()`.
      serving_model_dir: where the chief writes the SavedModel.
      dataset_factory: f(file_patterns, TensorFlowDatasetOptions, schema) →
        tf.data.Dataset (the Trainer's data accessor inside TFX).
      metrics_dir: optional directory for trainer_metrics.json (chief only).
      train_steps: total training steps (`fn_args.train_steps`); None: one
        pass over the training split per epoch (`custom_config["epochs"]`).
      eval_steps: validation steps after each epoch (`fn_args.eval_steps`);
        None: the whole eval split. Multi-worker runs do not validate.
      log_dir: optional TensorBoard log directory (`fn_args.model_run_dir`):
        per-epoch training and validation curves (chief only).

    Returns:
      dict of held-out metrics (mae, xauc, pearson, num_eval, num_workers).
    """
    model_factory.check_boundaries(boundaries, custom_config)
    num_workers, is_chief = cluster_spec()
    strategy = make_strategy(num_workers)
    tf.keras.utils.set_random_seed(custom_config["seed"])
    label = custom_config["label_key"]
    categorical, dense, skipped = model_factory.select_features(
        schema, label, custom_config.get("features"))
    if skipped:
        logging.warning("Not using columns without exactly one value per row: %s", skipped)
    features = list(categorical) + dense
    logging.info("Features: categorical %s, dense %s", sorted(categorical), dense)
    # What serving needs: the features, plus the duration the head reads (D2Q)
    # even when it is not a model feature.
    serving_names = list(dict.fromkeys(features + [custom_config["duration_key"]]))
    sample = read_rows(dataset_factory, train_files, schema, ADAPT_ROWS)
    batch_size = custom_config["batch_size"]
    with strategy.scope():
        ranker = model_factory.build_ranker(
            custom_config, boundaries, categorical, dense,
            global_batch_size=batch_size if num_workers > 1 else None)
        ranker.adapt(sample)
        ranker.compile(optimizer=tf.keras.optimizers.Adam(custom_config["learning_rate"]))
        _create_variables(ranker, sample, serving_names)
    epochs, steps_per_epoch = fit_schedule(train_steps, boundaries.num_examples, batch_size,
                                           custom_config["epochs"])
    # Several workers validating the finite, sharded eval split waited for
    # each other forever in a test run; until a repeated split with set steps
    # (the TF multi-worker guide's way) is tested, they skip validation.
    cache = fits_in_memory(boundaries.num_examples, schema)
    validation = (None if num_workers > 1 else
                  _evaluation_dataset(dataset_factory, eval_files, schema, batch_size,
                                      eval_steps, cache))
    # TFXIO's TensorFlowDataset reads and parses with AUTOTUNE threads and prefetches.
    fit_started = time.monotonic()
    with tensorboard_callbacks(log_dir, is_chief) as callbacks:
        ranker.fit(_training_dataset(dataset_factory, train_files, schema, batch_size,
                                     custom_config["seed"], cache),
                   epochs=epochs, steps_per_epoch=steps_per_epoch,
                   validation_data=validation, validation_steps=eval_steps,
                   callbacks=callbacks, verbose=2)
    fit_seconds = time.monotonic() - fit_started

    held_out = read_rows(dataset_factory, eval_files, schema, EVAL_ROWS)
    predicted = predict(ranker, held_out, serving_names)
    truth = held_out[label]
    result = {"mae": metrics.mae(truth, predicted), "xauc": metrics.xauc(truth, predicted),
              "pearson": metrics.pearson(truth, predicted), "num_eval": int(truth.size),
              "num_workers": num_workers, "steps": steps_per_epoch * epochs,
              # Whole fit (tracing and validation included), all workers' examples.
              "train_examples_per_second": steps_per_epoch * epochs * batch_size / fit_seconds}
    logging.info("Held-out metrics: %s", result)

    target = serving_model_dir if is_chief else tempfile.mkdtemp(prefix="wt_keras_worker_export_")
    try:
        export_dir = target if is_chief else os.path.join(target, "model")
        feature_spec = serving_spec.feature_spec_from_schema(schema, serving_names)
        # Requests need only the ids and the duration; every other feature defaults
        # to its mode (ids, strings, integers) or median (floats) over the training
        # rows read above (docs/serving.md, "Request features").
        required = serving_required_features(categorical, custom_config["duration_key"])
        export.export_serving_model(
            ranker, export_dir, feature_spec, warmup_examples=sample,
            model_name=custom_config["model_name"], num_warmup_records=WARMUP_ROWS,
            quantile_levels=custom_config.get("quantile_levels", export.DEFAULT_QUANTILE_LEVELS),
            transform_features=eval_config.evaluation_transform(
                boundaries, custom_config["duration_key"], ranker),
            bucket_boundaries=boundaries,
            feature_defaults=export.serving_defaults(sample, feature_spec, required),
            required_features=required)
    finally:
        if not is_chief:
            shutil.rmtree(target, ignore_errors=True)
    if num_workers > 1:
        # No worker leaves (taking its collective/coordination service down)
        # while another one is still exporting.
        strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)),
                        axis=None)
    if is_chief and metrics_dir:
        tf.io.gfile.makedirs(metrics_dir)
        with tf.io.gfile.GFile(os.path.join(metrics_dir, METRICS_FILE), "w") as handle:
            json.dump(result, handle, indent=2)
    return result


def run_fn(fn_args):
    """TFX Trainer entry point (GenericExecutor).

    Reads: fn_args.train_files / eval_files, schema_path, hyperparameters
    (BucketBoundaryGen's bucket_boundaries.json, decoded by TFX; read and
    validated with `BucketBoundaries.from_json`), custom_config (training
    settings), train_steps / eval_steps (TrainArgs / EvalArgs num_steps, may
    be unset), data_accessor; writes fn_args.serving_model_dir, and
    TensorBoard logs plus trainer_metrics.json to fn_args.model_run_dir
    (`tensorboard --logdir` on the pipeline root shows the curves).
    """
    if not fn_args.hyperparameters:
        raise ValueError("The Trainer got no bucket boundaries: wire "
                         "BucketBoundaryGen.outputs['boundaries'] to Trainer(hyperparameters=...).")
    boundaries = BucketBoundaries.from_json(
        fn_args.hyperparameters, source="the Trainer's hyperparameters (BucketBoundaryGen output)")
    schema = tfx.utils.parse_pbtxt_file(fn_args.schema_path, schema_pb2.Schema())
    train_and_export(fn_args.train_files, fn_args.eval_files, schema, boundaries,
                     fn_args.custom_config, fn_args.serving_model_dir,
                     dataset_factory=fn_args.data_accessor.tf_dataset_factory,
                     metrics_dir=fn_args.model_run_dir, train_steps=fn_args.train_steps,
                     eval_steps=fn_args.eval_steps, log_dir=fn_args.model_run_dir)
