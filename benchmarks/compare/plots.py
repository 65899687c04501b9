"""PNG figures of the comparison (matplotlib, non-interactive backend)."""
import matplotlib

matplotlib.use("Agg")  # no display on CI machines or servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from compare.variants import COLLAPSE_THRESHOLD  # noqa: E402

_DPI = 120


def methods_bars(summary, path):
    """MAE and XAUC of every method, mean with std error bars."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    positions = np.arange(len(summary))
    colors = ["tab:orange" if exum else "tab:blue" for exum in summary["exum"]]
    for axis, metric, title in ((axes[0], "mae", "test MAE (s), lower is better"),
                                (axes[1], "xauc", "test XAUC, higher is better")):
        errors = np.nan_to_num(summary[metric + "_std"].to_numpy(np.float64))
        axis.bar(positions, summary[metric + "_mean"], yerr=errors, color=colors, capsize=3)
        axis.set_xticks(positions)
        axis.set_xticklabels(summary["label"], rotation=60, ha="right", fontsize=8)
        axis.set_title(title)
        low = (summary[metric + "_mean"] - errors).min()
        high = (summary[metric + "_mean"] + errors).max()
        axis.set_ylim(low - 0.15 * (high - low + 1e-9), high + 0.1 * (high - low + 1e-9))
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle("Methods (blue) and their EXUM variants (orange); mean ± std over seeds")
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def bucket_ablation(runs, references, path):
    """MAE and XAUC of the SWaT heads against K after dedup (cf. SWaT Fig. 4).

    Args:
      runs: the bucket study's runs (label, grid_name, num_buckets, mae, xauc).
      references: {label: (mae, xauc)} drawn as horizontal lines (e.g. CREAD
        on the same seeds).
      path: PNG file to write.
    """
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    markers = {"SWaT-Binom": "o", "SWaT-Geo": "s"}
    for label, group in runs.groupby("label"):
        means = group.groupby(["grid_name", "num_buckets"], as_index=False)[["mae", "xauc"]].mean()
        uniform = means[means["grid_name"].str.startswith("uniform")].sort_values("num_buckets")
        presets = means[~means["grid_name"].str.startswith("uniform")]
        for axis, metric in ((axes[0], "mae"), (axes[1], "xauc")):
            line, = axis.plot(uniform["num_buckets"], uniform[metric],
                              marker=markers.get(label, "o"), label=f"{label} uniform:K")
            if not presets.empty:
                axis.scatter(presets["num_buckets"], presets[metric], marker="*", s=110,
                             color=line.get_color(), edgecolor="black", zorder=3,
                             label=f"{label} SWaT grid choices (c1-c6)")
            for _, row in presets.iterrows():
                axis.annotate(row["grid_name"].replace("swat_choice_", "c"),
                              (row["num_buckets"], row[metric]), fontsize=7,
                              xytext=(3, 3), textcoords="offset points")
    for axis, metric, index in ((axes[0], "MAE (s) ↓", 0), (axes[1], "XAUC ↑", 1)):
        for reference, values in references.items():
            axis.axhline(values[index], linestyle="--", color="gray", linewidth=1,
                         label=f"{reference} (main table, same seeds)")
        axis.set_xscale("log")
        axis.set_xlabel("K = buckets after deduplication (log scale)")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    figure.suptitle("Bucket-count ablation of the SWaT heads (test set)")
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def lambda_sweep(runs, base_mae, path):
    """MAE and final mean confidence against λ ÷ default, one line per head."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, group in runs.groupby("label"):
        means = group.groupby("lambda_multiplier", as_index=False)[
            ["mae", "mean_confidence"]].mean().sort_values("lambda_multiplier")
        line, = axes[0].plot(means["lambda_multiplier"], means["mae"], marker="o", label=label)
        if label in base_mae:
            axes[0].axhline(base_mae[label], linestyle=":", color=line.get_color(), linewidth=1)
        axes[1].plot(means["lambda_multiplier"], means["mean_confidence"], marker="o", label=label)
    axes[1].axhline(COLLAPSE_THRESHOLD, color="red", linestyle="--", linewidth=1,
                    label=f"collapse threshold {COLLAPSE_THRESHOLD}")
    # Log scale: a diverging head (MAE in the hundreds) must not flatten the rest.
    axes[0].set_yscale("log")
    axes[0].set_ylabel("test MAE (s, log scale) ↓  (dotted: same head without EXUM)")
    axes[1].set_ylabel("mean confidence c, last epoch")
    axes[1].set_ylim(0, 1.02)
    for axis in axes:
        axis.set_xscale("log")
        axis.set_xlabel("λ ÷ the head's default λ (log scale)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("EXUM λ sweep")
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)


def confidence_traces(traces, path):
    """Mean confidence during training, one panel per head, one line per λ.

    Args:
      traces: DataFrame with label, lambda_multiplier, confidence_penalty,
        epoch (position in epochs) and mean_confidence.
      path: PNG file to write.
    """
    labels = list(dict.fromkeys(traces["label"]))
    columns = min(2, len(labels))
    rows = int(np.ceil(len(labels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.8 * rows), squeeze=False)
    for axis, label in zip(axes.flat, labels):
        group = traces[traces["label"] == label]
        for multiplier, curve in group.groupby("lambda_multiplier"):
            axis.plot(curve["epoch"], curve["mean_confidence"],
                      label=f"λ = {curve['confidence_penalty'].iloc[0]:.3g} (×{multiplier:g})")
        axis.axhline(COLLAPSE_THRESHOLD, color="red", linestyle="--", linewidth=1)
        axis.set_title(label)
        axis.set_xlabel("epoch")
        axis.set_ylabel("mean c over a window of batches")
        axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(labels):]:
        axis.set_visible(False)
    figure.suptitle(f"EXUM mean-confidence trace (red: collapse threshold {COLLAPSE_THRESHOLD})")
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    plt.close(figure)
