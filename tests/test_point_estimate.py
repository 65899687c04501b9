"""The point estimate as a choice: ranker, export, wt-train and the pipeline config."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from wt_keras import buckets, heads, models
from wt_keras.cli import train as train_cli
from pipelines.watch_time import configs
from _export_models import FEATURES, export_ranker, synthetic_rows

BOUNDARIES = [3.0, 8.0, 20.0, 40.0]


def _ranker(head, point_estimate):
    tf.keras.utils.set_random_seed(0)
    ranker = models.WatchTimeRanker(head, {"user_id": 100, "video_id": 100}, ["duration_s"],
                                    bottom_units=(8,), embedding_dim=4,
                                    point_estimate=point_estimate)
    ranker.adapt(synthetic_rows(num_rows=256))
    return ranker


def _features(rows):
    return {name: tf.constant(rows[name]) for name in FEATURES}


@pytest.mark.parametrize("text, expected", [("mean", "mean"), (" Median ", "median"),
                                            ("0.25", 0.25), (0.9, 0.9)])
def test_point_estimates_parse_from_text_and_numbers(text, expected):
    assert models.parse_point_estimate(text) == expected


@pytest.mark.parametrize("bad", ["mode", "0", "1", 1.5, -0.1, True, None])
def test_bad_point_estimates_name_the_choices(bad):
    with pytest.raises(ValueError, match="'mean', 'median'"):
        models.parse_point_estimate(bad)


@pytest.mark.parametrize("point_estimate, level", [("median", 0.5), (0.25, 0.25), (0.9, 0.9)])
@pytest.mark.parametrize("make_head", [
    lambda: heads.BucketizedGeometricHead(BOUNDARIES),
    lambda: heads.BinomialSoftLabelHead(BOUNDARIES + [120.0]),
    lambda: heads.CreadHead(BOUNDARIES),
    lambda: heads.GeometricHead()], ids=["swat_geo", "swat_binom", "cread", "geometric"])
def test_the_ranker_predicts_the_chosen_quantile_of_its_head(make_head, point_estimate, level):
    ranker = _ranker(make_head(), point_estimate)
    features = _features(synthetic_rows(num_rows=32, seed=3))
    logits = ranker.head(ranker.hidden(features))
    predicted = ranker(features).numpy()
    # The generalised inverse, checked against the head's survival: P(T <= Q) >= q and
    # P(T <= Q - 0.01) < q (Q is the smallest such t).
    cdf_at = 1.0 - ranker.head.survival(logits, predicted).numpy()
    cdf_below = 1.0 - ranker.head.survival(logits, np.maximum(predicted - 0.01, 0.0)).numpy()
    assert np.all(cdf_at >= level - 1e-5)
    assert np.all((cdf_below < level + 1e-5) | (predicted == 0.0))
    assert not np.allclose(predicted, ranker.head.expected_value(logits).numpy(), rtol=1e-3)


def test_mean_stays_the_default():
    ranker = _ranker(heads.BucketizedGeometricHead(BOUNDARIES), "mean")
    default = models.WatchTimeRanker(heads.GeometricHead(), {"user_id": 10}, ["duration_s"])
    assert default.point_estimate == "mean"
    features = _features(synthetic_rows(num_rows=8))
    logits = ranker.head(ranker.hidden(features))
    np.testing.assert_allclose(ranker(features), ranker.head.expected_value(logits), rtol=1e-6)


@pytest.mark.parametrize("head", [
    heads.RegressionHead(),
    heads.D2QHead(duration_edges=[30.0], quantile_table=[[0, 10, 20], [0, 30, 60]])])
def test_heads_without_a_distribution_refuse_anything_but_the_mean(head):
    with pytest.raises(ValueError, match="needs a head with a distribution.*point_estimate='mean'"):
        models.WatchTimeRanker(head, {"user_id": 10}, ["duration_s"], point_estimate="median")
    models.WatchTimeRanker(head, {"user_id": 10}, ["duration_s"], point_estimate="mean")


@pytest.mark.slow
def test_the_export_serves_the_chosen_point_estimate_and_records_it(tmp_path):
    rows = synthetic_rows(num_rows=128)
    ranker = _ranker(heads.BucketizedGeometricHead(BOUNDARIES), "median")
    levels = (0.05, 0.5, 0.95)
    export_dir = export_ranker(ranker, tmp_path, rows, quantile_levels=levels)
    loaded = tf.saved_model.load(export_dir)
    probe = synthetic_rows(num_rows=16, seed=2)
    served = loaded.signatures["predict_raw"](**_features(probe))
    logits = ranker.head(ranker.hidden(_features(probe)))
    np.testing.assert_allclose(served["watch_time"], ranker.head.quantile(logits, 0.5), atol=1e-5)
    np.testing.assert_allclose(served["watch_time"], served["watch_time_median"], atol=1e-5)
    np.testing.assert_allclose(served["quantiles"], ranker.head.quantile(logits, list(levels)),
                               atol=1e-5)
    with open(os.path.join(export_dir, "assets.extra", "wt_keras_model.json")) as handle:
        info = json.load(handle)
    assert info["point_estimate"] == "median" and info["quantile_levels"] == list(levels)


def test_export_rejects_bad_quantile_levels(tmp_path):
    ranker = _ranker(heads.GeometricHead(), "mean")
    with pytest.raises(ValueError, match="strictly increasing levels in \\(0, 1\\)"):
        export_ranker(ranker, tmp_path, synthetic_rows(num_rows=16), quantile_levels=(0.5, 0.1))


def test_pipeline_config_checks_the_point_estimate():
    config = configs.PipelineConfig(point_estimate="0.25")
    assert config.trainer_custom_config()["point_estimate"] == "0.25"
    with pytest.raises(configs.ConfigError, match="quantile level q in \\(0, 1\\)"):
        configs.PipelineConfig(point_estimate="mode")
    with pytest.raises(configs.ConfigError, match="d2q predicts one number"):
        configs.PipelineConfig(head="d2q", point_estimate="median")
    with pytest.raises(configs.ConfigError, match="quantile_levels"):
        configs.PipelineConfig(quantile_levels=(0.9, 0.1))


def test_wt_train_rejects_a_point_estimate_its_method_cannot_give(capsys):
    assert train_cli.main(["--method", "d2q", "--point-estimate", "median", "--rows", "10"]) == 2
    assert "d2q predicts a single number" in capsys.readouterr().err
    assert train_cli.main(["--point-estimate", "mode", "--rows", "10"]) == 2
    assert "--point-estimate" in capsys.readouterr().err
