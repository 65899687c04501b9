"""BucketBoundaryGen through its real TFX executor on Beam's DirectRunner.

Exact mode (sketch_size >= n) must reproduce `wt_keras.buckets` bit for bit;
sketch mode must keep every derived value within the reported rank error.
"""
import json
import os

import numpy as np
import pytest

from pipelines.watch_time.components import bucket_boundary_gen as bbg
from pipelines.watch_time.components.boundary_derivation import BoundaryDataError
from pipelines.watch_time.components.quantile_sketch import QuantileSummaryFn, rank_error
from wt_keras import buckets

import tensorflow as tf  # noqa: E402  (after wt_keras: Keras 2)
from tfx.components.util import examples_utils  # noqa: E402
from tfx.proto import example_gen_pb2  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402

NUM_TRAIN = 3000
PARAMS = dict(label_key="watch_time_s", duration_key="duration_s",
              grid_spec="uniform:20", time_scale=0.0, cread_num_buckets=50,
              d2q_num_groups=30, num_quantiles=101, sketch_size=10_000, split="train")


def _float_feature(value):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def write_split(examples_uri, split, rows):
    """Writes gzip TFRecords of tf.Examples like ExampleGen (Split-<name>/)."""
    directory = os.path.join(examples_uri, f"Split-{split}")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            features = {key: _float_feature(value) for key, value in row.items()}
            example = tf.train.Example(features=tf.train.Features(feature=features))
            writer.write(example.SerializeToString())


def skewed_train_data(num_rows, seed=0):
    """Rounded lognormal watch time (many ties) with 15 % at 0; durations."""
    rng = np.random.default_rng(seed)
    duration = np.round(rng.lognormal(3.5, 0.8, num_rows), 1)
    watch = np.round(np.minimum(rng.lognormal(2.0, 1.2, num_rows), 5 * duration))
    watch[rng.random(num_rows) < 0.15] = 0.0
    # tf.Example stores float32: compare against what the component reads.
    as_read = lambda x: x.astype(np.float32).astype(np.float64)  # noqa: E731
    return as_read(watch), as_read(duration)


def make_examples(root, train_rows, eval_rows=()):
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    write_split(examples.uri, "train", train_rows)
    write_split(examples.uri, "eval", eval_rows)
    return examples


def rows_of(watch, duration):
    return [{"watch_time_s": w, "duration_s": d} for w, d in zip(watch, duration)]


def run_component(root, examples, beam_pipeline_args=None, **overrides):
    """Runs the real executor (Beam DirectRunner); returns (BucketBoundaries, report dir)."""
    boundaries = standard_artifacts.HyperParameters()
    boundaries.uri = os.path.join(root, "boundaries")
    report = bbg.BucketBoundaryReport()
    report.uri = os.path.join(root, "report")
    # No beam_pipeline_args: TFX would build an sdist for remote workers (~1.5 s).
    context = bbg.Executor.Context(tmp_dir=os.path.join(root, "tmp"), unique_id="1",
                                   beam_pipeline_args=beam_pipeline_args)
    bbg.Executor(context).Do({"examples": [examples]},
                             {"boundaries": [boundaries], "report": [report]},
                             dict(PARAMS, **overrides))
    assert os.listdir(boundaries.uri) == [bbg.FILE_NAME]  # Trainer needs one file
    return bbg.load_bucket_boundaries(boundaries.uri), report.uri


def assert_brackets(sorted_values, value, level, eps):
    """F(value-) - eps <= level <= F(value) + eps on the empirical CDF."""
    n = sorted_values.size
    below = np.searchsorted(sorted_values, value, side="left") / n
    at_most = np.searchsorted(sorted_values, value, side="right") / n
    assert below - eps - 1e-12 <= level <= at_most + eps + 1e-12, (
        value, level, below, at_most, eps)


@pytest.fixture(scope="module")
def train_data():
    return skewed_train_data(NUM_TRAIN)


@pytest.fixture(scope="module")
def examples(tmp_path_factory, train_data):
    # Eval labels are wild (1e6 s); if eval leaked in, t_K = max would show it.
    watch, duration = train_data
    eval_rows = rows_of(1e6 + 1000 * watch[:500], duration[:500])
    return make_examples(str(tmp_path_factory.mktemp("data")), rows_of(watch, duration), eval_rows)


@pytest.fixture(scope="module")
def exact_run(tmp_path_factory, examples):
    return run_component(str(tmp_path_factory.mktemp("exact")), examples)


