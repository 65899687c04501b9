"""The serving `tf.Module`: tf.Example → features → shared bottom → head → E[T | x].

`ServingModule` holds only what serving needs (feature encoder, shared
bottom, head). The ranker's confidence tower, optimizer, loss and metric
variables are not reachable from it, so `tf.saved_model.save` writes none of
them. The head's constants (bucket widths, D2Q tables) are numpy arrays that
tracing bakes into the graph as constants.

This module needs TensorFlow only; it uses the ranker it is given but never
imports the model code.
"""
import contextlib
import logging

import numpy as np
import tensorflow as tf

from wt_keras.export import defaults as request_defaults
from wt_keras.export import distribution
from wt_keras.export.features import validate_feature_spec

SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "predict_raw"
# Present when the export records feature defaults: the required features only.
RAW_REQUIRED_SIGNATURE = "predict_raw_required"
# Optional: serialised tf.Example → extra features (e.g. slice keys for TFMA's
# `preprocessing_function_names`); present only when `transform_features` is given.
TRANSFORM_SIGNATURE = "transform_features"
EXAMPLES_INPUT = "examples"

_COMPONENTS = ("encoder", "bottom", "head")
OUTPUT_DESCRIPTIONS = {
    "watch_time": "the model's point estimate of the watch time in seconds (`point_estimate`: "
                  "mean E[T | x], median, or a quantile level)",
    "watch_time_median": "median watch time Q(0.5) in seconds",
    "quantiles": "watch-time quantiles Q(q) in seconds at `quantile_levels`, [batch, levels]",
    "completion_probability": "P(T >= duration): probability the video is watched to its end",
    "bucket_probabilities": "per-bucket probability p_k = sigmoid(z_k) for buckets "
                            "[t_(k-1), t_k) of `boundaries` (SWaT; last = open bucket for SWaT-Geo)",
    "survival_probabilities": "phi_m = P(T > t_m) for each of `boundaries` (ordinal / CREAD)",
    "leaf_probabilities": "P(leaf k) of TPM's tree for buckets [t_(k-1), t_k) of `boundaries`",
    "quantile": "predicted within-duration-group quantile of the watch time, in [0, 1] (D2Q)",
}
_log = logging.getLogger(__name__)


def _free_key(node, key, for_scope):
    """`key`, or `key_1`, `key_2`, ... when it is taken by an incompatible entry."""
    candidate, suffix = key, 0
    while candidate in node and not (for_scope and isinstance(node[candidate], dict)):
        suffix += 1
        candidate = f"{key}_{suffix}"
    return candidate


def variables_by_path(variables):
    """Nests variables by their name scopes: {"dense_0": {"kernel": v, "bias": v}}.

    The nesting becomes the checkpoint keys, so `tf.train.list_variables`
    shows readable names such as `weights/bottom/dense_0/kernel/...`.
    Keras may give two variables the same name; the later one gets `_1`.
    """
    tree = {}
    for variable in variables:
        *scopes, leaf = variable.name.split(":")[0].split("/")
        node = tree
        for scope in scopes:
            scope = _free_key(node, scope, for_scope=True)
            node = node.setdefault(scope, {})
        node[_free_key(node, leaf, for_scope=False)] = variable
    return tree


def _unique(variables):
    seen, unique = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            unique.append(variable)
    return unique


class _ForwardPass:
    """The serving computation, deliberately kept outside TensorFlow's object graph.

    A plain Python object is invisible to SavedModel tracking: the Keras
    layers it calls are traced into the signatures as ops, but are not
    serialised as Keras objects. The SavedModel therefore loads without
    Keras or wt_keras classes, and holds only the variables that
    `ServingModule.weights` lists.
    """

    def __init__(self, ranker, feature_spec, quantile_levels):
        self.encoder = ranker.encoder
        self.bottom = ranker.bottom
        self.head = ranker.head
        self.context = ranker.context
        # A user's own model serves the head's mean; a ranker its configured point estimate.
        self.estimate = getattr(ranker, "estimate", None) or ranker.head.expected_value
        self.point_estimate = getattr(ranker, "point_estimate", "mean")
        self.feature_spec = feature_spec
        # A user's own Keras model (wrapped by export.user_model) computes its
        # logits itself; a WatchTimeRanker goes encoder → bottom → head.
        self.logits = getattr(ranker, "serving_logits", None) or self._ranker_logits
        # None for heads without a distribution (D2Q, regression).
        self.quantile_levels = quantile_levels

    def _ranker_logits(self, features):
        return self.head(self.bottom(self.encoder(features), training=False))

    def __call__(self, features):
        logits = self.logits(features)
        context = self.context(features)
        outputs = self.head.serving_outputs(logits, **context)
        if "watch_time" not in outputs:
            raise ValueError(f"{type(self.head).__name__}.serving_outputs() must return "
                             "'watch_time' (E[T | x] in seconds).")
        outputs["watch_time"] = self.estimate(logits, **context)
        if self.quantile_levels is not None:
            outputs.update(distribution.distribution_outputs(
                self.head, logits, self.quantile_levels, context))
        return {name: tf.cast(value, tf.float32) if value.dtype.is_floating else value
                for name, value in outputs.items()}


