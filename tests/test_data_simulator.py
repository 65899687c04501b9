"""Tests of the KuaiRand-grounded simulator (wt_keras.data.simulate_interactions).

Expected values come from the module docstring's documented numbers or from the raw
bundled asset files read here directly, not from the simulator's own helpers.
"""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from wt_keras.data import simulate_interactions, write_simulated_csv

ASSETS = os.path.join(os.path.dirname(__file__), os.pardir, "wt_keras", "data", "assets")
EXPECTED_COLUMNS = [
    "time_ms", "date", "user_id", "video_id", "play_time_ms", "duration_ms", "is_click",
    "watch_time_s", "duration_s", "user_active_degree", "is_lowactive_period",
    "is_live_streamer", "is_video_author", "follow_user_num", "fans_user_num",
    "friend_user_num", "register_days", "onehot_feat0", "onehot_feat1", "onehot_feat2",
    "onehot_feat6", "onehot_feat9", "onehot_feat10", "onehot_feat11", "video_type",
    "upload_type", "music_type", "tag", "behavior"]
# Documented marginals at the default size (module docstring, step 4).
DOCUMENTED_PROPORTIONS = {"sequential": 0.575, "jumping": 0.287, "replay": 0.088,
                          "swipe": 0.050}


# The tests of the default 200k-row frame run in the full suite only (`make test`).
@pytest.fixture(scope="module")
def default_frame():
    return simulate_interactions()  # the default: 200k rows, 5k users, 4k videos


