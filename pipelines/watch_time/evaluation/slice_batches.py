"""Evaluator extractors that slice TFMA's batches without unbatching them.

TFMA's default extractors split every evaluation batch into one extract per
example (`UnbatchExtractor`) before computing slice keys; every later stage
(the fan-out to slices, the metrics' preprocessing, each metric's
`add_input`) then runs once per example and slice. On these machines that was
about 0.3 ms per evaluation row, most of the Evaluator's time. TFMA 0.47 has no
option for it, so `SliceBatchesExtractor` (written here) replaces those two
stages: it groups a batch's rows by the values of the features that the
slicing specs read, computes each group's slice keys once with TFMA's own
`ExtractSliceKeysFn` on one of its rows, and emits one extract per slice key
of the batch, holding that slice's rows with the batch dimension kept (the
overall slice: the whole batch, not copied). The metric combiners thus receive
arrays of rows, as in TFMA's query-grouped evaluations, and each batch reaches
each of its slices once.

Every metric of the pipeline's EvalConfig reads such inputs row by row
(`tfma_metrics`, `distribution_metrics`); TFMA's built-in ExampleCount would
count a group as one example, so the pipeline uses `tfma_metrics.BatchedExampleCount`.
SQL slicing specs keep TFMA's default extractors.

Use it as the Evaluator's module:

    tfx.components.Evaluator(..., module_path=slice_batches.__name__)
"""
import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.api import types
from tensorflow_model_analysis.extractors import slice_key_extractor, unbatch_extractor
from tensorflow_model_analysis.slicer import slicer_lib
from tensorflow_model_analysis.utils import util

# TFMA's evaluators run after the stage of this name; this stage takes its place.
STAGE_NAME = slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME


def custom_extractors(eval_shared_model, eval_config, tensor_adapter_config):
    """The Evaluator's hook (TFX `module_path`): TFMA's defaults, slicing batch-wise."""
    return batch_slicing(tfma.default_extractors(
        eval_shared_model=eval_shared_model, eval_config=eval_config,
        tensor_adapter_config=tensor_adapter_config), eval_config)


def batch_slicing(extractors, eval_config):
    """`extractors` with Unbatch + SliceKey replaced by `SliceBatchesExtractor`."""
    if any(spec.slice_keys_sql for spec in eval_config.slicing_specs):
        return list(extractors)
    stages = [extractor.stage_name for extractor in extractors]
    unbatch = stages.index(unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME)
    if stages[unbatch + 1] != slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME:
        raise ValueError(f"TFMA's extractors changed order ({stages}): the unbatch stage "
                         "no longer precedes the slice-key stage; drop `module_path`.")
    return (list(extractors[:unbatch]) + [SliceBatchesExtractor(eval_config)]
            + list(extractors[unbatch + 2:]))


def SliceBatchesExtractor(eval_config):  # noqa: N802 (TFMA's naming of extractor factories)
    """A `tfma.extractors.Extractor` emitting one extract per slice key of each batch."""
    protos = list(eval_config.slicing_specs)
    for cross in eval_config.cross_slicing_specs:
        protos += [cross.baseline_spec, *cross.slicing_specs]
    specs = list(dict.fromkeys(slicer_lib.SingleSliceSpec(spec=spec) for spec in protos))
    specs = specs or [slicer_lib.SingleSliceSpec()]
    columns = sorted({name for spec in protos
                      for name in list(spec.feature_keys) + list(spec.feature_values)})
    return tfma.extractors.Extractor(
        stage_name=STAGE_NAME,
        ptransform=beam.ParDo(_SliceBatchesFn(eval_config, columns), slice_spec=specs))


