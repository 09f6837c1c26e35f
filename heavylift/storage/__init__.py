"""Object storage as streams: reading sources and writing outputs in S3."""
