"""The anomaly detector: the built-in model, its service over S3, the L4M builder."""
