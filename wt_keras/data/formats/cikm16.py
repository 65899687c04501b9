"""CIKM Cup 2016 track 2 (DIGINETICA): dwell time in search results, as TPM and SWaT use it.

Default source, ``train-queries.csv`` (``;``-separated), header
``queryId;sessionId;userId;timeframe;duration;eventdate;searchstring.tokens;categoryId;items;is.test``:
one row per search query (or category browse) with the time ``duration`` (ms) the
user spent on its result page. Following TPM (Lin et al., KDD 2023) and SWaT (which
reuses TPM's protocol), queries with duration >= 6000 ms are dropped and
watch_time_s = duration / 1000, so labels lie in [0, 6) s. Features: up to
``max_items`` (10) search tokens and up to 10 result items, kept as id lists
(``token_ids``, ``item_ids``: ids separated by single spaces, in the file's order; an
empty list is written as ``none`` so that every row holds one value, as tf.Example
parsing and the serving contract need; an empty token list is a category browse),
plus ``user_id`` (``anon`` when ``NA``),
``session_id`` and ``category_id`` (``none`` when absent). ``video_id`` is the first
result item (``none`` for an empty result list): the pipeline needs one item id per row.
The ranker's encoder reads an id-list column as a bag of ids (mean of the ids'
hashed embeddings, TPM's pooling) when it is listed in its ``id_list_features``; the
pipeline does that for every string column whose name ends in ``_ids``.

``--source item-views`` reads ``train-item-views.csv`` instead (see `_item_views`):
header ``sessionId;userId;itemId;timeframe;eventdate`` or the widely circulated
``session_id;user_id;item_id;timeframe;eventdate`` (or none); label = session dwell
max(timeframe) - min(timeframe) under the same cap. This is a different label: one-view
sessions have dwell 0 and survive the cap while real multi-view sessions last minutes,
so most kept labels are 0; the converter then warns loudly.

There is no video duration: duration_s is the constant cap (6.0 s), so duration-grouped
heads (D2Q) degenerate to a single group.
"""
import warnings

import numpy as np
import pandas as pd

from wt_keras.data.formats import common

SOURCE = ("CIKM Cup 2016 Track 2: Personalized E-Commerce Search Challenge (DIGINETICA), "
          "https://competitions.codalab.org/competitions/11161")
LICENCE = ("Released by DIGINETICA for the CIKM Cup 2016; use and share it only as the "
           "organisers' terms allow.")
SOURCES = ("queries", "item-views")
QUERIES_FILE = "train-queries.csv"
QUERIES_HEADER = ("queryId", "sessionId", "userId", "timeframe", "duration", "eventdate",
                  "searchstring.tokens", "categoryId", "items", "is.test")
QUERIES_USED = ("queryId", "sessionId", "userId", "duration", "eventdate",
                "searchstring.tokens", "categoryId", "items")
FILE_NAME = "train-item-views.csv"
HEADER = ("sessionId", "userId", "itemId", "timeframe", "eventdate")
SNAKE_HEADER = ("session_id", "user_id", "item_id", "timeframe", "eventdate")
# Share of zero labels above which the item-view dwell is flagged as degenerate.
ZERO_LABEL_WARNING_SHARE = 0.5


def convert(input_dir, source="queries", max_dwell_ms=6000, max_items=10, min_views=1):
    """Reads DIGINETICA into one row per query (default) or per session.

    Args:
      input_dir: folder holding ``train-queries.csv`` (or ``train-item-views.csv``).
      source: "queries" (dwell on the result page, TPM/SWaT's label) or
        "item-views" (session dwell from the item views).
      max_dwell_ms: rows with dwell >= this are dropped (TPM: 6000).
      max_items: ids kept per id list (search tokens, result items).
      min_views: item-views only: sessions with fewer item views are dropped.

    Returns:
      (DataFrame, ConversionReport).

    Raises:
      ValueError: unknown source or an option that does not apply to it.
      DatasetFormatError: missing file or column.
    """
    if source not in SOURCES:
        raise ValueError(f"cikm16: unknown source {source!r}; choose 'queries' "
                         "(train-queries.csv) or 'item-views' (train-item-views.csv).")
    if int(max_items) < 1:
        raise ValueError(f"cikm16: max_items must be >= 1, got {max_items}.")
    if source == "item-views":
        return _item_views(input_dir, max_dwell_ms, min_views, int(max_items))
    if min_views != 1:
        raise ValueError("cikm16: min_views applies to --source item-views only.")
    return _queries(input_dir, max_dwell_ms, int(max_items))


def _id_list(text, max_items):
    """'16655,244087' (or space-separated) -> '16655 244087', at most max_items ids."""
    if not isinstance(text, str):
        return ""
    return " ".join(text.replace(",", " ").split()[:max_items])


