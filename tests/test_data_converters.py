"""Tests of `wt-data prepare` on fixtures in the datasets' real formats.

Expected values are hand-computed from the fixture files (see their READMEs) or read
from the fixture files directly.
"""
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from wt_keras.data import cli, prepare_dataset
from wt_keras.data.formats import DatasetFormatError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "datasets")


def _prepare(name, tmp_path, input_dir=None, **options):
    out = tmp_path / f"out_{name}"
    report = prepare_dataset(name, input_dir or os.path.join(FIXTURES, name), str(out),
                             **options)
    return pd.read_csv(out / "interactions.csv"), report, out


def _copy_fixture(name, tmp_path):
    target = tmp_path / f"in_{name}"
    shutil.copytree(os.path.join(FIXTURES, name), target)
    return target


# ---------------------------------------------------------------- KuaiRand (real rows)
def test_kuairand_real_rows(tmp_path):
    frame, report, out = _prepare("kuairand", tmp_path)
    sample = pd.read_csv(os.path.join(FIXTURES, "kuairand", "kuairand_sample.csv"))
    assert report.rows_in == 200
    assert len(frame) == int((sample["duration_ms"] > 0).sum()) == 182
    assert report.dropped == {"duration_ms missing or <= 0 (video duration unknown)": 18}
    # Every output row equals its log row: watch_time_s = play_time_ms / 1000.
    logs = pd.concat([pd.read_csv(os.path.join(FIXTURES, "kuairand", name)) for name in
                      ("log_standard_4_08_to_4_21_1k.csv",
                       "log_random_4_22_to_5_08_1k.csv")])
    joined = frame.merge(logs, on="time_ms", suffixes=("", "_log"))
    assert len(joined) == 182
    np.testing.assert_allclose(joined["watch_time_s"], joined["play_time_ms"] / 1000.0)
    np.testing.assert_allclose(joined["duration_s"], joined["duration_ms"] / 1000.0)
    assert (joined["user_id"] == joined["user_id_log"]).all()
    first = frame.iloc[0]  # sample row 0: user 0, video 5543, 863 ms of 30066 ms
    assert (first["user_id"], first["video_id"]) == (0, 5543)
    assert first["watch_time_s"] == pytest.approx(0.863)
    assert first["duration_s"] == pytest.approx(30.066)
    assert first["user_active_degree"] == "full_active" and first["register_days"] == 799
    assert first["upload_type"] == "LongImport"
    assert frame["time_ms"].is_monotonic_increasing
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["dataset"] == "kuairand-1k" and meta["rows_out"] == 182
    assert "CC BY-SA 4.0" in (out / "README.md").read_text()


def test_kuairand_missing_column_names_file_and_column(tmp_path):
    folder = _copy_fixture("kuairand", tmp_path)
    log = folder / "log_random_4_22_to_5_08_1k.csv"
    pd.read_csv(log).drop(columns=["play_time_ms"]).to_csv(log, index=False)
    with pytest.raises(DatasetFormatError) as error:
        prepare_dataset("kuairand", str(folder), str(tmp_path / "out"))
    message = str(error.value)
    assert "log_random_4_22_to_5_08_1k.csv" in message and "play_time_ms" in message
    assert "user_id,video_id,date,hourmin,time_ms" in message  # the expected header


def test_kuairand_without_user_features_is_a_clear_error(tmp_path):
    folder = _copy_fixture("kuairand", tmp_path)
    os.remove(folder / "user_features_1k.csv")
    with pytest.raises(DatasetFormatError, match=r"user_features_\{1k,pure,27k\}\.csv"):
        prepare_dataset("kuairand", str(folder), str(tmp_path / "out"))


# ---------------------------------------------------------------- KuaiRec
def test_kuairec_big_matrix_by_default(tmp_path):
    frame, report, _ = _prepare("kuairec", tmp_path)
    assert report.input_files[0] == "big_matrix.csv" and report.rows_in == 6
    assert report.dropped == {"user_id not in user_features.csv": 1}  # user 99
    assert len(frame) == 5 and 99 not in set(frame["user_id"])
    row = frame[(frame["user_id"] == 14) & (frame["video_id"] == 148)].iloc[0]
    assert row["watch_time_s"] == pytest.approx(2.005)
    assert row["duration_s"] == pytest.approx(6.067)
    assert row["time_ms"] == 1593770475002 and row["tag"] == 28
    assert row["video_type"] == "NORMAL" and row["user_active_degree"] == "full_active"


