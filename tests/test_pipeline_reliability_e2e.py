"""Real input through `wt-pipeline run`: an undeclared copy of the label and one absurd row.

Run 1 reads a CSV that holds `stay_ms` = watch time x 1000 (not declared:
ignored with a warning, so the model neither learns it nor needs it at
serving time) and one row with watch time 1e12 s (dropped, and counted in
the run summary). Run 2 trains longer: the Evaluator compares it with the
model run 1 pushed (the served baseline).
"""
import subprocess
import sys

import pytest
import tensorflow as tf

from pipelines.watch_time import configs
from wt_keras.data import simulate_interactions

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _run(work_dir, data, *extra):
    command = [sys.executable, "-m", "pipelines.watch_time.cli", "run", "--data", str(data),
               "--work-dir", str(work_dir), "--saved-models", str(work_dir / "saved_models"),
               "--beam-arg=--direct_running_mode=in_memory", "--min-xauc", "0.5", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_label_copy_is_ignored_and_the_outlier_dropped_and_reported(tmp_path):
    frame = simulate_interactions(num_rows=3000, seed=5).drop(columns=["behavior"])
    frame["stay_ms"] = frame["watch_time_s"] * 1000.0
    frame.loc[123, "watch_time_s"] = 1e12
    data = tmp_path / "data"
    data.mkdir()
    frame.to_csv(data / "interactions.csv", index=False)

    first = _run(tmp_path, data, "--epochs", "1")
    summary = first[first.index("component"):]   # the summary printed after the run
    assert "extreme labels: 1 dropped" in summary, summary
    assert "features used (built-in list): user_id, video_id, duration_s" in summary
    ignored = next(line for line in summary.splitlines()
                   if line.startswith("  warning: columns not declared as features"))
    assert "stay_ms" in ignored, summary
    assert "blessed: yes" in summary, summary
    rows_line = next(line for line in summary.splitlines() if line.startswith("rows: "))
    counts = [int(part.split()[-1].replace(",", "")) for part in rows_line[6:].split(", ")]
    assert sum(counts) == len(frame) - 1, rows_line   # the 1e12 s row never reached ExampleGen

    (version,) = (tmp_path / "saved_models" / configs.MODEL_NAME).iterdir()
    loaded = tf.saved_model.load(str(version))
    _, inputs = loaded.signatures["predict_raw"].structured_input_signature
    assert "stay_ms" not in inputs and "user_id" in inputs
    assert "time_ms" not in inputs and "play_time_ms" not in inputs

    second = _run(tmp_path, data, "--epochs", "2")
    metrics = second[second.index("metric (eval split)"):]
    mae_line = next(line for line in metrics.splitlines() if line.startswith("MAE (s)"))
    candidate, served = (float(value) for value in mae_line.split()[-2:])
    assert served > 0 and candidate > 0, metrics   # the served model was the baseline
