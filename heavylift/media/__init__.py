"""The processing core: bytes in, derivatives out. No queues, no HTTP, no S3 policy.

Modules: ``sniff`` (what the bytes are), ``stream`` (a peekable, hashing reader),
``sink`` (where outputs go), ``image`` (decode once, derive many), ``steps`` (the
named, uniformly-shaped processing steps a pipeline spec refers to).
"""
