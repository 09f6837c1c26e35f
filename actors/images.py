"""The image actor: message in, ``heavylift.runner.run_job`` call, typed failure out."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from pydantic import ValidationError

from heavylift.config import get_settings
from heavylift.errors import InvalidMessage, PermanentError
from heavylift.jobstore import JobStore, connect
from heavylift.models import JobMessage
from heavylift.runner import WorkerContext, run_job
from heavylift.storage import s3_client

settings = get_settings()


@lru_cache(maxsize=1)
def worker_context() -> WorkerContext:
    """Built on first use, inside the worker process (never at import, never in the parent)."""
    store = JobStore(
        connect(settings.redis_url, settings.redis_socket_timeout_s),
        settings.namespace,
        settings.job_ttl_seconds,
    )
    return WorkerContext(settings=settings, store=store, s3=s3_client(settings))


def attempt_info() -> tuple[int, bool]:
    """(attempt number starting at 1, whether no retry follows a failure of this attempt)."""
    current = CurrentMessage.get_current_message()
    retries = int(current.options.get("retries", 0)) if current else 0
    return retries + 1, retries >= settings.max_retries


@dramatiq.actor(
    queue_name="image",
    max_retries=settings.max_retries,
    min_backoff=settings.min_backoff_ms,
    max_backoff=settings.max_backoff_ms,
    throws=(PermanentError,),  # dead-letter at once: retrying bad input cannot help
)
def process_image(message: dict[str, Any]) -> None:
    attempt, final = attempt_info()
    run_job(parse_message(message), worker_context(), attempt=attempt, final_attempt=final)


def parse_message(message: dict[str, Any]) -> JobMessage:
    try:
        return JobMessage.model_validate(message)
    except ValidationError as exc:
        raise InvalidMessage(f"not a job message: {exc.errors()[0]['msg']}") from exc
