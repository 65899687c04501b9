"""Checks the CSV input before any Beam work starts: seconds, one line per problem.

`check_csv_input` reads the header of every input file, the label and
duration columns of every row, and the first `SAMPLE_ROWS` rows of each file
(for the feature checks of `features_selection`). It stops the run on:

  - a file that is not UTF-8 (names the file and the line),
  - files of one split with different headers (names the files),
  - a missing label or duration column,
  - labels that are empty, not numbers, NaN, infinite or negative,
    durations that are not finite numbers > 0, and labels that are all
    equal (names the file and the first line).

Labels written as whole numbers (`12`, as real logs store seconds) are
accepted: CSV type inference would read them as INT while the data contract
says FLOAT, so they are cast to float.

Extreme labels (`outliers.find_extreme_labels`) are dropped, capped or
stop the run, per `outlier_policy`. When labels are cast or extreme rows
dropped or capped, the pipeline reads a corrected copy of the input in the
work dir (the user's files are never changed); otherwise it reads the input
itself.
"""
import codecs
import csv
import dataclasses
import glob
import hashlib
import json
import os
from typing import List, Optional

import numpy as np
import pandas as pd

from pipelines.watch_time import outliers

SAMPLE_ROWS = 100_000          # rows per file read for the feature checks
_CHUNK_BYTES = 1 << 24
PREPARED_DIR = "prepared_data"


class PreflightError(ValueError):
    """The input cannot give a correct run; the message names the file and the fix."""


@dataclasses.dataclass
class InputCheck:
    """What the preflight found; `data_root` is what ExampleGen should read."""
    files: List[str]
    header: List[str]
    rows: int
    data_root: str
    sample: pd.DataFrame
    cast_to_float: List[str] = dataclasses.field(default_factory=list)
    extreme: Optional[outliers.ExtremeLabels] = None
    corrected_copy: bool = False

    def summary_lines(self):
        lines = [f"input: {len(self.files)} file(s), {self.rows:,} rows"]
        if self.cast_to_float:
            lines.append(f"  whole-number columns read as float: {', '.join(self.cast_to_float)}")
        if self.extreme is not None:
            lines.append("  " + self.extreme.describe())
        if self.corrected_copy:
            lines.append(f"  the pipeline reads the corrected copy in {self.data_root}")
        return lines


def input_files(data_root, pattern):
    """The files ExampleGen will read, sorted; PreflightError when none match."""
    files = sorted(path for path in glob.glob(os.path.join(data_root, pattern))
                   if os.path.isfile(path))
    if not files:
        raise PreflightError(f"no file in {data_root} matches {pattern!r}; pass the directory "
                             "holding the data files (or fix --input-pattern).")
    return files


def first_non_utf8_line(path):
    """The 1-based line of the first byte sequence that is not UTF-8, else None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                return line + chunk.count(b"\n", 0, max(error.start, 0))
            if not chunk:
                return None
            line += chunk.count(b"\n")


def read_header(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def _check_headers(files):
    headers = {path: read_header(path) for path in files}
    for path, header in headers.items():
        if not header:
            raise PreflightError(f"{path} is empty: every input file needs a header row.")
    distinct = {}
    for path, header in headers.items():
        distinct.setdefault(tuple(header), []).append(os.path.basename(path))
    if len(distinct) > 1:
        groups = "; ".join(f"{', '.join(names)}: {', '.join(header)}"
                           for header, names in distinct.items())
        raise PreflightError(f"the input files have different headers ({groups}); files read "
                             "as one split need the same columns in the same order.")
    return next(iter(headers.values()))


def _numbers(path, column, text):
    """float array of a CSV column's text; PreflightError naming the first bad line."""
    values = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
    problems = [("is empty", text.str.strip() == ""),
                ("is not a number", np.isnan(values) & ~text.str.strip().str.lower().isin(
                    ["", "nan"])),
                ("is NaN", text.str.strip().str.lower() == "nan"),
                ("is infinite", np.isinf(values))]
    for problem, bad in problems:
        bad = np.asarray(bad, bool)
        if bad.any():
            line = int(np.argmax(bad)) + 2   # 1-based, after the header
            raise PreflightError(
                f"{path} line {line}: {column} {problem} ({text.iloc[line - 2]!r}; "
                f"{int(bad.sum()):,} such rows); {column} must be a finite number in every "
                "row: drop or repair those rows.")
    return values


