"""TFMA metrics for the watch-time Evaluator (see `tfma_metrics`)."""
