"""CI check of `benchmarks/compare_methods.py --quick`: every output complete and finite."""
import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "benchmarks", "compare_methods.py")
METHOD_ROWS = ("MSE regression", "WLR", "Vanilla geometric", "D2Q", "OR", "OR (median)", "CREAD",
               "CREAD (median)", "SWaT-Binom", "SWaT-Binom (median)", "SWaT-Geo",
               "SWaT-Geo (median)", "TPM", "TPM (median)", "EXUM-D2Q", "EXUM-CREAD",
               "EXUM-SWaT-Binom", "EXUM-SWaT-Geo", "EXUM-TPM")
EXUM_ROWS = tuple(label for label in METHOD_ROWS if label.startswith("EXUM-"))
# Rows of heads with a distribution: CRPS and completion ECE are defined for them.
DISTRIBUTION_ROWS = tuple(label for label in METHOD_ROWS
                          if not label.endswith("D2Q") and label != "MSE regression")
METRICS = ("mae", "xauc", "pearson", "xgauc")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Runs the quick benchmark once into a temporary folder."""
    output = tmp_path_factory.mktemp("compare_methods")
    environment = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run([sys.executable, SCRIPT, "--quick", "--output", str(output)],
                               cwd=REPO, env=environment, capture_output=True, text=True,
                               timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return output


def _finite(values):
    return all(math.isfinite(float(v)) for v in values)


@pytest.mark.slow
def test_summary_has_every_method_with_finite_numbers(quick_run):
    summary = pd.read_csv(quick_run / "main_summary.csv")
    assert list(summary["label"]) == list(METHOD_ROWS)
    for metric in METRICS + ("train_seconds", "seconds_per_epoch"):
        assert _finite(summary[metric + "_mean"]), metric
    exum = summary[summary["label"].isin(EXUM_ROWS)]
    assert _finite(exum["mean_confidence_mean"]) and _finite(exum["confidence_penalty"])
    assert ((exum["mean_confidence_mean"] > 0) & (exum["mean_confidence_mean"] < 1)).all()
    assert 0.0 <= summary["xauc_mean"].min() and summary["xauc_mean"].max() <= 1.0
    distributional = summary[summary["label"].isin(DISTRIBUTION_ROWS)]
    assert _finite(distributional["crps_mean"]) and _finite(distributional["completion_ece_mean"])
    assert (distributional["crps_mean"] > 0).all()
    assert distributional["completion_ece_mean"].between(0, 1).all()
    point = summary[~summary["label"].isin(DISTRIBUTION_ROWS)]
    assert point["crps_mean"].isna().all() and point["completion_ece_mean"].isna().all()
    # A median row scores the same trained distribution as its mean row: same CRPS,
    # another point estimate.
    indexed = summary.set_index("label")
    for label in ("OR", "CREAD", "SWaT-Binom", "SWaT-Geo"):
        median = indexed.loc[f"{label} (median)"]
        assert median["crps_mean"] == indexed.loc[label, "crps_mean"]
        assert median["mae_mean"] != indexed.loc[label, "mae_mean"]


@pytest.mark.slow
def test_markdown_table_is_complete(quick_run):
    text = (quick_run / "results.md").read_text()
    main_section = text.split("## Main table", 1)[1].split("\n## ", 1)[0]
    table = [line for line in main_section.splitlines() if line.startswith("| ")]
    for label in METHOD_ROWS:
        rows = [line for line in table if line.startswith(f"| {label} |")]
        assert len(rows) == 1, label
        cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
        for cell in cells[1:5]:   # MAE, XAUC, Pearson, XGAUC
            assert math.isfinite(float(cell.strip("*").split(" ± ")[0])), (label, cell)
        if label in DISTRIBUTION_ROWS:   # CRPS, completion ECE
            for cell in cells[5:7]:
                assert math.isfinite(float(cell.split(" ± ")[0])), (label, cell)
    for heading in ("## Main table", "## The SWaT paper's MAE ordering",
                    "## Bucket-count ablation", "## EXUM λ sweep"):
        assert heading in text
    all_tables = [line for line in text.splitlines() if line.startswith("| ")]
    assert not any("nan" in line.lower() for line in all_tables)


@pytest.mark.slow
def test_ablation_csvs_parse_and_are_finite(quick_run):
    runs = pd.read_csv(quick_run / "main_runs.csv")
    assert set(runs["label"]) == set(METHOD_ROWS)
    assert _finite(runs[list(METRICS)].to_numpy().ravel())
    buckets = pd.read_csv(quick_run / "bucket_ablation.csv")
    assert set(buckets["label"]) == {"SWaT-Binom", "SWaT-Geo"}
    assert _finite(buckets[["mae", "xauc", "num_buckets"]].to_numpy().ravel())
    assert (buckets["num_buckets"] >= 1).all()
    sweep = pd.read_csv(quick_run / "lambda_sweep.csv")
    assert set(sweep["label"]) == set(EXUM_ROWS)
    assert sweep.groupby("label")["lambda_multiplier"].nunique().min() >= 2
    assert _finite(sweep[["mae", "xauc", "mean_confidence", "confidence_penalty"]]
                   .to_numpy().ravel())
    trace = pd.read_csv(quick_run / "confidence_trace.csv")
    assert set(trace["label"]) == set(EXUM_ROWS)
    assert _finite(trace["mean_confidence"])
    assert trace["mean_confidence"].between(0, 1).all()
    ordering = pd.read_csv(quick_run / "paper_ordering.csv")
    assert set(ordering["verdict"]) <= {"holds", "mixed", "reversed"}
    assert {"SWaT-Geo (median) < CREAD", "SWaT-Binom (median) < CREAD"} <= set(ordering["claim"])
    info = json.loads((quick_run / "run_info.json").read_text())
    assert info["command"].startswith("python benchmarks/compare_methods.py --quick")


@pytest.mark.slow
def test_plots_exist(quick_run):
    for name in ("methods.png", "bucket_ablation.png", "lambda_sweep.png",
                 "confidence_trace.png"):
        path = quick_run / name
        assert path.exists() and path.stat().st_size > 5_000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def _sub_six_second_csv(path):
    """Simulator rows with labels squeezed into [0, 6) s (median ~0.1 s), CIKM16's scale."""
    import numpy as np
    from wt_keras import buckets
    from wt_keras.data import simulate_interactions
    frame = simulate_interactions(num_rows=3000, seed=5)
    frame["watch_time_s"] = np.minimum(frame["watch_time_s"].to_numpy() / 200.0, 5.999)
    frame["duration_s"] = 6.0
    # Whole seconds (α = 1) keep only 2 of the grid's 20 endpoints: the failure this guards.
    kept = buckets.boundaries_from_percentiles(frame["watch_time_s"], "uniform:20", time_scale=1)
    assert kept.size <= 2
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_quick_run_on_labels_below_six_seconds_needs_no_flags(tmp_path):
    """`--quick --data` on labels in [0, 6) s: α is chosen on the training labels."""
    import numpy as np
    from wt_keras import buckets
    data = tmp_path / "interactions.csv"
    frame = _sub_six_second_csv(data)
    output = tmp_path / "out"
    environment = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    # Every method of the main table and the bucket-count ablation (where whole seconds
    # would leave too few endpoints); the λ sweep adds nothing scale-specific.
    completed = subprocess.run([sys.executable, SCRIPT, "--quick", "--data", str(data),
                                "--studies", "main,buckets", "--output", str(output)],
                               cwd=REPO, env=environment, capture_output=True, text=True,
                               timeout=1800)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    summary = pd.read_csv(output / "main_summary.csv")
    assert set(METHOD_ROWS) <= set(summary["label"])
    # A median row may predict one value for every example on these short labels:
    # its Pearson correlation is then undefined (NaN), its MAE and XAUC are not.
    means = ~summary["label"].str.endswith("(median)")
    for metric in METRICS:
        rows = summary if metric in ("mae", "xauc") else summary[means]
        assert _finite(rows[metric + "_mean"]), metric
    assert summary["mae_mean"].max() < 6.0            # seconds, on labels below 6 s
    runs = pd.read_csv(output / "main_runs.csv")
    swat_geo = runs[runs["label"] == "SWaT-Geo"]
    alpha = buckets.choose_time_scale(frame["watch_time_s"], "uniform:20")
    assert alpha >= 100.0
    # The 80 % training split needs the same fine units: far more than 2 buckets survive.
    assert (swat_geo["num_buckets"] >= 0.9 * 20 * 0.9).all(), swat_geo["num_buckets"].tolist()
    assert (swat_geo["time_scale"] >= 100.0).all(), swat_geo["time_scale"].tolist()
    buckets_csv = pd.read_csv(output / "bucket_ablation.csv")
    assert (buckets_csv["num_buckets"] >= 2).all()
    assert np.isfinite(buckets_csv["mae"]).all()
