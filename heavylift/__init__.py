"""Heavylift: a serverless-style media pipeline on Dramatiq over Redis.

The core library. Producers (``functions/``), consumers (``actors/``) and the CLI
depend on it; it depends on neither Starlette nor Dramatiq.
"""

__version__ = "0.1.0"
