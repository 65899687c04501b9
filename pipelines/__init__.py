"""TFX pipelines built around wt_keras (see `pipelines.watch_time`)."""