def test_kuairec_small_and_both_matrices(tmp_path):
    small, report, _ = _prepare("kuairec", tmp_path, matrix="small")
    assert len(small) == 8 and report.dropped == {}
    last = small.iloc[-1]  # the row without timestamp goes last with time_ms -1
    assert (last["user_id"], last["video_id"], last["time_ms"]) == (19, 5262, -1)
    replay = small[(small["user_id"] == 21) & (small["video_id"] == 183)].iloc[0]
    assert replay["watch_time_s"] == pytest.approx(37.861)  # beyond the 6.1 s video
    assert small.loc[small["video_id"] == 183, "video_type"].eq("AD").all()
    assert small.loc[small["video_id"] == 183, "tag"].eq(-1).all()
    assert small.loc[small["user_id"] == 19, "onehot_feat11"].eq(-1).all()
    both, _, _ = _prepare("kuairec", tmp_path / "both", matrix="both")
    assert len(both) == 13 and set(both["matrix"]) == {"small", "big"}


def test_negative_and_missing_watch_times_are_dropped_and_counted(tmp_path):
    folder = tmp_path / "kuairec"
    (folder / "data").mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURES, "kuairec", "data", "small_matrix.csv"),
                folder / "data")
    matrix = pd.read_csv(folder / "data" / "small_matrix.csv")
    matrix.loc[0, "play_duration"] = -5
    matrix.loc[1, "play_duration"] = np.nan
    matrix.to_csv(folder / "data" / "small_matrix.csv", index=False)
    frame, report, _ = _prepare("kuairec", tmp_path, input_dir=str(folder))
    assert report.dropped == {"play_duration missing or negative": 2}
    assert len(frame) == 6 and (frame["watch_time_s"] >= 0).all()
    assert "user_active_degree" not in frame.columns  # no user_features.csv given


# ---------------------------------------------------------------- CIKM16
EXPECTED_QUERIES = [  # (session, user, dwell s, token_ids, item_ids, category); hand-computed
    ("3", "anon", 5.999, " ".join(str(i) for i in range(1, 11)), "901", "none"),
    ("1", "anon", 1.234, "16655 244087", " ".join(str(4874 + i) for i in range(10)), "none"),
    ("2", "18278", 0.0, "none", "5826 5827", "1035"),   # empty lists are written 'none'
    ("5", "54", 2.5, "77", "none", "none"),
]


def test_cikm16_queries_dwell_on_the_result_page(tmp_path):
    frame, report, out = _prepare("cikm16", tmp_path)   # default source: train-queries.csv
    assert not frame.isna().any().any()   # one value per row and column (tf.Example)
    frame = frame.astype(
        {"session_id": str, "user_id": str, "token_ids": str, "item_ids": str,
         "category_id": str, "video_id": str})
    assert report.rows_in == 7 and report.rows_in_unit == "queries"
    assert report.dropped == {"queries with missing/negative duration or no queryId": 1,
                              "queries with duration >= 6000 ms (TPM cap)": 2}
    assert len(frame) == len(EXPECTED_QUERIES)
    for (_, row), expected in zip(frame.iterrows(), EXPECTED_QUERIES):
        session, user, dwell, tokens, items, category = expected
        assert (row["session_id"], row["user_id"]) == (session, user)
        assert row["watch_time_s"] == pytest.approx(dwell)
        assert (row["token_ids"], row["item_ids"], row["category_id"]) == (tokens, items, category)
        assert row["video_id"] == items.split()[0]
        assert (row["num_tokens"], row["num_items"]) == (
            len(tokens.replace("none", "").split()), len(items.replace("none", "").split()))
    assert list(frame["date"]) == [20160508, 20160509, 20160510, 20160511]
    assert ((frame["watch_time_s"] >= 0) & (frame["watch_time_s"] < 6)).all()
    assert (frame["duration_s"] == 6.0).all()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["input_files"] == ["train-queries.csv"] and "DIGINETICA" in meta["source"]
    assert "CIKM Cup 2016" in (out / "README.md").read_text()
    assert "Licence:" in (out / "README.md").read_text()


