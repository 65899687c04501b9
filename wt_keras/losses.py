"""Keras `Loss` wrapper around any watch-time head's `loss`.

Fits the `tfrs.tasks.Ranking(loss=...)` contract, which calls
`loss(y_true=labels, y_pred=predictions, sample_weight=...)`:

* `y_true`: watch time [B] / [B, 1] in seconds, or a dict with key
  "watch_time" plus the head's context (e.g. "duration" for D2Q, "clicked"
  for WLR).
* `y_pred`: the head's logits, or a dict with key "logits" and optionally
  "confidence_logit" or "confidence" (EXUM, from a `ConfidenceTower`; the
  logit is used when both are present).
"""
from wt_keras._keras import keras, register


def _split(y_true, y_pred):
    context = dict(y_true) if isinstance(y_true, dict) else {"watch_time": y_true}
    if "watch_time" not in context:
        raise ValueError(f"y_true dict needs a 'watch_time' entry, got keys {sorted(context)}.")
    watch_time = context.pop("watch_time")
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
class WatchTimeLoss(keras.losses.Loss):
    """Per-example loss of `head`, reduced by Keras (default: batch mean).

    With a "confidence_logit" (or "confidence") entry in `y_pred` this is the
    EXUM loss head_loss(p′) + λ·(−log c) with the head's λ.

    Args:
      head: a `wt_keras.heads` layer.

    Example:
    >>> head = heads.BucketizedGeometricHead(boundaries=[3.0, 8.0, 20.0])
    >>> loss = WatchTimeLoss(head)
    >>> value = loss(tf.constant([5.0, 30.0]), head(tf.zeros([2, 4])))
    """

    def __init__(self, head, name="watch_time_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.head = head

    def call(self, y_true, y_pred):
        watch_time, logits, confidence, context = _split(y_true, y_pred)
        return self.head.loss(watch_time, logits, **confidence, **context)

    def get_config(self):
        return {**super().get_config(), "head": keras.layers.serialize(self.head)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["head"] = keras.layers.deserialize(config["head"])
        return cls(**config)
