"""WatchTimeRanker end to end on small learnable data, and the TFRS drop-in."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from wt_keras import buckets, heads, metrics, models
from wt_keras.losses import WatchTimeLoss
from _synthetic import interactions, split

pytestmark = pytest.mark.slow


def _dataset(features, batch_size=256, shuffle=True):
    ds = tf.data.Dataset.from_tensor_slices(features)
    if shuffle:
        ds = ds.shuffle(10_000, seed=0)
    return ds.batch(batch_size)


def _train(head, train, tower=None, epochs=6):
    tf.keras.utils.set_random_seed(0)
    model = models.WatchTimeRanker(head, {"user_id": 500, "video_id": 500}, ["duration_s"],
                                   bottom_units=(32, 16), embedding_dim=8, confidence_tower=tower)
    model.adapt(train)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    history = model.fit(_dataset(train), epochs=epochs, verbose=0)
    return model, history


def _head(name, train):
    t = train["watch_time_s"]
    if name == "swat_geo":
        return heads.BucketizedGeometricHead(buckets.boundaries_from_percentiles(t, "uniform:10", time_scale=1))
    if name == "swat_binom":
        return heads.BinomialSoftLabelHead(buckets.boundaries_from_percentiles(t, "uniform:10"))
    if name == "cread":
        return heads.CreadHead(buckets.cread_boundaries(t, num_buckets=20).boundaries)
    if name == "tpm":
        return heads.TPMHead(buckets.boundaries_from_percentiles(t, "uniform:16"))
    tables = buckets.d2q_tables(t, train["duration_s"], num_groups=4)
    return heads.D2QHead(tables.duration_edges, tables.quantile_table)


@pytest.mark.parametrize("name", ["swat_geo", "swat_binom", "cread", "d2q", "tpm"])
@pytest.mark.parametrize("exum", [False, True])
def test_ranker_learns_better_than_a_constant(name, exum):
    train, test = split(interactions())
    tower = heads.ConfidenceTower(units=(8,)) if exum else None
    model, history = _train(_head(name, train), train, tower)
    predicted = model.predict(_dataset(test, shuffle=False), verbose=0)
    assert predicted.shape == (len(test["watch_time_s"]),)
    truth = test["watch_time_s"]
    constant_mae = metrics.mae(truth, np.full_like(truth, np.median(train["watch_time_s"])))
    assert metrics.mae(truth, predicted) < 0.95 * constant_mae
    assert metrics.xauc(truth, predicted) > 0.6
    if exum:
        confidence = history.history["mean_confidence"][-1]
        assert 0.0 < confidence <= 1.0
    else:
        assert "mean_confidence" not in history.history


def test_ranker_without_label_gives_a_clear_error():
    train, _ = split(interactions(num_rows=200))
    model = models.WatchTimeRanker(heads.GeometricHead(), {"user_id": 50}, ["duration_s"],
                                   bottom_units=(4,))
    del train["watch_time_s"]
    with pytest.raises(KeyError, match="watch_time_s"):
        model.compute_loss({k: tf.constant(v) for k, v in train.items()})


def test_wlr_uses_the_click_flag_from_features():
    train, _ = split(interactions(num_rows=400))
    model = models.WatchTimeRanker(heads.WeightedLogisticHead(), {"user_id": 50}, ["duration_s"],
                                   click_feature="is_click", bottom_units=(4,))
    features = {k: tf.constant(v) for k, v in train.items()}
    model.adapt(train)
    with_clicks = float(model.compute_loss(features))
    model.click_feature = None
    assert float(model.compute_loss(features)) != pytest.approx(with_clicks)


def test_a_wt_keras_head_drops_into_an_existing_tfrs_ranker():
    """The README's drop-in example: an existing TFRS model, 15 lines changed."""
    train, test = split(interactions())

    class ExistingRanker(tfrs.Model):
        """A user's ranker; lines marked `# wt_keras` are the ones added or changed."""

        def __init__(self, head):
            super().__init__()
            self.user = tf.keras.Sequential([tf.keras.layers.IntegerLookup(vocabulary=np.arange(40)),
                                             tf.keras.layers.Embedding(41, 8)])
            self.video = tf.keras.Sequential([tf.keras.layers.IntegerLookup(vocabulary=np.arange(60)),
                                              tf.keras.layers.Embedding(61, 8)])
            self.mlp = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu")])
            self.head = head                                                       # wt_keras
            self.task = tfrs.tasks.Ranking(loss=WatchTimeLoss(head),               # wt_keras
                                           metrics=[metrics.MeanAbsoluteError()])  # wt_keras

        def _logits(self, features):
            hidden = self.mlp(tf.concat([self.user(features["user_id"]),
                                         self.video(features["video_id"])], axis=1))
            return self.head(hidden)                                               # wt_keras

        def call(self, features):
            return self.head.expected_value(self._logits(features))                # wt_keras

        def compute_loss(self, features, training=False):
            logits = self._logits(features)
            return self.task(labels={"watch_time": features["watch_time_s"]},      # wt_keras
                             predictions={"logits": logits,                        # wt_keras
                                          "watch_time": self.head.expected_value(logits)})  # wt_keras

    import inspect
    changed = [line for line in inspect.getsource(ExistingRanker).splitlines()
               if line.rstrip().endswith("# wt_keras")]
    assert len(changed) <= 15

    t = buckets.boundaries_from_percentiles(train["watch_time_s"], "uniform:10", time_scale=1)
    tf.keras.utils.set_random_seed(0)
    model = ExistingRanker(heads.BucketizedGeometricHead(t))
    model.head.initialize_bias(train["watch_time_s"])
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
    model.fit(_dataset(train), epochs=5, verbose=0)
    predicted = model.predict(_dataset(test, shuffle=False), verbose=0)
    truth = test["watch_time_s"]
    assert metrics.mae(truth, predicted) < metrics.mae(truth, np.full_like(truth, np.median(truth)))


