"""Compares the watch-time methods on one dataset under one training budget.

Every method trains the same WatchTimeRanker (same features, id embeddings,
shared bottom [128, 64, 32]), epochs, batch size and Adam learning rate; only
the head (and for EXUM rows the training-only confidence tower) differs.
Seeds are random 80/20 splits (the SWaT paper's protocol) that also seed
initialisation and shuffling; tables report mean ± std over seeds.

Studies:
  main     MSE regression, WLR, vanilla geometric, D2Q, OR, CREAD, SWaT-Binom,
           SWaT-Geo, TPM and EXUM-{D2Q, CREAD, SWaT-Binom, SWaT-Geo}.
  buckets  SWaT-Binom / SWaT-Geo on the SWaT paper's grid choices 1-6 and on
           uniform:K grids (K reported after deduplication, cf. its Table 3).
  lambda   EXUM λ sweep (multiples of each head's default λ) with the mean
           confidence traced during training; mean c < 0.05 flags collapse.

Usage (from the repository root):
  python benchmarks/compare_methods.py                          # full run, simulator
  python benchmarks/compare_methods.py --quick --output out/quick  # CI smoke run
  python benchmarks/compare_methods.py --data data/kuairand     # a `wt-data prepare` output
"""
import argparse
import hashlib
import math
import os
import platform
import shlex
import subprocess
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")   # TFRS needs Keras 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the `compare` helpers

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

import wt_keras  # noqa: E402,F401  (checks the Keras version before TFRS loads)
from compare import data, execution, outputs  # noqa: E402
from compare.training import PreparedSplit, TIME_SCALE  # noqa: E402
from compare.variants import (ABLATION_UNIFORM_K, BASE_LABELS, EXUM_METHODS,  # noqa: E402
                              LAMBDA_MULTIPLIERS, MAIN_GRID_SPEC, MAIN_VARIANTS,
                              MEDIAN_METHODS, SWAT_METHODS, Variant, ablation_grids,
                              median_label)
from wt_keras.models import build_head  # noqa: E402
from wt_keras.training_settings import TRAINING_DEFAULTS  # noqa: E402

# Default size: fits the 30-minute budget on 2 CPU cores (see results/README.md).
FULL = {"rows": 100_000, "seeds": 3, "ablation_seeds": 1, "epochs": TRAINING_DEFAULTS.epochs,
        "bucket_k": ABLATION_UNIFORM_K, "presets": None, "lambdas": LAMBDA_MULTIPLIERS}
# --quick: a smoke test of every code path for CI (about a minute or two).
QUICK = {"rows": 3_000, "seeds": 1, "ablation_seeds": 1, "epochs": 1,
         "bucket_k": (5,), "presets": (), "lambdas": (0.01, 1.0)}
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="interactions CSV (or its folder) written by "
                        "`wt-data prepare`; default: the built-in simulator")
    parser.add_argument("--rows", type=int, help="simulated rows, or rows sampled from --data "
                        "(0 = all); default 100000 (quick: 3000)")
    parser.add_argument("--data-seed", type=int, default=0, help="simulator / sampling seed")
    parser.add_argument("--seeds", type=int, help="random splits of the main table (default 3)")
    parser.add_argument("--ablation-seeds", type=int,
                        help="random splits of the bucket and λ studies (default 1)")
    parser.add_argument("--epochs", type=int,
                        help=f"epochs for every method (default {FULL['epochs']})")
    parser.add_argument("--batch-size", type=int, default=TRAINING_DEFAULTS.batch_size)
    parser.add_argument("--learning-rate", type=float, default=TRAINING_DEFAULTS.learning_rate,
                        help="Adam learning rate shared by every method")
    parser.add_argument("--studies", default="main,buckets,lambda",
                        help="comma list among main, buckets, lambda")
    parser.add_argument("--workers", type=int, default=min(2, len(os.sched_getaffinity(0))),
                        help="training processes (default: 2, or 1 on a 1-CPU machine); "
                        "one training keeps about one core busy")
    parser.add_argument("--cache", help="folder keeping each finished training, so that a "
                        "rerun with the same settings resumes after a crash (clear it after "
                        "changing wt_keras)")
    parser.add_argument("--output", default=os.path.join("benchmarks", "results"))
    parser.add_argument("--methods", help="comma list of method names (e.g. swat_geo,tpm): "
                        "train only their variants in every study (default: all)")
    parser.add_argument("--lambdas", help="comma list of λ multipliers of the λ sweep "
                        "(default 0.01,0.1,1,10,100; quick: 0.01,1)")
    parser.add_argument("--quick", action="store_true", help="tiny CI run (3k rows, 1 epoch, "
                        "1 seed, reduced ablations)")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    for name in ("rows", "seeds", "ablation_seeds", "epochs"):
        if getattr(args, name) is None:
            setattr(args, name, profile[name])
    args.bucket_k, args.presets = profile["bucket_k"], profile["presets"]
    args.lambdas = (tuple(float(m) for m in args.lambdas.split(",")) if args.lambdas
                    else profile["lambdas"])
    if any(not m > 0 for m in args.lambdas):
        parser.error(f"--lambdas must be positive multipliers, got {args.lambdas}")
    known = set(BASE_LABELS)
    args.methods = (None if not args.methods
                    else [m.strip() for m in args.methods.split(",") if m.strip()])
    if args.methods is not None and (not args.methods or set(args.methods) - known):
        parser.error(f"--methods must name some of {', '.join(BASE_LABELS)}; got {args.methods}")
    args.studies = [s.strip() for s in args.studies.split(",") if s.strip()]
    unknown = set(args.studies) - {"main", "buckets", "lambda"}
    if unknown:
        parser.error(f"unknown studies {sorted(unknown)}")
    return args


