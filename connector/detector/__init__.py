"""The anomaly detector: the built-in model, its service over S3, and the Lookout for Metrics builder."""