EXPECTED_SESSIONS = {  # session -> (dwell s, user, item_ids); hand-computed
    "2": (4.563, "anon", "32118 12352 35077"),
    "3": (0.0, "18278", "5826"),
    "4": (4.4, "54", " ".join(str(40001 + i) for i in range(10))),
    "6": (5.999, "anon", "901 902"),
}


def _check_sessions(frame):
    frame = frame.astype({"session_id": str, "user_id": str, "item_ids": str})
    assert list(frame["session_id"]) == list(EXPECTED_SESSIONS)
    for _, row in frame.iterrows():
        dwell, user, items = EXPECTED_SESSIONS[row["session_id"]]
        assert row["watch_time_s"] == pytest.approx(dwell)
        assert (row["user_id"], row["item_ids"]) == (user, items)
        assert row["video_id"] == int(items.split()[0])
    assert (frame["duration_s"] == 6.0).all()


def test_cikm16_item_view_session_dwell(tmp_path):
    frame, report, _ = _prepare("cikm16", tmp_path, source="item-views")
    _check_sessions(frame)
    assert report.rows_in == 23 and report.rows_in_unit == "item views"
    assert report.dropped == {
        "item views with missing sessionId/itemId or bad timeframe": 1,
        "sessions with dwell >= 6000 ms (TPM cap)": 2}
    assert list(frame["num_views"]) == [3, 1, 12, 2]
    assert not any(note.startswith("WARNING") for note in report.notes)   # 1 of 4 is 0


@pytest.mark.parametrize("header", ["none", "snake_case"])
def test_cikm16_item_views_other_headers_and_a_larger_cap(tmp_path, header):
    folder = tmp_path / "cikm"
    folder.mkdir()
    lines = open(os.path.join(FIXTURES, "cikm16", "train-item-views.csv")).readlines()
    first = [] if header == "none" else ["session_id;user_id;item_id;timeframe;eventdate\n"]
    (folder / "train-item-views.csv").write_text("".join(first + lines[1:]))
    frame, _, _ = _prepare("cikm16", tmp_path, input_dir=str(folder), source="item-views")
    _check_sessions(frame)
    wide, _, _ = _prepare("cikm16", tmp_path / "wide", input_dir=str(folder),
                          source="item-views", max_dwell_ms=600_000)
    first = wide.iloc[0]
    assert str(first["session_id"]) == "1"
    assert first["watch_time_s"] == pytest.approx((1031018 - 526309) / 1000)


