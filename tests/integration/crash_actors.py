"""Loaded into test workers with ``heavylift worker --import``: an actor whose every delivery
kills its worker process with a segfault, as a crashing native decoder would."""

from __future__ import annotations

import ctypes
from typing import Any

import dramatiq


@dramatiq.actor(queue_name="crash", actor_name="crash_worker", max_retries=5)
def crash_worker(job: dict[str, Any]) -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV
