"""Cost of `wt-pipeline run` as the built-in data grows: per component and in total.

For each row count the built-in data is simulated (timed apart, as "simulate")
and the whole pipeline runs in a fresh process with the cache off. Printed per
size: each component's wall time and rows/s (input rows ÷ its wall time), the
run's total and the peak resident memory of the run's process tree (the largest
single process, from wait4's rusage). Across sizes: the growth exponent b of
each component's time, fitted as time ∝ rows^b by least squares on logs
(1 = linear). Goals (issue 11): 1e6 rows end to end ≤ 5 min on 2 cores, every
exponent ≤ 1.1.

    python benchmarks/pipeline_scaling.py [--sizes 100000 300000 1000000] [--out FILE]
    python benchmarks/pipeline_scaling.py --quick      # tiny sizes, 1 epoch, in-memory Beam: does it run?

Extra arguments after `--` go to `wt-pipeline run` (e.g. -- --beam-arg=--direct_num_workers=1).
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DONE = re.compile(r"^\s+(\S+) done in ([\d.]+) s$", re.MULTILINE)


def _run_child(command, environment, log_path):
    """Runs `command`; returns (seconds, peak RSS in MiB of its largest process, output)."""
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log,
                                   stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    with open(log_path) as log:
        output = log.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024.0, output   # ru_maxrss is in KiB on Linux


def evaluation_rows(work_dir):
    """Records in the newest eval split ImportExampleGen/CsvExampleGen wrote under `work_dir`."""
    splits = glob.glob(os.path.join(work_dir, "pipeline_root", "*ExampleGen", "examples", "*",
                                    "Split-eval"))
    if not splits:
        return 0
    newest = max(splits, key=os.path.getmtime)
    import tensorflow as tf   # only here: the rest of the script never needs it
    files = sorted(glob.glob(os.path.join(newest, "*")))
    return int(sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP")))


def measure(rows, work_dir, pipeline_args, environment):
    """One size: {"rows", "simulate", "components": {name: s}, "total", "peak_rss_mib"}.

    Every size runs in its own directory (data, pipeline root, metadata and
    serving directory), so each is a first run: no served baseline, the
    Evaluator scores the candidate only, the same work at every size.
    """
    work_dir = os.path.join(work_dir, f"rows{rows}")
    os.makedirs(work_dir, exist_ok=True)
    simulate = [sys.executable, "-c",
                "import sys; from pipelines.watch_time import cli; "
                "cli.ensure_simulated_data(cli.simulated_data_dir(sys.argv[1], int(sys.argv[2]), 0),"
                " int(sys.argv[2]), 0)", work_dir, str(rows)]
    simulate_seconds, _, _ = _run_child(simulate, environment,
                                        os.path.join(work_dir, f"simulate-{rows}.log"))
    run = [sys.executable, "-m", "pipelines.watch_time.cli", "run", "--rows", str(rows),
           "--work-dir", work_dir, "--saved-models", os.path.join(work_dir, "saved_models"),
           "--no-cache", *pipeline_args]
    total, peak_rss, output = _run_child(run, environment,
                                         os.path.join(work_dir, f"run-{rows}.log"))
    components = {name: float(seconds) for name, seconds in _DONE.findall(output)}
    # The Trainer's own figure (its fit, tracing included), from this run's newest metrics file.
    metrics_files = glob.glob(os.path.join(work_dir, "**", "trainer_metrics.json"), recursive=True)
    examples_per_second = float("nan")
    if metrics_files:
        with open(max(metrics_files, key=os.path.getmtime)) as handle:
            examples_per_second = json.load(handle).get("train_examples_per_second", float("nan"))
    return {"rows": rows, "simulate": simulate_seconds, "components": components,
            "total": total, "peak_rss_mib": peak_rss,
            "trainer_examples_per_second": examples_per_second,
            "evaluation_rows": evaluation_rows(work_dir)}


def growth_exponent(sizes, seconds):
    """b of seconds ∝ sizes^b, least squares on logs (NaN with fewer than 2 sizes)."""
    if len(sizes) < 2 or min(seconds) <= 0:
        return float("nan")
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def report(results):
    """The printed tables (markdown) for a list of `measure` results."""
    names = list(dict.fromkeys(name for result in results for name in result["components"]))
    sizes = [result["rows"] for result in results]
    lines = ["| component | " + " | ".join(f"{rows:,} rows: s (rows/s)" for rows in sizes)
             + " | growth exponent |", "|---|" + "---|" * (len(sizes) + 1)]
    for name in names + ["simulate", "total"]:
        if name in ("simulate", "total"):
            seconds = [result[name] for result in results]
        else:
            seconds = [result["components"].get(name, float("nan")) for result in results]
        cells = [f"{s:.1f} ({rows / s:,.0f})" if s > 0 else f"{s:.1f} (-)"
                 for s, rows in zip(seconds, sizes)]
        exponent = growth_exponent(sizes, seconds)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {exponent:.2f} |")
    lines.append("| Trainer fit, examples/s | " + " | ".join(
        f"{r['trainer_examples_per_second']:,.0f}" for r in results) + " | - |")
    lines.append("| Evaluator, evaluation rows/s (goal ≥ 10,000) | " + " | ".join(
        f"{r.get('evaluation_rows', 0) / r['components']['Evaluator']:,.0f} "
        f"({r.get('evaluation_rows', 0):,} rows)" if r["components"].get("Evaluator") else "-"
        for r in results) + " | - |")
    lines.append("| peak RSS (MiB) | " + " | ".join(f"{r['peak_rss_mib']:.0f}" for r in results)
                 + f" | {growth_exponent(sizes, [r['peak_rss_mib'] for r in results]):.2f} |")
    return "\n".join(lines)


def write_results(out, pipeline_args, results):
    """Returns (header, table); writes them and the raw numbers (JSON) when `out` is set."""
    load = os.getloadavg()
    header = (f"wt-pipeline run {' '.join(pipeline_args)} on {os.cpu_count()} cores, "
              f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) "
              "when written")
    table = report(results)
    if out:
        with open(out, "w") as handle:
            handle.write(header + "\n\n" + table + "\n")
        with open(os.path.splitext(out)[0] + ".json", "w") as handle:
            json.dump(results, handle, indent=1)
    return header, table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--quick", action="store_true",
                        help="sizes 2000 and 4000 with one epoch: checks that it runs")
    parser.add_argument("--work-dir", help="(default: a temporary directory, deleted after)")
    parser.add_argument("--out", help="also write the table and the raw numbers (JSON) here")
    parser.add_argument("pipeline_args", nargs="*", help="after --: passed to wt-pipeline run")
    args = parser.parse_args()
    sizes = [2000, 4000] if args.quick else sorted(args.sizes)
    # --quick checks that everything runs: in-memory Beam skips the start-up of
    # worker processes, which dominates at these sizes (minutes on 2 loaded cores).
    quick_args = ["--epochs", "1", "--beam-arg=--direct_running_mode=in_memory"]
    pipeline_args = (quick_args if args.quick else []) + args.pipeline_args
    environment = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
                       PYTHONPATH=os.pathsep.join(filter(None, [REPO,
                                                                os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory(prefix="pipeline_scaling_") as scratch:
        work_dir = os.path.abspath(args.work_dir or scratch)
        os.makedirs(work_dir, exist_ok=True)
        results = []
        for rows in sizes:
            results.append(measure(rows, work_dir, pipeline_args, environment))
            print(f"{rows:,} rows: {results[-1]['total']:.1f} s end to end", flush=True)
            if args.out:   # after every size: a long run stopped early keeps what it measured
                write_results(args.out, pipeline_args, results)
    header, table = write_results(args.out, pipeline_args, results)
    print(header)
    print(table)
    biggest = results[-1]
    if biggest["rows"] >= 1_000_000:
        minutes = biggest["total"] / 60.0
        print(f"{biggest['rows']:,} rows end to end: {minutes:.1f} min "
              f"(goal ≤ 5: {'met' if minutes <= 5 else 'missed'})")


if __name__ == "__main__":
    main()
