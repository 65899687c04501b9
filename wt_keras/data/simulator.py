"""Seeded watch-time simulator grounded in the real KuaiRand-Pure users and videos.

This is the project's built-in default data. Generative story (every constant is a
``SimulatorConfig`` field; σ(x) = 1/(1+e^-x); z(x) = standardised over the sampled users):

1. Catalogue. Draw ``num_users`` distinct real users (with their real features) from
   the 27,285 KuaiRand-Pure users, and ``num_videos`` distinct real videos from the
   7,344 Pure videos with a known duration; d = ``video_duration``/1000 s (real).
2. Latent taste. User bias b_u = degree_bias[user_active_degree] + 0.2·z(log1p
   register_days) + N(0, 0.6²); video quality q_v = e[upload_type] + N(0, 0.7²) with
   e[·] ~ N(0, 0.3²) per upload type; factors P_u, Q_v ~ N(0, I_8). Affinity
   a(u, v) = b_u + q_v + 0.5·P_u·Q_v/√8. Affinity drives every behaviour below; most of
   its variance is per-user and per-video, so id embeddings can learn it.
3. Exposure. Each row draws its user ∝ activity[user_active_degree]·LogNormal(0, 0.5)
   and its video ∝ r^-0.7 (r = a random popularity rank), independently.
4. Behaviour (the latent ``behavior`` column). With probability 0.05 the row is a
   "swipe". Otherwise softmax over three logits, with focus f_u = degree_focus[
   user_active_degree] + 0.5·clip(z(log1p register_days), -2, 2):
   sequential: ln 0.55 + f_u; jumping: ln 0.35 - f_u;
   replay: ln 0.25 + 0.8·a - 1.5·ln(max(d/20 s, 1)).
   Focused (long-registered, very active) users watch sequentially; new or
   low-activity users wander; short videos and liked videos get replayed.
   degree_bias/degree_focus/activity are full_active 0.3/0.2/3, high_active
   0.15/-0.1/2, middle_active 0/-0.3/1.2, any other degree -0.3/-0.8/0.6.
   Marginals at the default size (seeds 0-2): sequential ≈ 0.575, jumping ≈ 0.287,
   replay ≈ 0.088, swipe ≈ 0.050.
5. Progress buckets of a video: edges 0 < h < 0.5d < 0.9d < d with h = min(3 s, 0.3d)
   ("hook", "first half", "middle", "ending").
   * sequential (SWaT-Geo, focused user): in bucket k the user continues each second
     with probability r_k = σ(c_k + 2a), c = (1.5, 3.5, 4.0, 2.5): low in the hook
     (swipe-away), high in the middle, lower near the end. Completed seconds
     L ~ Geometric, P(L ≥ l) = r_k^l; the user stops at edge_{k-1} + L + U(0,1) if that
     is inside bucket k, else moves to bucket k+1; a user who passes all four stops at d.
   * jumping (SWaT-Binom, wandering user): each whole second of bucket k (edges rounded)
     is watched independently with probability σ(j_k + 2a), j = (1.0, -1.0, -1.5, -0.5);
     T = min(Σ_k Binomial(n_k, ·) + U(0,1), d).
   * replay: the whole video, then K extra loops with P(K ≥ k) = σ(-0.5 + 0.5·a)^k and a
     final partial loop: T = d·(1 + K + U(0,1)) > d.
   * swipe: T = U(0, min(2 s, d)) whatever the affinity.
6. Logging noise: non-swipe T ← T·exp(0.15·ε - 0.15²/2), ε ~ N(0, 1).
   (So rows that reached the end can log slightly more than d; T well beyond d is a replay.)
7. Labels and context: ``play_time_ms`` = round(1000·T), ``watch_time_s`` =
   play_time_ms/1000; ``is_click`` ~ Bernoulli(σ(-2 + 0.8·a)); ``time_ms`` = 2022-04-08
   00:00 (UTC+8) plus the cumulative sum of exponential gaps spread over 14 days (rows
   are in time order), ``date`` = its YYYYMMDD day.

``behavior``, ``is_click``, ``play_time_ms`` and ``watch_time_s`` are label-side
columns (LABEL_SIDE_COLUMNS): models must not use them as features; ``behavior``
exists only for analysis. The output contains real KuaiRand values (CC BY-SA 4.0,
see ``assets/NOTICE.md``): keep that attribution with generated files.
"""
import dataclasses
import os
from typing import Tuple

