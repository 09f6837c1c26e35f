"""Heavylift benchmarks: ``python -m bench`` (``make bench``).

Every figure is a ratio against a baseline measured in the same run on the same machine;
nothing here is a timed unit test. See ``docs/benchmarks.md``.
"""