@pytest.fixture(scope="module")
def sketch_run(tmp_path_factory, examples):
    # 3000 rows through a 500-quantile sketch: Beam's approximation path.
    return run_component(str(tmp_path_factory.mktemp("sketch")), examples,
                         grid_spec="swat_choice_4", sketch_size=500)


@pytest.mark.slow   # runs the executor on Beam
def test_exact_mode_equals_library_on_train_split_only(exact_run, train_data):
    payload, _ = exact_run
    watch, duration = train_data
    assert payload.sketch_exact and payload.num_examples == NUM_TRAIN
    expected = buckets.boundaries_from_percentiles(watch, "uniform:20")
    np.testing.assert_array_equal(payload.boundaries, expected)
    assert payload.num_buckets == expected.size
    assert payload.boundaries[-1] == watch.max() < 1e6  # eval never read
    assert payload.rank_error == pytest.approx(1 / NUM_TRAIN)
    for endpoint, level in zip(payload.boundaries, payload.levels):
        assert_brackets(np.sort(watch), endpoint, level / 100, payload.rank_error)
    cread = buckets.cread_boundaries(watch, num_buckets=50)
    np.testing.assert_array_equal(payload.cread_boundaries, cread.boundaries)
    assert payload.cread_alpha == cread.alpha
    tables = buckets.d2q_tables(watch, duration, num_groups=30, num_quantiles=101)
    np.testing.assert_array_equal(payload.d2q_duration_edges, tables.duration_edges)
    np.testing.assert_array_equal(payload.d2q_quantile_table, tables.quantile_table)
    assert payload.d2q_group_sizes.tolist() == tables.group_sizes.tolist()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exact", "sketch"])
def test_two_worker_processes_give_the_in_process_result(tmp_path, examples, exact_run,
                                                        sketch_run, mode):
    # Every DoFn, CombineFn and side input is pickled to worker processes here, as on
    # Dataflow/Flink/Spark. Exact mode must match bit for bit; the sketch's merge order
    # may differ between runs, so it must stay within the same rank error of the data.
    overrides = {} if mode == "exact" else dict(grid_spec="swat_choice_4", sketch_size=500)
    payload, _ = run_component(
        str(tmp_path), examples, ["--direct_running_mode=multi_processing",
                                  "--direct_num_workers=2"], **overrides)
    in_process = (exact_run if mode == "exact" else sketch_run)[0]
    if mode == "exact":
        assert payload == in_process
    else:
        assert payload.num_examples == in_process.num_examples == NUM_TRAIN
        assert payload.rank_error == in_process.rank_error


@pytest.mark.slow   # runs the executor on Beam
def test_sketch_mode_within_reported_rank_error(sketch_run, train_data):
    payload, _ = sketch_run
    watch = np.sort(train_data[0])
    eps = payload.rank_error
    assert not payload.sketch_exact
    assert eps == pytest.approx(1 / 500 + 2 / 499)
    levels = buckets.parse_grid_spec("swat_choice_4")
    assert None not in payload.levels and set(payload.levels) <= set(levels)
    for endpoint, level in zip(payload.boundaries, payload.levels):
        assert_brackets(watch, endpoint, level / 100, eps)
    exact = buckets.boundaries_from_percentiles(watch, "swat_choice_4")
    # Same top endpoint (max is exact in the sketch); K within a few of exact.
    assert payload.boundaries[-1] == exact[-1]
    assert abs(payload.num_buckets - exact.size) <= 5


@pytest.mark.slow   # runs the executor on Beam
def test_sketch_mode_cread_within_rank_error(sketch_run, train_data):
    payload, _ = sketch_run
    watch = np.sort(train_data[0])
    for endpoint, level in zip(payload.cread_boundaries, payload.cread_levels):
        assert_brackets(watch, endpoint, level, payload.rank_error)
    # The alpha picked on the sketch is near-optimal for the exact objective.
    exact = buckets.cread_boundaries(watch, num_buckets=50)
    chosen = exact.objectives[np.flatnonzero(np.isclose(exact.alphas, payload.cread_alpha))[0]]
    assert chosen <= exact.objective * 1.05


