"""Which columns the model reads: declared features only, and none that leaks the label.

Features are declared, never guessed from whatever columns a file holds:

  1. `--features a,b,c` when given;
  2. else the `ids` and `features` lists of the `metadata.json` that
     `wt-data prepare` writes beside interactions.csv;
  3. else the columns of the KuaiRand family the package knows
     (`wt_keras.data.FEATURE_COLUMNS`) that the data holds.

Label-side columns (metadata.json's "label_side" list and
`wt_keras.data.LABEL_SIDE_COLUMNS`) are never features. Every other column
is ignored, with a warning naming it.

Leak check: a numeric feature whose Pearson correlation with the label is
above `LEAK_CORRELATION` in absolute value (e.g. `stay_ms` = watch time x
1000) is almost surely the label in disguise: the run stops unless the
user allows it. A model trained on it scores well offline, is blessed, and
then needs the label at serving time.

Example:

>>> import pandas as pd
>>> sample = pd.DataFrame({"watch_time_s": ["1.0", "5.0", "2.0"], "user_id": ["1", "2", "3"],
...                        "stay_ms": ["1000", "5000", "2000"]})
>>> chosen = declare_features(list(sample.columns), explicit=["user_id", "stay_ms"])
>>> chosen.used, chosen.ignored
(['user_id', 'stay_ms'], [])
>>> leaking_features(sample, "watch_time_s", chosen.used)
{'stay_ms': 1.0}
"""
import dataclasses
import json
import os
from typing import List

import numpy as np
import pandas as pd

from wt_keras.data import FEATURE_COLUMNS, LABEL_SIDE_COLUMNS

METADATA_FILE = "metadata.json"
LEAK_CORRELATION = 0.95


class FeatureSelectionError(ValueError):
    """Declared features that cannot be used; the message says how to fix it."""


@dataclasses.dataclass
class FeatureChoice:
    used: List[str]
    source: str
    ignored: List[str]
    label_side: List[str]

    def summary_lines(self):
        lines = [f"features used ({self.source}): {', '.join(self.used)}"]
        if self.label_side:
            lines.append(f"  label-side columns, never features: {', '.join(self.label_side)}")
        if self.ignored:
            lines.append(f"  warning: columns not declared as features, ignored: "
                         f"{', '.join(self.ignored)}")
        return lines


def read_metadata(data_root):
    """`wt-data prepare`'s metadata.json as a dict, or None when there is none."""
    path = os.path.join(data_root, METADATA_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise FeatureSelectionError(f"{path} is not readable JSON ({error}); rerun "
                                    "`wt-data prepare` or pass --features.") from None


def _metadata_columns(metadata):
    """(declared feature names, label-side names) from metadata.json's `columns`."""
    columns = (metadata or {}).get("columns") or {}
    features, label_side = [], []
    for role, names in columns.items():
        # Entries may carry a note: "duration_s (constant)".
        names = [str(name).split(" ")[0] for name in names]
        if role.startswith("label_side"):
            label_side += names
        elif role in ("ids", "features"):
            features += names
    return features, label_side


def declare_features(header, label_key="watch_time_s", explicit=None, metadata=None):
    """Chooses the model's columns among `header` (see the module docstring).

    Args:
      header: the input's column names.
      label_key: the label, never a feature.
      explicit: names from --features, or None.
      metadata: parsed metadata.json, or None.

    Raises:
      FeatureSelectionError: an explicit feature is not a column or is label-side.
    """
    declared, label_side = _metadata_columns(metadata)
    label_side = list(dict.fromkeys(label_side + list(LABEL_SIDE_COLUMNS) + [label_key]))
    if explicit:
        names, source = list(dict.fromkeys(explicit)), "--features"
        unknown = [name for name in names if name not in header]
        if unknown:
            raise FeatureSelectionError(f"--features names {', '.join(unknown)}, not columns "
                                        f"of the data ({', '.join(header)}).")
        leaking = [name for name in names if name in label_side]
        if leaking:
            raise FeatureSelectionError(f"--features names {', '.join(leaking)}: label-side "
                                        "columns (the label or derived from it); remove them.")
    elif declared:
        names, source = [name for name in declared if name in header], METADATA_FILE
        names = [name for name in dict.fromkeys(names) if name not in label_side]
    else:
        names, source = [name for name in FEATURE_COLUMNS if name in header], "built-in list"
    if not names:
        raise FeatureSelectionError(f"no declared feature is a column of the data "
                                    f"({', '.join(header)}); pass --features.")
    used = set(names)
    present_label_side = [name for name in header if name in label_side and name != label_key]
    ignored = [name for name in header
               if name not in used and name != label_key and name not in present_label_side]
    return FeatureChoice(used=names, source=source, ignored=ignored,
                         label_side=present_label_side)


def leaking_features(sample, label_key, features, limit=LEAK_CORRELATION):
    """{feature: |Pearson r| with the label} for numeric features above `limit`.

    Args:
      sample: DataFrame of the input (numbers, or text that is parsed).
      label_key: the label column.
      features: the columns to check; non-numeric ones are skipped.
    """
    label = pd.to_numeric(sample[label_key], errors="coerce").to_numpy(np.float64)
    found = {}
    for name in features:
        column = sample[name]
        if column.dtype.kind not in "iufb":   # text: parse what looks like numbers
            column = pd.to_numeric(column, errors="coerce")
        values = column.to_numpy(np.float64)
        rows = np.isfinite(values) & np.isfinite(label)
        if rows.sum() < 3 or np.std(values[rows]) == 0 or np.std(label[rows]) == 0:
            continue
        correlation = abs(float(np.corrcoef(values[rows], label[rows])[0, 1]))
        if correlation > limit:
            found[name] = round(correlation, 4)
    return found
