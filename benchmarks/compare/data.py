"""The rows a benchmark trains on: the built-in simulator or a `wt-data prepare` CSV."""
import os

import pandas as pd

from wt_keras.data import simulate_interactions

REQUIRED_COLUMNS = ("watch_time_s", "duration_s", "user_id", "video_id")


def load_frame(data, rows, seed):
    """(frame, source): simulator rows, or the `data` CSV (or folder) sampled down to `rows`.

    Args:
      data: None for the simulator, else an interactions CSV written by
        `wt-data prepare` or the folder holding its `interactions.csv`.
      rows: simulated rows, or rows sampled from `data` (0 or None = all).
      seed: simulator / sampling seed.
    """
    if not data:
        return simulate_interactions(num_rows=rows, seed=seed), "built-in simulator"
    path = os.path.join(data, "interactions.csv") if os.path.isdir(data) else data
    frame = pd.read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame]
    if missing:
        raise SystemExit(f"{path} lacks columns {missing}: pass a `wt-data prepare` output.")
    if rows and len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed).reset_index(drop=True)
    return frame, path
