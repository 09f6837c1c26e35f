"""The ``heavylift`` command: operators' commands over the API, the queues and S3."""