def _queries(input_dir, max_dwell_ms, max_items):
    path = common.find_file(input_dir, [QUERIES_FILE], "cikm16")
    queries = common.read_csv_checked(
        path, QUERIES_USED, QUERIES_HEADER, sep=";", keep_default_na=False,
        dtype={name: str for name in QUERIES_USED})
    report = common.ConversionReport(
        dataset="cikm16", source=SOURCE, licence=LICENCE, input_files=[QUERIES_FILE],
        rows_in=len(queries), rows_in_unit="queries",
        options={"source": "queries", "max_dwell_ms": max_dwell_ms, "max_items": max_items})
    duration_ms = pd.to_numeric(queries["duration"], errors="coerce")
    queries = report.drop(queries.assign(duration_ms=duration_ms),
                          duration_ms.isna() | (duration_ms < 0)
                          | queries["queryId"].str.strip().eq(""),
                          "queries with missing/negative duration or no queryId")
    queries = report.drop(queries, queries["duration_ms"] >= max_dwell_ms,
                          f"queries with duration >= {max_dwell_ms:g} ms (TPM cap)")
    tokens = queries["searchstring.tokens"].map(lambda text: _id_list(text, max_items))
    items = queries["items"].map(lambda text: _id_list(text, max_items))
    user = queries["userId"].str.strip()
    category = queries["categoryId"].str.strip()
    date = pd.to_datetime(queries["eventdate"], errors="coerce")
    frame = pd.DataFrame({
        "user_id": user.where(~user.isin(["", "NA"]), "anon"),
        "video_id": items.map(lambda ids: ids.split(" ")[0] if ids else "none"),
        "watch_time_s": queries["duration_ms"].astype(np.float64) / 1000.0,
        "duration_s": np.full(len(queries), max_dwell_ms / 1000.0),
        "session_id": queries["sessionId"].str.strip(),
        "category_id": category.where(~category.isin(["", "NA", "0"]), "none"),
        "token_ids": tokens.where(tokens != "", "none"),
        "item_ids": items.where(items != "", "none"),
        "num_tokens": tokens.map(lambda ids: len(ids.split())).astype(np.int64),
        "num_items": items.map(lambda ids: len(ids.split())).astype(np.int64),
        "date": date.dt.strftime("%Y%m%d").fillna("-1").astype(np.int64),
        "_query": pd.to_numeric(queries["queryId"], errors="coerce"),
    })
    frame = common.drop_bad_labels(frame, report)
    frame = (frame.sort_values(["date", "_query"], kind="mergesort")
             .drop(columns="_query").reset_index(drop=True))
    browses = int((frame["num_tokens"] == 0).sum())
    report.notes.append(f"{browses:,} of {len(frame):,} kept queries have no search tokens "
                        "(category browsing): token_ids is 'none' there.")
    report.notes.append(f"duration_s is the constant {max_dwell_ms / 1000.0:g} s (no item "
                        "duration exists): D2Q duration groups collapse to one group.")
    report.columns = {"ids": ["user_id", "video_id (first result item)", "session_id",
                              "category_id"],
                      "id lists (space-separated)": ["token_ids", "item_ids"],
                      "features": ["num_tokens", "num_items", "duration_s (constant)"],
                      "label_side (never use as features)": ["watch_time_s"],
                      "context": ["date"]}
    _warn_if_mostly_zero(frame, report)
    return frame, report


def _read_views(path):
    with open(path, encoding="utf-8") as handle:
        first_line = handle.readline().strip()
    fields = [field.strip() for field in first_line.split(";")]
    options = dict(sep=";", dtype=str)
    if tuple(fields) == SNAKE_HEADER:
        views = pd.read_csv(path, **options)
        return views.rename(columns=dict(zip(SNAKE_HEADER, HEADER)))
    if not fields[0].isdigit():
        return common.read_csv_checked(path, HEADER, HEADER, **options)
    if len(fields) != len(HEADER):
        raise common.DatasetFormatError(
            f"{path}: expected 5 ';'-separated fields per line ({';'.join(HEADER)}), "
            f"found {len(fields)} in the first line.")
    return pd.read_csv(path, header=None, names=list(HEADER), **options)


def _item_views(input_dir, max_dwell_ms, min_views, max_items):
    """Session dwell = max - min timeframe (ms) of a session's item views."""
    path = common.find_file(input_dir, [FILE_NAME], "cikm16")
    views = _read_views(path)
    report = common.ConversionReport(
        dataset="cikm16", source=SOURCE, licence=LICENCE, input_files=[FILE_NAME],
        rows_in=len(views), rows_in_unit="item views",
        options={"source": "item-views", "max_dwell_ms": max_dwell_ms,
                 "min_views": min_views, "max_items": max_items})
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
    user = sessions["user_id"].fillna("NA").astype(str).str.strip()
    frame = pd.DataFrame({
        "user_id": user.where(~user.isin(["", "NA"]), "anon"),
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
                      "id lists (space-separated)": ["item_ids"],
                      "features": ["num_views", "duration_s (constant)"],
                      "label_side (never use as features)": ["watch_time_s"],
                      "context": ["date"]}
    report.notes.append(f"duration_s is the constant {max_dwell_ms / 1000.0:g} s (no item "
                        "duration exists): D2Q duration groups collapse to one group.")
    _warn_if_mostly_zero(frame, report)
    return frame, report


def _warn_if_mostly_zero(frame, report):
    """Flags a degenerate label (e.g. item-view dwell: kept sessions are one view long)."""
    if len(frame) == 0:
        return
    zeros = int((frame[common.LABEL_COLUMN] == 0).sum())
    if zeros > ZERO_LABEL_WARNING_SHARE * len(frame):
        message = (f"WARNING: {zeros:,} of {len(frame):,} kept rows ({zeros / len(frame):.0%}) "
                   "have watch time 0: the label is degenerate and a model will learn little "
                   "from it. For CIKM16 as TPM and SWaT use it, read train-queries.csv "
                   "(the default --source queries).")
        report.notes.insert(0, message)
        warnings.warn(message, UserWarning, stacklevel=3)
