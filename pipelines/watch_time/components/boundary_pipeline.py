"""The Beam part of BucketBoundaryGen: one pass of counts and quantile summaries.

Input: Arrow RecordBatches of tf.Examples (from a TFXIO). Output of
`SummarizeTrainingLabels`: one JSON string, an object with
  counts     row counts and invalid-value counts per column (exact),
  label      quantile summary of watch time (see `quantile_sketch`),
  duration   quantile summary of the video duration,
  edges      D2Q duration edges derived from the duration summary,
  groups     {group index: quantile summary of watch time in that group}.
The edges are a side input of the keyed second stage, so one Beam job reads
the data once; the runner materialises the valid columns between the stages.
"""
import collections
import json

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.watch_time.components.quantile_sketch import QuantileSummaryFn
from wt_keras import buckets

# Per-row status of one column (see `_single_values`).
_OK, _MISSING, _MULTIPLE, _NAN, _NEGATIVE = range(5)
_STATUS_NAMES = {_MISSING: "missing", _MULTIPLE: "multiple_values",
                 _NAN: "nan_or_inf", _NEGATIVE: "negative"}


def _single_values(batch, key):
    """Returns (float64 values, int status) per row for a scalar column."""
    values = np.full(batch.num_rows, np.nan)
    status = np.full(batch.num_rows, _MISSING, dtype=np.int8)
    index = batch.schema.get_field_index(key)
    if index < 0:
        return values, status, None
    column = batch.column(index)
    value_type = getattr(column.type, "value_type", column.type)
    if not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type)):
        return values, status, str(column.type)
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    single = lengths == 1
    values[single] = flat[(np.cumsum(lengths) - lengths)[single]]
    status[lengths > 1] = _MULTIPLE
    finite = np.isfinite(values)
    status[single & ~finite] = _NAN
    status[single & finite & (values < 0)] = _NEGATIVE
    status[single & finite & (values >= 0)] = _OK
    return values, status, None


def extract_columns(batch, label_key, duration_key):
    """Valid (label, duration) rows of one RecordBatch, and what was wrong.

    Returns:
      (labels, durations, counts): float64 arrays of the rows where both
      columns hold one finite value >= 0, and a Counter of rows and invalid
      values per column ("label.missing", ...) plus "columns" (feature names)
      and "types" (non-numeric column types) for error messages.
    """
    counts = collections.Counter(rows=batch.num_rows)
    valid = np.ones(batch.num_rows, dtype=bool)
    extracted, types = {}, {}
    for role, key in (("label", label_key), ("duration", duration_key)):
        values, status, bad_type = _single_values(batch, key)
        if bad_type is not None:
            types[role] = bad_type
        for code, name in _STATUS_NAMES.items():
            counts[f"{role}.{name}"] += int(np.count_nonzero(status == code))
        extracted[role] = values
        valid &= status == _OK
    info = {"counts": counts, "columns": set(batch.schema.names), "types": types}
    return extracted["label"][valid], extracted["duration"][valid], info


class _CountsFn(beam.CombineFn):
    """Sums the Counters, unions the column names, keeps the bad types."""

    def create_accumulator(self):
        return {"counts": collections.Counter(), "columns": set(), "types": {}}

    def add_input(self, accumulator, info):
        accumulator["counts"].update(info["counts"])
        accumulator["columns"] |= info["columns"]
        accumulator["types"].update(info["types"])
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            self.add_input(merged, accumulator)
        return merged

    def extract_output(self, accumulator):
        return {"counts": dict(accumulator["counts"]),
                "columns": sorted(accumulator["columns"]),
                "types": accumulator["types"]}


def duration_edges(duration_summary, num_groups):
    """D2Q edges from the duration summary, with the library's own rule.

    `wt_keras.buckets.duration_edges` places edges at ranks round(k n / G) of
    the sorted durations, mid-way between neighbours, and merges groups with
    < 2 samples; on an equal-weight summary the same rule lands within the
    summary's rank error of k / G. Returns None (and the pipeline skips the
    keyed stage) when the summary is too small; the executor then reports it.
    """
    try:
        return buckets.duration_edges(duration_summary["values"], num_groups).tolist()
    except ValueError:
        return None


def _split_by_group(columns, edges):
    labels, durations = columns
    if edges is None:
        return
    groups = buckets.duration_group(durations, edges)
    for group in np.unique(groups):
        yield int(group), labels[groups == group]


def _assemble(_, counts, label, duration, edges, groups):
    return json.dumps({"counts": counts, "label": label, "duration": duration,
                       "edges": edges, "groups": {str(g): s for g, s in groups}})


class SummarizeTrainingLabels(beam.PTransform):
    """RecordBatches -> a single JSON string (see the module docstring)."""

    def __init__(self, label_key, duration_key, num_groups, sketch_size):
        super().__init__()
        self._keys = (label_key, duration_key)
        self._num_groups = num_groups
        self._sketch_size = sketch_size

    def expand(self, record_batches):
        extracted = record_batches | "ExtractColumns" >> beam.Map(
            extract_columns, *self._keys)
        counts = (extracted | "Info" >> beam.Map(lambda e: e[2])
                  | "Count" >> beam.CombineGlobally(_CountsFn()))
        columns = (extracted | "Columns" >> beam.Map(lambda e: (e[0], e[1]))
                   | "NonEmpty" >> beam.Filter(lambda c: c[0].size > 0))
        label = (columns | "Labels" >> beam.Map(lambda c: c[0])
                 | "SketchLabels" >> beam.CombineGlobally(
                     QuantileSummaryFn(self._sketch_size)))
        duration = (columns | "Durations" >> beam.Map(lambda c: c[1])
                    | "SketchDurations" >> beam.CombineGlobally(
                        QuantileSummaryFn(self._sketch_size)))
        edges = duration | "DurationEdges" >> beam.Map(duration_edges,
                                                       self._num_groups)
        groups = (columns
                  | "KeyByDurationGroup" >> beam.FlatMap(
                      _split_by_group, edges=beam.pvalue.AsSingleton(edges))
                  | "SketchPerGroup" >> beam.CombinePerKey(
                      QuantileSummaryFn(self._sketch_size)))
        side = beam.pvalue.AsSingleton
        return (record_batches.pipeline
                | "One" >> beam.Create([None])
                | "Assemble" >> beam.Map(
                    _assemble, counts=side(counts), label=side(label),
                    duration=side(duration), edges=side(edges),
                    groups=beam.pvalue.AsList(groups)))
