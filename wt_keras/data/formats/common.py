"""Shared pieces of the dataset converters: file lookup, format checks, drop
accounting and the output files (``interactions.csv``, ``metadata.json``, ``README.md``)."""
import dataclasses
import glob
import json
import os
from typing import Dict, List

import numpy as np
import pandas as pd

OUTPUT_FILE = "interactions.csv"
LABEL_COLUMN = "watch_time_s"
DURATION_COLUMN = "duration_s"


class DatasetFormatError(ValueError):
    """An input file is missing or does not have the dataset's real format."""


@dataclasses.dataclass
class ConversionReport:
    """What a converter read, kept and dropped; written to metadata.json/README.md."""
    dataset: str
    source: str
    licence: str
    input_files: List[str] = dataclasses.field(default_factory=list)
    rows_in: int = 0
    rows_in_unit: str = "rows"
    rows_out: int = 0
    dropped: Dict[str, int] = dataclasses.field(default_factory=dict)
    notes: List[str] = dataclasses.field(default_factory=list)
    options: Dict[str, object] = dataclasses.field(default_factory=dict)
    columns: Dict[str, List[str]] = dataclasses.field(default_factory=dict)

    def drop(self, frame, bad, reason):
        """Removes the rows where ``bad`` is True and records how many and why."""
        bad = np.asarray(bad, dtype=bool)
        count = int(bad.sum())
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count
        return frame[~bad]

    def summary(self):
        """A short human-readable summary (what the CLI prints)."""
        lines = [f"{self.dataset}: {self.rows_in:,} {self.rows_in_unit} read -> "
                 f"{self.rows_out:,} rows written"]
        lines += [f"  dropped {count:,}: {reason}" for reason, count in self.dropped.items()]
        if not self.dropped:
            lines.append("  nothing dropped")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def find_file(input_dir, names, dataset, required=True):
    """Finds the first of ``names`` in input_dir, input_dir/data or one folder deeper.

    The public archives unpack into a folder (e.g. ``KuaiRec 2.0/data/``), so users may
    point ``--input`` at the archive root or at the data folder.

    Raises:
      DatasetFormatError: if ``required`` and no candidate exists.
    """
    for folder in [input_dir, os.path.join(input_dir, "data")] + sorted(
            glob.glob(os.path.join(input_dir, "*", ""))) + sorted(
                glob.glob(os.path.join(input_dir, "*", "data", ""))):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return os.path.normpath(path)
    if required:
        raise DatasetFormatError(
            f"{dataset}: none of {', '.join(names)} found in {input_dir} (also searched "
            f"its data/ folder and one sub-folder level). Point --input at the folder "
            f"that holds the dataset's original files.")
    return None


def read_csv_checked(path, required, expected_header, sep=",", **read_kwargs):
    """Reads the ``required`` columns of a CSV after checking its header.

    Args:
      path: the file.
      required: columns the converter needs.
      expected_header: the dataset's real header, shown in the error message.
      sep: field delimiter of the real format.
      **read_kwargs: forwarded to ``pandas.read_csv`` (dtype, ...).

    Raises:
      DatasetFormatError: naming the file, the missing column(s) and the expected format.
    """
    found = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    missing = [column for column in required if column not in found]
    if missing:
        raise DatasetFormatError(
            f"{path}: missing column(s) {', '.join(missing)}. Expected a {sep!r}-separated "
            f"file whose header is: {sep.join(expected_header)} ; found columns: "
            f"{found[:25]}. Check that this is the original, unmodified file.")
    return pd.read_csv(path, sep=sep, usecols=list(required), **read_kwargs)


def drop_bad_labels(frame, report):
    """Drops (and counts) rows whose watch time or duration cannot be used."""
    watch = frame[LABEL_COLUMN]
    frame = report.drop(frame, watch.isna() | (watch < 0),
                        "watch time missing or negative")
    duration = frame[DURATION_COLUMN]
    return report.drop(frame, duration.isna() | (duration <= 0),
                       "duration missing or <= 0")


def write_output(frame, report, output_dir):
    """Writes interactions.csv, metadata.json and README.md into ``output_dir``.

    Returns:
      The path of interactions.csv.
    """
    os.makedirs(output_dir, exist_ok=True)
    report.rows_out = int(len(frame))
    path = os.path.join(output_dir, OUTPUT_FILE)
    frame.to_csv(path, index=False)
    with open(os.path.join(output_dir, "metadata.json"), "w", encoding="utf-8") as out:
        json.dump(dataclasses.asdict(report), out, indent=2, default=str)
        out.write("\n")
    with open(os.path.join(output_dir, "README.md"), "w", encoding="utf-8") as out:
        out.write(_readme(report))
    return path


def _readme(report):
    dropped = "".join(f"| {reason} | {count:,} |\n" for reason, count in report.dropped.items())
    columns = "".join(f"- {role}: {', '.join(names)}\n" for role, names in report.columns.items())
    notes = "".join(f"- {note}\n" for note in report.notes)
    return (f"# {report.dataset} converted by `wt-data prepare`\n\n"
            f"dataset: {report.dataset}\n\nSource: {report.source}\n\n"
            f"Licence: {report.licence}\n\n"
            f"Input files: {', '.join(report.input_files)}\n\n"
            f"{report.rows_in:,} {report.rows_in_unit} read, {report.rows_out:,} rows "
            f"written to `{OUTPUT_FILE}`.\n\n| dropped because | count |\n|---|---|\n"
            f"{dropped or '| (nothing dropped) | 0 |' + chr(10)}\n"
            f"Columns (label `{LABEL_COLUMN}`, duration `{DURATION_COLUMN}`):\n\n{columns}\n"
            f"Notes:\n\n{notes or '- none' + chr(10)}\nOptions: {report.options}\n")
