"""The real KuaiRand-Pure tables bundled with wt_keras, and their column conventions.

The tables in ``assets/`` are a column subset of KuaiRand (Gao et al., CIKM 2022,
https://kuairand.com/, CC BY-SA 4.0); see ``assets/NOTICE.md`` for the attribution.
The same column conventions are used by the simulator and by the KuaiRand/KuaiRec
converters, so every data source reaches the pipeline with the same feature names.
"""
import functools
import os

import numpy as np
import pandas as pd

ASSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
VIDEO_TABLE_FILE = "kuairand_pure_video_features.csv.gz"
USER_TABLE_FILE = "kuairand_pure_user_features.csv.gz"
LICENSE_FILE = "LICENSE_CC-BY-SA-4.0.txt"

ATTRIBUTION = (
    "KuaiRand: Gao et al., 'KuaiRand: An Unbiased Sequential Recommendation Dataset "
    "with Randomly Exposed Videos', CIKM 2022, https://kuairand.com/ — licensed "
    "CC BY-SA 4.0; adapted (column subset) and redistributed under the same licence."
)

# User features shared by KuaiRand and KuaiRec (same names as their user tables).
# user_active_degree stays a string category, as in the real tables.
USER_NUMERIC_COLUMNS = (
    "is_lowactive_period", "is_live_streamer", "is_video_author",
    "follow_user_num", "fans_user_num", "friend_user_num", "register_days",
)
# The onehot_feat columns without missing values in KuaiRand-Pure (small categories).
USER_ONEHOT_COLUMNS = tuple(f"onehot_feat{i}" for i in (0, 1, 2, 6, 9, 10, 11))
USER_FEATURE_COLUMNS = (("user_active_degree",) + USER_NUMERIC_COLUMNS
                        + USER_ONEHOT_COLUMNS)
# Video features: two string categories and two integer ids (-1 = missing).
VIDEO_FEATURE_COLUMNS = ("video_type", "upload_type", "music_type", "tag")

# Every column of the KuaiRand user tables (user_features_{1k,27k,pure}.csv and
# KuaiRec's user_features.csv), in file order; used in format error messages.
USER_TABLE_HEADER = (
    "user_id", "user_active_degree", "is_lowactive_period", "is_live_streamer",
    "is_video_author", "follow_user_num", "follow_user_num_range", "fans_user_num",
    "fans_user_num_range", "friend_user_num", "friend_user_num_range",
    "register_days", "register_days_range") + tuple(
        f"onehot_feat{i}" for i in range(18))


def normalise_user_features(users):
    """Selects ``user_id`` plus USER_FEATURE_COLUMNS with clean dtypes.

    Args:
      users: DataFrame in the KuaiRand user-table format.

    Returns:
      A new DataFrame; missing numeric values become -1 (a "missing" category the
      pipeline can embed) and ``user_active_degree`` missing values become "UNKNOWN".
    """
    out = pd.DataFrame({"user_id": users["user_id"].astype(np.int64)})
    out["user_active_degree"] = (users["user_active_degree"].fillna("UNKNOWN")
                                 .astype(str))
    for column in USER_NUMERIC_COLUMNS + USER_ONEHOT_COLUMNS:
        out[column] = users[column].fillna(-1).astype(np.int64)
    return out


def first_tag(tags):
    """Maps KuaiRand ``tag`` strings such as ``"39,68"`` to the first id (int, -1 = missing)."""
    text = tags.astype("string").str.split(",").str[0].str.strip()
    return pd.to_numeric(text, errors="coerce").fillna(-1).astype(np.int64)


def normalise_video_features(videos):
    """Selects ``video_id`` plus VIDEO_FEATURE_COLUMNS from a KuaiRand video table.

    Args:
      videos: DataFrame in the ``video_features_basic_*.csv`` format.

    Returns:
      A new DataFrame: ``video_type``/``upload_type`` strings ("UNKNOWN" when
      missing), ``music_type`` int (-1 when missing), ``tag`` = first tag id (int).
    """
    out = pd.DataFrame({"video_id": videos["video_id"].astype(np.int64)})
    for column in ("video_type", "upload_type"):
        out[column] = videos[column].fillna("UNKNOWN").astype(str)
    out["music_type"] = videos["music_type"].fillna(-1).astype(np.int64)
    out["tag"] = first_tag(videos["tag"])
    return out


@functools.lru_cache(maxsize=1)
def _read_asset(file_name):
    return pd.read_csv(os.path.join(ASSETS_DIR, file_name))


def load_video_table(with_duration_only=True):
    """Loads the bundled KuaiRand-Pure video table.

    Args:
      with_duration_only: drop the 239 videos whose ``video_duration`` is missing.

    Returns:
      DataFrame with ``video_id``, ``duration_ms`` (int, the real ``video_duration``
      in milliseconds) and VIDEO_FEATURE_COLUMNS, sorted by ``video_id``.
    """
    raw = _read_asset(VIDEO_TABLE_FILE)
    if with_duration_only:
        raw = raw[raw["video_duration"] > 0]
    table = normalise_video_features(raw)
    table.insert(1, "duration_ms", raw["video_duration"].fillna(-1)
                 .astype(np.int64).to_numpy())
    return table.sort_values("video_id").reset_index(drop=True)


def load_user_table():
    """Loads the bundled KuaiRand-Pure user table (27,285 real users).

    Returns:
      DataFrame with ``user_id`` and USER_FEATURE_COLUMNS (see
      :func:`normalise_user_features`), sorted by ``user_id``.
    """
    table = normalise_user_features(_read_asset(USER_TABLE_FILE))
    return table.sort_values("user_id").reset_index(drop=True)
