"""Base class of the watch-time heads: logits, loss, expectation, EXUM."""
import numpy as np
import tensorflow as tf

from wt_keras import ops
from wt_keras._keras import keras
from wt_keras.heads import _checks, _compiled


class WatchTimeHead(keras.layers.Layer):
    """A Keras layer mapping a hidden vector [B, H] to a head's logits.

    Every head knows its training loss given the observed watch time T (and
    context such as the video duration) and its closed-form expectation
    E[T | x] in seconds. Passing a confidence `c` from a `ConfidenceTower`
    (preferably its logit, `confidence_logit`) to `loss` trains with EXUM:
    the head's loss is taken on the fused output p′ = c·p + (1 − c)·y and
    λ·Σ(−log c) over the outputs that carry a label for the example is added,
    λ being the head's `confidence_penalty` (a shared c counts once per
    labelled output). With c = 1 the loss is exactly the head's own loss.
    On cross-entropy outputs a c < 1 biases p towards the majority label
    (optimum p* = q + (2q − 1)(1/c − 1), see `wt_keras.ops.exum`).

    Subclasses define `_likelihood_loss`, `expected_value` and either
    `_confidence_targets` (binary cross-entropy heads) or `_fused_loss`.

    Args:
      num_logits: width of the logits.
      confidence_penalty: λ of EXUM's −log c term (per head).
      kernel_initializer, bias_initializer: of the final projection.
    """

    def __init__(self, num_logits, confidence_penalty=1.0,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        if confidence_penalty < 0:
            raise ValueError(f"confidence_penalty (λ) must be >= 0, got {confidence_penalty}.")
        self.num_logits = int(num_logits)
        self.confidence_penalty = float(confidence_penalty)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        # Keras mixed-precision convention: the output layer, and with it every
        # loss and E[T] formula, runs in float32 whatever the policy (float16
        # overflows e^z at z > 11.09 and squares of watch times above 256 s).
        # A float64 head keeps float64; `dtype="float32"` is honoured as given.
        self.projection = _Projection(
            self.num_logits, kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer, name="logits",
            dtype="float64" if self.compute_dtype == "float64" else "float32")

    def build(self, input_shape):
        if not self.projection.built:
            with tf.name_scope(self.projection.name):   # weight names as Keras gives them
                self.projection.build(input_shape)
        super().build(input_shape)

    def call(self, hidden):
        return self.projection(hidden)

    # -- public API ---------------------------------------------------------
    def loss(self, watch_time, logits, confidence=None, confidence_logit=None, **context):
        """Per-example training loss, shape [B].

        Args:
          watch_time: [B] or [B, 1] observed watch time in seconds (≥ 0).
          logits: [B, num_logits] outputs of this head.
          confidence: optional [B, 1] (or per-output [B, num_logits]) EXUM
            confidence in (0, 1]; when given the loss is the fused EXUM loss.
          confidence_logit: instead of `confidence`, its logit l, c = σ(l)
            (`ConfidenceTower.confidence_logit`): log c and log(1 − c) are
            then exact for every l (nothing is clipped). Preferred in training.
          **context: what the head needs beyond logits (`duration` in seconds
            for D2Q, `clicked` for WLR); other keys are ignored.
        """
        return self._loss_and_expected_value(watch_time, logits, confidence, confidence_logit,
                                             context, with_expected_value=False)[0]

    def loss_and_expected_value(self, watch_time, logits, confidence=None,
                                confidence_logit=None, **context):
        """(`loss(...)`, E[T | x] without gradient), both [B]: a train step's loss and its logged mean.

        Equal to `loss` and `tf.stop_gradient(expected_value(logits))`. Inside
        a `tf.function`, a head with more than one output computes both in
        the one XLA computation of its loss (see `heads._compiled`), where
        the mean shares the loss's exponentials and logarithms.

        Example:
        >>> from wt_keras.heads import BinomialSoftLabelHead
        >>> head = BinomialSoftLabelHead(boundaries=[1.0, 2.0])
        >>> loss, mean = head.loss_and_expected_value(tf.constant([1.5]), tf.zeros([1, 2]))
        >>> round(float(loss[0]), 4), float(mean[0])        # 2 log 2; 1 · ½ + 1 · ½
        (1.3863, 1.0)
        """
        return self._loss_and_expected_value(watch_time, logits, confidence, confidence_logit,
                                             context, with_expected_value=True)

    def _loss_and_expected_value(self, watch_time, logits, confidence, confidence_logit,
                                 context, with_expected_value):
        logits = self._check_logits(logits)
        watch_time = self._check_watch_time(watch_time, logits.dtype)
        watch_time = _checks.check_same_batch(watch_time, logits)
        if confidence_logit is not None:
            confidence_logit = _checks.check_confidence_logit(confidence_logit, logits)
        elif confidence is not None:
            confidence = _checks.check_confidence(confidence, logits)
            # logit(c) = log c − log(1 − c), unclipped: c = 1 gives +inf, σ(+inf) = 1.
            confidence_logit = tf.math.log(confidence) - tf.math.log1p(-confidence)

        # Label-only work, done before the compiled loss: XLA would turn the
        # bucket search into a [B, K] comparison and count.
        step_targets = None
        if confidence_logit is not None and confidence_logit.shape[-1] == 1:
            step_targets = self._step_targets(watch_time, **context)

        def loss_of(logits, confidence_logit):
            return self._loss_terms(watch_time, logits, confidence_logit, step_targets, **context)
        expected_value = None
        if not _compiled.compiles_loss(self):
            loss = loss_of(logits, confidence_logit)
            if with_expected_value:
                expected_value = tf.stop_gradient(self.expected_value(logits, **context))
        elif with_expected_value:
            loss, parts = _compiled.per_example_loss(
                loss_of, logits, confidence_logit,
                side_outputs=lambda z: self._expected_value_parts(z, **context))
            expected_value = self._expected_value_from_parts(parts, logits, **context)
        else:
            loss = _compiled.per_example_loss(loss_of, logits, confidence_logit)
        # An invalid label (NaN after _check_watch_time) gives a NaN loss even
        # where a head's label transform would clip it (D2Q's quantile label).
        loss = tf.where(tf.math.is_nan(watch_time), tf.constant(float("nan"), loss.dtype), loss)
        return loss, expected_value

    def _expected_value_parts(self, logits, **context):
        """Tensors of E[T | x] computed inside the compiled loss (default: E itself)."""
        return (self.expected_value(logits, **context),)

    def _expected_value_from_parts(self, parts, logits, **context):
        """E[T | x] [B] from `_expected_value_parts` (work better done outside XLA goes here)."""
        return parts[0]

    def _loss_terms(self, watch_time, logits, confidence_logit, step_targets, **context):
        """The likelihood loss, or with a confidence logit the fused EXUM loss + λ·penalty, [B]."""
        if confidence_logit is None:
            return self._likelihood_loss(watch_time, logits, **context)
        fused, labelled = self._fused_terms(watch_time, logits, confidence_logit, step_targets,
                                            **context)
        penalty = ops.confidence_penalty(confidence_logit=confidence_logit,
                                         num_outputs=self.num_logits, labelled=labelled)
        return fused + self.confidence_penalty * penalty

    def expected_value(self, logits, **context):
        """E[T | x] in seconds, shape [B]."""
        raise NotImplementedError

    #: Whether the loss and its gradient run as one XLA computation in graph
    #: mode (`heads._compiled`; heads with more than one output). Set False on
    #: a head to run its loss op by op.
    compile_loss = True

    # -- distribution -------------------------------------------------------
    #: False for heads that predict a point, not a distribution (D2Q, regression).
    has_distribution = True

    def survival(self, logits, t, **context):
        """P(T > t | x): t in seconds, a scalar or [B] → [B], or [B, J] → [B, J].

        Differentiable with respect to the logits (where the model is
        continuous in them).

        Example:
        >>> from wt_keras.heads import GeometricHead
        >>> head = GeometricHead()                   # P(Y ≥ y) = p^y, e^z = p / (1 − p)
        >>> round(float(head.survival(tf.math.log([[3.0]]), 1.0)[0]), 4)   # P(Y ≥ 2) = 0.75²
        0.5625
        """
        logits = self._check_logits(logits)
        times, squeeze = self._as_batch_matrix(t, logits, "t")
        result = self._survival(self._law(logits, **context), times)
        return result[:, 0] if squeeze else result

    def quantile(self, logits, q, **context):
        """Watch time in seconds at level q: the smallest t with P(T ≤ t | x) ≥ q.

        q is a scalar (→ [B]) or a [J] vector of levels in [0, 1] (→ [B, J]).
        `quantile(logits, 0.5)` is the median, the MAE-optimal point estimate.

        Example:
        >>> from wt_keras.heads import OrdinalHead
        >>> head = OrdinalHead(boundaries=[10.0, 20.0])       # φ = (0.5, 0.5): S linear to 0.5
        >>> head.quantile(tf.zeros([1, 2]), [0.25, 0.5, 0.9]).numpy().tolist()
        [[5.0, 10.0, 20.0]]
        """
        logits = self._check_logits(logits)
        levels = self._check_levels(q, logits.dtype)
        result = self._quantile(self._law(logits, **context), tf.reshape(levels, [1, -1]))
        return result[:, 0] if levels.shape.rank == 0 else result

    def completion_probability(self, logits, duration, **context):
        """P(T ≥ duration | x), the probability that the video is finished, [B].

        duration: seconds, a scalar or [B] (or [B, 1]).

        Example:
        >>> from wt_keras.heads import BinomialSoftLabelHead
        >>> head = BinomialSoftLabelHead(boundaries=[1.0, 2.0])   # two seconds, p = 1/2 each
        >>> float(head.completion_probability(tf.zeros([1, 2]), 2.0)[0])   # P(Y = 2)
        0.25
        """
        logits = self._check_logits(logits)
        durations = self._check_durations(duration, logits)
        return self._completion_probability(self._law(logits, **context), durations)[:, 0]

    def distribution_summary(self, logits, quantile_levels, duration=None, **context):
        """Quantiles and completion probability in one pass (what the serving export returns).

        Equal to `quantile(logits, quantile_levels)` and
        `completion_probability(logits, duration)`, but the head's law (SWaT-Geo's
        unit hazards, SWaT-Binom's survival table, the OR/CREAD/TPM knots) is
        computed once for both.

        Args:
          logits: [B, num_logits] outputs of this head.
          quantile_levels: [J] levels in [0, 1].
          duration: seconds, a scalar or [B] (one per row of `logits`), or None.

        Returns:
          {"quantiles": [B, J] seconds, "completion_probability": [B]}; without
          a `duration` only "quantiles".

        Example:
        >>> from wt_keras.heads import OrdinalHead
        >>> head = OrdinalHead(boundaries=[10.0, 20.0])        # φ = (0.5, 0.5)
        >>> summary = head.distribution_summary(tf.zeros([1, 2]), [0.25, 0.9], duration=[10.0])
        >>> summary["quantiles"].numpy().tolist(), summary["completion_probability"].numpy().tolist()
        ([[5.0, 20.0]], [0.5])
        """
        logits = self._check_logits(logits)
        levels = self._check_levels(quantile_levels, logits.dtype)
        if levels.shape.rank != 1:
            raise ValueError(f"quantile_levels must be a [J] vector, got shape {levels.shape}.")
        law = self._law(logits, **context)
        summary = {"quantiles": self._quantile(law, tf.reshape(levels, [1, -1]))}
        if duration is not None:
            durations = self._check_durations(duration, logits, one_per_row=True)
            summary["completion_probability"] = self._completion_per_row(law, durations)
        return summary

    @staticmethod
    def _check_levels(q, dtype):
        """q as a scalar or [J] tensor of levels, checked to lie in [0, 1]."""
        levels = tf.cast(q, dtype)
        if levels.shape.rank not in (0, 1):
            raise ValueError(f"q must be a scalar or a [J] vector of levels, got shape {levels.shape}.")
        known = tf.get_static_value(levels)
        if known is not None:          # constant levels (serving): checked once, here
            if not np.all((known >= 0.0) & (known <= 1.0)):
                raise ValueError(f"quantile levels q must lie in [0, 1], got {np.ravel(known).tolist()}.")
        else:
            tf.debugging.assert_greater_equal(levels, tf.zeros([], levels.dtype),
                                              "quantile levels q must lie in [0, 1].")
            tf.debugging.assert_less_equal(levels, tf.ones([], levels.dtype),
                                           "quantile levels q must lie in [0, 1].")
        return levels

    def _check_durations(self, duration, logits, one_per_row=False):
        """Durations as [B, 1] seconds, a scalar broadcast over the batch.

        With `one_per_row` the result is [B] and a [B] vector is taken as one
        duration per row of `logits` as it is (no shape ops for serving);
        otherwise a vector is broadcast to the batch, so that [1] serves every row.
        """
        duration = tf.cast(duration, logits.dtype)
        if duration.shape.rank == 2 and duration.shape[-1] == 1:
            duration = duration[:, 0]
        if duration.shape.rank not in (0, 1):
            raise ValueError(f"duration must be a scalar or [batch] seconds, got shape {duration.shape}.")
        if one_per_row and duration.shape.rank == 1:
            return duration
        durations = self._as_batch_matrix(duration, logits, "duration")[0]
        return durations[:, 0] if one_per_row else durations

    def _no_distribution(self):
        raise NotImplementedError(
            f"{type(self).__name__} predicts a point, not a watch-time distribution: it has no "
            "survival, quantile or completion probability. Use expected_value(), or a "
            "distributional head (BucketizedGeometricHead, BinomialSoftLabelHead, OrdinalHead, "
            "CreadHead, GeometricHead, WeightedLogisticHead).")

    # A distributional head defines `_law` (what its survival, quantiles and
    # completion probability are computed from, once per batch of logits) and
    # the three methods below on it.
    def _law(self, logits, **context):
        """The head's distribution in the form its formulas take (e.g. per-bucket hazards)."""
        self._no_distribution()

    def _survival(self, law, t):
        """P(T > t) for t [B, J] in seconds."""
        self._no_distribution()

    def _quantile(self, law, q):
        """Seconds at levels q [B, J] or [1, J] (broadcast over the batch) → [B, J]."""
        self._no_distribution()

    def _completion_probability(self, law, duration):
        """P(T ≥ d) for d [B, J] in seconds."""
        self._no_distribution()

    def _completion_per_row(self, law, duration):
        """P(T ≥ d) for d [B] in seconds, one per row → [B]."""
        return self._completion_probability(law, duration[:, None])[:, 0]

    @staticmethod
    def _as_batch_matrix(values, logits, name):
        """Seconds as [B, J] in the logits' dtype; (tensor, was it [B] or scalar)."""
        values = tf.cast(values, logits.dtype)
        rank = values.shape.rank
        if rank not in (0, 1, 2):
            raise ValueError(f"{name} must be a scalar, [batch] or [batch, J] in seconds, "
                             f"got shape {values.shape}.")
        batch = tf.shape(logits)[0]
        if rank == 2:
            return tf.broadcast_to(values, [batch, tf.shape(values)[1]]), False
        return tf.broadcast_to(tf.reshape(values, [-1, 1]), [batch, 1]), True

    def serving_outputs(self, logits, **context):
        """Tensors a serving signature returns: at least `watch_time` [B]."""
        return {"watch_time": self.expected_value(logits, **context)}

    def initialize_bias(self, watch_time, **context):
        """Sets the output bias to the intercept-only MLE on `watch_time`.

        Starting from the population optimum (e.g. per-bucket empirical
        continuation rates) instead of z = 0 makes training converge in far
        fewer steps. Call before or after the layer is built.
        """
        watch_time = self._check_watch_time(watch_time, tf.float32)
        bias = np.asarray(self._intercept_logits(watch_time, **context), np.float32)
        bias = np.broadcast_to(bias, [self.num_logits])
        if self.projection.built:
            self.projection.bias.assign(bias)
        else:
            self.projection.bias_initializer = keras.initializers.Constant(bias.tolist())
        return bias

    # -- for subclasses -----------------------------------------------------
    def _likelihood_loss(self, watch_time, logits, **context):
        raise NotImplementedError

    def _confidence_targets(self, watch_time, logits, **context):
        """(targets y, weights or None) of the fused binary cross-entropy."""
        raise NotImplementedError

    #: Whether every `_confidence_targets` target is 0 or 1 (the fused
    #: cross-entropy then computes the label's side of each output only).
    _hard_confidence_targets = False

    def _auxiliary_loss(self, watch_time, logits, **context):
        """Terms kept on the raw p under EXUM (p′ contains the label)."""
        return 0.0

    def _fused_terms(self, watch_time, logits, confidence_logit, step_targets, **context):
        """(fused loss [B], labelled outputs: [B, K] indicator, [B] count or None for all).

        Binary cross-entropy heads fuse their `_confidence_targets`, or with a
        shared confidence their `_step_targets` (`step_targets`, computed by
        the caller); an output with weight 0 (no label for this example) is
        not labelled. Other heads override `_fused_loss`, and all their
        outputs are labelled.
        """
        if type(self)._confidence_targets is WatchTimeHead._confidence_targets:
            return self._fused_loss(watch_time, logits, confidence_logit, **context), None
        if step_targets is not None:                  # only given for a shared confidence
            fused, labelled = ops.fused_step_cross_entropy(logits, *step_targets,
                                                           confidence_logit=confidence_logit)
            return fused + self._auxiliary_loss(watch_time, logits, **context), labelled
        targets, weights = self._confidence_targets(watch_time, logits, **context)
        fused = (ops.fused_binary_cross_entropy(logits, targets, weights=weights,
                                                confidence_logit=confidence_logit,
                                                hard_targets=self._hard_confidence_targets)
                 + self._auxiliary_loss(watch_time, logits, **context))
        return fused, (None if weights is None else tf.cast(weights > 0, logits.dtype))

    def _step_targets(self, watch_time, **context):
        """`_confidence_targets` as a staircase, or None (the default).

        Heads whose targets are 1 below a bucket j, soft at j and 0 (or
        unlabelled) above return (j [B], y_j [B], weight of j [B], weights
        below [K], weights above [K] or None): with a shared confidence their
        EXUM loss is then `ops.fused_step_cross_entropy`, the same value
        computed on the label's side of each output only. Such a head states
        its targets once, here, and sets `_confidence_targets =
        WatchTimeHead._staircase_targets`.
        """
        return None

    def _staircase_targets(self, watch_time, logits, **context):
        """`_step_targets` as `_confidence_targets`: [B, K] targets and weights.

        Below bucket j: target 1 with the weights below; at j: y_j with j's
        weight; above j: target 0 with the weights above (0, i.e. no label,
        where the head gives none).
        """
        step, step_target, step_weight, below, above = self._step_targets(watch_time, **context)
        dtype = step_target.dtype
        outputs = tf.range(self.num_logits, dtype=step.dtype)[tf.newaxis, :]
        step = step[:, tf.newaxis]
        is_below, is_step = outputs < step, tf.equal(outputs, step)
        targets = tf.where(is_below, tf.ones([], dtype),
                           tf.where(is_step, step_target[:, tf.newaxis], tf.zeros([], dtype)))
        above = tf.zeros([self.num_logits], dtype) if above is None else tf.cast(above, dtype)
        weights = tf.where(is_below, tf.cast(below, dtype),
                           tf.where(is_step, step_weight[:, tf.newaxis], above))
        return targets, weights

    def _fused_loss(self, watch_time, logits, confidence_logit, **context):
        """The fused loss of heads without `_confidence_targets` (e.g. squared error)."""
        raise NotImplementedError

    def _intercept_logits(self, watch_time, **context):
        targets, weights = self._confidence_targets(watch_time, None, **context)
        return ops.intercept_logits(targets, weights).numpy()

    def _check_logits(self, logits):
        logits = tf.convert_to_tensor(logits)
        if not logits.dtype.is_floating or logits.dtype in (tf.float16, tf.bfloat16):
            logits = tf.cast(logits, tf.float32)   # half precision overflows the maths
        width = logits.shape[-1]
        if logits.shape.rank != 2 or (width is not None and width != self.num_logits):
            raise ValueError(
                f"{type(self).__name__} expects logits of shape [batch, {self.num_logits}], "
                f"got {logits.shape}. Pass the output of this head's call(); a head "
                "built with other boundaries has a different number of logits.")
        return logits

    @staticmethod
    def _check_watch_time(watch_time, dtype):
        watch_time = tf.cast(watch_time, dtype)
        if watch_time.shape.rank == 2 and watch_time.shape[-1] == 1:
            watch_time = tf.squeeze(watch_time, -1)
        if watch_time.shape.rank != 1:
            raise ValueError(f"watch_time must have shape [batch] or [batch, 1], got {watch_time.shape}.")
        valid_rows = (watch_time >= 0.0) & (watch_time < float("inf"))
        valid = tf.reduce_all(valid_rows)
        tf.debugging.Assert(valid, [
            "watch_time must be finite and >= 0 seconds; found a negative, NaN or inf "
            "label. Drop or repair those rows before training (the pipeline's "
            "ExampleValidator reports them).", tf.reduce_min(watch_time)])
        # XLA (jit_compile=True) drops Assert; a NaN label then makes the loss
        # NaN, which Keras reports (and TerminateOnNaN stops), instead of
        # training silently on a negative or infinite watch time.
        return tf.where(valid_rows, watch_time, tf.constant(float("nan"), dtype))

    def get_config(self):
        return {**super().get_config(),
                "confidence_penalty": self.confidence_penalty,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


class _Projection(keras.layers.Dense):
    """The heads' output Dense layer, its bias gradient a matmul (`ops.dense_logits` says why).

    Keras' `__call__` still checks the input's width and casts it to the
    layer's dtype; sparse, ragged and rank-3+ inputs take Dense's own path.
    """

    def call(self, inputs):
        if not isinstance(inputs, tf.Tensor) or inputs.shape.rank != 2:
            return super().call(inputs)
        return ops.dense_logits(inputs, tf.convert_to_tensor(self.kernel),
                                tf.convert_to_tensor(self.bias))
