"""WeChat Channels (WeChat Big Data Challenge 2021) -> the pipeline's CSV.

Real files (``wechat_algo_data1/``): ``user_action.csv`` with header
``userid,feedid,date_,device,read_comment,comment,like,play,stay,click_avatar,forward,
follow,favorite`` (``play``/``stay`` in ms) and ``feed_info.csv`` with header
``feedid,authorid,videoplayseconds,description,ocr,asr,bgm_song_id,bgm_singer_id,
manual_keyword_list,machine_keyword_list,manual_tag_list,machine_tag_list,
description_char,ocr_char,asr_char``.

watch_time_s = play/1000, duration_s = videoplayseconds. Rows with play ≥ 10 × the
duration are dropped, as the DADF re-implementation does (its wechat21_process.py):
they are mostly background plays. The post-watch actions (like, forward, stay, ...)
are outcomes of the same impression and would leak the label, so they are not exported.
"""
import numpy as np
import pandas as pd

from wt_keras.data.formats import common

SOURCE = ("WeChat Big Data Challenge 2021 (WeChat Channels), "
          "https://algo.weixin.qq.com/ — files user_action.csv and feed_info.csv")
LICENCE = ("Released by WeChat/Tencent for the 2021 challenge; use and share it only as "
           "the organisers' terms allow.")
ACTION_HEADER = ("userid", "feedid", "date_", "device", "read_comment", "comment", "like",
                 "play", "stay", "click_avatar", "forward", "follow", "favorite")
ACTION_COLUMNS = ("userid", "feedid", "date_", "device", "play")
FEED_HEADER = ("feedid", "authorid", "videoplayseconds", "description", "ocr", "asr",
               "bgm_song_id", "bgm_singer_id", "manual_keyword_list",
               "machine_keyword_list", "manual_tag_list", "machine_tag_list",
               "description_char", "ocr_char", "asr_char")
FEED_COLUMNS = ("feedid", "authorid", "videoplayseconds", "bgm_song_id", "bgm_singer_id")


def convert(input_dir, max_play_ratio=10.0):
    """Reads the WeChat Channels files; see the module docstring.

    Args:
      input_dir: folder holding ``user_action.csv`` and ``feed_info.csv``.
      max_play_ratio: rows with play >= max_play_ratio x duration are dropped (DADF: 10).

    Returns:
      (DataFrame, ConversionReport), rows in ``date_`` order (file order within a day).
    """
    actions_path = common.find_file(input_dir, ["user_action.csv"], "wechat")
    feeds_path = common.find_file(input_dir, ["feed_info.csv"], "wechat")
    actions = common.read_csv_checked(actions_path, ACTION_COLUMNS, ACTION_HEADER)
    feeds = common.read_csv_checked(feeds_path, FEED_COLUMNS, FEED_HEADER)
    report = common.ConversionReport(
        dataset="wechat", source=SOURCE, licence=LICENCE,
        input_files=["user_action.csv", "feed_info.csv"], rows_in=len(actions),
        options={"max_play_ratio": max_play_ratio})

    actions = report.drop(actions, actions["play"].isna() | (actions["play"] < 0),
                          "play missing or negative")
    actions = report.drop(actions, ~actions["feedid"].isin(feeds["feedid"]),
                          "feedid not in feed_info.csv")
    rows = actions.merge(feeds.drop_duplicates("feedid"), on="feedid", how="left")
    duration = rows["videoplayseconds"]
    rows = report.drop(rows, duration.isna() | (duration <= 0),
                       "videoplayseconds missing or <= 0")
    too_long = rows["play"] >= max_play_ratio * rows["videoplayseconds"] * 1000.0
    rows = report.drop(rows, too_long,
                       f"play >= {max_play_ratio:g} x duration (DADF filter)")
    frame = pd.DataFrame({
        "user_id": rows["userid"].astype(np.int64),
        "video_id": rows["feedid"].astype(np.int64),
        "watch_time_s": rows["play"] / 1000.0,
        "duration_s": rows["videoplayseconds"].astype(np.float64),
        "date_": rows["date_"].astype(np.int64),
        "device": rows["device"].fillna(-1).astype(np.int64),
        "authorid": rows["authorid"].fillna(-1).astype(np.int64),
        "bgm_song_id": rows["bgm_song_id"].fillna(-1).astype(np.int64),
        "bgm_singer_id": rows["bgm_singer_id"].fillna(-1).astype(np.int64),
    })
    frame = common.drop_bad_labels(frame, report)
    frame = frame.sort_values("date_", kind="mergesort").reset_index(drop=True)
    report.columns = {"ids": ["user_id", "video_id"],
                      "features": ["duration_s", "device", "authorid", "bgm_song_id",
                                   "bgm_singer_id"],
                      "label_side (never use as features)": ["watch_time_s"],
                      "context": ["date_"]}
    report.notes.append("bgm_song_id/bgm_singer_id/device missing -> -1.")
    return frame, report