def test_same_seed_same_frame_and_other_seed_differs():
    first = simulate_interactions(num_rows=3000, num_users=300, num_videos=200, seed=7)
    again = simulate_interactions(num_rows=3000, num_users=300, num_videos=200, seed=7)
    other = simulate_interactions(num_rows=3000, num_users=300, num_videos=200, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first["watch_time_s"].equals(other["watch_time_s"])
    assert set(first["user_id"]) != set(other["user_id"])


@pytest.mark.slow
def test_columns_and_dtypes(default_frame):
    assert list(default_frame.columns) == EXPECTED_COLUMNS
    assert len(default_frame) == 200_000
    for column in ("time_ms", "date", "user_id", "video_id", "play_time_ms",
                   "duration_ms", "is_click", "register_days", "tag", "music_type"):
        assert default_frame[column].dtype == np.int64, column
    for column in ("watch_time_s", "duration_s"):
        assert default_frame[column].dtype == np.float64, column
    assert set(default_frame["is_click"].unique()) <= {0, 1}


@pytest.mark.slow
def test_durations_and_user_features_are_real(default_frame):
    videos = pd.read_csv(os.path.join(ASSETS, "kuairand_pure_video_features.csv.gz"))
    real_durations = set(videos["video_duration"].dropna().astype(np.int64))
    assert set(default_frame["duration_ms"]) <= real_durations
    by_video = videos.set_index("video_id")["video_duration"]
    np.testing.assert_array_equal(default_frame["duration_ms"],
                                  by_video.loc[default_frame["video_id"]].to_numpy())
    users = pd.read_csv(os.path.join(ASSETS, "kuairand_pure_user_features.csv.gz"))
    joined = default_frame[["user_id", "register_days", "user_active_degree"]].merge(
        users, on="user_id", suffixes=("", "_real"))
    assert len(joined) == len(default_frame)
    assert (joined["register_days"] == joined["register_days_real"]).all()
    assert (joined["user_active_degree"] == joined["user_active_degree_real"]).all()
    assert default_frame["user_id"].nunique() > 4_900
    assert default_frame["video_id"].nunique() > 3_900


@pytest.mark.slow
def test_watch_times_valid_and_consistent(default_frame):
    watch = default_frame["watch_time_s"]
    assert watch.notna().all() and (watch >= 0).all()
    np.testing.assert_allclose(watch, default_frame["play_time_ms"] / 1000.0)
    np.testing.assert_allclose(default_frame["duration_s"],
                               default_frame["duration_ms"] / 1000.0)
    assert (default_frame["duration_s"] >= 5.0).all()  # shortest Pure video is 5 s
    swipes = default_frame[default_frame["behavior"] == "swipe"]
    assert swipes["watch_time_s"].max() <= 2.0


@pytest.mark.slow
def test_behavior_modes_in_documented_proportions(default_frame):
    shares = default_frame["behavior"].value_counts(normalize=True)
    assert set(shares.index) == set(DOCUMENTED_PROPORTIONS)
    for behavior, expected in DOCUMENTED_PROPORTIONS.items():
        assert abs(shares[behavior] - expected) < 0.02, (behavior, shares[behavior])


@pytest.mark.slow
def test_replays_go_beyond_duration_and_favour_short_videos(default_frame):
    beyond = default_frame["watch_time_s"] > default_frame["duration_s"]
    replay = default_frame["behavior"] == "replay"
    assert beyond[replay].mean() > 0.9
    assert beyond.sum() > 1000
    short = default_frame["duration_s"] <= 20
    long_ = default_frame["duration_s"] > 60
    assert replay[short].mean() > 3 * replay[long_].mean()
    # Jumping and sequential users stop at the end (up to 15 % log-normal noise).
    not_replay = default_frame[~replay]
    assert (not_replay["watch_time_s"] <= 2.0 * not_replay["duration_s"]).all()


@pytest.mark.slow
def test_sequential_hook_loses_viewers_faster_than_the_middle(default_frame):
    seq = default_frame[(default_frame["behavior"] == "sequential")
                        & (default_frame["duration_s"] >= 60)]
    watch = seq["watch_time_s"]
    # Per-second exit rate: first 3 s vs a 3 s window in the middle (30-33 s).
    hook_rate = (watch < 3).mean() / 3
    alive_30 = (watch >= 30).mean()
    middle_rate = ((watch >= 30) & (watch < 33)).mean() / 3 / alive_30
    assert hook_rate > 2 * middle_rate


@pytest.mark.slow
def test_clicks_follow_affinity(default_frame):
    ratio = default_frame["watch_time_s"] / default_frame["duration_s"]
    clicked = default_frame["is_click"] == 1
    assert 0.05 < clicked.mean() < 0.4
    assert ratio[clicked].median() > ratio[~clicked].median()


@pytest.mark.slow
def test_watch_time_is_learnable_from_ids(default_frame):
    """Additive per-video + per-user median encodings of log1p(T), fitted on 80 %,
    must cut the held-out MAE of the constant (training median) predictor by >= 15 %
    (observed: about 25 %)."""
    rng = np.random.default_rng(123)
    train = rng.random(len(default_frame)) < 0.8
    target = np.log1p(default_frame["watch_time_s"].to_numpy())
    base = np.median(target[train])
    prediction = np.full(len(default_frame), base)
    for column in ("video_id", "user_id"):
        residual = pd.Series(target[train] - prediction[train])
        groups = residual.groupby(default_frame.loc[train, column].to_numpy())
        shrunk = groups.median() * groups.size() / (groups.size() + 5.0)
        prediction += default_frame[column].map(shrunk).fillna(0.0).to_numpy()
    truth = default_frame["watch_time_s"].to_numpy()[~train]
    constant_mae = np.abs(truth - np.expm1(base)).mean()
    encoded_mae = np.abs(truth - np.expm1(prediction[~train])).mean()
    print(f"\nMAE constant {constant_mae:.2f} s, id encodings {encoded_mae:.2f} s")
    assert encoded_mae < 0.85 * constant_mae


@pytest.mark.slow
def test_time_is_monotone_and_dates_match(default_frame):
    assert default_frame["time_ms"].is_monotonic_increasing
    local = pd.to_datetime(default_frame["time_ms"], unit="ms") + pd.Timedelta(hours=8)
    assert (local.dt.strftime("%Y%m%d").astype(np.int64) == default_frame["date"]).all()
    assert default_frame["date"].iloc[0] == 20220408


def test_write_simulated_csv_to_dir_and_file(tmp_path):
    path = write_simulated_csv(tmp_path / "out", num_rows=500, num_users=50,
                               num_videos=40, seed=3)
    assert path == os.path.join(str(tmp_path / "out"), "interactions.csv")
    written = pd.read_csv(path)
    expected = simulate_interactions(num_rows=500, num_users=50, num_videos=40, seed=3)
    assert list(written.columns) == EXPECTED_COLUMNS
    np.testing.assert_allclose(written["watch_time_s"], expected["watch_time_s"])
    file_path = write_simulated_csv(str(tmp_path / "x.csv"), num_rows=10, num_users=5,
                                    num_videos=5)
    assert file_path.endswith("x.csv") and len(pd.read_csv(file_path)) == 10


def test_sizes_beyond_the_real_tables_are_rejected():
    with pytest.raises(ValueError, match="27285"):
        simulate_interactions(num_rows=10, num_users=30_000)
    with pytest.raises(ValueError, match="num_videos"):
        simulate_interactions(num_rows=10, num_videos=8_000)


def test_data_package_does_not_import_tensorflow():
    code = ("import sys, wt_keras.data, wt_keras.data.formats, wt_keras.data.cli; "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
