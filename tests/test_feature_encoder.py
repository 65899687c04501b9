"""FeatureEncoder: which bucket each id lands in, how dense features are scaled, and that
the scaling statistics survive a weight restore. Expected values come from plain
Python/numpy (splitmix64 by hand, FarmHash64 from tf.fingerprint, numpy moments)."""
import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

from wt_keras.models import FeatureEncoder, WatchTimeRanker
from wt_keras import heads

MASK64 = (1 << 64) - 1


def splitmix64_bucket(value, num_bins):
    """splitmix64's finaliser of the id's two's-complement bits, top 63 bits, mod num_bins."""
    z = value & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return (z >> 1) % num_bins


def farmhash64_bucket(text, num_bins):
    """FarmHash64 fingerprint (tf.fingerprint's little-endian bytes) mod num_bins."""
    digest = tf.fingerprint(tf.constant([text]), method="farmhash64").numpy()[0]
    return int.from_bytes(bytes(digest), "little") % num_bins


def _rows_of(encoder, features):
    return encoder({name: tf.constant(value) for name, value in features.items()}).numpy()


def test_integer_ids_land_in_their_splitmix64_bucket():
    ids = [0, 1, 7, 123_456_789, 2**40, 2**62 + 5, -1, -(2**63)]
    encoder = FeatureEncoder({"user_id": 1009}, embedding_dim=3)
    out = _rows_of(encoder, {"user_id": np.array(ids, np.int64)})
    table = encoder.embeddings["user_id"].embeddings.numpy()
    expected = table[[splitmix64_bucket(value, 1009) for value in ids]]
    np.testing.assert_array_equal(out, expected)
    assert len({splitmix64_bucket(value, 1009) for value in ids}) > 4   # not all in one bucket


def test_string_ids_and_id_lists_land_in_their_farmhash64_bucket():
    words = ["full_active", "low_active", "", "16655", "é"]
    encoder = FeatureEncoder({"user_active_degree": 17}, embedding_dim=2,
                             id_list_features={"token_ids": 101})
    out = _rows_of(encoder, {"user_active_degree": np.array(words, object),
                             "token_ids": np.array(["16655 9", "", "9", "9 9", "x"], object)})
    table = encoder.embeddings["user_active_degree"].embeddings.numpy()
    np.testing.assert_array_equal(out[:, :2],
                                  table[[farmhash64_bucket(word, 17) for word in words]])
    tokens = encoder.embeddings["token_ids"].embeddings.numpy()
    nine, first = tokens[farmhash64_bucket("9", 101)], tokens[farmhash64_bucket("16655", 101)]
    np.testing.assert_allclose(out[0, 2:], (first + nine) / 2, rtol=1e-6)
    np.testing.assert_array_equal(out[1, 2:], [0.0, 0.0])
    np.testing.assert_allclose(out[3, 2:], nine, rtol=1e-6)


def test_dense_features_are_log1p_standardised_with_the_adapted_statistics():
    rng = np.random.default_rng(0)
    columns = {"duration_s": rng.exponential(60.0, 500).astype(np.float32),
               "fans_user_num": rng.integers(0, 100_000, 500).astype(np.int64)}
    columns["duration_s"][:3] = [-4.0, 0.0, 1e6]       # negatives count as 0
    encoder = FeatureEncoder({}, ["duration_s", "fans_user_num"])
    encoder.adapt(columns)
    logs = np.log1p(np.maximum(np.stack([columns["duration_s"].astype(np.float64),
                                         columns["fans_user_num"].astype(np.float64)], -1), 0))
    expected = (logs - logs.mean(0)) / logs.std(0)
    np.testing.assert_allclose(_rows_of(encoder, columns), expected, rtol=1e-4, atol=1e-4)
    assert encoder.normalization.adapt_mean.dtype == tf.float32


def test_statistics_are_float32_under_mixed_precision():
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        encoder = FeatureEncoder({"user_id": 10}, ["duration_s"], embedding_dim=2)
        encoder.adapt({"duration_s": np.array([1.0, 1e4], np.float32)})
        out = encoder({"user_id": tf.constant([1, 2]), "duration_s": tf.constant([1.0, 1e4])})
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert encoder.normalization.adapt_variance.dtype == tf.float32
    assert out.dtype == tf.float16
    np.testing.assert_allclose(out.numpy()[:, 2].astype(np.float32), [-1.0, 1.0], atol=1e-3)


def _ranker():
    return WatchTimeRanker(heads.GeometricHead(), {"user_id": 50},
                           ["duration_s", "fans_user_num"], bottom_units=(4,))


def test_load_weights_restores_the_scaling_statistics(tmp_path):
    rng = np.random.default_rng(1)
    rows = {"user_id": rng.integers(0, 9, 64), "duration_s": rng.uniform(5, 300, 64),
            "fans_user_num": rng.integers(0, 10**6, 64), "watch_time_s": rng.uniform(0, 60, 64)}
    rows = {name: np.asarray(value, np.float32 if name.endswith("_s") else np.int64)
            for name, value in rows.items()}
    features = {name: tf.constant(rows[name]) for name in ("user_id", "duration_s",
                                                           "fans_user_num")}
    ranker = _ranker()
    ranker.adapt(rows)
    ranker(features)
    ranker.save_weights(str(tmp_path / "weights"))
    clone = _ranker()
    before = clone(features).numpy()    # built, with the initial statistics (mean 0, variance 1)
    clone.load_weights(str(tmp_path / "weights"))
    np.testing.assert_allclose(clone(features).numpy(), ranker(features).numpy(), rtol=1e-6)
    assert not np.allclose(before, ranker(features).numpy(), rtol=1e-3)   # the test has teeth

    # A plain tf.train.Checkpoint restore needs finalize_state(), as documented.
    checkpoint = tf.train.Checkpoint(encoder=ranker.encoder).save(str(tmp_path / "ckpt"))
    other = FeatureEncoder.from_config(ranker.encoder.get_config())
    other(features)
    tf.train.Checkpoint(encoder=other).restore(checkpoint).assert_existing_objects_matched()
    other.finalize_state()
    np.testing.assert_allclose(other(features).numpy(), ranker.encoder(features).numpy(),
                               rtol=1e-6)


def test_an_encoder_without_dense_features_has_no_normalization():
    encoder = FeatureEncoder({"user_id": 10})
    encoder.adapt({"user_id": np.array([1, 2])})
    assert encoder.normalization is None
    encoder.finalize_state()
    assert encoder({"user_id": tf.constant([3])}).shape == (1, 16)



@pytest.mark.slow
def test_preprocessing_benchmark_serves_the_same_numbers_as_the_previous_ops():
    """benchmarks/preprocessing_latency.py at a tiny size: the export with Keras' layers
    answers as the hand-written ops did and adds no op beyond Sqrt."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "preprocessing_latency.py")
    spec = importlib.util.spec_from_file_location("preprocessing_latency", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    results = benchmark.main(["--repetitions", "2", "--rows", "512"])
    assert results["max_abs_difference_s"] <= 1e-4     # seconds; 0 when measured
    assert results["ops_only_in_keras_layers_vs_hand_written"] == ["Sqrt"]
    assert results["ops_only_in_hand_written_vs_keras_layers"] == []
    assert results["ops_only_in_keras_int_hashing_vs_keras_layers"] == ["AsString"]
    assert set(results["batch_sizes"]) == {1, 32, 256}