def _required_features(ranker, feature_spec):
    """The spec restricted to the features the ranker reads; checks none is missing."""
    if ranker.label_key in feature_spec:
        raise ValueError(
            f"feature_spec contains the label '{ranker.label_key}'; serving requests do not "
            f"carry it. Remove it first: feature_spec.pop('{ranker.label_key}').")
    missing = [name for name in ranker.encoder.feature_names if name not in feature_spec]
    if missing:
        raise ValueError(f"feature_spec lacks the model input(s) {missing}; the model was built "
                         f"with {ranker.encoder.feature_names}. Add them, e.g. with "
                         "export.feature_spec_from_features(sample_rows, names).")
    used = set(ranker.encoder.feature_names)
    # Only the duration: E[T | x] never reads the click flag (a WLR training
    # label), so serving requests must not be made to send it.
    if ranker.duration_feature:
        used.add(ranker.duration_feature)
    unused = [name for name in feature_spec if name not in used]
    if unused:
        _log.info("Not serving the unused features %s: requests need not send them.", unused)
    return {name: spec for name, spec in feature_spec.items() if name in used}


class _Defaults:
    """Recorded serving defaults (plain Python values: nothing for SavedModel to track)."""

    def __init__(self, values, required, parsing_spec, numeric):
        self.values, self.required, self.parsing_spec = values, required, parsing_spec
        self.numeric = numeric   # numeric model inputs whose invalid values take the default


def _checked_defaults(feature_spec, feature_defaults, required_features, numeric):
    """A `_Defaults` for the served features, or None when no defaults were given."""
    if feature_defaults is None:
        if required_features is not None:
            raise ValueError("required_features needs feature_defaults for the other features; "
                             "compute them with export.serving_defaults(training_rows, "
                             "feature_spec, required_features).")
        return None
    required = [name for name in (required_features or ()) if name in feature_spec]
    unknown = [name for name in (required_features or ()) if name not in feature_spec]
    if unknown:
        raise ValueError(f"required_features {unknown} are not served features "
                         f"{sorted(feature_spec)}.")
    missing = [name for name in feature_spec if name not in feature_defaults]
    if missing:
        raise ValueError(f"feature_defaults lacks {missing}; give every served feature a "
                         "default (export.serving_defaults computes them from training rows).")
    values = {name: feature_defaults[name] for name in feature_spec}
    return _Defaults(values, required,
                     request_defaults.parsing_spec(feature_spec, values, required), numeric)


def _ensure_built(ranker, feature_spec):
    """Creates the ranker's variables if it has never been called."""
    if all(getattr(ranker, name).built for name in _COMPONENTS):
        return
    one_row = {name: tf.constant([b""] if spec.dtype == tf.string else [0], spec.dtype)
               for name, spec in feature_spec.items()}
    ranker(one_row)


@contextlib.contextmanager
def _explain_missing_features(ranker, feature_spec):
    """Adds the likely fix to errors raised while the serving graph is built."""
    try:
        yield
    except (KeyError, ValueError) as error:
        raise ValueError(
            f"building the serving graph failed: {error}. The graph sees only the features in "
            f"feature_spec {sorted(feature_spec)}; if the head needs another one (D2QHead needs "
            f"the duration '{ranker.duration_feature}'), add it to feature_spec.") from error


