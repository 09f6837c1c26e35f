"""The processing core: bytes in, derivatives out. No queues, no HTTP, no S3 policy.

Modules: ``sniff`` (what the bytes are, by structure; ``isobmff`` and ``containers`` walk
the formats), ``stream`` (a peekable, hashing reader), ``sink`` (where outputs go),
``image`` (decode once, derive many; only accepted libvips loaders run), ``steps`` (the
named, uniformly-shaped processing steps a pipeline spec refers to), ``video`` and
``audio`` (one ffmpeg run each), ``avsource`` (where ffmpeg reads a source, and its probe),
``ffmpeg_input`` (the one way an ffmpeg input is named: demuxer and protocol whitelists),
``ffmpeg`` (running it), ``probe`` (parsing what it reports), ``redact`` (what of a
decoder's words a client may read).
"""
