"""Shared pieces of the dataset converters: file lookup, format checks, drop
accounting and the output files (``interactions.csv``, ``metadata.json``, ``README.md``)."""
import dataclasses
import glob
import json
import os
import tempfile
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
    check_complete_last_line(path)
    found = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    missing = [column for column in required if column not in found]
    if missing:
        raise DatasetFormatError(
            f"{path}: missing column(s) {', '.join(missing)}. Expected a {sep!r}-separated "
            f"file whose header is: {sep.join(expected_header)} ; found columns: "
            f"{found[:25]}. Check that this is the original, unmodified file.")
    return pd.read_csv(path, sep=sep, usecols=list(required), **read_kwargs)


def check_complete_last_line(path):
    """Stops on a file whose last line has no final newline: it may be cut short.

    An interrupted copy or download ends in the middle of a row, which pandas
    reads as a complete row with a truncated value (a play time of 750 ms cut to
    ``7``), so the file is refused rather than converted into wrong labels.

    Raises:
      DatasetFormatError: naming the file, the line and the fix.
    """
    size = os.path.getsize(path)
    if size == 0:
        raise DatasetFormatError(f"{path} is empty; expected a CSV file with a header row. "
                                 "Copy the original file again.")
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        newlines, tail = 0, b""
        for chunk in iter(lambda: handle.read(1 << 20), b""):   # large logs: read in chunks
            newlines += chunk.count(b"\n")
            tail = (tail + chunk)[-4096:]
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    raise DatasetFormatError(
        f"{path}: the last line (line {newlines + 1}: {last[:80]!r}) does not end with a "
        "newline, so the file was probably cut short and that row may hold a truncated "
        "value. Copy the complete file again; if that row is complete, add the missing "
        f"newline (echo >> '{path}').")


def drop_bad_labels(frame, report):
    """Drops (and counts) rows whose watch time or duration cannot be used."""
    watch = frame[LABEL_COLUMN]
    frame = report.drop(frame, watch.isna() | (watch < 0),
                        "watch time missing or negative")
    duration = frame[DURATION_COLUMN]
    return report.drop(frame, duration.isna() | (duration <= 0),
                       "duration missing or <= 0")


def _write_atomically(path, write):
    """Calls ``write(handle)`` on a temporary file beside ``path``, then renames it.

    The rename is atomic on one file system, so an earlier good file is replaced
    only by a complete new one and stays intact if anything fails.
    """
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                         dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            write(out)
        # mkstemp creates the file readable by its owner only; give it the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_output(frame, report, output_dir):
    """Writes interactions.csv, metadata.json and README.md into ``output_dir``.

    Each file goes to a temporary file in ``output_dir`` first and is renamed
    into place once complete. A conversion that kept no row is refused before
    anything is written, so a good earlier ``interactions.csv`` stays intact.

    Returns:
      The path of interactions.csv.

    Raises:
      DatasetFormatError: no row survived the conversion.
    """
    if len(frame) == 0:
        dropped = "; ".join(f"{count:,} {reason}" for reason, count in report.dropped.items())
        raise DatasetFormatError(
            f"{report.dataset}: the conversion kept 0 rows ({report.rows_in:,} "
            f"{report.rows_in_unit} read from {', '.join(report.input_files) or 'the input'}"
            f"{'; dropped: ' + dropped if dropped else ''}); nothing was written. Check that "
            "the input files hold data rows, not only a header.")
    os.makedirs(output_dir, exist_ok=True)
    report.rows_out = int(len(frame))
    path = os.path.join(output_dir, OUTPUT_FILE)
    _write_atomically(path, lambda out: frame.to_csv(out, index=False))

    def write_metadata(out):
        json.dump(dataclasses.asdict(report), out, indent=2, default=str)
        out.write("\n")

    _write_atomically(os.path.join(output_dir, "metadata.json"), write_metadata)
    _write_atomically(os.path.join(output_dir, "README.md"), lambda out: out.write(_readme(report)))
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
