"""The S3-compatible API (path-style buckets), translated into Swift requests (Swift's s3api)."""
