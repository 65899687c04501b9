"""Serving export of a user's own Keras model whose output is a head's logits.

`export_serving_model(model, export_dir, feature_spec, head=head)` wraps any
Keras model (functional, subclassed, a `tfrs.Model`) in `UserModelServing`,
which gives `ServingModule` what it needs of a `WatchTimeRanker`: the feature
names, the variables serving uses, the logits and the head's context.

The export holds the variables the model's call reads at inference
(`training=False`), not its optimizer or metrics. A tower that the call
computes beside the logits (e.g. the click tower of a multi-task model) is
exported with it; to leave a training-only tower out, skip it when
`training=False` or export a sub-model `tf.keras.Model(inputs, logits)`.
TensorFlow only: no model code is imported.
"""
import tensorflow as tf


class _Inputs:
    """The part of the ranker interface `ServingModule` reads from `encoder`."""

    def __init__(self, feature_names, variables, built):
        self.feature_names = list(feature_names)
        self.variables = list(variables)
        self.built = built


class UserModelServing:
    """Adapts `model` (features → a head's logits) to `ServingModule`.

    Args:
      model: a Keras model. Its input is either a dict of features (a
        functional model built from named `keras.Input`s, or a subclassed /
        TFRS model reading `features[name]`) or, for a functional model with
        one input of width n, the n `feature_names` stacked as float32.
      head: the `wt_keras.heads` layer whose logits the model outputs.
      feature_spec: {name: tf.io.FixedLenFeature} of the serving inputs.
      feature_names: the features the model reads; default: the functional
        model's input names, else every feature of the spec.
      duration_feature: the duration in seconds, passed to the head as
        `duration` (D2QHead needs it; also the completion outputs).
      output_key: when the model returns a dict (e.g. TFRS multi-task
        {"watch_time": logits, "click": p}), the entry with the head's logits.
    """

    label_key = None        # the spec is checked for the label by the caller
    click_feature = None    # E[T | x] never reads a click flag
    confidence_tower = None

    def __init__(self, model, head, feature_spec, feature_names=None, duration_feature=None,
                 output_key=None):
        self.model = model
        self.head = head
        self.duration_feature = duration_feature
        self.output_key = output_key
        self._single_input = None
        input_names = self._functional_input_names()
        if feature_names is None:
            feature_names = input_names or [
                name for name in feature_spec if name != duration_feature]
        self.feature_names = [str(name) for name in feature_names]
        self.bottom = _Inputs([], [], True)
        self._feature_spec = {name: feature_spec[name] for name in feature_spec
                              if name in self.feature_names or name == duration_feature}
        self.encoder = _Inputs(self.feature_names, self._serving_variables(), True)

    def _functional_input_names(self):
        inputs = getattr(self.model, "_nested_inputs", None)
        if isinstance(inputs, dict):
            return list(inputs)
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        if inputs is not None and not isinstance(inputs, (list, tuple)):
            self._single_input = inputs   # one tensor input: stack feature_names
        return None

    def _serving_variables(self):
        """The variables the logits read (traced once over the feature spec)."""
        missing = [name for name in self.feature_names if name not in self._feature_spec]
        if missing:
            raise ValueError(f"feature_spec lacks the model input(s) {missing}. Add them, e.g. "
                             "with export.feature_spec_from_features(sample_rows, names).")
        signature = {name: tf.TensorSpec([None], spec.dtype, name=name)
                     for name, spec in self._feature_spec.items()}
        concrete = tf.function(self.serving_logits, autograph=False).get_concrete_function(signature)
        return list(concrete.variables)

    def context(self, features):
        if self.duration_feature and self.duration_feature in features:
            return {"duration": tf.reshape(tf.cast(features[self.duration_feature], tf.float32), [-1])}
        return {}

    def _model_inputs(self, features):
        if self._single_input is not None:
            width = self._single_input.shape[-1]
            if width != len(self.feature_names):
                raise ValueError(
                    f"the model takes one input of width {width} but feature_names has "
                    f"{len(self.feature_names)} names {self.feature_names}; pass "
                    "feature_names=[...] in the order of the input's columns.")
            return tf.stack([tf.cast(features[name], self._single_input.dtype)
                             for name in self.feature_names], axis=-1)
        inputs = {name: features[name] for name in self.feature_names}
        declared = getattr(self.model, "_nested_inputs", None)
        if isinstance(declared, dict):   # cast to the dtypes the functional model declares
            inputs = {name: tf.cast(tf.reshape(value, [-1] + declared[name].shape[1:].as_list()),
                                    declared[name].dtype)
                      for name, value in inputs.items()}
        return inputs

    def serving_logits(self, features):
        outputs = self.model(self._model_inputs(features), training=False)
        if isinstance(outputs, dict):
            if self.output_key not in outputs:
                raise ValueError(f"the model returns a dict {sorted(outputs)}; pass "
                                 "output_key=<the entry holding the head's logits>.")
            outputs = outputs[self.output_key]
        elif self.output_key is not None:
            raise ValueError(f"output_key={self.output_key!r} given but the model returns one "
                             "tensor, not a dict; drop output_key.")
        return outputs

    def __call__(self, features):
        return self.serving_logits(features)