def load_frame(args):
    """The simulator's rows, or the --data CSV (sampled down to --rows)."""
    return data.load_frame(args.data, args.rows, args.data_seed)


def library_fingerprint():
    """(git commit or None, hash of wt_keras's source files) for the run record.

    Keras re-reads a function's source when it traces it, so an edit of
    wt_keras during a long run could mix two versions; comparing the hash at
    the start and the end detects that.
    """
    package = os.path.dirname(os.path.abspath(wt_keras.__file__))
    digest = hashlib.sha256()
    for folder, _, names in sorted(os.walk(package)):
        for name in sorted(names):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as handle:
                    digest.update(name.encode() + handle.read())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=package,
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return commit, digest.hexdigest()[:16]


def resolve_tasks(jobs, frame):
    """Fixes each EXUM job's λ (in place) and maps the jobs onto distinct trainings.

    λ is the head's default times the job's sweep multiplier (main table: ×1).

    A training is identified by (method, EXUM, λ, bucket endpoints, seed):
    the main table's run of a head at seed 0 is also the bucket ablation's
    5-percentile point (`swat_choice_1` = `uniform:20`) and the λ sweep's ×1
    point, so it is trained once and reused.

    Returns:
      (tasks, task_of_job): the distinct (Variant, seed) trainings and, for
      each job, the index of its training.
    """
    splits, tasks, index_of_key, task_of_job = {}, [], {}, []
    for i, (study, variant, seed, grid_name, multiplier) in enumerate(jobs):
        if seed not in splits:
            splits[seed] = PreparedSplit.from_frame(frame, seed)
        tables = splits[seed].tables(variant.grid_spec)
        if variant.exum:   # λ sweep: multiples of the head's default λ
            default = build_head(variant.method, tables, TIME_SCALE).confidence_penalty
            penalty = default if math.isnan(multiplier) else default * multiplier
            variant = variant.replace(confidence_penalty=penalty)
            jobs[i] = (study, variant, seed, grid_name, multiplier)
        key = (variant.method, variant.exum, variant.confidence_penalty,
               variant.tower_options, tuple(tables.boundaries), seed)
        if key not in index_of_key:
            index_of_key[key] = len(tasks)
            tasks.append((variant, seed))
        task_of_job.append(index_of_key[key])
    return tasks, task_of_job


class ProgressPrinter:
    """`train_all` report callback: one line per finished training.

    It also samples the 1-minute load average, so the run record can say how
    busy the machine was (other jobs on the same cores slow the run down).
    """

    def __init__(self, num_tasks):
        self.num_tasks = num_tasks
        self.done = 0
        self.load_samples = []

    def __call__(self, index, task, result, elapsed):
        variant, seed = task
        self.done += 1
        self.load_samples.append(os.getloadavg()[0])
        penalty = f"λ={variant.confidence_penalty:<8.3g}" if variant.exum else " " * 10
        print(f"[{self.done:3d}/{self.num_tasks} {elapsed / 60:5.1f} min] seed {seed} "
              f"{variant.label:17s} {variant.grid_spec:18s} {penalty} MAE {result['mae']:8.3f} "
              f"XAUC {result['xauc']:.4f} ({result['train_seconds']:.1f} s)", flush=True)