import numpy as np
import pandas as pd

from wt_keras.data import kuairand

BEHAVIORS = ("sequential", "jumping", "replay", "swipe")
LABEL_COLUMN = "watch_time_s"
DURATION_COLUMN = "duration_s"
LABEL_SIDE_COLUMNS = ("play_time_ms", "watch_time_s", "is_click", "behavior")
FEATURE_COLUMNS = (("user_id", "video_id", "duration_s")
                   + kuairand.USER_FEATURE_COLUMNS + kuairand.VIDEO_FEATURE_COLUMNS)
OUTPUT_COLUMNS = (("time_ms", "date", "user_id", "video_id", "play_time_ms",
                   "duration_ms", "is_click", "watch_time_s", "duration_s")
                  + kuairand.USER_FEATURE_COLUMNS + kuairand.VIDEO_FEATURE_COLUMNS
                  + ("behavior",))

_DEGREE_BIAS = {"full_active": 0.3, "high_active": 0.15, "middle_active": 0.0}
_DEGREE_FOCUS = {"full_active": 0.2, "high_active": -0.1, "middle_active": -0.3}
_DEGREE_ACTIVITY = {"full_active": 3.0, "high_active": 2.0, "middle_active": 1.2}
_OTHER_DEGREE = {"bias": -0.3, "focus": -0.8, "activity": 0.6}


@dataclasses.dataclass(frozen=True)
class SimulatorConfig:
    """Knobs of the generative story (module docstring); defaults are the documented ones."""
    latent_dim: int = 8
    factor_scale: float = 0.5
    user_noise_sd: float = 0.6
    video_noise_sd: float = 0.7
    upload_type_sd: float = 0.3
    register_days_weight: float = 0.2
    user_activity_sd: float = 0.5
    popularity_exponent: float = 0.7
    swipe_probability: float = 0.05
    mode_weights: Tuple[float, float, float] = (0.55, 0.35, 0.25)  # seq, jump, replay
    focus_register_weight: float = 0.5
    replay_affinity: float = 0.8
    replay_length_penalty: float = 1.5
    short_video_seconds: float = 20.0
    hook_seconds: float = 3.0
    hook_max_fraction: float = 0.3
    progress_fractions: Tuple[float, float] = (0.5, 0.9)
    sequential_logits: Tuple[float, ...] = (1.5, 3.5, 4.0, 2.5)
    jumping_logits: Tuple[float, ...] = (1.0, -1.0, -1.5, -0.5)
    affinity_slope: float = 2.0
    replay_loop_logit: float = -0.5
    replay_loop_affinity: float = 0.5
    swipe_max_seconds: float = 2.0
    log_noise_sd: float = 0.15
    click_intercept: float = -2.0
    click_affinity: float = 0.8
    start_time_ms: int = 1_649_347_200_000  # 2022-04-08 00:00 UTC+8, KuaiRand's first day
    span_days: float = 14.0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _zscore(x):
    return (x - x.mean()) / (x.std() + 1e-12)


def _by_degree(degrees, table, other):
    return degrees.map(table).fillna(other).to_numpy(dtype=np.float64)


def _progress_edges(d, cfg):
    hook = np.minimum(cfg.hook_seconds, cfg.hook_max_fraction * d)
    first, second = cfg.progress_fractions
    return np.stack([np.zeros_like(d), hook, first * d, second * d, d], axis=1)


