"""The watch-time TFX pipeline, from raw logs to a pushed TF Serving model.

  ExampleGen (CSV or TFRecord) → StatisticsGen → ImportSchemaGen (curated
  contract) → ExampleValidator → DataValidationGate → BucketBoundaryGen
  (train split) → Trainer → Evaluator (vs. the served model) → Pusher

`create_pipeline` is runner-agnostic: `local_runner` runs it with
LocalDagRunner, `kubeflow_runner` compiles it for Kubeflow Pipelines v2.
"""
# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
import wt_keras  # noqa: F401  isort: skip

from tfx import v1 as tfx
from tfx.orchestration import metadata
from tfx.v1.extensions import google_cloud_ai_platform as vertex_ai

from pipelines.watch_time import (atomic_push, configs, eval_config, served_baseline,
                                  validation)
from pipelines.watch_time.components.bucket_boundary_gen import BucketBoundaryGen
from pipelines.watch_time.evaluation import slice_batches

TRAIN_SPLIT, EVAL_SPLIT = "train", "eval"
RESOLVER_ID = "baseline_model_resolver"   # the served model (local) or latest blessed (KFP)


def _example_gen(config):
    """ExampleGen: data already split is read as the two splits; else hashed 4:1 (default)."""
    if config.split_patterns:
        # No hashing: TFX would serialise every record once more only to hash it.
        output_config = tfx.proto.Output()
        input_config = tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name=name, pattern=pattern)
            for name, pattern in zip((TRAIN_SPLIT, EVAL_SPLIT), config.split_patterns)])
    else:
        train, evaluation = config.train_eval_buckets
        output_config = tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
            tfx.proto.SplitConfig.Split(name=TRAIN_SPLIT, hash_buckets=int(train)),
            tfx.proto.SplitConfig.Split(name=EVAL_SPLIT, hash_buckets=int(evaluation))]))
        input_config = tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name="single_split", pattern=config.data_pattern)])
    example_gen = (tfx.components.ImportExampleGen if config.input_format == "tfrecord"
                   else tfx.components.CsvExampleGen)
    return example_gen(input_base=config.data_root, input_config=input_config,
                       output_config=output_config)


def _baseline_resolver(config):
    """The served model (local runs), or the latest blessed one (Kubeflow v2)."""
    model = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
    if config.baseline == "served":
        return tfx.dsl.Resolver(
            strategy_class=served_baseline.LatestServedModelStrategy, model=model,
            pushed_model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.PushedModel),
        ).with_id(RESOLVER_ID)
    return tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy, model=model,
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id(RESOLVER_ID)


def _evaluation(config, examples, model, schema):
    """Resolver of the baseline model + the Evaluator that compares against it."""
    resolver = _baseline_resolver(config)
    evaluator = tfx.components.Evaluator(
        examples=examples, model=model, baseline_model=resolver.outputs["model"],
        schema=schema, eval_config=eval_config.build_eval_config(config),
        example_splits=[EVAL_SPLIT], module_path=slice_batches.__name__)
    if tuple(config.beam_pipeline_args) == configs.LOCAL_BEAM_ARGS:
        evaluator.with_beam_pipeline_args(list(configs.EVALUATOR_LOCAL_BEAM_ARGS))
    return resolver, evaluator


def _trainer(config, **inputs):
    """The Trainer: in the pipeline step, or as a multi-machine Vertex AI training job."""
    custom_config = config.trainer_custom_config()
    if not config.vertex_training:
        return tfx.components.Trainer(custom_config=custom_config, **inputs)
    vertex = config.vertex_training
    machine = {"machine_type": vertex.get("machine_type", "n1-standard-8")}
    container = {"image_uri": vertex["image_uri"]}
    # Pool 0 is the chief, pool 1 the other workers; Vertex writes TF_CONFIG for each.
    pools = [{"machine_spec": machine, "replica_count": 1, "container_spec": container}]
    if int(vertex.get("replicas", 1)) > 1:
        pools.append({"machine_spec": machine, "replica_count": int(vertex["replicas"]) - 1,
                      "container_spec": container})
    custom_config.update({
        vertex_ai.ENABLE_VERTEX_KEY: True, vertex_ai.VERTEX_REGION_KEY: vertex["region"],
        vertex_ai.TRAINING_ARGS_KEY: {"project": vertex["project"],
                                      "job_spec": {"worker_pool_specs": pools}}})
    return vertex_ai.Trainer(custom_config=custom_config, **inputs)


def create_components(config):
    """The pipeline's components, in topological order."""
    example_gen = _example_gen(config)
    examples = example_gen.outputs["examples"]
    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=config.schema_path)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    gate = validation.DataValidationGate(
        statistics=statistics_gen.outputs["statistics"],
        anomalies=example_validator.outputs["anomalies"],
        schema=schema_gen.outputs["schema"], train_split=TRAIN_SPLIT)
    training_schema = gate.outputs["training_schema"]

    boundary_gen = BucketBoundaryGen(
        examples=examples, label_key=config.label_key, duration_key=config.duration_key,
        grid_spec=config.grid_spec, time_scale=config.time_scale,
        cread_num_buckets=config.cread_num_buckets, d2q_num_groups=config.d2q_num_groups,
        num_quantiles=config.num_quantiles, split=TRAIN_SPLIT)
    # Its only data input is the examples; this edge keeps it (and so the
    # Trainer) from running on data the gate rejected.
    boundary_gen.add_upstream_node(gate)

    trainer = _trainer(config, run_fn=configs.RUN_FN, examples=examples, schema=training_schema,
                       hyperparameters=boundary_gen.outputs["boundaries"],
                       train_args=tfx.proto.TrainArgs(splits=[TRAIN_SPLIT]),
                       eval_args=tfx.proto.EvalArgs(splits=[EVAL_SPLIT]))
    # The Evaluator decodes only the contract's columns (label, duration): the models
    # parse the serialized examples themselves and the duration group comes from the
    # candidate's transform_features signature. Decoding the training schema's
    # columns as well took ~5 % of its time at 1e6 rows.
    resolver, evaluator = _evaluation(config, examples, trainer.outputs["model"],
                                      schema_gen.outputs["schema"])
    pusher = atomic_push.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=config.push_base_directory)))
    return [example_gen, statistics_gen, schema_gen, example_validator, gate, boundary_gen,
            trainer, resolver, evaluator, pusher]


def create_pipeline(config):
    """A `tfx.dsl.Pipeline` for a `configs.PipelineConfig`.

    Args:
      config: the settings; `metadata_path` None leaves the MLMD connection
        to the orchestrator (Kubeflow).

    Returns:
      tfx.dsl.Pipeline.
    """
    connection = (metadata.sqlite_metadata_connection_config(config.metadata_path)
                  if config.metadata_path else None)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=config.pipeline_root,
        components=create_components(config), enable_cache=config.enable_cache,
        metadata_connection_config=connection,
        beam_pipeline_args=list(config.beam_pipeline_args))
