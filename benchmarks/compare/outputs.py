"""Writes the comparison's outputs: CSV files, PNG plots, results.md, run_info.json."""
import json
import os
import platform

import pandas as pd

from compare import plots, report
from compare.variants import BASE_LABELS, EXUM_METHODS, main_order


def cpu_model():
    """CPU model name for the run record (no host names or paths)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_outputs(records, trace_rows, args, info):
    """Writes CSV files, PNG plots, results.md and run_info.json under args.output.

    Args:
      records: one dict per (study, variant, seed) use of a trained run.
      trace_rows: windowed mean-confidence rows of the EXUM runs.
      args: the parsed command line (output folder, seeds, studies).
      info: run metadata (command, data, budget, machine, wall time).
    """
    out = lambda name: os.path.join(args.output, name)  # noqa: E731
    runs = report.runs_frame(records)
    traces = pd.DataFrame(trace_rows, columns=["study", "label", "seed", "lambda_multiplier",
                                                  "confidence_penalty", "epoch", "mean_confidence"])
    sections = [f"# Method comparison\n\nCommand: `{info['command']}`  \nData: {info['data']} "
                f"({info['rows']:,} rows), random 80/20 splits.  \nBudget for every method: "
                f"{info['epochs']} epochs, batch {info['batch_size']}, Adam lr "
                f"{info['learning_rate']:g}, shared bottom [128, 64, 32].  \nMachine: "
                f"{info['cpus_available']} CPUs ({info['cpu']}), {info['platform']}, Python "
                f"{info['python']}, TensorFlow {info['tensorflow']}; {info['workers']} trainings "
                f"in parallel (train times include that sharing).  \nwt_keras at git "
                f"{info.get('git_commit') or 'unknown'} (source hash "
                f"{info.get('wt_keras_source_hash')}).  \nWall time "
                f"{info['wall_seconds'] / 60:.1f} min, CPU time {info['cpu_seconds'] / 60:.1f} "
                f"min (all processes), {info['runs_trained']} trainings; mean 1-minute load "
                f"average during the run {info['mean_load_average']:.1f} on "
                f"{info['cpus_available']} CPUs."]
    main_runs = runs[runs["study"] == "main"]
    base_mae = {}
    if not main_runs.empty:
        order = main_order()
        summary = report.summarize(main_runs, order)
        main_runs.to_csv(out("main_runs.csv"), index=False)
        summary.to_csv(out("main_summary.csv"), index=False)
        plots.methods_bars(summary, out("methods.png"))
        ablation_seeds = set(range(args.ablation_seeds))
        at_ablation_seeds = main_runs[main_runs["seed"].isin(ablation_seeds)]
        # The head's own row, serving its mean: not its "(median)" row of the same model.
        base_mae = {"EXUM-" + BASE_LABELS[m]: at_ablation_seeds[
            at_ablation_seeds["label"].eq(BASE_LABELS[m]) & ~at_ablation_seeds["exum"]]["mae"].mean()
            for m in EXUM_METHODS}
        ordering = report.ordering_rows(main_runs)
        pd.DataFrame(ordering).to_csv(out("paper_ordering.csv"), index=False)
        sections += [f"## Main table ({args.seeds} seeds, mean ± std; best in bold)\n\n"
                     + report.main_table(summary)
                     + "\n\n![methods](methods.png)",
                     "## The SWaT paper's MAE ordering, paired by seed\n\n"
                     "\"SWaT ≤ CREAD/TPM < D2Q/OR < WLR\" as pairwise claims; each seed is "
                     "one split shared by all methods; claims on methods not run are left "
                     "out. \"(median)\" rows are the same trained models serving their "
                     "median instead of their mean.\n\n" + report.ordering_table(ordering),
                     "## EXUM against the same head without it, paired by seed\n\n"
                     + report.exum_effect_rows(main_runs, [("EXUM-" + BASE_LABELS[m],
                                                           BASE_LABELS[m]) for m in EXUM_METHODS])]
    bucket_runs = runs[runs["study"] == "buckets"]
    if not bucket_runs.empty:
        bucket_runs.to_csv(out("bucket_ablation.csv"), index=False)
        references = {}
        if not main_runs.empty:
            cread = main_runs[(main_runs["label"] == "CREAD")
                              & main_runs["seed"].isin(set(bucket_runs["seed"]))]
            references["CREAD"] = (cread["mae"].mean(), cread["xauc"].mean())
        plots.bucket_ablation(bucket_runs, references, out("bucket_ablation.png"))
        note = ("K counts the endpoints left after rounding to whole seconds and "
                "deduplication.")
        if {"swat_choice_1", "uniform:20"} <= set(bucket_runs["grid_name"]):
            note += (" `swat_choice_1` (`0-100:5`) and `uniform:20` are the same "
                     "5-percentile grid: one training, listed twice.")
        sections.append(f"## Bucket-count ablation ({args.ablation_seeds} seed(s))\n\n"
                        + note + "\n\n" + report.bucket_table(bucket_runs)
                        + "\n\n![bucket ablation](bucket_ablation.png)")
    lambda_runs = runs[runs["study"] == "lambda"]
    if not lambda_runs.empty:
        lambda_runs.to_csv(out("lambda_sweep.csv"), index=False)
        lambda_traces = traces[traces["study"] == "lambda"]
        lambda_traces.to_csv(out("confidence_trace.csv"), index=False)
        plots.lambda_sweep(lambda_runs, base_mae, out("lambda_sweep.png"))
        plots.confidence_traces(lambda_traces, out("confidence_trace.png"))
        sections.append(f"## EXUM λ sweep ({args.ablation_seeds} seed(s)); collapse = mean c < "
                        f"0.05\n\n" + report.lambda_table(lambda_runs, base_mae)
                        + "\n\n![λ sweep](lambda_sweep.png)\n\n"
                        + "![confidence trace](confidence_trace.png)")
    with open(out("results.md"), "w") as handle:
        handle.write("\n\n".join(sections) + "\n")
    with open(out("run_info.json"), "w") as handle:
        json.dump(info, handle, indent=2)
