"""The watch-time TFX pipeline: custom components, evaluation metrics and runners."""
