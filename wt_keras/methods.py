"""The watch-time methods by name: the one registry of `--method`/`--head` values.

`METHODS` maps each method name to its `Method`: the display label, whether
its head predicts a whole distribution (survival, quantiles; all but D2Q and
regression) and the dotted path of the factory that builds its head from
bucket tables. The factory is imported on first use, so this module (and
every command line, config check or benchmark table that only needs the
names) loads without TensorFlow.

Example:

    >>> from wt_keras.methods import METHODS, get_method
    >>> list(METHODS)[:3]
    ['regression', 'wlr', 'geometric']
    >>> get_method("swat_geo").label, get_method("d2q").has_distribution
    ('SWaT-Geo', False)
    >>> get_method("swat") # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown method 'swat'; choose one of regression, wlr, ...
"""
import dataclasses
import importlib
from typing import Dict, Tuple


@dataclasses.dataclass(frozen=True)
class Method:
    """One watch-time method.

    Attributes:
      name: the registry key (`--method`, `--head`, `PipelineConfig.head`).
      label: the name printed in benchmark tables, e.g. "SWaT-Geo".
      head_factory: "module:function" building the configured head as
        `function(tables, time_scale=None, **head_options)`; imported lazily.
      has_distribution: the head predicts a distribution, so it can serve a
        median or another quantile as its point estimate.
    """
    name: str
    label: str
    head_factory: str
    has_distribution: bool = True

    def load_head_factory(self):
        """The head factory function (imports its module, and TensorFlow, now)."""
        module, _, attribute = self.head_factory.partition(":")
        return getattr(importlib.import_module(module), attribute)


_FACTORIES = "wt_keras.models.factory"


def _method(name, label, has_distribution=True):
    return Method(name, label, f"{_FACTORIES}:{name}_head", has_distribution)


# The order is the one of every table and `--help` listing.
METHODS: Dict[str, Method] = {method.name: method for method in (
    _method("regression", "MSE regression", has_distribution=False),
    _method("wlr", "WLR"),
    _method("geometric", "Vanilla geometric"),
    _method("d2q", "D2Q", has_distribution=False),
    _method("ordinal", "OR"),
    _method("cread", "CREAD"),
    _method("swat_binom", "SWaT-Binom"),
    _method("swat_geo", "SWaT-Geo"),
    _method("tpm", "TPM"),
)}

# Methods whose head predicts one number: they can serve only the mean.
NO_DISTRIBUTION_METHODS: Tuple[str, ...] = tuple(
    name for name, method in METHODS.items() if not method.has_distribution)


def get_method(name):
    """The `Method` called `name`; ValueError listing the known names otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; choose one of "
                         f"{', '.join(METHODS)}.") from None
