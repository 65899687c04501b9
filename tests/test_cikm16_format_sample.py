"""The CIKM16-format sample writer round-trips through the real converter."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd

from wt_keras.data.formats import cikm16

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sample_converts_like_the_real_file(tmp_path):
    out = tmp_path / "queries"
    subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "cikm16_format_sample.py"),
                    "--rows", "1500", "--divisor", "20", "--output", str(out)],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": REPO})
    raw = pd.read_csv(out / "train-queries.csv", sep=";", keep_default_na=False)
    assert tuple(raw.columns) == cikm16.QUERIES_HEADER
    frame, _ = cikm16.convert(str(out))
    # The converter keeps exactly the queries under the 6,000 ms cap, in seconds.
    durations = pd.to_numeric(raw["duration"])
    assert len(frame) == int((durations < 6000).sum())
    assert frame["watch_time_s"].between(0.0, 6.0, inclusive="left").all()
    np.testing.assert_allclose(np.sort(frame["watch_time_s"].to_numpy()),
                               np.sort(durations[durations < 6000].to_numpy() / 1000.0))
    # The watched video is the first result item: the converter's video_id.
    first_items = raw.loc[durations < 6000, "items"].str.split(",").str[0].astype(int)
    assert sorted(frame["video_id"].astype(int)) == sorted(first_items)
