"""Small learnable interaction data for model tests (not the simulator)."""
import numpy as np


def interactions(num_rows=4000, num_users=40, num_videos=60, seed=0):
    """Watch time driven by a user factor, a video factor and the duration."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, num_users, num_rows)
    video = rng.integers(0, num_videos, num_rows)
    user_taste = rng.normal(0.0, 0.8, num_users)
    video_quality = rng.normal(0.0, 0.8, num_videos)
    duration = rng.choice([8.0, 15.0, 30.0, 60.0], num_videos)[video]
    share = 1.0 / (1.0 + np.exp(-(user_taste[user] + video_quality[video])))
    watch_time = rng.exponential(duration * share)
    return {"user_id": user.astype(np.int64), "video_id": video.astype(np.int64),
            "duration_s": duration.astype(np.float32), "watch_time_s": watch_time.astype(np.float32),
            "is_click": (rng.uniform(size=num_rows) < share).astype(np.float32)}


def split(features, fraction=0.8):
    n = len(features["watch_time_s"])
    cut = int(n * fraction)
    return ({k: v[:cut] for k, v in features.items()}, {k: v[cut:] for k, v in features.items()})