def _sequential(d, a, rng, cfg):
    edges = _progress_edges(d, cfg)
    watch = d.copy()  # users who never stop inside a bucket watch to the end
    watching = np.ones(len(d), dtype=bool)
    for k, logit in enumerate(cfg.sequential_logits):
        keep = np.minimum(_sigmoid(logit + cfg.affinity_slope * a), 1 - 1e-9)
        # Geometric run length instead of a per-second loop: P(L >= l) = keep**l.
        position = rng.geometric(1.0 - keep) - 1 + rng.random(len(d))
        stops = watching & (position < edges[:, k + 1] - edges[:, k])
        watch[stops] = edges[stops, k] + position[stops]
        watching &= ~stops
    return watch


def _jumping(d, a, rng, cfg):
    edges = np.round(_progress_edges(d, cfg))
    seconds = np.zeros(len(d))
    for k, logit in enumerate(cfg.jumping_logits):
        whole_seconds = (edges[:, k + 1] - edges[:, k]).astype(np.int64)
        seconds += rng.binomial(whole_seconds, _sigmoid(logit + cfg.affinity_slope * a))
    return np.minimum(seconds + rng.random(len(d)), d)


def _replay(d, a, rng, cfg):
    loop_again = np.minimum(_sigmoid(cfg.replay_loop_logit + cfg.replay_loop_affinity * a),
                            1 - 1e-9)
    extra_loops = rng.geometric(1.0 - loop_again) - 1
    return d * (1.0 + extra_loops + rng.random(len(d)))


def _draw_behaviors(focus, a, d, rng, cfg):
    w_seq, w_jump, w_replay = np.log(cfg.mode_weights)
    logits = np.stack([w_seq + focus, w_jump - focus,
                       w_replay + cfg.replay_affinity * a - cfg.replay_length_penalty
                       * np.log(np.maximum(d / cfg.short_video_seconds, 1.0))], axis=1)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    mode = np.minimum((rng.random(len(d))[:, None] > cumulative).sum(axis=1), 2)
    return np.where(rng.random(len(d)) < cfg.swipe_probability, 3, mode)


def _user_terms(users, cfg, rng):
    degree = users["user_active_degree"]
    z_register = _zscore(np.log1p(users["register_days"].to_numpy(dtype=np.float64)))
    bias = (_by_degree(degree, _DEGREE_BIAS, _OTHER_DEGREE["bias"])
            + cfg.register_days_weight * z_register
            + rng.normal(0.0, cfg.user_noise_sd, len(users)))
    focus = (_by_degree(degree, _DEGREE_FOCUS, _OTHER_DEGREE["focus"])
             + cfg.focus_register_weight * np.clip(z_register, -2, 2))
    activity = (_by_degree(degree, _DEGREE_ACTIVITY, _OTHER_DEGREE["activity"])
                * rng.lognormal(0.0, cfg.user_activity_sd, len(users)))
    return bias, focus, activity


def _video_quality(videos, cfg, rng):
    upload_types = np.array(sorted(videos["upload_type"].unique()))
    type_effect = rng.normal(0.0, cfg.upload_type_sd, len(upload_types))
    effect = type_effect[np.searchsorted(upload_types, videos["upload_type"].to_numpy())]
    return effect + rng.normal(0.0, cfg.video_noise_sd, len(videos))


def _sample_rows(table, size, rng, what):
    if size > len(table) or size < 1:
        raise ValueError(f"num_{what}={size} is out of range: the bundled KuaiRand-Pure "
                         f"table has {len(table)} {what}; pass 1..{len(table)}.")
    return table.iloc[np.sort(rng.choice(len(table), size, replace=False))].reset_index(
        drop=True)


