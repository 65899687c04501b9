"""What a local run did, read back from ML Metadata: the CLI's final summary.

Everything comes from MLMD (executions, their states and output artifacts)
and the artifacts themselves, so the summary also describes runs whose
components came from the cache.
"""
import dataclasses
import os
from typing import Dict, List, Optional

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
import wt_keras  # noqa: F401  isort: skip

import numpy as np
import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from pipelines.watch_time import eval_config
from pipelines.watch_time.components.boundary_schema import load_bucket_boundaries

_State = metadata_store_pb2.Execution.State
STATE_NAMES = {_State.COMPLETE: "ran", _State.CACHED: "cached", _State.FAILED: "FAILED",
               _State.RUNNING: "running", _State.NEW: "not run", _State.CANCELED: "canceled"}
METRICS = (("mean_absolute_error", "MAE (s)"), ("xauc", "XAUC"), ("pearson", "Pearson"),
           ("crps", "CRPS (s)"), ("completion_ece", "completion ECE"))
RELIABILITY_PNG = "completion_reliability.png"


@dataclasses.dataclass
class ComponentRun:
    node_id: str
    state: str
    seconds: float
    outputs: Dict[str, List[metadata_store_pb2.Artifact]]


def open_store(metadata_path):
    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))


def last_execution_id(store):
    """The newest execution id (0 if none): later ids belong to later runs."""
    return max((execution.id for execution in store.get_executions()), default=0)


def component_runs(store, pipeline_name, node_ids, after_execution_id=0):
    """The latest execution of each node newer than `after_execution_id`."""
    runs = {}
    for node_id in node_ids:
        context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")
        if context is None:
            continue
        executions = [execution for execution in store.get_executions_by_context(context.id)
                      if execution.id > after_execution_id]
        if not executions:
            continue
        execution = max(executions, key=lambda item: item.id)
        outputs = {}
        for event in store.get_events_by_execution_ids([execution.id]):
            if event.type == metadata_store_pb2.Event.OUTPUT and event.path.steps:
                key = event.path.steps[0].key
                outputs.setdefault(key, []).extend(store.get_artifacts_by_id([event.artifact_id]))
        seconds = (execution.last_update_time_since_epoch
                   - execution.create_time_since_epoch) / 1000.0
        runs[node_id] = ComponentRun(node_id, STATE_NAMES.get(execution.last_known_state, "?"),
                                     seconds, outputs)
    return runs


def _first_uri(run: Optional[ComponentRun], key):
    if run is None or not run.outputs.get(key):
        return None
    return run.outputs[key][0].uri


def _rows(statistics_uri):
    rows = {}
    for entry in sorted(os.listdir(statistics_uri)):
        if entry.startswith("Split-"):
            stats = tfdv.load_stats_binary(os.path.join(statistics_uri, entry, "FeatureStats.pb"))
            rows[entry[len("Split-"):]] = sum(d.num_examples for d in stats.datasets)
    return rows


def _overall_metrics(evaluation_uri):
    """{(metric name, model name): value} of the overall slice (diffs left out).

    Scalars are floats; array metrics (the completion reliability table) numpy arrays.
    """
    values = {}
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        if metrics_for_slice.slice_key.single_slice_keys:
            continue
        for entry in metrics_for_slice.metric_keys_and_values:
            if entry.key.is_diff:
                continue
            # TFMA leaves the model name empty when there is no baseline.
            model = entry.key.model_name or eval_config.CANDIDATE
            if entry.value.HasField("double_value"):
                values[(entry.key.name, model)] = entry.value.double_value.value
            elif entry.value.HasField("array_value"):
                array = entry.value.array_value
                values[(entry.key.name, model)] = np.asarray(
                    array.float64_values, np.float64).reshape(list(array.shape))
    return values