@pytest.mark.parametrize("name, exum", [("swat_geo", False), ("cread", True)])
def test_training_without_train_metrics_takes_the_same_steps_and_still_validates(name, exum):
    """train_metrics=False (TFRS's compute_metrics=False in training) changes the logs, not the fit."""
    train, test = split(interactions())
    histories, weights = {}, {}
    for train_metrics in (True, False):
        tf.keras.utils.set_random_seed(0)
        tower = heads.ConfidenceTower(units=(8,)) if exum else None
        model = models.WatchTimeRanker(_head(name, train), {"user_id": 500, "video_id": 500},
                                       ["duration_s"], bottom_units=(32, 16), embedding_dim=8,
                                       confidence_tower=tower, train_metrics=train_metrics)
        model.adapt(train)
        model.compile(optimizer=tf.keras.optimizers.Adam(1e-2))
        histories[train_metrics] = model.fit(
            _dataset(train, shuffle=False), epochs=2, verbose=0,
            validation_data=_dataset(test, shuffle=False)).history
        weights[train_metrics] = model.head.get_weights()
    with_metrics, without = histories[True], histories[False]
    # Training logs keep the losses only: metrics no batch updated would read 0.
    assert "mae" in with_metrics and "pearson" in with_metrics
    assert not {"mae", "pearson", "mean_confidence"} & set(without)
    np.testing.assert_allclose(without["loss"], with_metrics["loss"], rtol=1e-5)
    for kept, skipped in zip(weights[True], weights[False]):
        np.testing.assert_allclose(skipped, kept, rtol=1e-4, atol=1e-6)
    # Validation still computes every metric, on the same weights.
    for key in ("val_mae", "val_pearson") + (("val_mean_confidence",) if exum else ()):
        np.testing.assert_allclose(without[key], with_metrics[key], rtol=1e-4)


def test_fit_and_evaluate_passes_train_metrics_to_the_ranker():
    """wt-train --no-train-metrics: the same fit, losses-only training logs, NaN mean confidence."""
    from wt_keras.data import simulate_interactions
    from wt_keras.models.experiment import fit_and_evaluate, random_split
    train, test = random_split(simulate_interactions(num_rows=1200, seed=1), seed=1)
    results = {flag: fit_and_evaluate("swat_binom", train, test, exum=True, grid_spec="uniform:8",
                                      epochs=1, batch_size=256, train_metrics=flag)
               for flag in (True, False)}
    assert not results[False]["model"].train_metrics
    assert "mae" in results[True]["history"] and "mae" not in results[False]["history"]
    assert np.isnan(results[False]["mean_confidence"])
    assert 0.0 < results[True]["mean_confidence"] <= 1.0
    np.testing.assert_allclose(results[False]["predictions"], results[True]["predictions"],
                               rtol=1e-3, atol=1e-3)
