"""What the benchmark trains: the compared methods and the ablation grids."""
import dataclasses
from typing import Optional

from wt_keras import buckets
from wt_keras.methods import METHODS
from wt_keras.training_settings import TRAINING_DEFAULTS

# The grid spec every bucketed head (SWaT-Binom, SWaT-Geo, OR) uses in the main
# table: `fit_and_evaluate`'s default, equal to the SWaT paper's bucket choice 1
# (5-percentiles). CREAD and D2Q build their own discretisations (M = 50 EAD
# buckets, 30 duration groups) from the same training labels.
MAIN_GRID_SPEC = TRAINING_DEFAULTS.grid_spec

# EXUM confidence is flagged as collapsed when its mean falls below this.
COLLAPSE_THRESHOLD = 0.05

# λ values of the sweep, as multiples of each head's default λ: the heads'
# losses live on different scales (seconds-scale NLLs, BCE sums, MSE on a
# percentile scale), so a shared absolute grid would be meaningless.
LAMBDA_MULTIPLIERS = (0.01, 0.1, 1.0, 10.0, 100.0)

# uniform:K grids of the bucket-count ablation (K before deduplication).
ABLATION_UNIFORM_K = (5, 10, 20, 40, 80)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One trainable configuration.

    Attributes:
      label: name printed in the tables, e.g. "EXUM-SWaT-Binom".
      method: a `wt_keras.methods.METHODS` name.
      exum: attach the EXUM confidence tower.
      confidence_penalty: EXUM λ; None keeps the head's default.
      grid_spec: percentile grid of the bucketed heads.
      tower_options: (name, value) pairs overriding the EXUM
        `ConfidenceTower`'s defaults (a tuple, so variants stay hashable).
    """
    label: str
    method: str
    exum: bool = False
    confidence_penalty: Optional[float] = None
    grid_spec: str = MAIN_GRID_SPEC
    tower_options: tuple = ()

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


# Every registered method, under the label of `wt_keras.methods`.
BASE_LABELS = {name: method.label for name, method in METHODS.items()}
# Every head that supports EXUM, TPM included (with the tower starting at c ≈ 1 it no longer hurts).
EXUM_METHODS = ("d2q", "cread", "swat_binom", "swat_geo", "tpm")
SWAT_METHODS = ("swat_binom", "swat_geo")

MAIN_VARIANTS = tuple(
    [Variant(label, method) for method, label in BASE_LABELS.items()]
    + [Variant("EXUM-" + BASE_LABELS[method], method, exum=True) for method in EXUM_METHODS])


# Distributional heads also get a row for their median point estimate, taken
# from the same trained model as the main row (which serves the mean).
MEDIAN_METHODS = tuple(m for m in ("ordinal", "cread", "swat_binom", "swat_geo", "tpm")
                       if m in BASE_LABELS)


def median_label(label):
    """Row label of a head's median point estimate, e.g. "SWaT-Geo (median)"."""
    return f"{label} (median)"


def main_order():
    """Row order of the main table: each method, its median row right after it."""
    order = []
    for variant in MAIN_VARIANTS:
        order.append(variant.label)
        if not variant.exum and variant.method in MEDIAN_METHODS:
            order.append(median_label(variant.label))
    return order


def variant_by_label(label):
    for variant in MAIN_VARIANTS:
        if variant.label == label:
            return variant
    raise KeyError(label)


def ablation_grids(uniform_k=ABLATION_UNIFORM_K, presets=None):
    """(name, grid spec) pairs: the SWaT presets, then `uniform:K` grids.

    `swat_choice_1` and `uniform:20` are the same 5-percentile grid; both
    are listed (the benchmark trains it once and reuses the run).
    """
    names = sorted(buckets.PRESETS) if presets is None else list(presets)
    return ([(name, buckets.PRESETS[name]) for name in names]
            + [(f"uniform:{k}", f"uniform:{k}") for k in uniform_k])