def write_reliability_diagram(summary, directory):
    """Draws the candidate's completion-probability reliability diagram; returns the PNG path.

    From the Evaluator's `completion_reliability` table (count, mean forecast,
    observed frequency per probability bin, overall slice): calibrated
    forecasts lie on the diagonal. None when the model serves no completion
    probability (D2Q, regression).
    """
    table = summary["metrics"].get(("completion_reliability", eval_config.CANDIDATE))
    if table is None or not np.any(table[0] > 0):
        return None
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")  # no display in pipeline containers
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

    count, forecast, observed = table
    filled = count > 0
    edges = np.linspace(0.0, 1.0, count.size + 1)
    figure, (diagram, histogram) = pyplot.subplots(
        2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    diagram.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    diagram.plot(forecast[filled], observed[filled], marker="o", label="model")
    ece = summary["metrics"].get(("completion_ece", eval_config.CANDIDATE), float("nan"))
    diagram.set_title(f"completion probability P(T >= duration): ECE {ece:.4f}")
    diagram.set_ylabel("observed completion rate")
    diagram.legend(loc="upper left")
    histogram.bar(edges[:-1], count, width=np.diff(edges), align="edge", color="tab:blue")
    histogram.set_xlabel("predicted completion probability")
    histogram.set_ylabel("examples")
    figure.tight_layout()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, RELIABILITY_PNG)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def describe_failure(failure):
    """'xauc 0.52 < 0.55 (sanity bound)' from a TFMA ValidationFailure."""
    name = failure.metric_key.name
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if threshold.HasField("change_threshold"):
        change = threshold.change_threshold
        limits = []
        if change.HasField("relative"):
            limits.append(f"{change.relative.value:.1%} relative")
        if change.HasField("absolute"):
            limits.append(f"{change.absolute.value:g} absolute")
        return (f"{name} is worse than the baseline (served) model's by {value:+.4g} "
                f"(allowed: {' and '.join(limits)})")
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return f"{name} {value:.4g} < {bounds.lower_bound.value:g} (sanity bound)"
    if bounds.HasField("upper_bound"):
        return f"{name} {value:.4g} > {bounds.upper_bound.value:g} (sanity bound)"
    return f"{name} {value:.4g} fails {threshold}".replace("\n", " ")


def summarize(runs):
    """A dict of rows, buckets (a `BucketBoundaries`), metrics, blessing and push destination."""
    summary = {"rows": None, "buckets": None, "metrics": {}, "blessed": None,
               "validation_failures": [], "pushed_to": None}
    statistics = _first_uri(runs.get("StatisticsGen"), "statistics")
    if statistics:
        summary["rows"] = _rows(statistics)
    boundaries = _first_uri(runs.get("BucketBoundaryGen"), "boundaries")
    if boundaries:
        summary["buckets"] = load_bucket_boundaries(boundaries)
    evaluation = _first_uri(runs.get("Evaluator"), "evaluation")
    if evaluation:
        summary["metrics"] = _overall_metrics(evaluation)
        validation = tfma.load_validation_result(evaluation)
        summary["blessed"] = bool(validation.validation_ok)
        summary["validation_failures"] = [
            describe_failure(failure) for slice_failures in validation.metric_validations_per_slice
            for failure in slice_failures.failures]
    pusher = runs.get("Pusher")
    if pusher and pusher.outputs.get("pushed_model"):
        pushed = pusher.outputs["pushed_model"][0].custom_properties
        if pushed.get("pushed") and pushed["pushed"].int_value:
            summary["pushed_to"] = pushed["pushed_destination"].string_value
    return summary


def format_summary(runs, summary, wall_times, order):
    """The table printed at the end of `wt-pipeline run`."""
    lines = ["", f"{'component':<32}{'status':<13}{'wall time':>10}"]
    for node_id in order:
        if node_id in runs or node_id in wall_times:
            state = runs[node_id].state if node_id in runs else "?"
            lines.append(f"{node_id:<32}{state:<13}{wall_times.get(node_id, 0.0):>9.1f}s")
    lines.append(f"{'total':<45}{sum(wall_times.values()):>9.1f}s")
    if summary["rows"]:
        lines.append("rows: " + ", ".join(f"{split} {count:,}"
                                          for split, count in summary["rows"].items()))
    if summary["buckets"]:
        buckets = summary["buckets"].describe()
        lines.append(f"buckets: K={buckets['num_buckets']} ({buckets['grid_spec']}, "
                     f"α={buckets['time_scale']:g}, rank error {buckets['rank_error']:.2g}), "
                     f"CREAD M={buckets['cread_num_boundaries']}, "
                     f"D2Q groups={buckets['d2q_num_groups']}")
    if summary["metrics"]:
        lines.append(f"{'metric (eval split)':<22}{'candidate':>12}{'served':>14}")
        for name, title in METRICS:
            candidate = summary["metrics"].get((name, eval_config.CANDIDATE))
            baseline = summary["metrics"].get((name, eval_config.BASELINE))
            if candidate is None and baseline is None:
                continue   # e.g. CRPS of a head without a distribution
            lines.append(f"{title:<22}{_number(candidate):>12}{_number(baseline):>14}")
        lines.append("blessed: " + ("yes" if summary["blessed"] else "no"))
        lines.extend(f"  threshold failed: {failure}" for failure in summary["validation_failures"])
    if summary.get("reliability_diagram"):
        lines.append(f"reliability diagram: {summary['reliability_diagram']}")
    lines.append("pushed to: " + (summary["pushed_to"] or "nothing pushed (not blessed)"))
    return "\n".join(lines)


def _number(value):
    return "-" if value is None else f"{value:.4f}"
