"""KuaiRand (Gao et al., CIKM 2022, https://kuairand.com/) -> the pipeline's CSV.

Real layout of the three releases (``{v}`` is ``1k``, ``pure`` or ``27k``):
``log_standard_4_08_to_4_21_{v}.csv``, ``log_standard_4_22_to_5_08_{v}.csv``,
``log_random_4_22_to_5_08_{v}.csv`` (27K splits the standard logs into ``_part1``/
``_part2``), ``user_features_{v}.csv`` (required) and ``video_features_basic_{v}.csv``
(optional). Every log file found for the variant is used; ``is_rand`` tells the
randomly exposed rows apart. watch_time_s = play_time_ms/1000, duration_s =
duration_ms/1000.
"""
import glob
import os

import numpy as np
import pandas as pd

from wt_keras.data import kuairand as tables
from wt_keras.data.formats import common

SOURCE = ("KuaiRand — Gao et al., 'KuaiRand: An Unbiased Sequential Recommendation "
          "Dataset with Randomly Exposed Videos', CIKM 2022, https://kuairand.com/")
LICENCE = ("CC BY-SA 4.0: keep the attribution and share derived data under the same "
           "licence.")
VARIANTS = ("1k", "pure", "27k")
LOG_HEADER = ("user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like",
              "is_follow", "is_comment", "is_forward", "is_hate", "long_view",
              "play_time_ms", "duration_ms", "profile_stay_time", "comment_stay_time",
              "is_profile_enter", "is_rand", "tab")
LOG_COLUMNS = ("user_id", "video_id", "time_ms", "is_click", "play_time_ms",
               "duration_ms", "is_rand", "tab")
VIDEO_HEADER = ("video_id", "author_id", "video_type", "upload_dt", "upload_type",
                "visible_status", "video_duration", "server_width", "server_height",
                "music_id", "music_type", "tag")
VIDEO_COLUMNS = ("video_id", "video_type", "upload_type", "music_type", "tag")


def _pick_variant(input_dir, variant):
    if variant is not None:
        if variant not in VARIANTS:
            raise ValueError(f"kuairand: unknown variant {variant!r}; use one of {VARIANTS}.")
        return variant, common.find_file(input_dir, [f"user_features_{variant}.csv"],
                                         "kuairand")
    found = [(v, common.find_file(input_dir, [f"user_features_{v}.csv"], "kuairand",
                                  required=False)) for v in VARIANTS]
    found = [(v, path) for v, path in found if path]
    if not found:
        raise common.DatasetFormatError(
            f"kuairand: no user_features_{{1k,pure,27k}}.csv found in {input_dir} (also "
            "searched data/ and one sub-folder). The KuaiRand archives ship it next to "
            "the log_*.csv files; point --input at that folder.")
    if len(found) > 1:
        raise common.DatasetFormatError(
            f"kuairand: several releases found ({', '.join(v for v, _ in found)}); choose "
            "one with --variant.")
    return found[0]


def convert(input_dir, variant=None):
    """Reads a KuaiRand release; see the module docstring.

    Args:
      input_dir: folder holding the release's files (or its parent).
      variant: "1k", "pure" or "27k"; None detects the single release present.

    Returns:
      (DataFrame, ConversionReport), rows in ``time_ms`` order.
    """
    variant, users_path = _pick_variant(input_dir, variant)
    folder = os.path.dirname(users_path)
    log_paths = sorted(set(glob.glob(os.path.join(folder, f"log_*_{variant}.csv"))
                           + glob.glob(os.path.join(folder, f"log_*_{variant}_part*.csv"))))
    if not log_paths:
        raise common.DatasetFormatError(
            f"kuairand: no log_*_{variant}.csv files next to {users_path}; expected e.g. "
            f"log_standard_4_08_to_4_21_{variant}.csv with header {','.join(LOG_HEADER)}.")
    report = common.ConversionReport(dataset=f"kuairand-{variant}", source=SOURCE,
                                     licence=LICENCE, options={"variant": variant})
    logs = pd.concat([common.read_csv_checked(path, LOG_COLUMNS, LOG_HEADER)
                      for path in log_paths], ignore_index=True)
    report.input_files = [os.path.basename(p) for p in log_paths + [users_path]]
    report.rows_in = len(logs)

    logs = report.drop(logs, logs["play_time_ms"].isna() | (logs["play_time_ms"] < 0),
                       "play_time_ms missing or negative")
    logs = report.drop(logs, logs["duration_ms"].isna() | (logs["duration_ms"] <= 0),
                       "duration_ms missing or <= 0 (video duration unknown)")
    users = tables.normalise_user_features(common.read_csv_checked(
        users_path, ("user_id",) + tables.USER_FEATURE_COLUMNS, tables.USER_TABLE_HEADER))
    logs = report.drop(logs, ~logs["user_id"].isin(users["user_id"]),
                       f"user_id not in user_features_{variant}.csv")
    frame = pd.DataFrame({
        "time_ms": logs["time_ms"].astype(np.int64),
        "user_id": logs["user_id"].astype(np.int64),
        "video_id": logs["video_id"].astype(np.int64),
        "watch_time_s": logs["play_time_ms"] / 1000.0,
        "duration_s": logs["duration_ms"] / 1000.0,
        "is_click": logs["is_click"].fillna(0).astype(np.int64),
        "is_rand": logs["is_rand"].fillna(0).astype(np.int64),
        "tab": logs["tab"].fillna(-1).astype(np.int64),
    })
    frame = frame.merge(users, on="user_id", how="left")
    video_columns = []
    videos_path = common.find_file(folder, [f"video_features_basic_{variant}.csv"],
                                   "kuairand", required=False)
    if videos_path:
        report.input_files.append(os.path.basename(videos_path))
        videos = tables.normalise_video_features(
            common.read_csv_checked(videos_path, VIDEO_COLUMNS, VIDEO_HEADER))
        frame = frame.merge(videos, on="video_id", how="left")
        unknown = frame["video_type"].isna()
        if unknown.any():
            report.notes.append(f"{int(unknown.sum())} rows have a video missing from "
                                f"{os.path.basename(videos_path)}: video features set to "
                                "UNKNOWN/-1.")
        frame = frame.fillna({"video_type": "UNKNOWN", "upload_type": "UNKNOWN",
                              "music_type": -1, "tag": -1})
        frame = frame.astype({"music_type": np.int64, "tag": np.int64})
        video_columns = list(tables.VIDEO_FEATURE_COLUMNS)
    frame = common.drop_bad_labels(frame, report)
    frame = frame.sort_values("time_ms", kind="mergesort").reset_index(drop=True)
    report.columns = {
        "ids": ["user_id", "video_id"],
        "features": ["duration_s", "tab"] + list(tables.USER_FEATURE_COLUMNS) + video_columns,
        "label_side (never use as features)": ["watch_time_s", "is_click"],
        "context": ["time_ms", "is_rand"],
    }
    report.notes.append("is_click is KuaiRand's click flag (WLR's label/weight context), "
                        "not an input feature.")
    return frame, report
