"""Writes a CIKM16-format `train-queries.csv` whose dwell times come from the simulator.

DIGINETICA's CIKM Cup 2016 logs cannot be redistributed, yet the benchmarks
should also run on data of that file format and label scale (search-page dwell
in [0, 6) s, no item duration). This writes simulator interactions in the
`train-queries.csv` layout, with the dwell = the simulated watch time
÷ `--divisor` (milliseconds); `wt-data prepare cikm16` then converts it
exactly as it converts the real file (the 6,000 ms cap drops the longest):

  python benchmarks/cikm16_format_sample.py --rows 60000 --output /tmp/cikm16_format
  wt-data prepare cikm16 --input /tmp/cikm16_format --output /tmp/cikm16_prepared
  python benchmarks/exum_bottom_gradient.py --data /tmp/cikm16_prepared ...

The labels are simulated: the file tests the format and the scale, not the
behaviour of real search sessions.
"""
import argparse
import os
import sys

import numpy as np
import pandas as pd

from wt_keras.data import simulate_interactions
from wt_keras.data.formats.cikm16 import QUERIES_HEADER


def queries_frame(rows, divisor, seed):
    """Simulated interactions laid out as DIGINETICA's train-queries.csv."""
    rng = np.random.default_rng(seed)
    sim = simulate_interactions(num_rows=rows, seed=seed)
    n = len(sim)
    video = sim["video_id"].to_numpy()
    # Result lists: the watched video first (the converter's video_id), then 1-9 others.
    others = rng.choice(np.unique(video), size=(n, 9))
    lengths = rng.integers(1, 10, size=n)
    items = [",".join(map(str, [v, *o[:k]])) for v, o, k in zip(video, others, lengths)]
    # Search tokens derived from the video (so they carry signal); a fifth of the queries
    # are category browsing: no tokens, a category id instead.
    browsing = rng.random(n) < 0.2
    tokens = ["" if b else f"{v % 9973},{v % 101 + 20000}" for v, b in zip(video, browsing)]
    category = [str(v % 50 + 1) if b else "" for v, b in zip(video, browsing)]
    days = pd.Timestamp("2016-05-01") + pd.to_timedelta(np.arange(n) * 30 // max(n, 1), "D")
    return pd.DataFrame({
        "queryId": np.arange(1, n + 1),
        "sessionId": np.arange(n) // 3 + 1,
        "userId": sim["user_id"].astype(str).to_numpy(),
        "timeframe": rng.integers(0, 600_000, size=n),
        "duration": np.round(sim["watch_time_s"].to_numpy() * 1000.0 / divisor).astype(np.int64),
        "eventdate": days.strftime("%Y-%m-%d"),
        "searchstring.tokens": tokens,
        "categoryId": category,
        "items": items,
        "is.test": "FALSE",
    }, columns=list(QUERIES_HEADER))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--divisor", type=float, default=20.0,
                        help="simulated seconds per dwell second (default 20: 120 s → 6 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="folder for train-queries.csv")
    args = parser.parse_args(argv)
    if args.divisor <= 0:
        parser.error(f"--divisor must be > 0, got {args.divisor}")
    frame = queries_frame(args.rows, args.divisor, args.seed)
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "train-queries.csv")
    frame.to_csv(path, sep=";", index=False)
    kept = frame["duration"] < 6000
    print(f"wrote {path}: {len(frame):,} queries, {kept.mean():.1%} under the 6,000 ms cap, "
          f"median dwell {frame.loc[kept, 'duration'].median() / 1000:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
