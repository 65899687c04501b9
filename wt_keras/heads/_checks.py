"""Argument checks of `WatchTimeHead.loss` beyond the label's own (see base.py).

Kept apart from the head classes so the checks read as one list; each raises
an error that names the argument, its shape and the fix.
"""
import tensorflow as tf


def check_same_batch(watch_time, logits):
    """`watch_time`, after stopping when it [B] and `logits` [B', K] have different batch sizes.

    Without this check the mismatch surfaces deep inside a head's arithmetic as
    TensorFlow's "Incompatible shapes" on some internal op. Use the returned
    tensor: in a graph it waits for the check.
    """
    return check_same_batch_of("watch_time", watch_time, logits)


def check_confidence(confidence, logits):
    """EXUM confidence as `logits.dtype`: shape [B, 1] or [B, K], finite, in [0, 1].

    A NaN confidence would otherwise make the loss NaN without an error, as a
    NaN label would.
    """
    confidence = tf.cast(confidence, logits.dtype)
    if confidence.shape.rank != 2:
        raise ValueError(f"confidence must have shape [batch, 1] or [batch, {logits.shape[-1]}] "
                         f"(a ConfidenceTower's output), got {confidence.shape}.")
    confidence = check_same_batch_of("confidence", confidence, logits)
    valid = tf.reduce_all((confidence >= 0.0) & (confidence <= 1.0))   # False for NaN
    tf.debugging.Assert(valid, [
        "confidence must be finite and in [0, 1]; found a NaN, inf or out-of-range value "
        "(a ConfidenceTower's sigmoid output never is: check what is passed as confidence).",
        tf.reduce_min(confidence), tf.reduce_max(confidence)])
    return confidence


def check_confidence_logit(confidence_logit, logits):
    """EXUM confidence logit as `logits.dtype`: shape [B, 1] or [B, K], not NaN.

    ±inf are valid (c = 1 or 0 exactly); NaN would make the loss NaN silently.
    """
    confidence_logit = tf.cast(confidence_logit, logits.dtype)
    if confidence_logit.shape.rank != 2:
        raise ValueError(f"confidence_logit must have shape [batch, 1] or [batch, "
                         f"{logits.shape[-1]}] (ConfidenceTower.confidence_logit's output), "
                         f"got {confidence_logit.shape}.")
    confidence_logit = check_same_batch_of("confidence_logit", confidence_logit, logits)
    tf.debugging.Assert(tf.reduce_all(~tf.math.is_nan(confidence_logit)), [
        "confidence_logit must not be NaN; check what is passed as confidence_logit."])
    return confidence_logit


def check_same_batch_of(name, tensor, logits):
    """Like `check_same_batch` for another per-example argument called `name`.

    When the batch sizes are only known at run time, the returned tensor depends
    on the check: inside a `tf.function` nothing orders a stateless op after an
    assertion, so without that dependency the head's arithmetic could fail
    first with TensorFlow's "Incompatible shapes".
    """
    rows, logits_rows = tensor.shape[0], logits.shape[0]
    message = (f"{name} and logits have different batch sizes: {name} has shape "
               f"{tensor.shape}, logits {logits.shape}. Pass one value per row of logits.")
    if rows is not None and logits_rows is not None:
        if rows != logits_rows:
            raise ValueError(message)
        return tensor
    check = tf.debugging.assert_equal(tf.shape(tensor)[0], tf.shape(logits)[0], message=message)
    if check is None:          # eager: the assertion has already run
        return tensor
    with tf.control_dependencies([check]):
        return tf.identity(tensor)
