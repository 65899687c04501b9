"""Percentile grid specs for bucket endpoints, and the SWaT presets.

A grid spec lists the percent levels (in (0, 100]) at which the training
labels' percentiles become bucket endpoints t_1 < … < t_K (t_0 = 0 is
implicit). The presets are the six choices of the SWaT paper's bucket
ablation (Yang et al., KDD 2025, Section 4.2.6 / Table 3).
"""
import re

import numpy as np

PRESETS = {
    # Uniform grids of 5-, 2- and 1-percentiles.
    "swat_choice_1": "0-100:5",
    "swat_choice_2": "0-100:2",
    "swat_choice_3": "0-100:1",
    # 2-percentiles up to 96, then 5-percentiles *of the remaining 4 %*
    # (0.05 * 4 = 0.2 points), then 2-percentiles of it (0.08 points).
    "swat_choice_4": "0-96:2,96-100:0.2",
    "swat_choice_5": "0-96:2,96-100:0.08",
    # 1-percentiles up to 90, then 1-percentiles of the remaining 10 %.
    "swat_choice_6": "0-90:1,90-100:0.1",
}

_ACCEPTED_FORMS = (
    "Accepted forms: 'uniform:K' (K >= 1 equal-frequency buckets); segments "
    "'A-B:STEP[,B-C:STEP2,...]' in percent with 0 <= A < B <= 100, STEP > 0 "
    "dividing B-A, the first segment starting at 0 and each next one starting "
    "where the previous ended (e.g. '0-96:2,96-100:0.2'); or a preset name: "
    + ", ".join(sorted(PRESETS)) + ".")
_NUMBER = r"([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)"
_SEGMENT = re.compile(rf"^\s*{_NUMBER}\s*-\s*{_NUMBER}\s*:\s*{_NUMBER}\s*$")
_UNIFORM = re.compile(r"^\s*uniform\s*:\s*([+-]?\d+)\s*$", re.IGNORECASE)
# Relative slack for "STEP divides B-A": 4 / 0.08 is 49.99999999999999 in
# binary floating point and must still count as exactly 50 steps.
_DIVISIBILITY_TOLERANCE = 1e-6


def _malformed(spec, reason):
    return ValueError(f"Malformed grid spec {spec!r}: {reason}. "
                      + _ACCEPTED_FORMS)


def _segment_levels(spec, segment, expected_start):
    match = _SEGMENT.match(segment)
    if match is None:
        raise _malformed(spec, f"cannot read segment {segment!r}")
    start, stop, step = (float(group) for group in match.groups())
    if not 0 <= start < stop <= 100:
        raise _malformed(spec, f"segment {segment!r} needs 0 <= A < B <= 100")
    if step <= 0:
        raise _malformed(spec, f"segment {segment!r} has STEP {step:g} <= 0")
    if abs(start - expected_start) > 1e-9:
        where = ("the first segment must start at 0" if expected_start == 0
                 else f"segments must be contiguous and ascending: "
                      f"{segment!r} must start at {expected_start:g}")
        raise _malformed(spec, where)
    num_steps = (stop - start) / step
    rounded = round(num_steps)
    if rounded < 1 or abs(num_steps - rounded) > _DIVISIBILITY_TOLERANCE * rounded:
        raise _malformed(spec, f"STEP {step:g} does not divide {stop:g}-{start:g}")
    # Levels from integer step counts, not repeated addition, so the count is
    # exact and the last level is exactly B; rounding to 10 decimals removes
    # binary noise (96.08000000000001 -> 96.08).
    levels = start + (stop - start) * np.arange(1, rounded + 1) / rounded
    levels[-1] = stop
    return np.round(levels, 10), stop


def parse_grid_spec(spec):
    """Parses a grid spec into percent levels in (0, 100], strictly increasing.

    `uniform:K` gives levels 100·k / K for k = 1…K. A segment `A-B:STEP`
    gives A + STEP, A + 2·STEP, …, B; segments chain from 0 upwards.

    Args:
      spec: `"uniform:K"`, a segment list such as `"0-96:2,96-100:0.2"`, or a
        key of `PRESETS` such as `"swat_choice_4"`.

    Returns:
      np.ndarray (float64) of percent levels.

    Raises:
      ValueError: for malformed specs; the message lists the accepted forms.

    Example:
      >>> parse_grid_spec("uniform:4").tolist()
      [25.0, 50.0, 75.0, 100.0]
      >>> len(parse_grid_spec("swat_choice_4"))  # 48 + 20
      68
    """
    if not isinstance(spec, str):
        raise _malformed(spec, f"expected a string, got {type(spec).__name__}")
    text = PRESETS.get(spec.strip(), spec)
    uniform = _UNIFORM.match(text)
    if uniform is not None:
        num_buckets = int(uniform.group(1))
        if num_buckets < 1:
            raise _malformed(spec, f"'uniform:K' needs K >= 1, got {num_buckets}")
        return 100.0 * np.arange(1, num_buckets + 1) / num_buckets
    if not text.strip():
        raise _malformed(spec, "it is empty")
    parts, expected_start = [], 0.0
    for segment in text.split(","):
        levels, expected_start = _segment_levels(spec, segment, expected_start)
        parts.append(levels)
    return np.concatenate(parts)
