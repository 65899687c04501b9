"""Feature encoding shared by training and serving: hashed ids, id lists, scaled numbers.

Keras' preprocessing layers do the string hashing (`Hashing`) and the
standardisation (`Normalization`); integer ids keep the hand-written
`hash_integer_ids` (its docstring says why).
"""
import numpy as np
import tensorflow as tf

from wt_keras._keras import keras, register


def hash_integer_ids(ids, num_bins):
    """Bucket of integer ids in [0, num_bins): splitmix64's finaliser, mod num_bins.

    Hand-written because no Keras layer hashes integers with integer ops:
    `keras.layers.Hashing` hashes an integer's decimal string (`AsString`,
    which XLA has no kernel for, so `jit_compile=True` training would fail;
    its serving latency is about the same, benchmarks/preprocessing_latency.py),
    and `keras.layers.IntegerLookup` needs a vocabulary adapted on a sample,
    so every id absent from that sample (most of a large catalogue) would
    share one out-of-vocabulary embedding, through a hash-table lookup XLA
    cannot compile either. Any int64 id, seen or unseen, gets a bucket here,
    and switching would move every id to another embedding row.

    >>> hash_integer_ids(tf.constant([3, 7, 2**40], tf.int64), 1000).shape
    TensorShape([3])
    """
    def shift_xor(value, bits):
        return tf.bitwise.bitwise_xor(value, tf.bitwise.right_shift(value, tf.constant(bits, tf.uint64)))

    mixed = tf.cast(tf.cast(ids, tf.int64), tf.uint64)
    mixed = shift_xor(mixed, 30) * tf.constant(0xBF58476D1CE4E5B9, tf.uint64)
    mixed = shift_xor(mixed, 27) * tf.constant(0x94D049BB133111EB, tf.uint64)
    mixed = shift_xor(mixed, 31)
    non_negative = tf.cast(tf.bitwise.right_shift(mixed, tf.constant(1, tf.uint64)), tf.int64)
    return tf.math.floormod(non_negative, tf.constant(num_bins, tf.int64))


