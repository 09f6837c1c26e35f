"""The ``deliver_callback`` actor: one attempt to POST a finished job's record to the URL its
client named (``heavylift.net.callback_delivery``). Failures retry with backoff on the ``callbacks``
queue; a target the SSRF rules refuse is dead-lettered at once."""

from __future__ import annotations

import logging
from functools import lru_cache

import dramatiq

from heavylift.config import get_settings
from heavylift.errors import HeavyliftError, PermanentError
from heavylift.jobs.lifecycle import record_callback_attempt
from heavylift.net.callback_delivery import deliver
from heavylift.net.safe_http import UrlPolicy
from heavylift.net.signatures import WebhookSecret
from heavylift.queue.names import ACTORS, Queue
from heavylift.state.store import JobStore

log = logging.getLogger(__name__)
settings = get_settings()


@lru_cache(maxsize=1)
def _store() -> JobStore:
    return JobStore.from_settings(settings, patience_s=settings.redis_patience_s)


@dramatiq.actor(
    actor_name=ACTORS[Queue.CALLBACKS],
    queue_name=Queue.CALLBACKS.value,
    max_retries=settings.callback_max_retries,
    min_backoff=5_000,  # 2.5–5 s, doubling: 10 retries span about an hour
    max_backoff=3_600_000,
    throws=(PermanentError,),
)
def deliver_callback(job_id: str) -> None:
    store = _store()
    record = store.get(job_id)
    if record is None or not record.callback_url or not record.state.is_final:
        log.warning("nothing to call back", extra={"job_id": job_id})
        return
    if settings.callback_secret is None:
        log.error("callback secret not configured; callback dropped", extra={"job_id": job_id})
        return
    secret = WebhookSecret.parse(settings.callback_secret)
    try:
        status = deliver(record, secret, UrlPolicy.from_settings(settings))
    except HeavyliftError as exc:
        record_callback_attempt(store, job_id, f"{exc.code}: {exc.message}")
        raise
    record_callback_attempt(store, job_id, None)
    log.info("callback delivered", extra={"job_id": job_id, "status": status})
