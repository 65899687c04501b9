"""Id-list features (space-separated ids, e.g. CIKM16's tokens and result items):
a bag of ids in the encoder, picked up by the pipeline, served from one string."""
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from _trainer_inputs import three_bucket_boundaries
from pipelines.watch_time import model_factory
from wt_keras import heads
from wt_keras.models import WatchTimeRanker
from wt_keras.models.features import FeatureEncoder


def test_an_id_list_is_the_mean_of_its_ids_embeddings():
    encoder = FeatureEncoder({"user_id": 50}, ["duration_s"], embedding_dim=3,
                             id_list_features={"token_ids": 7})
    out = encoder({"user_id": tf.constant(["a", "b", "c"]),
                   "duration_s": tf.constant([1.0, 2.0, 3.0]),
                   "token_ids": tf.constant(["x y x", "", "y"])}).numpy()
    assert out.shape == (3, 3 + 3 + 1)
    table = encoder.embeddings["token_ids"].embeddings.numpy()
    x, y = (int(tf.strings.to_hash_bucket_fast(token, 7)) for token in ("x", "y"))
    np.testing.assert_allclose(out[0, 3:6], (2 * table[x] + table[y]) / 3, rtol=1e-6)
    np.testing.assert_array_equal(out[1, 3:6], np.zeros(3))        # empty list
    np.testing.assert_allclose(out[2, 3:6], table[y], rtol=1e-6)
    assert encoder.feature_names == ["user_id", "token_ids", "duration_s"]
    rebuilt = FeatureEncoder.from_config(encoder.get_config())
    assert rebuilt.id_list_features == {"token_ids": 7}


def test_id_list_errors():
    with pytest.raises(ValueError, match="both as categorical and as id lists"):
        FeatureEncoder({"token_ids": 5}, id_list_features={"token_ids": 5})
    encoder = FeatureEncoder({}, id_list_features={"token_ids": 5})
    with pytest.raises(TypeError, match="space-separated"):
        encoder({"token_ids": tf.constant([1, 2])})


def test_the_pipeline_reads_string_columns_named_ids_as_id_lists():
    schema = text_format.Parse("""
      feature { name: "watch_time_s" type: FLOAT shape { dim { size: 1 } } }
      feature { name: "duration_s" type: FLOAT shape { dim { size: 1 } } }
      feature { name: "user_id" type: BYTES shape { dim { size: 1 } } }
      feature { name: "token_ids" type: BYTES shape { dim { size: 1 } } }
      feature { name: "item_ids" type: BYTES shape { dim { size: 1 } } }
      feature { name: "num_items" type: INT shape { dim { size: 1 } } }""", schema_pb2.Schema())
    categorical, dense, _ = model_factory.select_features(schema, "watch_time_s")
    assert categorical["token_ids"] == categorical["item_ids"] == model_factory.ID_HASH_BINS
    config = {"head": "swat_binom", "time_scale": None, "confidence_penalty": None,
              "exum": False, "label_key": "watch_time_s", "duration_key": "duration_s",
              "bottom_units": [8], "embedding_dim": 4}
    tables = three_bucket_boundaries()
    ranker = model_factory.build_ranker(config, tables, categorical, dense)
    assert set(ranker.encoder.id_list_features) == {"token_ids", "item_ids"}
    assert "token_ids" not in ranker.encoder.categorical_features


@pytest.mark.slow
def test_a_ranker_with_id_lists_learns_from_them():
    """Labels set by the tokens only: the bag of ids must carry the signal."""
    rng = np.random.default_rng(0)
    n = 4000
    fast, slow = [f"t{i}" for i in range(20)], [f"t{i}" for i in range(20, 40)]
    is_slow = rng.random(n) < 0.5
    tokens = np.array([" ".join(rng.choice(slow if s else fast, rng.integers(1, 4)))
                       for s in is_slow])
    watch = np.where(is_slow, 4.0, 1.0) * rng.uniform(0.8, 1.2, n)
    columns = {"user_id": rng.integers(0, 10, n).astype(str), "token_ids": tokens,
               "duration_s": np.full(n, 6.0, np.float32),
               "watch_time_s": watch.astype(np.float32)}
    tf.keras.utils.set_random_seed(0)
    ranker = WatchTimeRanker(heads.BinomialSoftLabelHead([1.0, 2.0, 3.0, 4.0, 6.0]),
                             {"user_id": 101}, ["duration_s"], bottom_units=(16,),
                             embedding_dim=8, id_list_features={"token_ids": 1009})
    ranker.adapt(columns)
    ranker.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    ranker.fit(tf.data.Dataset.from_tensor_slices(columns).batch(128), epochs=4, verbose=0)
    predicted = ranker.predict(tf.data.Dataset.from_tensor_slices(columns).batch(512),
                               verbose=0).reshape(-1)
    # Two groups at 1 s and 4 s: only the tokens tell them apart.
    assert predicted[is_slow].mean() - predicted[~is_slow].mean() > 2.0
