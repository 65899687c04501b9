"""Custom TFX components of the watch-time pipeline.

`bucket_boundary_gen.BucketBoundaryGen` computes bucket endpoints, CREAD
endpoints and D2Q tables from the training labels with Beam.
"""
