"""Blessing: neither MAE nor XAUC may regress against the model actually served.

The thresholds are checked by TFMA's own validator on the EvalConfig the
pipeline builds; the baseline strategy runs on a real (in-memory) ML
Metadata store holding the lineage a Trainer → Pusher history leaves.
"""
import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_specs
from tfx.types import standard_artifacts

from pipelines.watch_time import configs, eval_config, served_baseline


def _validate(candidate, baseline, **settings):
    """TFMA's verdict on the overall slice for {metric: value} of both models."""
    config = eval_config.build_eval_config(configs.PipelineConfig(**settings))
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        config.metrics_specs, eval_config=config)
    values = {}
    for key in thresholds:
        name = {"mean_absolute_error": "mae", "xauc": "xauc"}.get(key.name)
        if name is None:
            continue
        values[key] = (candidate[name] - baseline[name]) if key.is_diff else candidate[name]
        if key.is_diff:
            values[key.make_baseline_key(eval_config.BASELINE)] = (
                baseline[name])
    result = metrics_validator.validate_metrics(((), values), config)
    failed = {failure.metric_key.name for failure in result.metric_validations_per_slice[0]
              .failures} if result.metric_validations_per_slice else set()
    return result.validation_ok, failed


def test_an_xauc_regression_is_not_blessed_although_mae_improves():
    # As with the shuffled labels: MAE alone (47.47 s < 47.89 s) blesses
    # it, and its XAUC clears the 0.55 floor, yet it ranks worse than the served model.
    served, candidate = {"mae": 47.89, "xauc": 0.60}, {"mae": 47.47, "xauc": 0.56}
    ok, failed = _validate(candidate, served)
    assert not ok and failed == {"xauc"}
    assert _validate(candidate, served, xauc_max_decrease=None) == (True, set())


def test_a_model_that_holds_both_metrics_is_blessed():
    served = {"mae": 47.89, "xauc": 0.57}
    assert _validate({"mae": 47.60, "xauc": 0.565}, served) == (True, set())
    ok, failed = _validate({"mae": 49.50, "xauc": 0.60}, served)   # MAE 3.4 % worse
    assert not ok and failed == {"mean_absolute_error"}


def _store():
    config = metadata_store_pb2.ConnectionConfig()
    config.fake_database.SetInParent()
    return metadata_store.MetadataStore(config)


def _artifact(store, kind, **properties):
    artifact = kind()
    artifact.uri = f"/artifacts/{kind.TYPE_NAME}"
    for name, value in properties.items():
        artifact.set_int_custom_property(name, value)
    artifact.type_id = store.put_artifact_type(artifact.artifact_type)   # idempotent
    [artifact.id] = store.put_artifacts([artifact.mlmd_artifact])
    return artifact


def _execution(store, name, inputs, outputs):
    """An execution reading `inputs` and writing `outputs` ({key: artifact})."""
    type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(name=name))
    execution = metadata_store_pb2.Execution(
        type_id=type_id, last_known_state=metadata_store_pb2.Execution.COMPLETE)
    events = []
    for kind, artifacts in ((metadata_store_pb2.Event.INPUT, inputs),
                            (metadata_store_pb2.Event.OUTPUT, outputs)):
        for key, artifact in artifacts.items():
            event = metadata_store_pb2.Event(type=kind)
            event.path.steps.add().key = key
            events.append((artifact.mlmd_artifact, event))
    store.put_execution(execution, events, [])


def test_baseline_is_the_served_model_not_a_blessed_one_whose_push_failed():
    store = _store()
    served, unlucky = (_artifact(store, standard_artifacts.Model) for _ in range(2))
    pushed = _artifact(store, standard_artifacts.PushedModel, pushed=1)
    _execution(store, "Pusher", {"model": served}, {"pushed_model": pushed})
    # `unlucky` was blessed later, but its Pusher failed: it published no PushedModel.
    blessing = _artifact(store, standard_artifacts.ModelBlessing, blessed=1,
                         current_model_id=unlucky.id)
    models = [served, unlucky]
    model, push = served_baseline.latest_served(store, models, [pushed])
    assert model.id == served.id and push.id == pushed.id
    result = served_baseline.LatestServedModelStrategy().resolve_artifacts(
        store, {"model": models, "pushed_model": [pushed]})
    assert [artifact.id for artifact in result["model"]] == [served.id]
    assert blessing.id not in {artifact.id for artifact in result["model"]}


def test_not_pushed_means_no_baseline_yet():
    store = _store()
    model = _artifact(store, standard_artifacts.Model)
    skipped = _artifact(store, standard_artifacts.PushedModel, pushed=0)   # not blessed
    _execution(store, "Pusher", {"model": model}, {"pushed_model": skipped})
    result = served_baseline.LatestServedModelStrategy().resolve_artifacts(
        store, {"model": [model], "pushed_model": [skipped]})
    assert result == {"model": [], "pushed_model": []}


def test_compiled_kubeflow_pipelines_keep_the_builtin_strategy():
    from pipelines.watch_time import kubeflow_runner
    assert configs.PipelineConfig().baseline == "served"
    assert kubeflow_runner.kubeflow_config().baseline == "latest_blessed"
    with pytest.raises(configs.ConfigError, match="baseline"):
        configs.PipelineConfig(baseline="newest")
