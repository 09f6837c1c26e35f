"""Dramatiq consumers: broker setup and thin actors that adapt a message to a core call.

``actors.worker`` is the module ``dramatiq`` (and ``heavylift worker``) loads.
"""
