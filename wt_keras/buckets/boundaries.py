"""`BucketBoundaries`: everything the heads need from the training labels, as one value.

One frozen object carries the grid endpoints with the α (`time_scale`) and
grid spec they came from, the CREAD endpoints, the D2Q duration edges and
quantile tables, the rank error and the label statistics. It is built once
(`from_labels` exactly with numpy, or the pipeline's BucketBoundaryGen with
Beam), checked by `validate`, and travels as JSON (`to_json` / `from_json`,
versioned: see `_boundaries_json`); every consumer takes the object.
"""
import dataclasses
from typing import Optional, Tuple

import numpy as np

from wt_keras.buckets import _boundaries_checks, _boundaries_json
from wt_keras.buckets.cread import cread_boundaries
from wt_keras.buckets.d2q import D2QTables, d2q_tables
from wt_keras.buckets.percentiles import boundaries_from_percentiles
from wt_keras.buckets.time_scale import choose_time_scale


class InvalidBoundariesError(ValueError):
    """A `BucketBoundaries` (or its JSON) is inconsistent; the message says what and how to fix it."""


def _array(values, dtype=np.float64):
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)   # a frozen value object holds frozen arrays
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class BucketBoundaries:
    """Bucket endpoints, CREAD endpoints and D2Q tables from the training labels.

    Notation: endpoints 0 = t_0 < t_1 < ... < t_K (t_0 implicit). With α =
    `time_scale` > 0 the endpoints lie on the integer-unit grid,
    t_k = round(α t_k) / α, and the count heads use Y = round(α T) at this α
    (it has no other source); α = 0 keeps the endpoints in seconds as they
    are. D2Q: group g = #{edges <= d}; row g of the table holds the group's
    watch-time quantiles at levels linspace(0, 1, Q).

    Attributes:
      grid_spec: the percentile grid the endpoints came from.
      boundaries: t_1..t_K in seconds, K >= 2.
      time_scale: α, or 0 (not integerised).
      time_scale_source: "auto" (chosen on the labels) or "given".
      cread_boundaries, cread_alpha, cread_num_buckets: CREAD's EAD
        endpoints, its warp parameter and the M requested (K_cread <= M).
      d2q_duration_edges [G-1], d2q_quantile_table [G, Q], d2q_group_sizes [G].
      num_examples: n, training labels read.
      rank_error: ε, the rank-error bound of the endpoints (0 when exact).
      label_key, duration_key, split: where the labels came from.
      levels: percent level of each endpoint (None where unknown).
      sketch_size, sketch_exact, sketch_epsilon: the quantile summary used.
      cread_levels, cread_objective: CDF level of each CREAD endpoint; A_w + β A_b.
      d2q_rank_error, d2q_group_rank_errors: rank-error bounds of the edges and rows.
      tpm_grid_spec, tpm_boundaries: TPM's own grid (None: TPM uses `boundaries`).

    Example:
      >>> import numpy as np
      >>> from wt_keras.buckets import BucketBoundaries
      >>> rng = np.random.default_rng(0)
      >>> duration = rng.uniform(5.0, 60.0, 400)
      >>> watch = np.round(duration * rng.beta(1.0, 2.0, 400))
      >>> b = BucketBoundaries.from_labels(watch, duration, "uniform:10", time_scale=1.0,
      ...                                  cread_num_buckets=8, d2q_num_groups=4, num_quantiles=11)
      >>> b.num_buckets, b.time_scale, b.d2q_quantile_table.shape
      (10, 1.0, (4, 11))
      >>> BucketBoundaries.from_json(b.to_json()) == b
      True
    """
    grid_spec: str
    boundaries: np.ndarray
    time_scale: float
    cread_boundaries: np.ndarray
    cread_alpha: float
    cread_num_buckets: int
    d2q_duration_edges: np.ndarray
    d2q_quantile_table: np.ndarray
    d2q_group_sizes: np.ndarray
    num_examples: int
    rank_error: float = 0.0
    time_scale_source: str = "given"
    label_key: Optional[str] = None
    duration_key: Optional[str] = None
    split: Optional[str] = None
    levels: Optional[Tuple[Optional[float], ...]] = None
    sketch_size: Optional[int] = None
    sketch_exact: Optional[bool] = None
    sketch_epsilon: Optional[float] = None
    cread_levels: Optional[Tuple[Optional[float], ...]] = None
    cread_objective: Optional[float] = None
    d2q_rank_error: Optional[float] = None
    d2q_group_rank_errors: Optional[Tuple[float, ...]] = None
    tpm_grid_spec: Optional[str] = None
    tpm_boundaries: Optional[np.ndarray] = None

    def __post_init__(self):
        set_field = object.__setattr__   # frozen: normalise once, here
        for name in ("boundaries", "cread_boundaries", "d2q_duration_edges",
                     "d2q_quantile_table"):
            set_field(self, name, _array(getattr(self, name)))
        set_field(self, "d2q_group_sizes", _array(self.d2q_group_sizes, np.int64))
        if self.tpm_boundaries is not None:
            set_field(self, "tpm_boundaries", _array(self.tpm_boundaries))
        for name in ("levels", "cread_levels", "d2q_group_rank_errors"):
            if getattr(self, name) is not None:
                set_field(self, name, tuple(None if v is None else float(v)
                                            for v in getattr(self, name)))
        for name in ("time_scale", "cread_alpha", "rank_error"):
            set_field(self, name, float(getattr(self, name)))
        set_field(self, "num_examples", int(self.num_examples))
        set_field(self, "cread_num_buckets", int(self.cread_num_buckets))

    @property
    def num_buckets(self):
        """K, the number of grid endpoints."""
        return int(self.boundaries.size)

    @property
    def num_groups(self):
        """G, the number of D2Q duration groups."""
        return int(self.d2q_quantile_table.shape[0])

    @property
    def d2q_tables(self):
        """The D2Q part as `D2QTables` (for `d2q_quantile_label`, `d2q_watch_time`)."""
        return D2QTables(self.d2q_duration_edges, self.d2q_quantile_table, self.d2q_group_sizes)

    @property
    def head_time_scale(self):
        """α for the count heads: `time_scale`, or None when not integerised."""
        return self.time_scale or None

    @classmethod
    def from_labels(cls, watch_time, duration, grid_spec="uniform:20", time_scale=None,
                    cread_num_buckets=50, d2q_num_groups=30, num_quantiles=101,
                    tpm_grid_spec=None, label_key=None, duration_key=None):
        """Exact numpy boundaries of training labels (what BucketBoundaryGen approximates).

        `time_scale` None chooses α (`choose_time_scale`: the smallest power
        of ten keeping >= 90 % of the grid's distinct endpoints) and
        integerises at it; α > 0 integerises at α; 0 keeps seconds.
        """
        source = "given"
        if time_scale is None:
            time_scale, source = choose_time_scale(watch_time, grid_spec), "auto"
        boundaries = boundaries_from_percentiles(watch_time, grid_spec,
                                                 time_scale=time_scale or None)
        cread = cread_boundaries(watch_time, num_buckets=cread_num_buckets)
        d2q = d2q_tables(watch_time, duration, num_groups=d2q_num_groups,
                         num_quantiles=num_quantiles)
        tpm = (None if tpm_grid_spec is None
               else boundaries_from_percentiles(watch_time, tpm_grid_spec))
        return cls(grid_spec=grid_spec, boundaries=boundaries, time_scale=float(time_scale or 0.0),
                   time_scale_source=source, cread_boundaries=cread.boundaries,
                   cread_alpha=cread.alpha, cread_num_buckets=cread_num_buckets,
                   d2q_duration_edges=d2q.duration_edges, d2q_quantile_table=d2q.quantile_table,
                   d2q_group_sizes=d2q.group_sizes, num_examples=np.size(watch_time),
                   label_key=label_key, duration_key=duration_key,
                   tpm_grid_spec=tpm_grid_spec, tpm_boundaries=tpm)

    def validate(self, source="bucket boundaries"):
        """Checks every part and their consistency; returns self.

        Checks: a parseable grid spec; K >= 2 valid endpoints lying on the
        integer-unit grid of α when α > 0; levels, CREAD and TPM endpoints,
        D2Q edges (strictly increasing), table ([G, Q >= 2], finite rows,
        non-decreasing) and group sizes consistent with each other.

        Raises:
          InvalidBoundariesError: naming the first bad part, where it came
            from (`source`) and the fix.
        """
        _boundaries_checks.check(self, source, InvalidBoundariesError)
        return self

    def describe(self):
        """A short JSON-ready summary (export metadata, run report): no tables."""
        return {"grid_spec": self.grid_spec, "time_scale": self.time_scale,
                "time_scale_source": self.time_scale_source, "num_buckets": self.num_buckets,
                "rank_error": self.rank_error, "num_examples": self.num_examples,
                "cread_num_boundaries": int(self.cread_boundaries.size),
                "d2q_num_groups": self.num_groups,
                "format_version": _boundaries_json.FORMAT_VERSION}

    def to_dict(self):
        """The JSON-ready dict (layout and `format_version` in `_boundaries_json`)."""
        return _boundaries_json.to_dict(self)

    def to_json(self, indent=1):
        """Validates and serialises to a JSON string (floats round-trip exactly)."""
        return _boundaries_json.dumps(self.validate(source="the boundaries to write"), indent)

    @classmethod
    def from_json(cls, text_or_mapping, source="bucket boundaries"):
        """Parses and validates `to_json`'s output.

        Args:
          text_or_mapping: the JSON text (str or bytes), or the dict a JSON
            decoder already made of it (the TFX Trainer hands the file's
            content to `run_fn` decoded, as `fn_args.hyperparameters`).
          source: where it came from, for error messages.

        Raises:
          InvalidBoundariesError: not JSON, a newer or unknown format
            version, missing or unknown keys, or inconsistent values.
        """
        fields = _boundaries_json.parse(text_or_mapping, source, InvalidBoundariesError)
        try:
            boundaries = cls(**fields)
        except (TypeError, ValueError) as error:
            raise InvalidBoundariesError(f"Invalid bucket boundaries in {source}: {error}. "
                                         "Regenerate them with BucketBoundaryGen.") from None
        return boundaries.validate(source)

    def __eq__(self, other):
        if not isinstance(other, BucketBoundaries):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None   # holds arrays: equal by value, not hashable
