# The pipeline image: every step of pipelines/watch_time runs in it on Kubeflow
# Pipelines v2 / Vertex AI Pipelines (KubeflowV2DagRunner's default_image), and
# Dataflow can use it as the Beam SDK container of the Beam components.
#
#   docker build -t REGISTRY/wt-keras-pipeline:TAG .
#   wt-pipeline compile --target kubeflow --image REGISTRY/wt-keras-pipeline:TAG \
#       --root gs://BUCKET/wt_keras --output pipeline.json
#   # Beam steps on Dataflow with the same image:
#   #   --beam-arg=--runner=DataflowRunner --beam-arg=--experiments=use_runner_v2
#   #   --beam-arg=--sdk_container_image=REGISTRY/wt-keras-pipeline:TAG ...
#
# TFX 1.16 supports Python 3.9-3.10; Beam's SDK image pins the same Python minor.
FROM python:3.10-slim

# TensorFlow Recommenders needs Keras 2: TensorFlow reads this at its first import,
# in every step's process and in every Beam worker started from this image.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Beam's worker launcher, so that Dataflow (Runner v2) can run this image as its
# SDK container; Kubeflow replaces the entrypoint with the TFX step command.
COPY --from=apache/beam_python3.10_sdk:2.61.0 /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]

# The repository lives at /pipeline: kubeflow_runner.IMAGE_SCHEMA_PATH points at
# pipelines/watch_time/schema/schema.pbtxt in it. Installed with the pinned stack
# of constraints.txt (the same versions the tests run with) and the pipeline extra.
WORKDIR /pipeline
COPY . /pipeline
RUN pip install --upgrade "pip<25" wheel \
    && pip install -c constraints.txt "/pipeline[pipeline]" \
    && python -c "import wt_keras, tensorflow_recommenders, tfx.v1, pipelines.watch_time.pipeline; \
                  import tensorflow as tf; assert tf.keras.__name__.startswith('tf_keras'), tf.keras"
