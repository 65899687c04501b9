"""Helpers of `benchmarks/compare_methods.py`: variants, training, reports, plots.

Split into modules so the command stays readable:

* `variants`: the twelve compared methods and the ablation / λ-sweep grids.
* `training`: trains one variant on one split and records metrics, timing and
  the EXUM mean-confidence trace.
* `report`: mean ± std aggregation, markdown tables, CSV files, the check of
  the SWaT paper's MAE ordering.
* `plots`: PNG figures of the ablations and the confidence traces.
* `outputs`: writes the CSV files, plots, results.md and run_info.json.
"""