@pytest.mark.slow   # runs the executor on Beam
def test_sketch_mode_d2q_within_rank_error(sketch_run, train_data):
    payload, _ = sketch_run
    watch, duration = train_data
    edges = np.asarray(payload.d2q_duration_edges)
    assert edges.size == 29  # no ties big enough to merge groups in this data
    for k, edge in enumerate(edges, start=1):
        assert_brackets(np.sort(duration), edge, k / 30, payload.d2q_rank_error)
    groups = np.searchsorted(edges, duration, side="right")
    assert payload.d2q_group_sizes.tolist() == np.bincount(groups, minlength=30).tolist()  # exact
    levels = np.linspace(0, 1, payload.d2q_quantile_table.shape[1])
    for group, row in enumerate(payload.d2q_quantile_table):
        members = np.sort(watch[groups == group])
        for value, level in zip(row, levels):
            assert_brackets(members, value, level, payload.d2q_group_rank_errors[group])


@pytest.mark.slow   # runs the executor on Beam
def test_time_scale_integerises_like_library(tmp_path, examples, train_data):
    payload, _ = run_component(str(tmp_path), examples, time_scale=0.5,
                               grid_spec="0-96:2,96-100:0.2")
    expected = buckets.boundaries_from_percentiles(
        train_data[0], "0-96:2,96-100:0.2", time_scale=0.5)
    np.testing.assert_array_equal(payload.boundaries, expected)
    assert payload.time_scale == 0.5 and None not in payload.levels


@pytest.mark.slow   # runs the executor on Beam
def test_time_scale_chosen_on_sub_six_second_labels(tmp_path):
    """No time_scale (the pipeline's default): α is chosen on the training labels."""
    watch, duration = skewed_train_data(2000, seed=4)
    watch = (np.minimum(watch, 59.0) / 10.0).astype(np.float32).astype(np.float64)  # [0, 6) s
    examples = make_examples(str(tmp_path), rows_of(watch, duration), rows_of(watch[:5], duration[:5]))
    boundaries = standard_artifacts.HyperParameters()
    boundaries.uri = os.path.join(str(tmp_path), "boundaries")
    report = bbg.BucketBoundaryReport()
    report.uri = os.path.join(str(tmp_path), "report")
    params = {key: value for key, value in PARAMS.items() if key != "time_scale"}  # absent
    context = bbg.Executor.Context(tmp_dir=os.path.join(str(tmp_path), "tmp"), unique_id="1")
    bbg.Executor(context).Do({"examples": [examples]},
                             {"boundaries": [boundaries], "report": [report]}, params)
    payload = bbg.load_bucket_boundaries(boundaries.uri)
    alpha = buckets.choose_time_scale(watch, "uniform:20")
    assert alpha > 1.0   # whole seconds would merge most of the 20 endpoints
    assert payload.time_scale == alpha and payload.time_scale_source == "auto"
    np.testing.assert_array_equal(
        payload.boundaries, buckets.boundaries_from_percentiles(watch, "uniform:20",
                                                                   time_scale=alpha))
    with pytest.raises(ValueError, match=r"bucket\(s\) survive"):   # a fixed α = 1
        buckets.boundaries_from_percentiles(watch[watch < 0.6], "uniform:20", time_scale=1.0)


