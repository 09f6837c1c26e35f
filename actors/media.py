"""The media actors, one per queue: message in, ``heavylift.jobs.runner.run_job`` call, typed
failure out. Separate queues let a backlog of hour-long videos leave thumbnails alone.

On the wire they are named ``process_image``, ``process_video`` and ``process_audio``
(``heavylift.queue.names``: queued messages carry those names); in Python they are
``image_actor`` and so on, apart from the core's ``image_outputs`` that they end up calling."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from pydantic import ValidationError

from actors.dispatch import DramatiqDispatcher
from actors.middleware import retry_policy
from heavylift.config import get_settings
from heavylift.errors import InvalidMessage, PermanentError
from heavylift.jobs.models import JobMessage
from heavylift.jobs.runner import WorkerContext, run_job
from heavylift.jobs.spec import MediaKind
from heavylift.queue import wire
from heavylift.queue.names import ACTORS
from heavylift.state.counters import MetricsRecorder
from heavylift.state.store import JobStore
from heavylift.storage.s3 import s3_client

settings = get_settings()


@lru_cache(maxsize=1)
def worker_context() -> WorkerContext:
    """Built on first use, inside the worker process (never at import, never in the parent)."""
    # the process's one Redis client; wait out a Redis restart mid-job
    store = JobStore.from_settings(settings, patience_s=settings.redis_patience_s)
    return WorkerContext(
        settings=settings,
        store=store,
        s3=s3_client(settings),
        dispatcher=DramatiqDispatcher(dramatiq.get_broker()),
        metrics=MetricsRecorder(store.client, settings.namespace, settings.history_retention_s),
    )


def delivery_info() -> tuple[int, bool]:
    """(this message's delivery number, whether no retry follows a failure of this attempt)."""
    current = CurrentMessage.get_current_message()
    if current is None:
        return 1, False
    broker = dramatiq.get_broker()
    final = retry_policy(broker).is_final_attempt(broker, current)
    return int(current.options.get(wire.DELIVERY_OPTION, 1)), final


def parse_message(message: dict[str, Any]) -> JobMessage:
    try:
        return JobMessage.model_validate(message)
    except ValidationError as exc:
        raise InvalidMessage(f"not a job message: {exc.errors()[0]['msg']}") from exc


def _declare(kind: MediaKind) -> dramatiq.Actor[[dict[str, Any]], None]:
    def process(message: dict[str, Any]) -> None:
        delivery, final = delivery_info()
        run_job(
            parse_message(message),
            worker_context(),
            queue=kind,
            delivery=delivery,
            final_attempt=final,
        )

    return dramatiq.actor(
        actor_name=ACTORS[kind.queue],
        queue_name=kind.queue.value,
        max_retries=settings.max_retries,
        min_backoff=settings.min_backoff_ms,
        max_backoff=settings.max_backoff_ms,
        # Our own deadline kills ffmpeg first; Dramatiq's limit is the backstop.
        time_limit=(settings.max_job_seconds + 300) * 1000,
        throws=(PermanentError,),  # dead-letter at once: retrying bad input cannot help
    )(process)


image_actor = _declare(MediaKind.IMAGE)
video_actor = _declare(MediaKind.VIDEO)
audio_actor = _declare(MediaKind.AUDIO)
