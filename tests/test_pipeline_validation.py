"""Bad data stops the real pipeline before training, naming the column and the problem.

Each case runs the whole pipeline (LocalDagRunner, in-memory Beam) on a tiny
CSV and checks the gate's message, and that neither BucketBoundaryGen nor the
Trainer executed (ML Metadata and the pipeline root).
"""
import os

import numpy as np
import pytest

from pipelines.watch_time import configs, local_runner, run_report, validation
from wt_keras.data import simulate_interactions

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
IN_MEMORY_BEAM = ("--direct_running_mode=in_memory",)


def _frame(rows=300):
    return simulate_interactions(num_rows=rows, num_users=200, num_videos=200,
                                 seed=3).drop(columns=["behavior"])


def _negative(frame):
    frame.loc[::25, "watch_time_s"] = -4.0
    return frame


def _nan(frame):
    frame.loc[::25, "watch_time_s"] = np.nan
    return frame


def _strings(frame):
    frame["watch_time_s"] = frame["watch_time_s"].astype(object)
    frame.loc[::25, "watch_time_s"] = "12 s"
    return frame


CASES = {
    "missing_column": (lambda frame: frame.drop(columns=["watch_time_s"]),
                       ["column 'watch_time_s'", "column is missing"]),
    "negative": (_negative, ["column 'watch_time_s'", "negative values", ">= 0"]),
    "nan": (_nan, ["column 'watch_time_s'", "NaN"]),
    "wrong_type": (_strings, ["column 'watch_time_s'", "wrong type", "got STRING"]),
    # One data row: the hash split leaves one of train/eval without examples.
    "empty_split": (lambda frame: frame.iloc[:1], ["is empty (0 examples)"]),
}


def _run(tmp_path, frame):
    data = tmp_path / "data"
    data.mkdir()
    frame.to_csv(data / "interactions.csv", index=False, na_rep="nan")
    config = configs.PipelineConfig(
        data_root=str(data), pipeline_root=str(tmp_path / "root"),
        metadata_path=str(tmp_path / "metadata.sqlite"),
        serving_model_dir=str(tmp_path / "saved_models"), beam_pipeline_args=IN_MEMORY_BEAM)
    with pytest.raises(validation.DataValidationError) as raised:
        local_runner.run(config, stream=open(os.devnull, "w"))
    return config, str(raised.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_data_stops_before_training(tmp_path, case):
    corrupt, expected = CASES[case]
    config, message = _run(tmp_path, corrupt(_frame()))
    for words in expected:
        assert words in message, message
    assert "stopped before training" in message

    store = run_report.open_store(config.metadata_path)
    runs = run_report.component_runs(
        store, config.pipeline_name, ["DataValidationGate", "BucketBoundaryGen", "Trainer"])
    assert runs["DataValidationGate"].state == "FAILED"
    assert "BucketBoundaryGen" not in runs and "Trainer" not in runs
    assert not os.path.exists(os.path.join(config.pipeline_root, "Trainer"))
    assert not os.path.exists(config.serving_model_dir)