@pytest.mark.slow   # runs the executor on Beam
def test_report_png_and_summary(exact_run):
    payload, report_dir = exact_run
    assert sorted(os.listdir(report_dir)) == ["label_distribution.png", "summary.json"]
    with open(os.path.join(report_dir, "label_distribution.png"), "rb") as handle:
        png = handle.read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert tf.io.decode_png(png).shape[-1] in (3, 4)
    with open(os.path.join(report_dir, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["num_examples"] == NUM_TRAIN
    assert summary["num_buckets"] == payload.num_buckets


@pytest.mark.slow   # runs the executor on Beam
def test_loader_accepts_file_and_rejects_broken_json(exact_run, tmp_path):
    payload, _ = exact_run
    path = bbg.write_bucket_boundaries(payload, str(tmp_path / "ok"))
    assert bbg.load_bucket_boundaries(path) == payload
    written = json.loads(payload.to_json())
    broken = dict(written, d2q=dict(written["d2q"], quantile_table=[[1.0, 0.5]]))
    (tmp_path / "bad.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="d2q.quantile_table has shape"):
        bbg.load_bucket_boundaries(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="missing key"):
        buckets.BucketBoundaries.from_json({"boundaries": [1.0, 2.0]})
    with pytest.raises(FileNotFoundError, match="No bucket_boundaries.json"):
        bbg.load_bucket_boundaries(str(tmp_path))


@pytest.mark.slow   # runs the executor on Beam
@pytest.mark.parametrize("case, match", [
    ("missing_label", r"label column 'watch_time' is missing .*present: duration_s, watch_time_s"),
    ("empty_split", r"holds no examples"),
    ("bad_labels", r"of 105 examples 3 NaN/inf, 2 negative"),
    ("one_bucket", r"Only 1 bucket\(s\) survive"),
])
def test_readable_errors(tmp_path, train_data, case, match):
    watch, duration = (values[:100] for values in train_data)
    overrides = {}
    if case == "missing_label":
        overrides["label_key"] = "watch_time"
    rows = rows_of(watch, duration)
    if case == "empty_split":
        rows = []
    if case == "bad_labels":
        rows += rows_of([np.nan, np.nan, np.inf, -1.0, -5.0], duration[:5])
    if case == "one_bucket":  # 95 zeros: uniform:2 keeps only t = max
        rows = rows_of(np.r_[np.zeros(95), np.arange(1.0, 6.0)], duration)
        overrides["grid_spec"] = "uniform:2"
    examples = make_examples(str(tmp_path), rows)
    with pytest.raises(BoundaryDataError, match=match):
        run_component(str(tmp_path), examples, **overrides)


@pytest.mark.slow   # runs the executor on Beam
def test_unknown_split_and_bad_parameters(tmp_path, examples):
    with pytest.raises(ValueError, match="Split 'training' is not in the Examples"):
        run_component(str(tmp_path), examples, split="training")
    with pytest.raises(ValueError, match="Malformed grid spec"):
        bbg.BucketBoundaryGen(examples=None, grid_spec="uniform:0")
    with pytest.raises(ValueError, match="sketch_size must be an integer >= 100"):
        bbg.check_parameters("uniform:20", 0.0, 50, 30, 101, 10)


def test_quantile_summary_merges_exact_and_sketch_parts():
    fn = QuantileSummaryFn(capacity=100)
    rng = np.random.default_rng(1)
    parts = [np.round(rng.lognormal(2.0, 1.2, size=size)) for size in (30, 60, 15000, 25000)]
    accumulators = [fn.add_input(fn.create_accumulator(), part) for part in parts]
    small = fn.extract_output(fn.merge_accumulators(accumulators[:2]))
    assert small["exact"] and small["values"] == sorted(np.r_[parts[0], parts[1]].tolist())
    merged = fn.merge_accumulators(accumulators)
    # Beam's sketch for epsilon 0.01 holds 21 buffers of 954 values: 40k values
    # force a collapse, so Beam's own approximation is exercised, not just ours.
    assert any(buffer.level > 0 for buffer in merged.sketch.buffers)
    summary = fn.extract_output(merged)
    assert not summary["exact"] and summary["count"] == 40090 and len(summary["values"]) == 100
    values = np.sort(np.concatenate(parts))
    eps = rank_error(summary)
    assert eps == pytest.approx(0.01 + 2 / 99)
    for j, value in enumerate(summary["values"]):
        assert_brackets(values, value, j / 99, eps)


@pytest.mark.slow
@pytest.mark.e2e
def test_runs_in_local_dag_runner_and_compiles_for_kubeflow_v2(tmp_path, examples):
    from tfx import v1 as tfx  # pylint: disable=import-outside-toplevel
    importer = tfx.dsl.Importer(
        source_uri=examples.uri, artifact_type=standard_artifacts.Examples,
        properties={"split_names": examples.split_names}).with_id("examples")
    gen = bbg.BucketBoundaryGen(examples=importer.outputs["result"], d2q_num_groups=5)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="bucket-boundaries", pipeline_root=str(tmp_path / "root"),
        components=[importer, gen], beam_pipeline_args=["--direct_num_workers=1"],
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(str(tmp_path / "metadata.db")))
    tfx.orchestration.LocalDagRunner().run(pipeline)
    [output_dir] = (tmp_path / "root" / "BucketBoundaryGen" / "boundaries").iterdir()
    assert bbg.load_bucket_boundaries(str(output_dir)).num_examples == NUM_TRAIN

    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image="example.invalid/wt-keras:latest"),
        output_dir=str(tmp_path), output_filename="pipeline.json")
    compiled = json.dumps(runner.run(pipeline, write_out=True))
    assert "pipelines.watch_time.components.bucket_boundary_gen.Executor" in compiled
    assert "wt_keras.BucketBoundaryReport" in compiled
