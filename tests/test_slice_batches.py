"""`slice_batches`: a TFMA batch becomes one extract per slice group, rows kept whole."""
import numpy as np
import pytest

from pipelines.watch_time.evaluation import slice_batches

import tensorflow_model_analysis as tfma  # noqa: E402  (after wt_keras: Keras 2)
from tensorflow_model_analysis import constants  # noqa: E402
from tensorflow_model_analysis.api import types  # noqa: E402


def _config(*slicing_specs):
    return tfma.EvalConfig(model_specs=[tfma.ModelSpec(label_key="y")],
                           slicing_specs=list(slicing_specs))


def _run(eval_config, extract):
    extractor = slice_batches.SliceBatchesExtractor(eval_config)
    do_fn = extractor.ptransform.fn
    specs = extractor.ptransform.kwargs["slice_spec"]
    return list(do_fn.process(extract, specs))


def _batch(platforms):
    size = len(platforms)
    return {constants.FEATURES_KEY: {"platform": np.array(platforms, object)[:, None],
                                     "score": np.arange(size, dtype=np.float32)[:, None]},
            constants.LABELS_KEY: np.arange(size, dtype=np.float32) * 10.0,
            constants.PREDICTIONS_KEY: {"watch_time": np.arange(size, dtype=np.float32)},
            constants.INPUT_KEY: np.array([b"row%d" % row for row in range(size)], object)}


def _rows(extract):
    return (extract[constants.LABELS_KEY] / 10).astype(int).tolist()


def _by_slice(extracts):
    by_slice = {}
    for extract in extracts:
        (key,) = extract[constants.SLICE_KEY_TYPES_KEY]     # one slice key per extract
        assert key not in by_slice
        by_slice[key] = extract
    return by_slice


def test_each_slice_of_a_batch_gets_one_extract_with_its_rows_and_their_values():
    platforms = [b"ios", b"android", b"ios", b"web", b"android", b"ios"]
    by_slice = _by_slice(_run(
        _config(tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["platform"])),
        _batch(platforms)))
    assert set(by_slice) == {(), (("platform", "ios"),), (("platform", "android"),),
                             (("platform", "web"),)}
    assert _rows(by_slice[()]) == list(range(6))
    for key, extract in by_slice.items():
        rows = _rows(extract)
        if key:
            assert rows == [row for row, platform in enumerate(platforms)
                            if platform.decode() == key[0][1]]
        np.testing.assert_array_equal(extract[constants.PREDICTIONS_KEY]["watch_time"], rows)
        np.testing.assert_array_equal(extract[constants.FEATURES_KEY]["score"][:, 0], rows)
        assert list(extract[constants.INPUT_KEY]) == [b"row%d" % row for row in rows]


def test_without_feature_slices_the_whole_batch_is_one_extract():
    extracts = _run(_config(tfma.SlicingSpec()), _batch([b"a", b"b", b"c"]))
    assert len(extracts) == 1
    np.testing.assert_array_equal(extracts[0][constants.LABELS_KEY], [0.0, 10.0, 20.0])
    assert list(extracts[0][constants.SLICE_KEY_TYPES_KEY]) == [()]


def test_a_multivalent_sliced_feature_puts_a_row_in_each_of_its_slices():
    extract = _batch([b"a", b"b", b"c"])
    extract[constants.FEATURES_KEY]["tags"] = types.VarLenTensorValue.from_dense_rows(
        [np.array([b"x", b"y"]), np.array([b"x"]), np.array([], object)])
    by_slice = _by_slice(_run(
        _config(tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["tags"])), extract))
    assert {key: _rows(value) for key, value in by_slice.items()} == {
        (): [0, 1, 2], (("tags", "x"),): [0, 1], (("tags", "y"),): [0]}


def test_batch_slicing_replaces_unbatch_and_slice_key_stages_only():
    config = _config(tfma.SlicingSpec())
    defaults = [tfma.extractors.Extractor(stage_name=name, ptransform=None) for name in
                ("ExtractFeatures", "ExtractLabels", "ExtractUnbatchedInputs",
                 "ExtractSliceKeys")]
    replaced = slice_batches.batch_slicing(defaults, config)
    assert [e.stage_name for e in replaced] == ["ExtractFeatures", "ExtractLabels",
                                                "ExtractSliceKeys"]
    assert replaced[-1] is not defaults[-1]
    sql = _config(tfma.SlicingSpec(slice_keys_sql="SELECT STRUCT(platform) FROM example"))
    assert slice_batches.batch_slicing(defaults, sql) == defaults


def test_unknown_batched_values_are_refused_clearly():
    with pytest.raises(TypeError, match="cannot take rows"):
        slice_batches.take_rows({"x": object()}, np.array([0]))
