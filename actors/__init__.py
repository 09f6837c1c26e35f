"""Dramatiq consumers: broker setup, reliability middleware and thin actors that adapt a
message to a core call.

``actors.serve`` is one worker process; ``heavylift worker`` supervises several.
"""