def records_of(jobs, task_of_job, results):
    """One record per job (the CSV rows) and the EXUM confidence-trace rows.

    In the main study the heads of MEDIAN_METHODS (without EXUM) get a
    second record, "<label> (median)": the same trained model scored with
    its median instead of its mean (same CRPS and completion ECE).
    """
    records, traces = [], []
    for (study, variant, seed, grid_name, multiplier), index in zip(jobs, task_of_job):
        result = results[index]
        record = {"study": study, "label": variant.label, "method": variant.method,
                  "exum": variant.exum, "grid_name": grid_name,
                  "grid_spec": variant.grid_spec, "lambda_multiplier": multiplier,
                  "seed": seed, **{k: v for k, v in result.items()
                                   if k not in ("history", "confidence_trace")
                                   and not k.startswith("median_")}}
        records.append(record)
        if study == "main" and not variant.exum and variant.method in MEDIAN_METHODS:
            records.append({**record, "label": median_label(variant.label),
                            **{k[len("median_"):]: v for k, v in result.items()
                               if k.startswith("median_")}})
        traces += [{"study": study, "label": variant.label, "seed": seed,
                    "lambda_multiplier": multiplier,
                    "confidence_penalty": variant.confidence_penalty,
                    "epoch": epoch, "mean_confidence": confidence}
                   for epoch, confidence in result["confidence_trace"]]
    return records, traces


def plan_jobs(args):
    """(study, variant, seed, grid name, λ multiplier) in execution order."""
    jobs = []
    if "main" in args.studies:
        for seed in range(args.seeds):
            jobs += [("main", v, seed, MAIN_GRID_SPEC, float("nan")) for v in MAIN_VARIANTS]
    ablation_seeds = range(args.ablation_seeds)
    if "buckets" in args.studies:
        grids = ablation_grids(args.bucket_k, args.presets)
        for seed in ablation_seeds:
            for method in SWAT_METHODS:
                jobs += [("buckets", Variant(BASE_LABELS[method], method, grid_spec=spec), seed,
                          name, float("nan")) for name, spec in grids]
    if "lambda" in args.studies:
        for seed in ablation_seeds:
            for method in EXUM_METHODS:
                jobs += [("lambda", Variant("EXUM-" + BASE_LABELS[method], method, exum=True),
                          seed, MAIN_GRID_SPEC, m) for m in args.lambdas]
    if args.methods is not None:
        jobs = [job for job in jobs if job[1].method in args.methods]
    return jobs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    wall_start = time.perf_counter()
    commit, source_hash = library_fingerprint()
    frame, source = load_frame(args)
    jobs = plan_jobs(args)
    tasks, task_of_job = resolve_tasks(jobs, frame)
    print(f"{len(frame):,} rows from {source}; {len(jobs)} table entries from {len(tasks)} "
          f"trainings ({args.epochs} epochs, batch {args.batch_size}, Adam "
          f"{args.learning_rate:g}) on {args.workers} worker(s)", flush=True)
    budget = {"epochs": args.epochs, "batch_size": args.batch_size,
              "learning_rate": args.learning_rate}
    progress = ProgressPrinter(len(tasks))
    results = execution.train_all(tasks, frame, budget, workers=args.workers, report=progress,
                                  cache_dir=args.cache)
    records, traces = records_of(jobs, task_of_job, results)
    os.makedirs(args.output, exist_ok=True)
    wall_seconds = time.perf_counter() - wall_start
    # CPU time of this process and its finished workers: with one training per
    # core, wall time on an otherwise idle machine is about cpu_seconds / workers.
    times = os.times()
    cpu_seconds = times.user + times.system + times.children_user + times.children_system
    library_changed = library_fingerprint()[1] != source_hash
    if library_changed:
        print("warning: wt_keras's source changed during the run; rerun for clean results.",
              file=sys.stderr)
    command = "python benchmarks/compare_methods.py" + (" " + shlex.join(argv) if argv else "")
    info = {"command": command,
            "data": source if args.data else f"simulate_interactions(num_rows={args.rows}, "
                                              f"seed={args.data_seed})",
            "rows": len(frame), "seeds": args.seeds, "ablation_seeds": args.ablation_seeds,
            "epochs": args.epochs, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "runs_trained": len(tasks),
            "workers": args.workers, "git_commit": commit, "wt_keras_source_hash": source_hash,
            "library_changed_during_run": library_changed,
            "wall_seconds": round(wall_seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
            "mean_load_average": round(float(np.mean(progress.load_samples or [0.0])), 2),
            "python": platform.python_version(),
            "tensorflow": tf.__version__, "platform": platform.platform(terse=True),
            "cpu": outputs.cpu_model(), "cpus_available": len(os.sched_getaffinity(0))}
    outputs.write_outputs(records, traces, args, info)
    print(f"wrote {args.output}/ in {wall_seconds / 60:.1f} min wall ({len(tasks)} trainings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
