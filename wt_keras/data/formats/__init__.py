"""Converters from public watch-time datasets (their real file formats) to the
pipeline's input: ``OUTPUT_DIR/interactions.csv`` with ``user_id, video_id,
watch_time_s`` (float s, >= 0), ``duration_s`` (float s, > 0) and the dataset's
feature columns, plus ``metadata.json`` and ``README.md`` (source, licence, rows read,
written and dropped by reason, column roles).

Note for file-pattern readers (e.g. TFX CsvExampleGen): read ``interactions.csv``
only; the two sidecar files live in the same folder.
"""
import os

from wt_keras.data.formats import cikm16, kuairand, kuairec, wechat
from wt_keras.data.formats.common import (OUTPUT_FILE, ConversionReport,
                                          DatasetFormatError, write_output)

CONVERTERS = {
    "kuairand": kuairand.convert,
    "kuairec": kuairec.convert,
    "cikm16": cikm16.convert,
    "wechat": wechat.convert,
}


def prepare_dataset(name, input_dir, output_dir, **options):
    """Converts one dataset and writes the output files.

    Args:
      name: "kuairand", "kuairec", "cikm16" or "wechat".
      input_dir: folder with the dataset's original files.
      output_dir: receives interactions.csv, metadata.json and README.md.
      **options: converter options (kuairand: variant; kuairec: matrix; cikm16:
        source ("queries" or "item-views"), max_dwell_ms, max_items, min_views; wechat: max_play_ratio).

    Returns:
      The ConversionReport (``report.summary()`` is the printable summary).

    Raises:
      ValueError: unknown dataset name or option value.
      DatasetFormatError: missing file or column (the message says what is expected).
    """
    if name not in CONVERTERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(CONVERTERS)}.")
    if not os.path.isdir(input_dir):
        raise DatasetFormatError(f"{name}: input folder {input_dir} does not exist.")
    frame, report = CONVERTERS[name](input_dir, **options)
    write_output(frame, report, output_dir)
    return report


__all__ = ["CONVERTERS", "OUTPUT_FILE", "ConversionReport", "DatasetFormatError", "prepare_dataset"]