@register
class FeatureEncoder(keras.layers.Layer):
    """Concatenates id embeddings and standardised dense features.

    * Categorical features (ids, strings or integers) are hashed into
      `num_bins` buckets and embedded (strings: `keras.layers.Hashing`,
      FarmHash64 of the string; integers: `hash_integer_ids`, which XLA
      compiles); hashing needs no vocabulary, so unseen ids at serving are
      harmless.
    * Id-list features (one string per example holding ids separated by
      spaces, e.g. a query's search tokens "16655 244087") are split, each
      id hashed into `num_bins` and embedded, and the embeddings averaged
      (a bag of ids, as TPM pools CIKM16's tokens and result items); an
      empty string gives a zero vector. Splitting happens inside the model,
      so serving takes the same one string per example.
    * Dense features x ≥ 0 are mapped to (log1p(x) − mean) / std by a
      `keras.layers.Normalization` (float32 even under a mixed-precision
      policy) whose mean and variance `adapt` sets; they are non-trainable
      weights, so they travel with the checkpoint and the SavedModel. Like
      every Keras `Normalization`, it reads them into constants when adapted
      or loaded through Keras (see `finalize_state`).

    Args:
      categorical_features: {name: num_hash_bins}.
      dense_features: names of non-negative numeric features (counts,
        durations in seconds).
      embedding_dim: size of each id embedding.
      id_list_features: {name: num_hash_bins} of space-separated id lists.

    Example:
    >>> encoder = FeatureEncoder({"user_id": 1000}, ["duration_s"], embedding_dim=4)
    >>> encoder({"user_id": tf.constant([3, 7]), "duration_s": tf.constant([10.0, 60.0])}).shape
    TensorShape([2, 5])
    >>> bags = FeatureEncoder({}, id_list_features={"token_ids": 1000}, embedding_dim=4)
    >>> bags({"token_ids": tf.constant(["16655 244087", ""])}).shape
    TensorShape([2, 4])
    """

    def __init__(self, categorical_features, dense_features=(), embedding_dim=16,
                 id_list_features=None, **kwargs):
        super().__init__(**kwargs)
        if not categorical_features and not dense_features and not id_list_features:
            raise ValueError("FeatureEncoder needs at least one categorical, id-list or dense "
                             "feature.")
        self.categorical_features = {str(k): int(v) for k, v in dict(categorical_features).items()}
        self.id_list_features = {str(k): int(v) for k, v in dict(id_list_features or {}).items()}
        both = sorted(set(self.categorical_features) & set(self.id_list_features))
        if both:
            raise ValueError(f"features {both} are listed both as categorical and as id lists; "
                             "list each feature once.")
        self.dense_features = [str(name) for name in dense_features]
        self.embedding_dim = int(embedding_dim)
        bins_by_name = {**self.categorical_features, **self.id_list_features}
        self.embeddings = {
            name: keras.layers.Embedding(bins, self.embedding_dim, name=f"{name}_embedding")
            for name, bins in bins_by_name.items()}
        # Used for string values only (integers go through hash_integer_ids).
        self.string_hashing = {name: keras.layers.Hashing(bins, name=f"{name}_hashing")
                               for name, bins in bins_by_name.items()}
        # float32 whatever the global policy: float16 statistics would lose precision.
        self.normalization = (keras.layers.Normalization(axis=-1, dtype="float32",
                                                         name="dense_normalization")
                              if self.dense_features else None)

    @property
    def feature_names(self):
        return (list(self.categorical_features) + list(self.id_list_features)
                + self.dense_features)

    def _column(self, features, name):
        if name not in features:
            raise KeyError(f"feature '{name}' is missing; the model was configured with "
                           f"features {self.feature_names}.")
        return tf.reshape(features[name], [-1])

    def dense_transform(self, values):
        """log1p of clipped non-negative values, shape [B, D] (numpy or tf)."""
        return tf.math.log1p(tf.maximum(tf.cast(values, tf.float32), 0.0))

    def adapt(self, features):
        """Sets the dense-feature mean/variance from a dict/DataFrame of numpy columns."""
        if not self.dense_features:
            return
        columns = np.stack([np.asarray(features[name], np.float64).reshape(-1)
                            for name in self.dense_features], axis=-1)
        transformed = self.dense_transform(columns).numpy()
        # One batch: the statistics of every row at once.
        self.normalization.adapt(transformed, batch_size=max(len(transformed), 1))

    def call(self, features):
        parts = []
        for name, bins in self.categorical_features.items():
            column = self._column(features, name)
            if column.dtype == tf.string:
                ids = self.string_hashing[name](column)
            else:
                ids = hash_integer_ids(column, bins)
            parts.append(self.embeddings[name](ids))
        for name in self.id_list_features:
            parts.append(self._mean_of_ids(name, self._column(features, name)))
        if self.dense_features:
            # Cast per column: counts arrive as int64, durations as float32.
            dense = tf.stack([tf.cast(self._column(features, name), tf.float32)
                              for name in self.dense_features], -1)
            parts.append(self.normalization(self.dense_transform(dense)))
        return tf.concat([tf.cast(part, self.compute_dtype) for part in parts], axis=-1)

    def finalize_state(self):
        """Refreshes the statistics `Normalization` reads from its weights.

        Keras calls this after `adapt`, `set_weights` and `load_weights`;
        after restoring the weights any other way (`tf.train.Checkpoint`),
        call it yourself before the next call of the model.
        """
        if self.normalization is not None:
            self.normalization.finalize_state()

    def _mean_of_ids(self, name, column):
        """Mean embedding of the space-separated ids of each example ([B, D]; 0 if none)."""
        if column.dtype != tf.string:
            raise TypeError(f"id-list feature '{name}' must hold strings of space-separated "
                            f"ids, got {column.dtype.name}.")
        ids = tf.strings.split(column)                                   # ragged [B, None]
        bucket_ids = self.string_hashing[name](ids.flat_values)
        vectors = self.embeddings[name](bucket_ids)                      # [N, D]
        # A hand-written mean: Keras' pooling layers take no ragged input,
        # and a ragged reduce_mean gives NaN for an empty list.
        sums = tf.math.unsorted_segment_sum(vectors, ids.value_rowids(),
                                            num_segments=ids.nrows())
        counts = tf.cast(ids.row_lengths(), vectors.dtype)[:, None]
        return sums / tf.maximum(counts, 1.0)

    def get_config(self):
        return {**super().get_config(), "categorical_features": self.categorical_features,
                "dense_features": self.dense_features, "embedding_dim": self.embedding_dim,
                "id_list_features": self.id_list_features}
