"""Feature encoding shared by training and serving: hashed ids, id lists, scaled numbers."""
import numpy as np
import tensorflow as tf

from wt_keras._keras import keras, register


@register
class FeatureEncoder(keras.layers.Layer):
    """Concatenates id embeddings and standardised dense features.

    * Categorical features (ids, strings or integers) are hashed into
      `num_bins` buckets (`tf.strings.to_hash_bucket_fast`) and embedded;
      hashing needs no vocabulary, so unseen ids at serving are harmless.
    * Id-list features (one string per example holding ids separated by
      spaces, e.g. a query's search tokens "16655 244087") are split, each
      id hashed into `num_bins` and embedded, and the embeddings averaged
      (a bag of ids, as TPM pools CIKM16's tokens and result items); an
      empty string gives a zero vector. Splitting happens inside the model,
      so serving takes the same one string per example.
    * Dense features x ≥ 0 are mapped to (log1p(x) − mean) / std; the
      statistics are non-trainable weights set by `adapt`, so they travel
      with the checkpoint and the SavedModel.

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
        self.embeddings = {
            name: keras.layers.Embedding(bins, self.embedding_dim, name=f"{name}_embedding")
            for name, bins in {**self.categorical_features, **self.id_list_features}.items()}
        num_dense = max(len(self.dense_features), 1)
        self.dense_mean = self.add_weight(name="dense_mean", shape=[num_dense],
                                          initializer="zeros", trainable=False)
        self.dense_std = self.add_weight(name="dense_std", shape=[num_dense],
                                         initializer="ones", trainable=False)

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
        """Sets the dense-feature mean/std from a dict/DataFrame of numpy columns."""
        if not self.dense_features:
            return
        columns = np.stack([np.asarray(features[name], np.float64).reshape(-1)
                            for name in self.dense_features], axis=-1)
        transformed = self.dense_transform(columns).numpy()
        self.dense_mean.assign(transformed.mean(0))
        self.dense_std.assign(np.maximum(transformed.std(0), 1e-6))

    def call(self, features):
        parts = []
        for name, bins in self.categorical_features.items():
            column = self._column(features, name)
            if column.dtype != tf.string:
                column = tf.strings.as_string(column)
            parts.append(self.embeddings[name](tf.strings.to_hash_bucket_fast(column, bins)))
        for name, bins in self.id_list_features.items():
            parts.append(self._mean_of_ids(name, self._column(features, name), bins))
        if self.dense_features:
            # Cast per column: counts arrive as int64, durations as float32.
            dense = tf.stack([tf.cast(self._column(features, name), tf.float32)
                              for name in self.dense_features], -1)
            parts.append((self.dense_transform(dense) - self.dense_mean) / self.dense_std)
        return tf.concat(parts, axis=-1)

    def _mean_of_ids(self, name, column, bins):
        """Mean embedding of the space-separated ids of each example ([B, D]; 0 if none)."""
        if column.dtype != tf.string:
            raise TypeError(f"id-list feature '{name}' must hold strings of space-separated "
                            f"ids, got {column.dtype.name}.")
        ids = tf.strings.split(column)                                   # ragged [B, None]
        bucket_ids = tf.strings.to_hash_bucket_fast(ids.flat_values, bins)
        vectors = self.embeddings[name](bucket_ids)                      # [N, D]
        sums = tf.math.unsorted_segment_sum(vectors, ids.value_rowids(),
                                            num_segments=ids.nrows())
        counts = tf.cast(ids.row_lengths(), vectors.dtype)[:, None]
        return sums / tf.maximum(counts, 1.0)

    def get_config(self):
        return {**super().get_config(), "categorical_features": self.categorical_features,
                "dense_features": self.dense_features, "embedding_dim": self.embedding_dim,
                "id_list_features": self.id_list_features}
