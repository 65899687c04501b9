"""The training settings shared by `wt-train`, `fit_and_evaluate` and the pipeline.

Each is declared once here, with its default and its `--help` text:
`wt-train`'s flags are generated from these fields, `fit_and_evaluate` takes
its defaults from `TRAINING_DEFAULTS`, and the pipeline's `PipelineConfig`
declares its training fields with `shared_setting` (the pipeline calls the
method `head`). No TensorFlow is imported.

Example:

    >>> TRAINING_DEFAULTS.method, TRAINING_DEFAULTS.epochs, TRAINING_DEFAULTS.grid_spec
    ('swat_geo', 3, 'uniform:20')
"""
import dataclasses
from typing import Optional

from wt_keras.cli.flags import setting
from wt_keras.methods import METHODS, NO_DISTRIBUTION_METHODS


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """What one training run of a method needs besides its data."""
    method: str = setting(
        "swat_geo", choices=tuple(METHODS),
        help=f"watch-time method (head): {', '.join(METHODS)} (default %(default)s)")
    exum: bool = setting(False, help="train with EXUM's confidence tower")
    confidence_penalty: Optional[float] = setting(None, help="EXUM λ (default: the head's)")
    point_estimate: str = setting(
        "mean",
        help="the predicted (and served) watch_time: mean (default), median, or a quantile "
             "level q in (0, 1) such as 0.25; median/q need a head with a distribution "
             f"(not {', '.join(NO_DISTRIBUTION_METHODS)})")
    grid_spec: str = setting(
        "uniform:20", help="bucket grid: uniform:K, A-B:STEP,... or swat_choice_1..6 "
                           "(default %(default)s)")
    time_scale: Optional[float] = setting(
        None, help="α: integer units per second of the count heads (default: the smallest "
                   "power of ten keeping >= 90%% of the grid's buckets, chosen on the "
                   "training labels)")
    epochs: int = setting(3, help="passes over the training data (default %(default)s)")
    batch_size: int = setting(512, help="examples per gradient step (default %(default)s)")
    learning_rate: float = setting(2e-3, help="Adam's learning rate (default %(default)s)")
    train_metrics: bool = setting(
        True, flag="--no-train-metrics",
        help="skip the MAE/Pearson metrics on training batches (TFRS's compute_metrics=False): "
             "each step is the loss and its gradient, without the head's E[T | x]; validation "
             "still computes every metric")
    seed: int = setting(0, help="seed of the simulated data and of training "
                                "(default %(default)s)")


TRAINING_DEFAULTS = TrainingSettings()


def shared_setting(name):
    """A dataclass field declaring the shared setting `name` (default and help) again."""
    field = TrainingSettings.__dataclass_fields__[name]
    return dataclasses.field(default=field.default, metadata=dict(field.metadata))
