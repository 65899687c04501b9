"""CIKM Cup 2016 track 2 (DIGINETICA) item views -> one row per session.

Real file: ``train-item-views.csv``, ``;``-separated, header
``sessionId;userId;itemId;timeframe;eventdate`` (``timeframe`` = milliseconds since
the session's first query; ``userId`` is ``NA`` for anonymous sessions). Some copies
circulate without the header line; it is then assumed.

Label (following TPM, Lin et al. KDD 2023; see the project's research notes §4.3):
session dwell = max(timeframe) - min(timeframe) in ms; sessions with dwell >= 6000 are
dropped (TPM keeps ``duration < 6000``) and watch_time_s = dwell/1000, so labels lie in
[0, 6) s. Caveat: TPM's public code reads a pre-joined ``full_matrix.csv`` whose
``duration`` column is not in the public files (it looks like the ``duration`` of
``train-queries.csv``); we derive the dwell from the item views as the project specifies,
with TPM's cap and scaling in the same milliseconds unit. A one-view session has dwell
0. ``--max-dwell-ms``/``--min-views`` change the cap and the minimum session length.

There is no video duration: duration_s is the constant cap (6.0 s), so duration-grouped
heads (D2Q) degenerate to a single group. Features: ``item_ids`` (first ≤ 10 items of
the session in time order, space-separated), ``video_id`` = the first item,
``num_views``, ``date`` (YYYYMMDD); ``user_id`` = userId or "anon".
"""

import numpy as np
import pandas as pd

from wt_keras.data.formats import common

SOURCE = ("CIKM Cup 2016 Track 2: Personalized E-Commerce Search Challenge (DIGINETICA), "
          "https://competitions.codalab.org/competitions/11161")
LICENCE = ("Released by DIGINETICA for the CIKM Cup 2016; use and share it only as the "
           "organisers' terms allow.")
HEADER = ("sessionId", "userId", "itemId", "timeframe", "eventdate")
FILE_NAME = "train-item-views.csv"


def _read_views(path):
    common.check_complete_last_line(path)
    with open(path, encoding="utf-8") as handle:
        first_line = handle.readline()
    has_header = not first_line.split(";")[0].strip().isdigit()
    options = dict(sep=";", dtype={"userId": str, "itemId": str, "sessionId": str})
    if has_header:
        return common.read_csv_checked(path, HEADER, HEADER, **options)
    if first_line.count(";") != len(HEADER) - 1:
        raise common.DatasetFormatError(
            f"{path}: expected 5 ';'-separated fields per line ({';'.join(HEADER)}), "
            f"found {first_line.count(';') + 1} in the first line.")
    return pd.read_csv(path, header=None, names=list(HEADER), **options)


def convert(input_dir, max_dwell_ms=6000, min_views=1, max_items=10):
    """Reads DIGINETICA item views into sessions; see the module docstring.

    Args:
      input_dir: folder holding ``train-item-views.csv``.
      max_dwell_ms: sessions with dwell >= this are dropped (TPM: 6000).
      min_views: sessions with fewer item views are dropped.
      max_items: how many leading item ids go into ``item_ids``.

    Returns:
      (DataFrame, ConversionReport), one row per session, ordered by date and sessionId.
    """
    path = common.find_file(input_dir, [FILE_NAME], "cikm16")
    views = _read_views(path)
    report = common.ConversionReport(
        dataset="cikm16", source=SOURCE, licence=LICENCE, input_files=[FILE_NAME],
        rows_in=len(views), rows_in_unit="item views",
        options={"max_dwell_ms": max_dwell_ms, "min_views": min_views,
                 "max_items": max_items})
    timeframe = pd.to_numeric(views["timeframe"], errors="coerce")
    views = report.drop(views.assign(timeframe=timeframe),
                        views["sessionId"].isna() | views["itemId"].isna()
                        | timeframe.isna() | (timeframe < 0),
                        "item views with missing sessionId/itemId or bad timeframe")
    views = views.sort_values(["sessionId", "timeframe"], kind="mergesort")
    by_session = views.groupby("sessionId", sort=False)
    sessions = by_session.agg(first_ms=("timeframe", "min"), last_ms=("timeframe", "max"),
                              num_views=("itemId", "size"), video_id=("itemId", "first"),
                              user_id=("userId", "first"), eventdate=("eventdate", "min"))
    leading = views[by_session.cumcount() < max_items]
    sessions["item_ids"] = leading.groupby("sessionId", sort=False)["itemId"].agg(" ".join)
    report.notes.append(f"{len(views):,} item views form {len(sessions):,} sessions; the "
                        "counts below the view line are sessions.")
    dwell_ms = sessions["last_ms"] - sessions["first_ms"]
    sessions = report.drop(sessions.assign(dwell_ms=dwell_ms), dwell_ms >= max_dwell_ms,
                           f"sessions with dwell >= {max_dwell_ms:g} ms (TPM cap)")
    sessions = report.drop(sessions, sessions["num_views"] < min_views,
                           f"sessions with fewer than {min_views} item views")
    date = pd.to_datetime(sessions["eventdate"], errors="coerce")
    frame = pd.DataFrame({
        "user_id": sessions["user_id"].fillna("anon").astype(str),
        "video_id": sessions["video_id"].astype(str),
        "watch_time_s": sessions["dwell_ms"].astype(np.float64) / 1000.0,
        "duration_s": np.full(len(sessions), max_dwell_ms / 1000.0),
        "num_views": sessions["num_views"].astype(np.int64),
        "item_ids": sessions["item_ids"],
        "date": date.dt.strftime("%Y%m%d").fillna("-1").astype(np.int64),
        "session_id": sessions.index.astype(str),
    })
    frame = common.drop_bad_labels(frame, report)
    numeric_session = pd.to_numeric(frame["session_id"], errors="coerce")
    frame = (frame.assign(_order=numeric_session)
             .sort_values(["date", "_order", "session_id"], kind="mergesort")
             .drop(columns="_order").reset_index(drop=True))
    report.columns = {"ids": ["user_id", "video_id", "session_id"],
                      "features": ["item_ids", "num_views", "duration_s (constant)"],
                      "label_side (never use as features)": ["watch_time_s"],
                      "context": ["date"]}
    report.notes.append(f"duration_s is the constant {max_dwell_ms / 1000.0:g} s (no item "
                        "duration exists): D2Q duration groups collapse to one group.")
    return frame, report
