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


def test_rows_are_grouped_by_the_sliced_feature_and_keep_their_values():
    platforms = [b"ios", b"android", b"ios", b"web", b"android", b"ios"]
    groups = _run(_config(tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["platform"])),
                  _batch(platforms))
    assert len(groups) == 3
    seen = []
    for group in groups:
        labels = group[constants.LABELS_KEY]
        rows = (labels / 10).astype(int)
        seen.extend(rows.tolist())
        platform = {platforms[row] for row in rows}
        assert len(platform) == 1
        platform = platform.pop().decode()
        np.testing.assert_array_equal(group[constants.PREDICTIONS_KEY]["watch_time"], rows)
        np.testing.assert_array_equal(group[constants.FEATURES_KEY]["score"][:, 0], rows)
        assert list(group[constants.INPUT_KEY]) == [b"row%d" % row for row in rows]
        assert set(group[constants.SLICE_KEY_TYPES_KEY]) == {(), (("platform", platform),)}
    assert sorted(seen) == list(range(len(platforms)))


def test_without_feature_slices_the_whole_batch_is_one_group():
    groups = _run(_config(tfma.SlicingSpec()), _batch([b"a", b"b", b"c"]))
    assert len(groups) == 1
    np.testing.assert_array_equal(groups[0][constants.LABELS_KEY], [0.0, 10.0, 20.0])
    assert list(groups[0][constants.SLICE_KEY_TYPES_KEY]) == [()]


def test_a_multivalent_sliced_feature_gives_one_row_a_group():
    extract = _batch([b"a", b"b", b"c"])
    extract[constants.FEATURES_KEY]["tags"] = types.VarLenTensorValue.from_dense_rows(
        [np.array([b"x", b"y"]), np.array([b"x"]), np.array([], object)])
    groups = _run(_config(tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["tags"])), extract)
    assert [group[constants.LABELS_KEY].tolist() for group in groups] == [[0.0], [10.0], [20.0]]
    assert set(groups[0][constants.SLICE_KEY_TYPES_KEY]) == {(), (("tags", "x"),),
                                                              (("tags", "y"),)}
    assert set(groups[2][constants.SLICE_KEY_TYPES_KEY]) == {()}


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
