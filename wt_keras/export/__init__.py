"""TF Serving export of a trained `WatchTimeRanker`.

    from wt_keras import export
    spec = export.feature_spec_from_features(train_rows, ["user_id", "video_id", "duration_s"])
    export_dir = export.next_version_dir("saved_models", "wt_keras")   # saved_models/wt_keras/<version>
    export.export_serving_model(ranker, export_dir, spec, warmup_examples=some_rows)

The SavedModel serves ``serving_default`` (serialised tf.Example strings,
input ``examples``) and ``predict_raw`` (one tensor per feature); both return
``watch_time`` (the ranker's point estimate, E[T | x] by default, seconds,
[batch]) and the head's extra outputs; heads with a distribution also serve
``watch_time_median``, ``quantiles`` and ``completion_probability``.
It holds no confidence-tower, optimizer or metric variables and loads with
`tf.saved_model.load` alone. `wt-serve check PATH` (`export.check`) verifies
an export with TensorFlow only. See docs/serving.md.

Nothing in this package imports the model code (`wt_keras.models`): the
ranker passed in supplies the layers. Names load lazily, so the `wt-serve`
command does not import TensorFlow just to print its help.
"""
import importlib

_EXPORTS = {
    "export_serving_model": "exporter", "DEFAULT_WARMUP_RECORDS": "exporter",
    "MODEL_INFO_FILE": "exporter",
    "feature_spec_from_features": "features", "serialize_examples": "features",
    "raw_feature_tensors": "features",
    "ServingModule": "serving", "SERVING_SIGNATURE": "serving", "RAW_SIGNATURE": "serving",
    "TRANSFORM_SIGNATURE": "serving", "RAW_REQUIRED_SIGNATURE": "serving",
    "serving_defaults": "defaults",
    "EXAMPLES_INPUT": "serving", "OUTPUT_DESCRIPTIONS": "serving",
    "DEFAULT_QUANTILE_LEVELS": "distribution", "DISTRIBUTION_OUTPUTS": "distribution",
    "next_version_dir": "versions", "existing_versions": "versions",
    "write_warmup_requests": "warmup", "read_warmup_requests": "warmup",
    "warmup_file_path": "warmup", "MAX_WARMUP_RECORDS": "warmup",
}

_SUBMODULES = ("check", "defaults", "distribution", "exporter", "features", "serving", "versions",
               "warmup")

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))
