"""`WatchTimeRanker`: a TFRS ranking model with a watch-time head."""
import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from wt_keras import metrics as wt_metrics
from wt_keras._keras import keras
from wt_keras.losses import WatchTimeLoss
from wt_keras.models.features import FeatureEncoder
from wt_keras.models.point_estimate import check_point_estimate, point_estimate_of


def as_feature_dict(features):
    """A pandas DataFrame as {column: numpy array}; anything else unchanged.

    Keras turns a DataFrame into one tensor, losing the column names the
    encoder looks features up by.
    """
    if hasattr(features, "columns") and hasattr(features, "to_numpy"):
        return {str(name): column.to_numpy() for name, column in features.items()}
    return features


def shared_bottom(units, name="shared_bottom"):
    """The MLP shared by the head and the (training-only) confidence tower."""
    return keras.Sequential([keras.layers.Dense(u, activation="relu", name=f"dense_{i}")
                             for i, u in enumerate(units)], name=name)


class WatchTimeRanker(tfrs.Model):
    """features → id embeddings + dense features → shared bottom → head.

    A `tfrs.Model` whose `tfrs.tasks.Ranking` task holds a `WatchTimeLoss`
    and watch-time metrics (MAE, Pearson, and mean EXUM confidence when a
    `ConfidenceTower` is attached). Calling the model returns its point
    estimate in seconds (E[T | x] by default, or the median / a quantile of
    the head's distribution); the tower only takes part in `compute_loss`.

    Args:
      head: a `wt_keras.heads` layer.
      categorical_features: {name: hash bins} (ids and string features).
      id_list_features: optional {name: hash bins} of space-separated id lists
        (e.g. CIKM16's `token_ids`, `item_ids`), each encoded as the mean of
        its ids' embeddings.
      dense_features: non-negative numeric feature names; include the
        duration feature to let the model see it.
      label_key: watch-time column in seconds.
      duration_feature: duration column in seconds, passed to the head as
        `duration` (D2Q needs it).
      click_feature: optional click flag passed to the head as `clicked` (WLR).
      bottom_units: shared-bottom layer sizes (EXUM paper: [128, 64, 32]).
      embedding_dim: id embedding size.
      confidence_tower: optional `heads.ConfidenceTower` (EXUM).
      global_batch_size: set under a `tf.distribute` strategy: the loss is
        then summed per replica and divided by the global batch size (Keras
        refuses mean reductions inside custom train steps under a strategy).
      point_estimate: what `call` (and the served `watch_time`) returns:
        "mean" (E[T | x], default), "median" (Q(0.5), MAE-optimal) or a
        quantile level q in (0, 1) (Q(q) = min t with P(T ≤ t) ≥ q). Anything
        but "mean" needs a head with a distribution (not D2Q, not regression).
        The training loss is unchanged; the MAE/Pearson logs use it.
      crps_grid: optional grid of seconds (e.g. every second up to the
        labels' 99.9th percentile); with a distributional head the training
        logs then also show `crps` (`metrics.CRPS`) and, when the duration
        feature is set, `completion_ece` (`metrics.CompletionECE`).
      train_metrics: whether training batches update the task's metrics (the
        Keras default). False follows TFRS's advice for faster training
        (`tfrs.tasks.Ranking(..., compute_metrics=False)`): a train step then
        computes the loss and its gradient only, without the point estimate
        the metrics need, and logs only the losses; `evaluate` and the
        validation logs of `fit` (`val_mae`, …) still compute every metric.

    Example:
    >>> from wt_keras import heads
    >>> head = heads.BucketizedGeometricHead(boundaries=[3.0, 8.0, 20.0])
    >>> model = WatchTimeRanker(head, {"user_id": 1000, "video_id": 1000}, ["duration_s"])
    >>> model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    >>> # model.fit(tf.data.Dataset of feature dicts incl. "watch_time_s")
    """

    def __init__(self, head, categorical_features, dense_features=("duration_s",),
                 label_key="watch_time_s", duration_feature="duration_s", click_feature=None,
                 bottom_units=(128, 64, 32), embedding_dim=16, confidence_tower=None,
                 global_batch_size=None, id_list_features=None, point_estimate="mean",
                 crps_grid=None, train_metrics=True, **kwargs):
        super().__init__(**kwargs)
        self.head = head
        self.point_estimate = check_point_estimate(head, point_estimate)
        self.encoder = FeatureEncoder(categorical_features, dense_features, embedding_dim,
                                      id_list_features=id_list_features)
        self.bottom = shared_bottom(bottom_units)
        self.confidence_tower = confidence_tower
        self.label_key = label_key
        self.duration_feature = duration_feature
        self.click_feature = click_feature
        self.bottom_units = tuple(bottom_units)
        self.train_metrics = bool(train_metrics)
        task_metrics = [wt_metrics.MeanAbsoluteError(name="mae"),
                        wt_metrics.PearsonCorrelation(name="pearson")]
        if confidence_tower is not None:
            task_metrics.append(wt_metrics.MeanConfidence(name="mean_confidence"))
        if crps_grid is not None:
            task_metrics.append(wt_metrics.CRPS(head, crps_grid, name="crps"))
            if duration_feature:
                task_metrics.append(wt_metrics.CompletionECE(head, name="completion_ece"))
        self.global_batch_size = global_batch_size
        if global_batch_size:
            loss = WatchTimeLoss(head, reduction=keras.losses.Reduction.SUM)
        else:
            loss = WatchTimeLoss(head)
        self.task = tfrs.tasks.Ranking(loss=loss, metrics=task_metrics)
        # Under a mixed-precision policy the task would cast the labels (its
        # first call argument) to float16; watch times and losses stay float32.
        self.task._set_dtype_policy("float32")

    def context(self, features):
        """Head context from the features: `duration`, `clicked` when configured."""
        context = {}
        if self.duration_feature and self.duration_feature in features:
            context["duration"] = tf.reshape(tf.cast(features[self.duration_feature], tf.float32), [-1])
        if self.click_feature and self.click_feature in features:
            context["clicked"] = tf.reshape(features[self.click_feature], [-1])
        return context

    def hidden(self, features, training=False):
        return self.bottom(self.encoder(features), training=training)

    def estimate(self, logits, **context):
        """The configured point estimate (seconds, [B]) from the head's logits."""
        return point_estimate_of(self.head, logits, self.point_estimate, **context)

    def call(self, features, training=False):
        logits = self.head(self.hidden(features, training))
        return self.estimate(logits, **self.context(features))

    def compute_loss(self, features, training=False):
        if not self.global_batch_size and tf.distribute.has_strategy():
            raise ValueError(
                "WatchTimeRanker is training under a tf.distribute strategy without "
                "global_batch_size: pass WatchTimeRanker(..., global_batch_size=<batch size "
                "summed over replicas>) so the loss is summed per replica and divided by it.")
        if self.label_key not in features:
            raise KeyError(f"the label '{self.label_key}' (watch time in seconds) is missing from "
                           "the training features; set label_key to the watch-time column.")
        hidden = self.hidden(features, training)
        logits = self.head(hidden)
        context = self.context(features)
        labels = {"watch_time": tf.reshape(tf.cast(features[self.label_key], tf.float32), [-1]),
                  **context}
        predictions = {"logits": logits}
        confidence = {}
        if self.confidence_tower is not None:
            confidence["confidence_logit"] = self.confidence_tower.confidence_logit(hidden)
            predictions["confidence_logit"] = confidence["confidence_logit"]
            predictions["confidence"] = tf.sigmoid(confidence["confidence_logit"])  # MeanConfidence
        compute_metrics = self.train_metrics or not training
        if not compute_metrics:
            predictions["per_example_loss"] = self.head.loss(labels["watch_time"], logits,
                                                             **confidence, **context)
        elif self.point_estimate == "mean":
            # The loss and the logged mean in one computation (one XLA computation
            # in a compiled step); the task's WatchTimeLoss takes the loss as it is.
            predictions["per_example_loss"], predictions["watch_time"] = (
                self.head.loss_and_expected_value(labels["watch_time"], logits,
                                                  **confidence, **context))
        else:
            predictions["watch_time"] = self.estimate(logits, **context)
        loss = self.task(labels=labels, predictions=predictions, training=training,
                         compute_metrics=compute_metrics)
        if self.global_batch_size:
            loss = loss / float(self.global_batch_size)
        return loss

    def train_step(self, inputs):
        # tfrs.Model.train_step applies raw gradients; `minimize` also scales the
        # loss under a mixed_float16 LossScaleOptimizer (Keras' own train_step).
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.reduce_sum([tf.reduce_sum(x) for x in self.losses])
            total_loss = loss + regularization_loss
        self.optimizer.minimize(total_loss, self.trainable_variables, tape=tape)
        # Metrics a train step did not update would log stale values: leave them out.
        metrics = ({metric.name: metric.result() for metric in self.metrics}
                   if self.train_metrics else {})
        metrics.update(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        return metrics

    def fit(self, x=None, *args, **kwargs):
        return super().fit(as_feature_dict(x), *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return super().evaluate(as_feature_dict(x), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(as_feature_dict(x), *args, **kwargs)

    def save(self, filepath, *args, **kwargs):
        path = str(filepath)
        if path.endswith((".keras", ".h5", ".hdf5")) or kwargs.get("save_format") in ("keras", "h5"):
            raise ValueError(
                f"WatchTimeRanker cannot be saved as {path!r} (.keras / .h5 rebuild a model from "
                "its config, and a TFRS model has none). Use ranker.save_weights(path) to keep "
                "the weights (rebuild the ranker, then load_weights), and "
                "wt_keras.export.export_serving_model(ranker, export_dir, feature_spec) to deploy.")
        return super().save(filepath, *args, **kwargs)

    def adapt(self, features):
        """Fits feature statistics and the head's starting bias on training data.

        Args:
          features: dict or DataFrame of numpy columns (a training sample).
        """
        features = as_feature_dict(features)
        self.encoder.adapt(features)
        context = {}
        if self.duration_feature and self.duration_feature in features:
            context["duration"] = np.asarray(features[self.duration_feature], np.float32)
        self.head.initialize_bias(np.asarray(features[self.label_key], np.float32), **context)
        return self
