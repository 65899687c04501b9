"""The Trainer side of the bucket boundaries: one source of α and the grid spec, validation first."""
import json
import types

import numpy as np
import pytest

from pipelines.watch_time import configs, model_factory, trainer
from wt_keras.buckets import BucketBoundaries, InvalidBoundariesError
from wt_keras.models import bucket_tables, build_head


@pytest.fixture(scope="module")
def boundaries():
    rng = np.random.default_rng(7)
    duration = rng.uniform(5.0, 90.0, 800)
    watch = np.round(duration * rng.beta(1.0, 1.8, 800), 1)
    return bucket_tables(watch, duration, grid_spec="uniform:10", time_scale=1.0,
                         cread_num_buckets=10, d2q_num_groups=4, num_quantiles=11)


def test_count_heads_take_alpha_from_the_boundaries(boundaries):
    head = build_head("swat_geo", boundaries)
    assert head.time_scale == boundaries.time_scale == 1.0
    np.testing.assert_array_equal(head.boundaries, boundaries.boundaries)
    assert build_head("geometric", boundaries).time_scale == 1.0
    assert build_head("swat_geo", boundaries, time_scale=1.0).time_scale == 1.0  # a confirmation


def test_a_second_alpha_is_refused(boundaries):
    with pytest.raises(ValueError, match=r"time_scale=10 differs .* α has one source"):
        build_head("swat_geo", boundaries, time_scale=10.0)
    with pytest.raises(TypeError, match="needs a wt_keras.buckets.BucketBoundaries, got dict"):
        build_head("swat_geo", boundaries.to_dict())


def _custom(**changes):
    return dict(configs.PipelineConfig().trainer_custom_config(), **changes)


def test_the_trainer_checks_its_settings_against_the_boundaries(boundaries):
    assert model_factory.check_boundaries(boundaries, _custom(grid_spec="uniform:10")) is boundaries
    assert model_factory.check_boundaries(boundaries, _custom(grid_spec="uniform:10",
                                                              time_scale=1.0)) is boundaries
    with pytest.raises(ValueError, match=r"built with time_scale=1\.0 .* say time_scale=10\.0"):
        model_factory.check_boundaries(boundaries, _custom(grid_spec="uniform:10",
                                                           time_scale=10.0))
    with pytest.raises(ValueError, match=r"grid_spec='uniform:10' .* grid_spec='uniform:20'"):
        model_factory.check_boundaries(boundaries, _custom(grid_spec="uniform:20"))
    with pytest.raises(TypeError, match="BucketBoundaries.from_json"):
        model_factory.check_boundaries(boundaries.to_dict(), _custom())


def test_run_fn_validates_the_boundaries_before_training(boundaries, tmp_path):
    payload = json.loads(boundaries.to_json())
    payload["d2q"]["quantile_table"][0] = payload["d2q"]["quantile_table"][0][::-1]
    fn_args = types.SimpleNamespace(
        hyperparameters=payload, schema_path=str(tmp_path / "missing.pbtxt"),
        train_files=[], eval_files=[], custom_config=_custom(grid_spec="uniform:10"),
        serving_model_dir=str(tmp_path / "model"), model_run_dir=str(tmp_path / "run"),
        data_accessor=None)
    with pytest.raises(InvalidBoundariesError, match="Trainer's hyperparameters .* non-decreasing"):
        trainer.run_fn(fn_args)
    assert not (tmp_path / "model").exists()


def test_boundaries_round_trip_through_the_trainer_file_format(boundaries, tmp_path):
    from pipelines.watch_time.components import boundary_schema
    path = boundary_schema.write_bucket_boundaries(boundaries, str(tmp_path))
    assert boundary_schema.load_bucket_boundaries(path) == boundaries
    # What the TFX Trainer hands run_fn: the file decoded by json.
    with open(path) as handle:
        assert BucketBoundaries.from_json(json.load(handle)) == boundaries