class ServingModule(tf.Module):
    """What TF Serving needs of a `WatchTimeRanker`, and nothing else.

    Signatures (from `signatures()`):

    * ``serving_default``: ``examples`` — [batch] serialised `tf.Example`
      strings — → ``watch_time`` [batch] float32 seconds (the ranker's
      `point_estimate`, E[T | x] by default), plus the head's extra outputs
      (e.g. ``bucket_probabilities``) and, for heads with a distribution,
      ``watch_time_median`` [batch], ``quantiles`` [batch, levels] and
      ``completion_probability`` [batch] (see `export.distribution`).
    * ``predict_raw``: one [batch] tensor per feature (the feature spec's
      dtype) → the same outputs. For REST ``instances`` JSON.

    Args:
      ranker: a trained `wt_keras.models.WatchTimeRanker` (with or without a
        confidence tower; the tower is left out).
      feature_spec: {name: tf.io.FixedLenFeature([], dtype)} of the model's
        input features (label excluded). Features the ranker does not read
        are dropped, so clients need not send them.
      name: module name.
      feature_defaults: optional {name: default} for every served feature
        (`export.serving_defaults(training_rows, spec, required)` computes
        modes and medians). With it, a request may omit any feature not in
        `required_features`; NaN, inf and negative numeric inputs are
        replaced by the default; and the ``predict_raw_required`` signature
        takes the required features only. Without it every feature is
        required and values are used as sent.
      required_features: names every request must carry (the ids and the
        duration); used with `feature_defaults`.
      quantile_levels: levels of the ``quantiles`` output of heads with a
        distribution (strictly increasing, in (0, 1)); None serves the point
        estimate only (no distributional outputs).
      transform_features: optional traceable callable {name: [B] tensor parsed
        with the feature spec} → {name: [B] tensor}. When given, the module
        also serves it as the ``transform_features`` signature (serialised
        tf.Example → its outputs), e.g. slice features computed with constants
        learned in training, for TFMA's `preprocessing_function_names`.

    Example::

        module = ServingModule(ranker, export.feature_spec_from_features(rows, names))
        tf.saved_model.save(module, export_dir, signatures=module.signatures())

    `export_serving_model` does this and more (warmup, versioning, checks).
    """

    def __init__(self, ranker, feature_spec, name="wt_keras_serving", transform_features=None,
                 feature_defaults=None, required_features=None,
                 quantile_levels=distribution.DEFAULT_QUANTILE_LEVELS):
        super().__init__(name=name)
        self._transform_fn = transform_features   # a plain callable: nothing to track
        feature_spec = _required_features(ranker, validate_feature_spec(feature_spec))
        dense = getattr(ranker.encoder, "dense_features", None)
        if dense is None:   # a user's own model: its float features are the numeric ones
            dense = [name for name, spec in feature_spec.items() if spec.dtype.is_floating]
        numeric = [name for name in list(dense) + [ranker.duration_feature]
                   if name in feature_spec]
        self._defaults = _checked_defaults(feature_spec, feature_defaults, required_features,
                                           numeric)
        with _explain_missing_features(ranker, feature_spec):
            _ensure_built(ranker, feature_spec)
        if quantile_levels is not None:
            quantile_levels = distribution.check_quantile_levels(quantile_levels)
        if quantile_levels is None or distribution.distribution_error(ranker.head) is not None:
            quantile_levels = None
        elif ranker.duration_feature not in feature_spec:
            _log.warning("feature_spec lacks the duration '%s': the export serves no "
                         "completion_probability.", ranker.duration_feature)
        self._forward = _ForwardPass(ranker, feature_spec, quantile_levels)   # untracked on purpose
        components = {name: _unique(getattr(ranker, name).variables) for name in _COMPONENTS}
        self._check_excludes_training_only(ranker, components)
        # The only trackable state of the module: these variables are all the checkpoint holds.
        self.weights = {name: variables_by_path(variables) for name, variables in components.items()}
        # autograph=False: the forward pass has no tensor-dependent Python control flow.
        self.serve_examples = tf.function(self._serve_examples, autograph=False, input_signature=[
            tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
        self.predict_raw = tf.function(self._predict_raw, autograph=False, input_signature=[{
            name: tf.TensorSpec([None], spec.dtype, name=name)
            for name, spec in feature_spec.items()}])
        if self._defaults is not None and self._defaults.required:
            self.predict_raw_required = tf.function(
                self._predict_raw_required, autograph=False, input_signature=[{
                    name: tf.TensorSpec([None], spec.dtype, name=name)
                    for name, spec in feature_spec.items() if name in self._defaults.required}])
        if transform_features is not None:
            self.transform_features = tf.function(
                self._transform_features, autograph=False,
                input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
        with _explain_missing_features(ranker, feature_spec):
            self.signatures()   # trace now: problems surface here, not inside saving

    @property
    def feature_spec(self):
        """{name: tf.io.FixedLenFeature} parsed by ``serving_default``."""
        return dict(self._forward.feature_spec)

    @property
    def head(self):
        return self._forward.head

    @staticmethod
    def _check_excludes_training_only(ranker, components):
        tower = getattr(ranker, "confidence_tower", None)
        if tower is None:
            return
        tower_ids = {id(v) for v in tower.variables}
        shared = [v.name for vs in components.values() for v in vs if id(v) in tower_ids]
        if shared:
            raise ValueError(f"the serving layers share variables {shared} with the training-only "
                             "confidence tower; give the tower its own layers.")

    def _parse(self, examples):
        """Serialised tf.Examples → features; optional ones default (when recorded)."""
        spec = self._forward.feature_spec
        if self._defaults is None:
            return tf.io.parse_example(examples, spec)
        features = tf.io.parse_example(examples, self._defaults.parsing_spec)
        return self._repair(features)

    def _repair(self, features):
        """NaN, inf or negative numeric inputs count as missing: they take the default."""
        if self._defaults is None:
            return features
        return request_defaults.replace_invalid_numbers(features, self._defaults.numeric,
                                                        self._defaults.values)

    def _serve_examples(self, examples):
        return self._forward(self._parse(examples))

    def _predict_raw(self, features):
        with tf.control_dependencies(request_defaults.check_same_length(features)):
            features = {name: tf.identity(value) for name, value in features.items()}
        return self._forward(self._repair(features))

    def _predict_raw_required(self, features):
        with tf.control_dependencies(request_defaults.check_same_length(features)):
            features = {name: tf.identity(value) for name, value in features.items()}
        batch = tf.shape(next(iter(features.values())))[:1]
        for name, spec in self._forward.feature_spec.items():
            if name not in features:
                features[name] = tf.fill(batch, tf.constant(self._defaults.values[name],
                                                            spec.dtype))
        return self._forward(self._repair(features))

    def _transform_features(self, examples):
        return dict(self._transform_fn(self._parse(examples)))

    def signatures(self):
        """{signature name: concrete function} to pass to `tf.saved_model.save`."""
        signatures = {SERVING_SIGNATURE: self.serve_examples.get_concrete_function(),
                      RAW_SIGNATURE: self.predict_raw.get_concrete_function()}
        if self._defaults is not None and self._defaults.required:
            signatures[RAW_REQUIRED_SIGNATURE] = self.predict_raw_required.get_concrete_function()
        if self._transform_fn is not None:
            signatures[TRANSFORM_SIGNATURE] = self.transform_features.get_concrete_function()
        return signatures

    def output_names(self):
        """Names of the signatures' outputs, e.g. ['watch_time', 'bucket_probabilities']."""
        return list(self.serve_examples.get_concrete_function().structured_outputs)

    def info(self):
        """JSON-ready description of the served model for clients."""
        head = self.head
        description = {
            "head": type(head).__name__,
            "outputs": {name: OUTPUT_DESCRIPTIONS.get(name, "") for name in self.output_names()},
            "signatures": {
                SERVING_SIGNATURE: {"inputs": {EXAMPLES_INPUT: "string [batch]: serialised tf.Example"},
                                    "outputs": self.output_names()},
                RAW_SIGNATURE: {"inputs": {name: f"{spec.dtype.name} [batch]"
                                           for name, spec in self.feature_spec.items()},
                                "outputs": self.output_names()},
            },
        }
        if self._defaults is not None:
            description["features"] = request_defaults.describe(
                self.feature_spec, self._defaults.values, self._defaults.required,
                self._defaults.numeric)
        if self._defaults is not None and self._defaults.required:
            description["signatures"][RAW_REQUIRED_SIGNATURE] = {
                "inputs": {name: f"{spec.dtype.name} [batch]"
                           for name, spec in self.feature_spec.items()
                           if name in self._defaults.required},
                "outputs": self.output_names()}
        description["point_estimate"] = self._forward.point_estimate
        if self._forward.quantile_levels is not None:
            description["quantile_levels"] = list(self._forward.quantile_levels)
        for attribute in ("boundaries", "time_scale", "duration_edges"):
            value = getattr(head, attribute, None)
            if value is not None:
                description[attribute] = np.asarray(value).tolist()
        return description