def take_rows(value, rows):
    """The rows `rows` of a batched extract value (dicts recursively)."""
    if isinstance(value, dict):
        return {key: take_rows(item, rows) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value[rows]
    if isinstance(value, types.VarLenTensorValue):
        dense = list(value.dense_rows())
        return types.VarLenTensorValue.from_dense_rows([dense[row] for row in rows])
    if isinstance(value, list):
        return [value[row] for row in rows]
    if value is None:
        return None
    raise TypeError(f"cannot take rows of a batched extract value of type {type(value)}")


def _batch_size(extract):
    for value in (extract.get(constants.LABELS_KEY), extract.get(constants.PREDICTIONS_KEY)):
        while isinstance(value, dict) and value:
            value = next(iter(value.values()))
        if isinstance(value, np.ndarray) and value.ndim:
            return value.shape[0]
    record_batch = extract.get(constants.ARROW_RECORD_BATCH_KEY)
    return record_batch.num_rows


class _SliceBatchesFn(beam.DoFn):
    """Groups a batch's rows by the sliced features' values; one extract per slice key."""

    def __init__(self, eval_config, columns):
        self._columns = columns
        self._slice_keys_fn = slice_key_extractor.ExtractSliceKeysFn(eval_config,
                                                                     materialize=False)
        self._print_options = None

    def start_bundle(self):
        # TFMA calls the model's signatures positionally; TF first tries the
        # keyword-only structured signature and builds an error message that
        # prints the whole batch of serialized examples (discarded: the flat
        # call then succeeds). That print was a quarter of the Evaluator's time
        # at 1e6 rows; summarising long arrays keeps it short. TFMA's inference
        # runs in this DoFn's fused stage, inside this bundle's start and finish
        # (which restores the caller's options).
        self._print_options = np.get_printoptions()
        np.set_printoptions(threshold=64)

    def finish_bundle(self):
        if self._print_options is not None:
            np.set_printoptions(**self._print_options)
            self._print_options = None

    def _row_groups(self, extract, size):
        """Group index per row: equal sliced values ⇒ equal group (finer is fine)."""
        keys = []
        sources = [extract.get(constants.FEATURES_KEY) or {}]
        transformed = extract.get(constants.TRANSFORMED_FEATURES_KEY) or {}
        sources += [transformed] + [item for item in transformed.values()
                                    if isinstance(item, dict)]
        for source in sources:
            for column in self._columns:
                value = source.get(column) if isinstance(source, dict) else None
                if value is None:
                    continue
                if not isinstance(value, np.ndarray) or value.size != size:
                    return np.arange(size)       # multivalent or ragged: one row a group
                keys.append(np.unique(value.reshape(size), return_inverse=True)[1])
        if not keys:
            return np.zeros(size, np.int64)
        return np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)[1].reshape(size)

    def _sliced_columns(self, features):
        """The sliced columns of a features dict (per model when keyed by model name)."""
        return {name: (self._sliced_columns(value) if isinstance(value, dict) else value)
                for name, value in features.items()
                if name in self._columns or isinstance(value, dict)}

    def process(self, extract, slice_spec):
        size = _batch_size(extract)
        extract = {key: value for key, value in extract.items()
                   if key != constants.ARROW_RECORD_BATCH_KEY}
        groups = self._row_groups(extract, size)
        order = np.argsort(groups, kind="stable")
        starts = np.flatnonzero(np.diff(groups[order], prepend=-1))
        sliced = {key: self._sliced_columns(extract[key]) for key in (
            constants.FEATURES_KEY, constants.TRANSFORMED_FEATURES_KEY) if extract.get(key)}
        rows_of_slice = {}
        for rows in np.split(order, starts[1:]):
            # The group's slice keys: TFMA's own function on its first row's features.
            first = (util.split_extracts(take_rows(sliced, rows[:1])) or [{}])[0]
            for key in self._slice_keys_fn.process(first, slice_spec)[0][
                    constants.SLICE_KEY_TYPES_KEY]:
                rows_of_slice.setdefault(key, []).append(rows)
        for key, parts in rows_of_slice.items():
            rows = np.sort(np.concatenate(parts))
            # The whole batch (e.g. the overall slice) is passed on without a copy.
            selected = dict(extract) if rows.size == size else take_rows(extract, rows)
            selected[constants.SLICE_KEY_TYPES_KEY] = slicer_lib.slice_keys_to_numpy_array([key])
            yield selected
