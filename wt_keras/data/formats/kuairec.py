"""KuaiRec (Gao et al., CIKM 2022, https://kuairec.com/) -> the pipeline's CSV.

Real layout: ``data/small_matrix.csv`` (fully observed 1,411 x 3,327 block) and
``data/big_matrix.csv``, header ``user_id,video_id,play_duration,video_duration,time,
date,timestamp,watch_ratio`` (durations in ms, ``timestamp`` in seconds, empty for a
few rows); optional ``data/user_features.csv`` (KuaiRand user-table format) and
``data/item_daily_features.csv`` (one row per video and day). watch_time_s =
play_duration/1000, duration_s = video_duration/1000. ``watch_ratio`` is the label
divided by the duration, so it is not exported.
"""
import os

import numpy as np
import pandas as pd

from wt_keras.data import kuairand as tables
from wt_keras.data.formats import common

SOURCE = ("KuaiRec — Gao et al., 'KuaiRec: A Fully-observed Dataset and Insights for "
          "Evaluating Recommender Systems', CIKM 2022, https://kuairec.com/")
LICENCE = ("CC BY-SA 4.0: keep the attribution and share derived data under the same "
           "licence.")
MATRIX_HEADER = ("user_id", "video_id", "play_duration", "video_duration", "time", "date",
                 "timestamp", "watch_ratio")
MATRIX_COLUMNS = ("user_id", "video_id", "play_duration", "video_duration", "timestamp")
ITEM_DAILY_COLUMNS = ("video_id", "date", "video_type", "upload_type", "video_tag_id")
ITEM_DAILY_HEADER_START = ("video_id", "date", "author_id", "video_type", "upload_dt",
                           "upload_type", "visible_status", "video_duration",
                           "video_width", "video_height", "music_id", "video_tag_id",
                           "video_tag_name", "...daily statistics")
MATRICES = {"small": ("small_matrix.csv",), "big": ("big_matrix.csv",),
            "both": ("small_matrix.csv", "big_matrix.csv")}


def _matrix_files(input_dir, matrix):
    if matrix == "auto":  # the big matrix is the usual training data when present
        big = common.find_file(input_dir, ["big_matrix.csv"], "kuairec", required=False)
        return [big] if big else [common.find_file(input_dir, ["small_matrix.csv"],
                                                   "kuairec")]
    if matrix not in MATRICES:
        raise ValueError(f"kuairec: unknown matrix {matrix!r}; use auto, small, big or both.")
    return [common.find_file(input_dir, [name], "kuairec") for name in MATRICES[matrix]]


def _video_features(path):
    daily = common.read_csv_checked(path, ITEM_DAILY_COLUMNS, ITEM_DAILY_HEADER_START)
    # Static attributes only, from each video's first day (the daily counts would leak).
    first = daily.sort_values(["video_id", "date"], kind="mergesort").drop_duplicates(
        "video_id")
    return pd.DataFrame({
        "video_id": first["video_id"].astype(np.int64),
        "video_type": first["video_type"].fillna("UNKNOWN").astype(str),
        "upload_type": first["upload_type"].fillna("UNKNOWN").astype(str),
        "tag": first["video_tag_id"].fillna(-1).astype(np.int64),
    })


def convert(input_dir, matrix="auto"):
    """Reads KuaiRec; see the module docstring.

    Args:
      input_dir: the KuaiRec folder (the one holding ``data/``) or ``data/`` itself.
      matrix: "auto" (big_matrix.csv if present, else small_matrix.csv), "small",
        "big" or "both" (adds a ``matrix`` column).

    Returns:
      (DataFrame, ConversionReport), rows in timestamp order (unknown times last,
      ``time_ms`` = -1).
    """
    paths = _matrix_files(input_dir, matrix)
    report = common.ConversionReport(dataset="kuairec", source=SOURCE, licence=LICENCE,
                                     options={"matrix": matrix})
    parts = []
    for path in paths:
        part = common.read_csv_checked(path, MATRIX_COLUMNS, MATRIX_HEADER)
        part["matrix"] = os.path.basename(path).split("_")[0]
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    report.input_files = [os.path.basename(p) for p in paths]
    report.rows_in = len(rows)
    rows = report.drop(rows, rows["play_duration"].isna() | (rows["play_duration"] < 0),
                       "play_duration missing or negative")
    rows = report.drop(rows, rows["video_duration"].isna() | (rows["video_duration"] <= 0),
                       "video_duration missing or <= 0")
    rows = rows.sort_values("timestamp", kind="mergesort", na_position="last")
    unknown_time = rows["timestamp"].isna()
    if unknown_time.any():
        report.notes.append(f"{int(unknown_time.sum())} rows have no timestamp: time_ms "
                            "= -1 and they are placed last.")
    frame = pd.DataFrame({
        "time_ms": np.round(rows["timestamp"].fillna(-0.001) * 1000).astype(np.int64),
        "user_id": rows["user_id"].astype(np.int64),
        "video_id": rows["video_id"].astype(np.int64),
        "watch_time_s": rows["play_duration"] / 1000.0,
        "duration_s": rows["video_duration"] / 1000.0,
    })
    if matrix == "both":
        frame["matrix"] = rows["matrix"].to_numpy()
    features = ["duration_s"]
    users_path = common.find_file(input_dir, ["user_features.csv"], "kuairec",
                                  required=False)
    if users_path:
        report.input_files.append(os.path.basename(users_path))
        users = tables.normalise_user_features(common.read_csv_checked(
            users_path, ("user_id",) + tables.USER_FEATURE_COLUMNS,
            tables.USER_TABLE_HEADER))
        frame = report.drop(frame, ~frame["user_id"].isin(users["user_id"]),
                            "user_id not in user_features.csv")
        frame = frame.merge(users, on="user_id", how="left")
        features += list(tables.USER_FEATURE_COLUMNS)
    items_path = common.find_file(input_dir, ["item_daily_features.csv"], "kuairec",
                                  required=False)
    if items_path:
        report.input_files.append(os.path.basename(items_path))
        frame = frame.merge(_video_features(items_path), on="video_id", how="left")
        frame = frame.fillna({"video_type": "UNKNOWN", "upload_type": "UNKNOWN", "tag": -1})
        frame = frame.astype({"tag": np.int64})
        features += ["video_type", "upload_type", "tag"]
    frame = common.drop_bad_labels(frame, report).reset_index(drop=True)
    report.columns = {"ids": ["user_id", "video_id"], "features": features,
                      "label_side (never use as features)": ["watch_time_s"],
                      "context": ["time_ms"] + (["matrix"] if matrix == "both" else [])}
    return frame, report
