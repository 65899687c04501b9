"""Users' own models around a wt_keras head: functional, subclassed, TFRS multi-task."""
import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from wt_keras import losses

FEATURES = ("x0", "x1", "x2", "duration_s")


def rows(num_rows=64, seed=0):
    """Dense features, a duration and a watch time that depends on them."""
    rng = np.random.default_rng(seed)
    features = {name: rng.uniform(0.0, 1.0, num_rows).astype(np.float32) for name in FEATURES[:3]}
    features["duration_s"] = rng.choice([10.0, 30.0, 60.0], num_rows).astype(np.float32)
    share = 1.0 / (1.0 + np.exp(-(2.0 * features["x0"] - 1.0)))
    watch_time = rng.exponential(features["duration_s"] * share).astype(np.float32)
    clicked = (rng.uniform(size=num_rows) < share).astype(np.float32)
    return features, watch_time, clicked


def functional_model(head, hidden_units=8):
    """Input → Dense → head on a [B, 4] feature matrix."""
    inputs = tf.keras.Input([len(FEATURES)])
    hidden = tf.keras.layers.Dense(hidden_units, activation="relu")(inputs)
    return tf.keras.Model(inputs, head(hidden))


def dict_input_model(head, hidden_units=8):
    """A functional model over a dict of named scalar features (what serving sends)."""
    inputs = {name: tf.keras.Input([], name=name) for name in FEATURES}
    stacked = tf.keras.layers.Lambda(lambda d: tf.stack([d[n] for n in FEATURES], -1))(inputs)
    hidden = tf.keras.layers.Dense(hidden_units, activation="relu")(stacked)
    return tf.keras.Model(inputs, head(hidden))


def matrix(features):
    return np.stack([features[name] for name in FEATURES], axis=-1)


class SubclassedModel(tf.keras.Model):
    """A user's subclassed model holding a head."""

    def __init__(self, head, hidden_units=8, **kwargs):
        super().__init__(**kwargs)
        self.dense = tf.keras.layers.Dense(hidden_units, activation="relu")
        self.head = head

    def call(self, inputs):
        return self.head(self.dense(inputs))

    def get_config(self):
        return {"head": tf.keras.layers.serialize(self.head)}

    @classmethod
    def from_config(cls, config):
        return cls(tf.keras.layers.deserialize(config["head"]))


class MultiTaskModel(tfrs.Model):
    """TFRS multi-task ranker: watch time (a wt_keras head) beside a click task."""

    def __init__(self, head):
        super().__init__()
        self.bottom = tf.keras.layers.Dense(8, activation="relu")
        self.head = head
        self.click_tower = tf.keras.layers.Dense(1, activation="sigmoid")
        self.watch_task = tfrs.tasks.Ranking(loss=losses.WatchTimeLoss(head))
        self.click_task = tfrs.tasks.Ranking(loss=tf.keras.losses.BinaryCrossentropy())

    def call(self, features):
        hidden = self.bottom(tf.stack([features[name] for name in FEATURES], -1))
        return {"watch_time": self.head(hidden), "click": self.click_tower(hidden)}

    def compute_loss(self, features, training=False):
        outputs = self(features)
        # Heads take the context they need (D2Q: duration, WLR: clicked).
        labels = {"watch_time": features["watch_time"], "duration": features["duration_s"],
                  "clicked": features["clicked"]}
        return (self.watch_task(labels=labels, predictions=outputs["watch_time"])
                + self.click_task(labels=features["clicked"], predictions=outputs["click"]))