def _read_labels(files, label_key, duration_key):
    labels, durations, integer_columns = [], [], set()
    for path in files:
        # pandas' C parser types the columns; the slow text path only runs to
        # name the line of a problem (or for columns it cannot type as numbers).
        parsed = pd.read_csv(path, usecols=[label_key, duration_key], keep_default_na=False,
                             na_values=[], encoding="utf-8-sig")
        columns = {}
        for column in (label_key, duration_key):
            series = parsed[column]
            values = series.to_numpy(np.float64) if series.dtype.kind in "iuf" else None
            if values is None or not np.isfinite(values).all():
                text = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False,
                                   encoding="utf-8-sig")[column]
                values = _numbers(path, column, text)
            if len(series) and series.dtype.kind in "iu":
                integer_columns.add(column)   # all whole numbers: CSV inference says INT
            columns[column] = values
        label = columns[label_key]
        if (label < 0).any():
            line = int(np.argmax(label < 0)) + 2
            raise PreflightError(f"{path} line {line}: {label_key} is negative "
                                 f"({label[line - 2]:g}); watch time must be >= 0: drop or "
                                 "repair those rows.")
        labels.append(label)
        duration = columns[duration_key]
        if (duration <= 0).any():
            line = int(np.argmax(duration <= 0)) + 2
            raise PreflightError(f"{path} line {line}: {duration_key} is "
                                 f"{duration[line - 2]:g}; a video lasts > 0 s: drop or repair "
                                 "those rows.")
        durations.append(duration)
    return labels, durations, sorted(integer_columns)


def check_csv_input(data_root, pattern, work_dir, label_key="watch_time_s",
                    duration_key="duration_s", outlier_policy="drop", max_play_ratio=None):
    """Checks the CSV input and returns an `InputCheck` (see the module docstring).

    Raises:
      PreflightError: the first problem found, naming the file (and line).
    """
    files = input_files(data_root, pattern)
    for path in files:
        line = first_non_utf8_line(path)
        if line is not None:
            raise PreflightError(f"{path} line {line}: bytes that are not UTF-8; save the file "
                                 "as UTF-8 (e.g. iconv -f latin1 -t utf-8).")
    header = _check_headers(files)
    missing = [name for name in (label_key, duration_key) if name not in header]
    if missing:
        raise PreflightError(f"{files[0]}: no column {' or '.join(missing)} (columns: "
                             f"{', '.join(header)}); the pipeline needs the label "
                             f"{label_key} (seconds) and {duration_key} in every file.")
    labels, durations, cast = _read_labels(files, label_key, duration_key)
    all_labels = np.concatenate(labels)
    if all_labels.size == 0:
        raise PreflightError(f"{', '.join(files)}: only a header, no data rows.")
    if all_labels.min() == all_labels.max():
        raise PreflightError(f"{label_key} is {all_labels[0]:g} in every row of "
                             f"{', '.join(map(os.path.basename, files))}: a model cannot learn "
                             "from a constant label; check that the right column is the label.")
    extreme = outliers.find_extreme_labels(all_labels, np.concatenate(durations),
                                           max_play_ratio=max_play_ratio, policy=outlier_policy)
    if extreme.count and outlier_policy == "fail":
        raise PreflightError(extreme.describe() + "; repair those rows, or pass "
                             "--outlier-policy drop (or cap).")
    sample = pd.concat([pd.read_csv(path, nrows=SAMPLE_ROWS, encoding="utf-8-sig")
                        for path in files], ignore_index=True)
    check = InputCheck(files=files, header=header, rows=int(all_labels.size),
                       data_root=data_root, sample=sample, cast_to_float=cast,
                       extreme=extreme if extreme.count else None)
    if cast or extreme.count:
        check.corrected_copy = True
        check.data_root = write_corrected_copy(files, data_root, work_dir, labels, durations,
                                               label_key, duration_key, extreme)
    return check


