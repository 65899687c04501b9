"""`make bench` keeps working: each speed benchmark runs at a tiny size and reports sane figures.

Speed goals are not asserted here (timed unit tests on a shared machine would be noise); the
checks are on what the scripts compute besides time: the same XAUC as brute force (and, at
n = 1e6, as a Monte-Carlo estimate over random pairs), identical checkpoint entry counts with and
without EXUM, a rank error within its bound, and one finite ratio for every head.
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADS = ("regression", "wlr", "geometric", "d2q", "ordinal", "cread", "swat_binom", "swat_geo",
         "tpm")


def run_benchmark(script, *args, timeout=600):
    environment = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", script), *args],
                               cwd=REPO, env=environment, capture_output=True, text=True,
                               timeout=timeout)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed.stdout


@pytest.mark.slow
def test_heads_train_step_reports_every_head_with_and_without_exum():
    out = run_benchmark("heads_train_step.py", "--rows", "3000", "--rounds", "1", "--steps", "1",
                        "--instances", "1")
    rows = dict(re.findall(r"^\| ([a-z0-9_]+(?: \+ EXUM)?) \| \d+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|",
                           out, re.MULTILINE))
    expected = set(HEADS) | {f"{h} + EXUM" for h in ("regression", "d2q", "cread", "swat_binom",
                                                      "swat_geo")}
    assert set(rows) == expected, out
    assert float(rows["regression"]) == 1.0 and float(rows["regression + EXUM"]) == 1.0
    assert all(0.0 < float(ratio) < 100.0 for ratio in rows.values()), out


@pytest.mark.slow
def test_heads_train_step_grid_spec_prints_one_table_per_number_of_buckets():
    # One head and one instance: every ranker costs a trace and an XLA compile, and the tables'
    # layout is what is checked here (12 rankers: 2 specs × 2 metrics settings × 3 heads).
    out = run_benchmark("heads_train_step.py", "--rows", "3000", "--rounds", "2", "--steps", "1",
                        "--grid-spec", "uniform:8", "uniform:40", "--time-scale", "100",
                        "--methods", "ordinal", "--instances", "1", "--floor",
                        "--train-metrics", "on", "off")
    widths = re.findall(r"^\| (regression|ordinal|floor) \| (\d+) \|", out, re.MULTILINE)
    # 3000 labels keep 8 and 40 distinct endpoints; one table per spec and metrics setting.
    # The floor has as many logits as SWaT-Geo: K finite buckets and the open one.
    assert widths == ([("regression", "1"), ("ordinal", "8"), ("floor", "9")] * 2
                      + [("regression", "1"), ("ordinal", "40"), ("floor", "41")] * 2), out
    headers = re.findall(r"^rows .*K = (\d+) .*training metrics (on|off)", out, re.MULTILINE)
    assert headers == [("8", "on"), ("8", "off"), ("40", "on"), ("40", "off")], out
    assert "K = 8 (uniform:8), CREAD M = 8" in out and "K = 40 (uniform:40), CREAD M = 40" in out, out
    assert "2 rounds × 1 instances × 1 steps" in out, out
    # The goal column follows K (≤ 1.10 up to K ≈ 256) and every ratio is a finite number.
    assert out.count("goal ≤ 1.10") == 4, out
    ratios = re.findall(r"^\| (?:ordinal|floor) \| \d+ \| [\d.]+ \| ([\d.]+) \| ([\d.]+) \|",
                        out, re.MULTILINE)
    assert len(ratios) == 8 and all(0.0 < float(r) < 100.0 for pair in ratios for r in pair), out
    # The last column brackets the paired median (the regression rows pair with themselves: 1).
    rows = re.findall(r"^\| (regression|ordinal|floor) \| \d+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \| "
                      r"(?:ok|over) \| [\d.]+ \| ([\d.]+)–([\d.]+) \|$", out, re.MULTILINE)
    assert len(rows) == 12, out
    for name, median, low, high in rows:
        assert float(low) <= float(median) <= float(high), out
        if name == "regression":
            assert low == high == "1.000", out


@pytest.mark.slow
def test_head_step_profile_splits_a_step_into_tensorflow_ops_and_xla_loops():
    # Every op printed (--top): at K = 17 the matmuls are far from the largest ops.
    out = run_benchmark("head_step_profile.py", "--rows", "3000", "--steps", "5", "--top", "1000",
                        "--grid-spec", "uniform:16", "--time-scale", "100", "--method", "swat_geo")
    header = re.search(r"^swat_geo, uniform:16 \(K = (\d+) logits\), training metrics on, "
                       r"batch 512: ([\d.]+) ms a step", out, re.MULTILINE)
    assert header and int(header.group(1)) == 17 and float(header.group(2)) > 0.0, out
    totals = dict(re.findall(r"^(TensorFlow ops|XLA instructions): ([\d.]+) ms a step", out,
                             re.MULTILINE))
    # The projection's matmuls run as TensorFlow ops and the compiled loss as XLA loops:
    # both tables are non-empty, and the matmuls are listed among the TensorFlow ops.
    assert float(totals["TensorFlow ops"]) > 0.0 and float(totals["XLA instructions"]) > 0.0, out
    tensorflow_ops = out.split("XLA instructions:")[0]
    assert re.search(r"^ +[\d.]+ ms  .*MatMul", tensorflow_ops, re.MULTILINE), out


@pytest.mark.slow
def test_xauc_speed_agrees_with_brute_force():
    out = run_benchmark("xauc_speed.py", "--repeats", "1")
    assert "same value as brute force: yes" in out, out
    row = re.search(r"^\s+1000000\s+xauc, O\(n log n\)\s+([\d.]+)\s+([\d.]+)$", out, re.MULTILINE)
    assert row, out
    # The n = 1e6 value against a Monte-Carlo estimate over random pairs of the same data (the
    # benchmark's recipe: exponential(30 s) labels rounded to seconds, plus N(0, 20 s) noise, seed 0).
    rng = np.random.default_rng(0)
    labels = np.round(rng.exponential(30.0, 1_000_000))
    predictions = labels + rng.normal(0.0, 20.0, labels.size)
    first, second = np.random.default_rng(1).integers(0, labels.size, (2, 1_000_000))
    label_order = np.sign(labels[first] - labels[second])
    agreement = (label_order * np.sign(predictions[first] - predictions[second]))[label_order != 0]
    estimate = float(np.mean(agreement > 0))     # the noise is continuous: no prediction ties
    standard_error = np.sqrt(estimate * (1.0 - estimate) / agreement.size)
    assert abs(float(row[2]) - estimate) < 5 * standard_error, (row[2], estimate)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="native_kernel_bound.py builds a C++ op")
def test_native_kernel_bound_agrees_with_the_head_and_prints_three_ratios():
    out = run_benchmark("native_kernel_bound.py", "--grid-spec", "uniform:64", "--rows", "3000",
                        "--rounds", "2", "--instances", "1", "--steps", "2")
    # The op's loss, gradient and E against the head's own, on 512 random rows (the script
    # exits non-zero above 1e-4; a float32 kernel of the same formulas lands near 1e-7).
    errors = re.search(r"loss ([\d.e+-]+), gradient ([\d.e+-]+), mean ([\d.e+-]+)$", out,
                       re.MULTILINE)
    assert errors and all(float(error) < 1e-5 for error in errors.groups()), out
    assert re.search(r"^uniform:64: K = (\d+) logits", out, re.MULTILINE), out
    assert re.search(r"^built swat_geo_step.cc: vector exp/log1p/expm1 (yes|NO)", out,
                     re.MULTILINE), out
    ratios = re.findall(r"^\| SWaT-Geo \((?:compiled loss|native op)\) ÷ [^|]+ \| ([\d.]+) "
                        r"\| ([\d.]+)–([\d.]+) \|$", out, re.MULTILINE)
    assert len(ratios) == 3, out
    for median, low, high in ratios:
        assert 0.0 < float(low) <= float(median) <= float(high), out


@pytest.mark.slow
def test_serving_latency_exports_have_the_same_variables():
    out = run_benchmark("serving_latency.py", "--repetitions", "5", "--rows", "512")
    ratios = re.findall(r"^\s+(1|32|256)\s+[\d.]+\s+[\d.]+\s+([\d.]+)", out, re.MULTILINE)
    assert [size for size, _ in ratios] == ["1", "32", "256"], out
    entries = re.search(r"checkpoint entries: EXUM (\d+), no-EXUM (\d+)", out)
    assert entries[1] == entries[2], out
    sizes = re.search(r"EXUM ([\d,]+), no-EXUM ([\d,]+), ratio ([\d.]+)", out)
    assert abs(float(sizes[3]) - 1.0) < 0.01, out
    assert "completion_probability, quantiles, watch_time, watch_time_median" in out, out
    distribution = re.findall(r"batch +(\d+): distributional [\d.]+ ms, mean-only [\d.]+ ms, "
                              r"ratio ([\d.]+)", out)
    assert [size for size, _ in distribution] == ["1", "32", "256"], out
    assert all(float(ratio) > 0 for _, ratio in distribution), out


@pytest.mark.slow
def test_bucket_boundary_gen_rank_error_within_its_bound():
    # A small sketch makes the approximation visible, so the bound is actually exercised.
    out = run_benchmark("bucket_boundary_gen_throughput.py", "--sizes", "20000", "--repeats", "1",
                        "--sketch-size", "100")
    row = out.strip().splitlines()[-1].split()
    bound, seen = float(row[-2]), float(row[-1])
    assert row[0] == "20000" and 0.0 < bound < 0.1, out
    assert seen <= bound, out


@pytest.mark.slow
@pytest.mark.e2e
def test_pipeline_scaling_quick_prints_every_column(tmp_path):
    out = run_benchmark("pipeline_scaling.py", "--quick", "--work-dir", str(tmp_path),
                        timeout=1800)
    assert "| component | 2,000 rows: s (rows/s) | 4,000 rows: s (rows/s) | growth exponent |" in out
    for name in ("ImportExampleGen", "StatisticsGen", "BucketBoundaryGen", "Trainer",
                 "Evaluator", "simulate", "total"):
        row = re.search(rf"^\| {name} \| ([\d.]+) \(([\d,]+)\) \| ([\d.]+) \(([\d,]+)\) "
                        rf"\| (-?[\d.]+) \|$", out, re.MULTILINE)
        assert row, (name, out)
        assert float(row[1]) > 0 and float(row[3]) > 0, out
    assert re.search(r"^\| Trainer fit, examples/s \| [\d,]+ \| [\d,]+ \| - \|$", out, re.MULTILINE), out
    assert re.search(r"^\| peak RSS \(MiB\) \| \d+ \| \d+ \| -?[\d.]+ \|$", out, re.MULTILINE), out
    evaluation = re.search(r"^\| Evaluator, evaluation rows/s \(goal ≥ 10,000\) \| [\d,]+ \(([\d,]+) rows\) "
                           r"\| [\d,]+ \(([\d,]+) rows\) \| - \|$", out, re.MULTILINE)
    assert evaluation, out
    # The eval split is one hash bucket of five: about a fifth of the rows.
    assert 200 < int(evaluation[1].replace(",", "")) < 600, out