def simulate_interactions(num_rows=200_000, num_users=5_000, num_videos=4_000, seed=0,
                          config=None):
    """Simulates a KuaiRand-like interaction log (see the module docstring).

    Args:
      num_rows: number of interactions (rows).
      num_users: distinct real users drawn from KuaiRand-Pure (≤ 27,285).
      num_videos: distinct real videos with a duration drawn from KuaiRand-Pure (≤ 7,344).
      seed: seed of the only random generator used; same seed → identical frame.
      config: a SimulatorConfig; None uses the documented defaults.

    Returns:
      DataFrame with OUTPUT_COLUMNS, one row per interaction, in time order.
    """
    cfg = config or SimulatorConfig()
    if num_rows < 1:
        raise ValueError(f"num_rows must be >= 1, got {num_rows}.")
    rng = np.random.default_rng(seed)
    users = _sample_rows(kuairand.load_user_table(), num_users, rng, "users")
    videos = _sample_rows(kuairand.load_video_table(), num_videos, rng, "videos")
    user_bias, focus, activity = _user_terms(users, cfg, rng)
    quality = _video_quality(videos, cfg, rng)
    user_factors = rng.standard_normal((num_users, cfg.latent_dim))
    video_factors = rng.standard_normal((num_videos, cfg.latent_dim))

    u = rng.choice(num_users, num_rows, p=activity / activity.sum())
    popularity = (rng.permutation(num_videos) + 1.0) ** -cfg.popularity_exponent
    v = rng.choice(num_videos, num_rows, p=popularity / popularity.sum())
    affinity = (user_bias[u] + quality[v] + cfg.factor_scale / np.sqrt(cfg.latent_dim)
                * np.einsum("ij,ij->i", user_factors[u], video_factors[v]))
    duration_ms = videos["duration_ms"].to_numpy()[v]
    d = duration_ms / 1000.0

    mode = _draw_behaviors(focus[u], affinity, d, rng, cfg)
    watch = rng.uniform(0.0, np.minimum(cfg.swipe_max_seconds, d))  # mode 3: swipe
    for code, behave in enumerate((_sequential, _jumping, _replay)):
        rows = mode == code
        watch[rows] = behave(d[rows], affinity[rows], rng, cfg)
    noise = np.exp(cfg.log_noise_sd * rng.standard_normal(num_rows) - cfg.log_noise_sd ** 2 / 2)
    watch = np.where(mode == 3, watch, watch * noise)
    play_time_ms = np.round(watch * 1000.0).astype(np.int64)

    gaps = rng.exponential(cfg.span_days * 86_400_000 / num_rows, num_rows)
    time_ms = cfg.start_time_ms + np.floor(np.cumsum(gaps)).astype(np.int64)
    day = (time_ms - cfg.start_time_ms) // 86_400_000
    first_day = pd.Timestamp(cfg.start_time_ms + 8 * 3_600_000, unit="ms").normalize()
    day_codes = (first_day + pd.to_timedelta(np.arange(day.max() + 1), unit="D"))
    frame = pd.DataFrame({
        "time_ms": time_ms,
        "date": day_codes.strftime("%Y%m%d").astype(np.int64).to_numpy()[day],
        "user_id": users["user_id"].to_numpy()[u],
        "video_id": videos["video_id"].to_numpy()[v],
        "play_time_ms": play_time_ms,
        "duration_ms": duration_ms,
        "is_click": (rng.random(num_rows) < _sigmoid(
            cfg.click_intercept + cfg.click_affinity * affinity)).astype(np.int64),
        "watch_time_s": play_time_ms / 1000.0,
        "duration_s": d,
    })
    for column in kuairand.USER_FEATURE_COLUMNS:
        frame[column] = users[column].to_numpy()[u]
    for column in kuairand.VIDEO_FEATURE_COLUMNS:
        frame[column] = videos[column].to_numpy()[v]
    frame["behavior"] = np.asarray(BEHAVIORS)[mode]
    return frame


def write_simulated_csv(path_or_dir, **simulate_kwargs):
    """Simulates (see :func:`simulate_interactions`) and writes the pipeline's CSV.

    Args:
      path_or_dir: a ``.csv`` file path, or a directory that receives
        ``interactions.csv`` (created if missing).
      **simulate_kwargs: num_rows, num_users, num_videos, seed, config.

    Returns:
      The path of the written CSV file.
    """
    path = os.fspath(path_or_dir)
    if not path.endswith(".csv"):
        path = os.path.join(path, "interactions.csv")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    simulate_interactions(**simulate_kwargs).to_csv(path, index=False)
    return path
