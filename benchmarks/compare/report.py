"""Tables of the method comparison: aggregation, markdown, CSV, ordering check."""
import math

import numpy as np
import pandas as pd

from compare.variants import COLLAPSE_THRESHOLD

METRICS = ("mae", "xauc", "pearson", "xgauc")
# Columns of the per-run CSVs, in order (the trace and history go elsewhere).
RUN_COLUMNS = ("study", "label", "method", "exum", "grid_name", "grid_spec",
               "lambda_multiplier", "confidence_penalty", "seed", "num_buckets", "time_scale",
               "mae", "xauc", "pearson", "xgauc", "crps", "completion_ece", "mean_ratio",
               "train_seconds", "seconds_per_epoch", "mean_confidence", "test_confidence")

# The SWaT paper's MAE ordering "SWaT <= CREAD/TPM < D2Q/OR < WLR" as pairwise
# claims (better, worse); claims on methods that were not run are left out.
# The "(median)" rows serve the same SWaT models' median, the MAE-optimal point.
PAPER_MAE_ORDERING = (("SWaT-Binom", "CREAD"), ("SWaT-Geo", "CREAD"),
                      ("SWaT-Binom (median)", "CREAD"), ("SWaT-Geo (median)", "CREAD"),
                      ("SWaT-Binom", "TPM"), ("SWaT-Geo", "TPM"),
                      ("CREAD", "D2Q"), ("CREAD", "OR"), ("TPM", "D2Q"), ("TPM", "OR"),
                      ("D2Q", "WLR"), ("OR", "WLR"))


def runs_frame(records):
    """Per-run records (dicts) as a DataFrame with RUN_COLUMNS first."""
    frame = pd.DataFrame.from_records(records)
    return frame[[c for c in RUN_COLUMNS if c in frame]]


def _std(values):
    values = np.asarray(values, np.float64)
    return float(values.std(ddof=1)) if values.size > 1 else float("nan")


def summarize(runs, order):
    """Mean and sample std over seeds of each method of the main table.

    Args:
      runs: DataFrame of the main study's runs.
      order: method labels in table order.

    Returns:
      DataFrame, one row per label: seeds, `<metric>_mean`, `<metric>_std`
      for the metrics and timings, num_buckets, λ, mean confidence and the
      collapse flag (any seed below COLLAPSE_THRESHOLD).
    """
    rows = []
    for label in order:
        group = runs[runs["label"] == label]
        if group.empty:
            continue
        row = {"label": label, "method": group["method"].iloc[0],
               "exum": bool(group["exum"].iloc[0]), "seeds": len(group),
               "num_buckets": group["num_buckets"].iloc[0],
               "confidence_penalty": group["confidence_penalty"].iloc[0]}
        for column in METRICS + ("crps", "completion_ece", "mean_ratio", "train_seconds",
                                 "seconds_per_epoch", "mean_confidence", "test_confidence"):
            row[column + "_mean"] = float(group[column].mean())
            row[column + "_std"] = _std(group[column])
        row["collapsed"] = bool(
            row["exum"] and (group["mean_confidence"] < COLLAPSE_THRESHOLD).any())
        rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean, std, digits):
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _number(value, digits):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    # Negative `digits` asks for that many significant digits (λ spans decades).
    return f"{value:.{-digits}g}" if digits < 0 else f"{value:.{digits}f}"


