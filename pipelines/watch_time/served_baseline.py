"""The Evaluator's baseline: the model TF Serving actually serves.

TFX's `LatestBlessedModelStrategy` returns the newest *blessed* model, also
when its push failed (unwritable base path, a crash in the Pusher): the next
candidate would then be compared with a model nobody serves, and a model
worse than the served one could be blessed. `LatestServedModelStrategy`
returns the Model artifact behind the newest PushedModel whose push
succeeded (`pushed` = 1 on a published artifact; a failed Pusher execution
publishes none), found through ML Metadata lineage: the PushedModel is the
output of a Pusher execution whose `model` input is the served model.

Kubeflow Pipelines v2 compiles only TFX's two built-in resolver strategies,
so compiled pipelines keep `LatestBlessedModelStrategy` (`PipelineConfig.baseline`).
"""
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

PUSHED = "pushed"   # the Pusher's custom property: 1 when the model was pushed
MODEL_KEY, PUSHED_MODEL_KEY = "model", "pushed_model"


def pushed_from(store, pushed_model_id):
    """Ids of the models that the Pusher execution which produced `pushed_model_id` read."""
    producers = [event.execution_id
                 for event in store.get_events_by_artifact_ids([pushed_model_id])
                 if event.type == metadata_store_pb2.Event.OUTPUT]
    return {event.artifact_id for event in store.get_events_by_execution_ids(producers)
            if event.type == metadata_store_pb2.Event.INPUT and event.path.steps
            and event.path.steps[0].key == MODEL_KEY}


def latest_served(store, models, pushed_models):
    """(model, pushed model) of the newest successful push, or (None, None)."""
    by_id = {model.id: model for model in models}
    served = [item for item in pushed_models if item.get_int_custom_property(PUSHED) == 1]
    for pushed in sorted(served, key=lambda item: item.id, reverse=True):
        for model_id in sorted(pushed_from(store, pushed.id), reverse=True):
            if model_id in by_id:
                return by_id[model_id], pushed
    return None, None


class LatestServedModelStrategy(resolver.ResolverStrategy):
    """Resolves `model` to the served model (see the module docstring).

    Usage:
      tfx.dsl.Resolver(strategy_class=LatestServedModelStrategy,
                       model=tfx.dsl.Channel(type=Model),
                       pushed_model=tfx.dsl.Channel(type=PushedModel))
    """

    def resolve_artifacts(
            self, store, input_dict: Dict[str, List[types.Artifact]]
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        model, pushed = latest_served(store, input_dict.get(MODEL_KEY, []),
                                      input_dict.get(PUSHED_MODEL_KEY, []))
        if model is None:
            return {MODEL_KEY: [], PUSHED_MODEL_KEY: []}
        return {MODEL_KEY: [model], PUSHED_MODEL_KEY: [pushed]}
