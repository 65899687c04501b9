"""A mergeable quantile summary for Beam: exact when small, a sketch when large.

`QuantileSummaryFn` is a `beam.CombineFn` over numpy batches of values. Its
output is an *equal-weight summary*: sorted values v_0 <= ... <= v_{m-1} such
that v_j sits (approximately) at the j/(m-1) quantile of the input. Feeding
the summary to a numpy percentile function therefore approximates the same
function on the whole input, which is how `boundary_derivation` reuses the
exact `wt_keras.buckets` functions at scale.

* Exact mode (n <= capacity values): the summary is all n values, sorted.
  Derived percentiles equal the exact library results bit for bit.
* Sketch mode (n > capacity): the summary is the output of Beam's
  `ApproximateQuantilesCombineFn` (the combiner behind
  `beam.transforms.stats.ApproximateQuantiles`, Manku-Rajagopalan-Lindsay
  1998) with `capacity` equally spaced quantiles, min and max included, and
  epsilon = 1 / capacity. Beam documents that each returned quantile's rank
  differs from its target rank by less than epsilon * n (for n < 1e9).

What is approximated and by how much (`rank_error`): write F(v) for the
fraction of inputs <= v and F(v-) for the fraction < v. For any percentile,
quantile or mid-point edge t that numpy derives from the summary at target
level q (percentile / 100, a CREAD level, or a D2Q edge's k / G):
  F(t-) - eps <= q <= F(t) + eps,
with eps = 1 / n in exact mode (the discreteness of n values that linear
interpolation cannot avoid), and eps = epsilon + 2 / (m - 1) in sketch mode
(Beam's rank error plus one summary step of interpolation, plus a half step
for the rounding of a D2Q edge's rank). Values are kept as float64; nothing
else is approximated.
"""
import apache_beam as beam
import numpy as np
from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

MIN_CAPACITY = 100


class _Accumulator:
    """Exact values (a list of numpy arrays) or Beam's sketch state, plus n."""

    __slots__ = ("count", "exact_batches", "sketch")

    def __init__(self, count=0, exact_batches=None, sketch=None):
        self.count = count
        self.exact_batches = [] if exact_batches is None and sketch is None else exact_batches
        self.sketch = sketch


class QuantileSummaryFn(beam.CombineFn):
    """Combines numpy batches of floats into an equal-weight quantile summary.

    Output: a dict {"count": n, "exact": bool, "epsilon": Beam's epsilon (0 in
    exact mode), "values": sorted list of floats} (JSON-friendly); see
    `rank_error` for the guarantee.

    Args:
      capacity: values kept exactly, and the number of quantiles of the sketch
        beyond that (>= 100). Memory: Beam's sketch for epsilon = 1 / capacity
        holds up to ~1.7 million values per key for capacity 10,000.
    """

    def __init__(self, capacity):
        if int(capacity) != capacity or capacity < MIN_CAPACITY:
            raise ValueError(f"capacity (sketch_size) must be an integer >= "
                             f"{MIN_CAPACITY}, got {capacity!r}.")
        self._capacity = int(capacity)
        self._sketch_fn = ApproximateQuantilesCombineFn.create(
            num_quantiles=self._capacity, epsilon=1.0 / self._capacity,
            input_batched=True)

    def _to_sketch(self, accumulator):
        """Moves exact values into a Beam sketch state (in place)."""
        if accumulator.sketch is None:
            state = self._sketch_fn.create_accumulator()
            for batch in accumulator.exact_batches:
                # Python floats: Beam sorts lists, and float compares are faster
                # than numpy scalar compares.
                state = self._sketch_fn.add_input(state, batch.tolist())
            accumulator.sketch, accumulator.exact_batches = state, None
        return accumulator

    def create_accumulator(self):
        return _Accumulator()

    def add_input(self, accumulator, values):
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return accumulator
        accumulator.count += values.size
        if accumulator.sketch is None:
            accumulator.exact_batches.append(values)
            if accumulator.count > self._capacity:
                self._to_sketch(accumulator)
        else:
            accumulator.sketch = self._sketch_fn.add_input(accumulator.sketch,
                                                           values.tolist())
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = list(accumulators)
        total = sum(accumulator.count for accumulator in accumulators)
        if total <= self._capacity and all(a.sketch is None for a in accumulators):
            batches = [b for a in accumulators for b in a.exact_batches]
            return _Accumulator(total, batches)
        states = [self._to_sketch(a).sketch for a in accumulators if a.count]
        merged = self._sketch_fn.merge_accumulators(states)
        return _Accumulator(total, sketch=merged)

    def compact(self, accumulator):
        # One array instead of many small ones: cheaper to encode and shuffle.
        if accumulator.sketch is None and len(accumulator.exact_batches) > 1:
            accumulator.exact_batches = [np.concatenate(accumulator.exact_batches)]
        return accumulator

    def extract_output(self, accumulator):
        if accumulator.sketch is None:
            values = (np.sort(np.concatenate(accumulator.exact_batches))
                      if accumulator.exact_batches else np.zeros(0))
            return {"count": accumulator.count, "exact": True, "epsilon": 0.0,
                    "values": values.tolist()}
        values = self._sketch_fn.extract_output(accumulator.sketch)
        return {"count": accumulator.count, "exact": False,
                "epsilon": 1.0 / self._capacity,
                "values": [float(value) for value in values]}


def rank_error(summary):
    """Bound eps on the rank error of anything derived from `summary`.

    See the module docstring: F(t-) - eps <= q <= F(t) + eps for a value t
    derived at target level q. Returns 0.0 for an empty summary.
    """
    count, size = summary["count"], len(summary["values"])
    if count == 0:
        return 0.0
    if summary["exact"]:
        return 1.0 / count
    return summary["epsilon"] + 2.0 / (size - 1)