def _count(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(int(value))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def main_table(summary):
    """Markdown of the main comparison (mean ± std over seeds)."""
    best_mae = summary["mae_mean"].min()
    best_xauc = summary["xauc_mean"].max()
    rows = []
    for _, r in summary.iterrows():
        mae = _pm(r.mae_mean, r.mae_std, 3)
        xauc = _pm(r.xauc_mean, r.xauc_std, 4)
        rows.append([
            r.label,
            f"**{mae}**" if r.mae_mean == best_mae else mae,
            f"**{xauc}**" if r.xauc_mean == best_xauc else xauc,
            _pm(r.pearson_mean, r.pearson_std, 4), _pm(r.xgauc_mean, r.xgauc_std, 4),
            _pm(r.crps_mean, r.crps_std, 3), _pm(r.completion_ece_mean, r.completion_ece_std, 4),
            _number(r.mean_ratio_mean, 2), _pm(r.train_seconds_mean, r.train_seconds_std, 1),
            _number(r.seconds_per_epoch_mean, 2), _count(r.num_buckets),
            _number(r.confidence_penalty, -3) if r.exum else "–",
            _number(r.mean_confidence_mean, 3) if r.exum else "–",
            ("**yes**" if r.collapsed else "no") if r.exum else "–"])
    return markdown_table(["Method", "MAE (s) ↓", "XAUC ↑", "Pearson ↑", "XGAUC ↑",
                           "CRPS (s) ↓", "completion ECE ↓", "mean pred ÷ mean label", "train s",
                           "s/epoch", "K", "λ", "mean c", "collapse"], rows)


def paired_differences(runs, better, worse, metric="mae"):
    """Per-seed metric(better) − metric(worse) on the seeds both ran."""
    a = runs[runs["label"] == better].set_index("seed")[metric]
    b = runs[runs["label"] == worse].set_index("seed")[metric]
    seeds = sorted(set(a.index) & set(b.index))
    return np.array([a[s] - b[s] for s in seeds], np.float64)


def ordering_rows(runs, claims=PAPER_MAE_ORDERING, metric="mae"):
    """One row per claim "better < worse on MAE" with a paired verdict.

    Each seed is one random split shared by every method, so the per-seed
    difference removes the split-to-split variation that dominates the std
    of the main table. Verdict: "holds" if every seed agrees, "reversed" if
    none does, "mixed" otherwise.
    """
    rows = []
    for better, worse in claims:
        diff = paired_differences(runs, better, worse, metric)
        if diff.size == 0:
            continue
        wins = int((diff <= 0).sum())
        verdict = ("holds" if wins == diff.size else "reversed" if wins == 0 else "mixed")
        # The paper ranks XAUC too; show whether the MAE winner also ranks better.
        xauc = paired_differences(runs, better, worse, "xauc")
        rows.append({"claim": f"{better} < {worse}", "better": better, "worse": worse,
                     "delta_mean": float(diff.mean()), "delta_std": _std(diff),
                     "seeds_holding": wins, "seeds": int(diff.size), "verdict": verdict,
                     "delta_xauc_mean": float(xauc.mean()), "delta_xauc_std": _std(xauc)})
    return rows


def ordering_table(rows):
    return markdown_table(
        ["paper's claim (MAE)", "Δ MAE = left − right (s)", "seeds where it holds", "verdict",
         "Δ XAUC = left − right"],
        [[r["claim"], _pm(r["delta_mean"], r["delta_std"], 3),
          f"{r['seeds_holding']}/{r['seeds']}", r["verdict"],
          _pm(r["delta_xauc_mean"], r["delta_xauc_std"], 4)] for r in rows])


def exum_effect_rows(runs, pairs):
    """Paired Δ of EXUM-X − X for MAE and XAUC."""
    rows = []
    for exum_label, base_label in pairs:
        mae = paired_differences(runs, exum_label, base_label, "mae")
        xauc = paired_differences(runs, exum_label, base_label, "xauc")
        if mae.size:
            rows.append([f"{exum_label} − {base_label}", _pm(mae.mean(), _std(mae), 3),
                         _pm(xauc.mean(), _std(xauc), 4),
                         f"{int((mae < 0).sum())}/{mae.size}"])
    return markdown_table(["pair", "Δ MAE (s)", "Δ XAUC", "seeds with lower MAE"], rows)


def bucket_table(runs):
    """Markdown of the bucket-count ablation (sorted by head, then K)."""
    rows = []
    ordered = runs.sort_values(["label", "num_buckets", "grid_name"])
    for (label, grid_name), group in ordered.groupby(["label", "grid_name"], sort=False):
        rows.append([label, f"`{grid_name}`", f"`{group['grid_spec'].iloc[0]}`",
                     _count(group["num_buckets"].iloc[0]),
                     _pm(group["mae"].mean(), _std(group["mae"]), 3),
                     _pm(group["xauc"].mean(), _std(group["xauc"]), 4),
                     _pm(group["pearson"].mean(), _std(group["pearson"]), 4)])
    return markdown_table(["head", "grid", "percent levels", "K after dedup", "MAE (s) ↓",
                           "XAUC ↑", "Pearson ↑"], rows)


def lambda_table(runs, base_mae):
    """Markdown of the EXUM λ sweep with final mean confidence and collapse."""
    rows = []
    ordered = runs.sort_values(["label", "lambda_multiplier"])
    for (label, multiplier), group in ordered.groupby(["label", "lambda_multiplier"], sort=False):
        base = base_mae.get(label)
        rows.append([label, f"{multiplier:g}", _number(group["confidence_penalty"].iloc[0], -3),
                     _pm(group["mae"].mean(), _std(group["mae"]), 3),
                     _number(base, 3),
                     _pm(group["xauc"].mean(), _std(group["xauc"]), 4),
                     _number(group["mean_confidence"].mean(), 3),
                     _number(group["test_confidence"].mean(), 3),
                     "**yes**" if (group["mean_confidence"] < COLLAPSE_THRESHOLD).any() else "no"])
    return markdown_table(["EXUM head", "λ ÷ default", "λ", "MAE (s) ↓", "MAE without EXUM",
                           "XAUC ↑", "mean c (last epoch)", "mean c (test)", "collapse"], rows)