def test_cikm16_item_views_warn_when_most_labels_are_zero(tmp_path, capsys):
    # What real item views give: one-view sessions (dwell 0) survive the 6000 ms cap,
    # multi-view sessions last minutes and are dropped.
    folder = tmp_path / "views"
    folder.mkdir()
    rows = ["sessionId;userId;itemId;timeframe;eventdate"]
    rows += [f"{s};NA;{100 + s};{1000 * s};2016-05-09" for s in range(1, 10)]   # 9 x 1 view
    rows += ["10;NA;7;0;2016-05-09", "10;NA;8;300000;2016-05-09",             # 300 s: dropped
             "11;NA;7;0;2016-05-09", "11;NA;9;2500;2016-05-09"]                # 2.5 s: kept
    (folder / "train-item-views.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="9 of 10 kept rows"):
        _, report, _ = _prepare("cikm16", tmp_path, input_dir=str(folder), source="item-views")
    assert report.notes[0].startswith("WARNING: 9 of 10 kept rows (90%) have watch time 0")
    assert "train-queries.csv" in report.notes[0]
    with pytest.warns(UserWarning):
        assert cli.main(["prepare", "cikm16", "--source", "item-views", "--input", str(folder),
                         "--output", str(tmp_path / "cli")]) == 0
    assert "WARNING: 9 of 10" in capsys.readouterr().out


def test_cikm16_bad_source_and_option_combinations(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown source"):
        _prepare("cikm16", tmp_path, source="sessions")
    with pytest.raises(ValueError, match="item-views only"):
        _prepare("cikm16", tmp_path, min_views=2)
    folder = tmp_path / "no_queries"
    folder.mkdir()
    with pytest.raises(DatasetFormatError, match="train-queries.csv"):
        _prepare("cikm16", tmp_path, input_dir=str(folder))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "train-queries.csv").write_text("queryId;sessionId;userId;timeframe\n1;1;NA;0\n")
    with pytest.raises(DatasetFormatError, match="duration"):
        _prepare("cikm16", tmp_path, input_dir=str(broken))


# ---------------------------------------------------------------- WeChat
def test_wechat_dadf_filter(tmp_path):
    frame, report, _ = _prepare("wechat", tmp_path)
    assert report.rows_in == 10 and len(frame) == 6
    assert report.dropped == {"feedid not in feed_info.csv": 1,
                              "videoplayseconds missing or <= 0": 1,
                              "play >= 10 x duration (DADF filter)": 2}
    row = frame[(frame["user_id"] == 37) & (frame["video_id"] == 50282)].iloc[0]
    assert row["watch_time_s"] == pytest.approx(89.999) and row["duration_s"] == 9.0
    assert (frame["watch_time_s"] < 10 * frame["duration_s"]).all()
    assert frame.loc[frame["video_id"] == 73916, "bgm_song_id"].eq(-1).all()
    assert not {"like", "stay", "forward"} & set(frame.columns)  # label leaks


def test_wechat_missing_column(tmp_path):
    folder = _copy_fixture("wechat", tmp_path)
    feeds = pd.read_csv(folder / "feed_info.csv").drop(columns=["videoplayseconds"])
    feeds.to_csv(folder / "feed_info.csv", index=False)
    with pytest.raises(DatasetFormatError) as error:
        prepare_dataset("wechat", str(folder), str(tmp_path / "out"))
    assert "feed_info.csv" in str(error.value)
    assert "videoplayseconds" in str(error.value)
    assert "feedid,authorid,videoplayseconds,description" in str(error.value)


# ---------------------------------------------------------------- CLI
def test_cli_prepare_end_to_end(tmp_path, capsys):
    out = tmp_path / "wechat_out"
    status = cli.main(["prepare", "wechat", "--input", os.path.join(FIXTURES, "wechat"),
                       "--output", str(out)])
    assert status == 0
    assert sorted(os.listdir(out)) == ["README.md", "interactions.csv", "metadata.json"]
    meta = json.loads((out / "metadata.json").read_text())
    assert (meta["dataset"], meta["rows_in"], meta["rows_out"]) == ("wechat", 10, 6)
    printed = capsys.readouterr().out
    assert "10 rows read -> 6 rows written" in printed and "dropped 2" in printed
    assert cli.main(["prepare", "cikm16", "--input", os.path.join(FIXTURES, "cikm16"),
                     "--output", str(tmp_path / "c"), "--max-dwell-ms", "6000"]) == 0
    assert "7 queries read -> 4 rows written" in capsys.readouterr().out


def test_cli_errors_are_reported(tmp_path, capsys):
    assert cli.main(["prepare", "wechat", "--input", str(tmp_path),
                     "--output", str(tmp_path / "o")]) == 2
    assert "user_action.csv" in capsys.readouterr().err
    assert cli.main(["prepare", "wechat", "--input", str(tmp_path), "--output",
                     str(tmp_path / "o"), "--variant", "1k"]) == 2
    assert "--variant applies to kuairand" in capsys.readouterr().err


def test_cli_simulate(tmp_path, capsys):
    assert cli.main(["simulate", "--output", str(tmp_path / "sim"), "--rows", "2000",
                     "--users", "100", "--videos", "80", "--seed", "1"]) == 0
    written = pd.read_csv(tmp_path / "sim" / "interactions.csv")
    assert len(written) == 2000 and written["user_id"].nunique() <= 100
    assert "CC BY-SA 4.0" in capsys.readouterr().out
