"""Keras `Loss` wrapper around any watch-time head's `loss`.

Fits the `tfrs.tasks.Ranking(loss=...)` contract, which calls
`loss(y_true=labels, y_pred=predictions, sample_weight=...)`:

* `y_true`: watch time [B] / [B, 1] in seconds, or a dict with key
  "watch_time" plus the head's context (e.g. "duration" for D2Q, "clicked"
  for WLR), or — for `compile`/`fit` of a plain Keras model — one tensor
  [B, 1 + len(context_keys)] built by `WatchTimeLoss.pack_labels`.
* `y_pred`: the head's logits, or a dict with key "logits" and optionally
  "confidence_logit" or "confidence" (EXUM, from a `ConfidenceTower`; the
  logit is used when both are present). A "per_example_loss" entry, [B], is
  the head's loss computed already (`WatchTimeRanker` computes it with its
  logged mean, `head.loss_and_expected_value`) and is used as it is.
"""
import numpy as np
import tensorflow as tf

from wt_keras._keras import HeadReference, deserialize_head, keras, register


def split_labels(y_true, context_keys=()):
    """(watch_time, context dict) from a label dict or a packed label tensor.

    Keras flattens a dict `y` before it reaches a compiled loss or metric, so
    a plain Keras model carries the context as extra columns of one tensor:
    column 0 is the watch time, column 1 + i is `context_keys[i]`.
    """
    if isinstance(y_true, dict):
        context = dict(y_true)
        if "watch_time" not in context:
            raise ValueError(f"y_true dict needs a 'watch_time' entry, got keys {sorted(context)}.")
        return context.pop("watch_time"), context
    if not context_keys:
        return y_true, {}
    y_true = tf.convert_to_tensor(y_true)
    width = 1 + len(context_keys)
    if y_true.shape.rank != 2 or y_true.shape[-1] != width:
        raise ValueError(
            f"with context_keys={list(context_keys)} y_true must be [batch, {width}] "
            f"(watch time, then {', '.join(context_keys)}), got shape {y_true.shape}. "
            "Build it with WatchTimeLoss.pack_labels(watch_time, **context).")
    context = {key: y_true[:, i + 1] for i, key in enumerate(context_keys)}
    return y_true[:, 0], context


def pack_labels(watch_time, context_keys=(), **context):
    """float32 array [B, 1 + len(context_keys)]: watch time, then the context columns."""
    missing = [key for key in context_keys if key not in context]
    if missing:
        raise ValueError(f"pack_labels needs the context {missing} (context_keys={list(context_keys)}).")
    columns = [watch_time] + [context[key] for key in context_keys]
    return np.stack([np.asarray(c, np.float32).reshape(-1) for c in columns], axis=-1)


def _split(y_true, y_pred, context_keys=()):
    watch_time, context = split_labels(y_true, context_keys)
    if isinstance(y_pred, dict):
        if "logits" not in y_pred:
            raise ValueError(f"y_pred dict needs a 'logits' entry, got keys {sorted(y_pred)}.")
        confidence = {key: y_pred[key] for key in ("confidence_logit", "confidence")
                      if key in y_pred}
        if "confidence_logit" in confidence:
            confidence.pop("confidence", None)
        return watch_time, y_pred["logits"], confidence, context
    return watch_time, y_pred, {}, context


@register
class WatchTimeLoss(HeadReference, keras.losses.Loss):
    """Per-example loss of `head`, reduced by Keras (default: batch mean).

    With a "confidence_logit" (or "confidence") entry in `y_pred` this is the
    EXUM loss head_loss(p′) + λ·(−log c) with the head's λ.

    Context in `compile`/`fit`: Keras flattens a dict of labels before any
    loss sees it, so `fit(x, {"watch_time": t, "duration": d})` cannot reach
    the head intact. Name the context columns with `context_keys` and pass
    `loss.pack_labels(t, duration=d)` (one [B, 2] array) as `y`.

    Args:
      head: a `wt_keras.heads` layer. The model owns its weights; the loss
        only uses its maths (nothing of the head is saved with the loss).
      context_keys: names of the context columns after the watch time in a
        packed `y_true`, e.g. ("duration",) for D2Q, ("clicked",) for WLR.

    Example:
    >>> from wt_keras import heads
    >>> head = heads.BucketizedGeometricHead(boundaries=[3.0, 8.0, 20.0])
    >>> loss = WatchTimeLoss(head)
    >>> value = loss(tf.constant([5.0, 30.0]), head(tf.zeros([2, 4])))
    >>> d2q = heads.D2QHead(duration_edges=[30.0], quantile_table=[[0, 10, 20], [0, 30, 60]])
    >>> d2q_loss = WatchTimeLoss(d2q, context_keys=("duration",))
    >>> y = d2q_loss.pack_labels([5.0, 40.0], duration=[20.0, 90.0])   # [2, 2]
    >>> value = d2q_loss(y, d2q(tf.zeros([2, 4])))
    """

    def __init__(self, head, context_keys=(), name="watch_time_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.head = head
        self.context_keys = tuple(str(key) for key in context_keys)

    def pack_labels(self, watch_time, **context):
        """`y` for `fit`: float32 [B, 1 + len(context_keys)] (watch time, then context)."""
        return pack_labels(watch_time, self.context_keys, **context)

    def call(self, y_true, y_pred):
        if isinstance(y_pred, dict) and "per_example_loss" in y_pred:
            return y_pred["per_example_loss"]
        watch_time, logits, confidence, context = _split(y_true, y_pred, self.context_keys)
        return self.head.loss(watch_time, logits, **confidence, **context)

    def get_config(self):
        return {**super().get_config(), "head": keras.layers.serialize(self.head),
                "context_keys": list(self.context_keys)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["head"] = deserialize_head(config["head"])
        return cls(**config)