def _fingerprint(files, extreme):
    digest = hashlib.sha256()
    for path in files:
        status = os.stat(path)
        digest.update(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
    digest.update(json.dumps(dataclasses.asdict(extreme), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def write_corrected_copy(files, data_root, work_dir, labels, durations, label_key,
                         duration_key, extreme):
    """Writes the input with float labels and extreme rows dropped/capped; returns its folder.

    The folder name is a fingerprint of the input files and the policy, so an
    unchanged input reuses the copy (and ExampleGen's cache).
    """
    target = os.path.join(work_dir, PREPARED_DIR, _fingerprint(files, extreme))
    if os.path.isdir(target):
        return target
    partial = target + ".partial"
    for path, label, duration in zip(files, labels, durations):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        keep, new_label = extreme.apply(label, duration)
        frame[label_key] = [repr(float(value)) for value in new_label]
        frame[duration_key] = [repr(float(value)) for value in duration]
        relative = os.path.relpath(path, data_root)
        os.makedirs(os.path.dirname(os.path.join(partial, relative)), exist_ok=True)
        frame[keep].to_csv(os.path.join(partial, relative), index=False)
    os.replace(partial, target)   # a killed run never leaves half a copy behind
    return target


def check_contract(config):
    """PreflightError unless the data contract declares the label and duration columns.

    The Evaluator decodes only the contract's columns (`pipeline.py`), so a
    contract without them would fail there, after training.
    """
    from google.protobuf import text_format   # pylint: disable=import-outside-toplevel
    from tensorflow_metadata.proto.v0 import schema_pb2   # pylint: disable=import-outside-toplevel
    with open(config.schema_path, encoding="utf-8") as handle:
        declared = {feature.name for feature in
                    text_format.Parse(handle.read(), schema_pb2.Schema()).feature}
    missing = [key for key in (config.label_key, config.duration_key) if key not in declared]
    if missing:
        raise PreflightError(
            f"the data contract {config.schema_path} declares no {', '.join(missing)}; it "
            "must declare the label and the duration columns (one value per row: shape "
            "{ dim { size: 1 } }), as pipelines/watch_time/schema/schema.pbtxt does.")


def check_input(config, work_dir, explicit_features=None, allow_correlated=False,
                outlier_policy="drop", max_play_ratio=None):
    """Checks the input and picks the features; returns (config to run, report lines).

    Raises:
      PreflightError: the input cannot give a correct run, or a feature
        probably leaks the label (unless `allow_correlated`); its
        `report_lines` hold what was found up to then.
    """
    # pylint: disable-next=import-outside-toplevel  (it imports this module's neighbours)
    from pipelines.watch_time import features_selection
    check_contract(config)
    try:
        metadata = features_selection.read_metadata(config.data_root)
        if max_play_ratio is None:
            max_play_ratio = ((metadata or {}).get("options") or {}).get("max_play_ratio")
        if config.input_format == "csv":
            check = check_csv_input(config.data_root, config.data_pattern, work_dir,
                                    config.label_key, config.duration_key, outlier_policy,
                                    max_play_ratio)
            header, sample, lines = check.header, check.sample, check.summary_lines()
            data_root = check.data_root
        else:
            header, sample = tfrecord_sample(input_files(config.data_root, config.data_pattern))
            if config.label_key not in header:
                raise PreflightError(f"the first records in {config.data_root} have no "
                                     f"feature {config.label_key} (they have: "
                                     f"{', '.join(header)}); the label must be in every record.")
            lines = [f"input: TFRecord, first {len(sample):,} records checked for features"]
            data_root = config.data_root
    except features_selection.FeatureSelectionError as error:
        raise PreflightError(str(error)) from None
    features, feature_lines = choose_features(config, header, sample, metadata,
                                              explicit_features, allow_correlated, lines)
    return config.replace(data_root=data_root, features=features), lines + feature_lines


def choose_features(config, header, sample, metadata, explicit_features=None,
                    allow_correlated=False, report_lines=()):
    """(declared features, summary lines); PreflightError on a probable label leak."""
    # pylint: disable-next=import-outside-toplevel  (it imports this module's neighbours)
    from pipelines.watch_time import features_selection
    try:
        choice = features_selection.declare_features(header, config.label_key,
                                                     explicit_features, metadata)
    except features_selection.FeatureSelectionError as error:
        raise PreflightError(str(error)) from None
    lines = choice.summary_lines()
    leaks = features_selection.leaking_features(sample, config.label_key, choice.used)
    if leaks:
        named = ", ".join(f"{name} (|r| = {value:.3f})" for name, value in leaks.items())
        if not allow_correlated:
            error = PreflightError(
                f"probable label leak: {named} correlate with {config.label_key} above "
                f"{features_selection.LEAK_CORRELATION:g}; remove them from the features "
                "(--features), or pass --allow-correlated-features if they are known at "
                "serving time.")
            error.report_lines = list(report_lines) + lines + [f"  leak: {named}"]
            raise error
        lines.append(f"  warning: label-correlated features kept "
                     f"(--allow-correlated-features): {named}")
    return list(choice.used), lines


def declared_features(config):
    """`config` with the declared features of its CSV input, for library callers.

    `wt-pipeline run` runs `check_input`; `local_runner.run` called from
    Python with `features=None` gets the same feature choice and leak check
    (and leaves the other input checks to the data gate). Returns
    (config, summary lines).
    """
    # pylint: disable-next=import-outside-toplevel  (it imports this module's neighbours)
    from pipelines.watch_time import features_selection
    files = input_files(config.data_root, config.data_pattern)
    header = read_header(files[0])
    if config.label_key not in header:
        return config, []   # the data gate names the missing column
    sample = pd.read_csv(files[0], nrows=SAMPLE_ROWS, encoding="utf-8-sig")
    try:
        metadata = features_selection.read_metadata(config.data_root)
    except features_selection.FeatureSelectionError as error:
        raise PreflightError(str(error)) from None
    features, lines = choose_features(config, header, sample, metadata)
    return config.replace(features=features), lines


def tfrecord_sample(files, max_records=10_000):
    """(column names, DataFrame of the first records' first values) of tf.Example files."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (TFRecord only)
    rows = []
    for path in files:
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression_type=compression).take(
                max_records - len(rows)):
            example = tf.train.Example.FromString(record.numpy())
            row = {}
            for name, feature in example.features.feature.items():
                kind = feature.WhichOneof("kind")
                values = list(getattr(feature, kind).value) if kind else []
                if values:
                    value = values[0]
                    row[name] = value.decode("utf-8", "replace") if isinstance(
                        value, bytes) else str(value)
            rows.append(row)
        if len(rows) >= max_records:
            break
    sample = pd.DataFrame(rows).fillna("")
    return list(sample.columns), sample
