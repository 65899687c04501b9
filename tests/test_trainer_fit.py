"""The pipeline Trainer's fit: TFX step counts, validation on the eval split, TensorBoard
logs in the model_run directory, and the serving spec read from the training schema."""
import glob
import json
import os

import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from _trainer_inputs import write_trainer_inputs
from pipelines.watch_time import serving_spec, trainer
from wt_keras.buckets import BucketBoundaries

SCHEMA = """
  feature { name: "user_id" type: INT shape { dim { size: 1 } } presence { min_fraction: 1.0 } }
  feature { name: "user_active_degree" type: BYTES shape { dim { size: 1 } }
            presence { min_fraction: 1.0 } }
  feature { name: "duration_s" type: FLOAT shape { dim { size: 1 } }
            presence { min_fraction: 1.0 } }
  feature { name: "token_list" type: BYTES value_count { min: 0 max: 10 } }
  feature { name: "sometimes" type: INT shape { dim { size: 1 } } }
"""


def _schema():
    return text_format.Parse(SCHEMA, schema_pb2.Schema())


def test_serving_spec_comes_from_the_schema_one_value_per_feature():
    spec = serving_spec.feature_spec_from_schema(
        _schema(), ["duration_s", "user_id", "user_active_degree"])
    assert list(spec) == ["duration_s", "user_id", "user_active_degree"]
    assert spec == {"duration_s": tf.io.FixedLenFeature([], tf.float32),
                    "user_id": tf.io.FixedLenFeature([], tf.int64),
                    "user_active_degree": tf.io.FixedLenFeature([], tf.string)}


def test_serving_spec_ignores_unserved_columns_and_names_the_bad_ones():
    # "sometimes" has a shape without presence 1: TFT refuses it, but it is not served.
    assert list(serving_spec.feature_spec_from_schema(_schema(), ["user_id"])) == ["user_id"]
    with pytest.raises(ValueError, match=r"\['video_id'\] are not in the training schema"):
        serving_spec.feature_spec_from_schema(_schema(), ["user_id", "video_id"])
    with pytest.raises(ValueError, match="'token_list' VarLenFeature.*dim { size: 1 }"):
        serving_spec.feature_spec_from_schema(_schema(), ["token_list"])
    with pytest.raises(ValueError, match="cannot describe.*min_fraction: 1.0"):
        serving_spec.feature_spec_from_schema(_schema(), ["sometimes"])


@pytest.mark.parametrize("train_steps, num_examples, batch_size, epochs, expected", [
    (None, 1000, 256, 3, (3, 4)),        # one pass per epoch: ceil(1000 / 256)
    (None, 10, 256, 2, (2, 1)),
    (10, 10**6, 256, 2, (2, 5)),         # TrainArgs.num_steps wins over the split size
    (10, 10**6, 256, 3, (3, 4)),         # rounded up to whole steps per epoch
    (2, 10**6, 256, 3, (2, 1)),          # fewer steps than epochs: one step per epoch
])
def test_fit_schedule(train_steps, num_examples, batch_size, epochs, expected):
    assert trainer.fit_schedule(train_steps, num_examples, batch_size, epochs) == expected


def _scalar_steps(directory):
    """{tag: sorted steps} of the scalars in a TensorBoard run directory."""
    steps = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    return {tag: sorted(values) for tag, values in steps.items()}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_trainer_inputs(tmp_path_factory.mktemp("trainer_inputs"))


@pytest.mark.slow
def test_train_and_export_takes_tfx_steps_validates_and_logs_for_tensorboard(
        data_dir, tmp_path):
    schema = text_format.Parse((data_dir / "schema.pbtxt").read_text(), schema_pb2.Schema())
    tables = BucketBoundaries.from_json((data_dir / "tables.json").read_text())
    custom = json.loads((data_dir / "config.json").read_text())     # epochs 2, batch 256
    log_dir = tmp_path / "model_run"
    result = trainer.train_and_export(
        [str(data_dir / "train.gz")], [str(data_dir / "eval.gz")], schema, tables, custom,
        str(tmp_path / "model"), metrics_dir=str(log_dir), train_steps=6, eval_steps=2,
        log_dir=str(log_dir))
    assert result["steps"] == 6
    train, validation = _scalar_steps(log_dir / "train"), _scalar_steps(log_dir / "validation")
    for tag in ("epoch_loss", "epoch_mae", "epoch_pearson"):
        assert train[tag] == [0, 1], train
        assert validation[tag] == [0, 1], validation
    assert (log_dir / trainer.METRICS_FILE).exists()
    assert (tmp_path / "model" / "saved_model.pb").exists()


def test_serving_spec_docstring_example_runs():
    import doctest
    result = doctest.testmod(serving_spec)
    assert result.failed == 0 and result.attempted > 0


def test_cached_training_batches_cover_every_row_each_epoch_in_a_new_order(tmp_path):
    path = str(tmp_path / "rows.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for row in range(40):
            feature = {"user_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[row]))}
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())
    schema = text_format.Parse(
        'feature { name: "user_id" type: INT shape { dim { size: 1 } } '
        'presence { min_fraction: 1.0 } }', schema_pb2.Schema())
    dataset = trainer._training_dataset(trainer.tfrecord_dataset_factory, [path], schema,
                                        batch_size=4, seed=3, cache=True)
    batches = [tuple(batch["user_id"].numpy().ravel()) for batch in dataset.take(30)]
    epochs = [batches[start:start + 10] for start in (0, 10, 20)]
    for epoch in epochs:                                  # each row once per epoch
        assert sorted(row for batch in epoch for row in batch) == list(range(40))
    # Later epochs replay the first pass's batches (parsed once), reordered.
    assert sorted(epochs[1]) == sorted(epochs[0]) == sorted(epochs[2])
    assert epochs[1] != epochs[0] or epochs[2] != epochs[0]
    assert trainer.fits_in_memory(1_000_000, _schema())
    assert not trainer.fits_in_memory(100_000_000, _schema())
