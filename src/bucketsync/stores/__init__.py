"""The two sides of a sync: a local folder and an S3 prefix."""
