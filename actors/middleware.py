"""Dramatiq middleware that makes failures safe: nothing lost, nothing silently stuck.

* :class:`RetryLater` replaces Dramatiq's ``Retries``: typed errors decide (permanent →
  dead letters at once; transient → a bounded number of retries with jittered exponential
  backoff), and a retry is parked in Redis atomically (``heavylift.queue.retries``), never
  in a worker's memory, never acked away when Redis is briefly gone.
* :class:`DeliveryLimit` counts deliveries that died with their process and dead-letters a
  message that killed ``max_deliveries`` workers (``heavylift.queue.deliveries``).
* :class:`Housekeeping` is a thread per worker process: heartbeat, promote due retries,
  requeue the in-flight messages of workers that went silent (``heavylift.queue.recovery``), and
  once a minute drop expired jobs from the job index (``heavylift.state.index``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import Middleware, SkipMessage

from actors.dispatch import DramatiqDispatcher
from heavylift.errors import as_heavylift_error
from heavylift.jobs.lifecycle import record_poison_message
from heavylift.queue import wire
from heavylift.queue.deliveries import finish_delivery, start_delivery
from heavylift.queue.recovery import heartbeat, reap_dead_workers
from heavylift.queue.retries import backoff_ms, promote_due, schedule_retry
from heavylift.state.counters import MetricsRecorder
from heavylift.state.index import prune_expired
from heavylift.state.keys import Layout
from heavylift.state.redis import REDIS_DOWN
from heavylift.state.store import JobStore

log = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 60.0


def job_id_of(message: dramatiq.MessageProxy | dramatiq.Message[Any]) -> str | None:
    return wire.job_id_of(message.asdict())


def retry_policy(broker: dramatiq.Broker) -> RetryLater:
    """The broker's :class:`RetryLater` (``actors.broker`` always installs one)."""
    return next(m for m in broker.middleware if isinstance(m, RetryLater))


class RetryLater(Middleware):
    def __init__(
        self,
        client: redis.Redis,
        layout: Layout,
        metrics: MetricsRecorder,
        *,
        max_retries: int,
        backoff: tuple[int, int],
    ) -> None:
        self.client = client
        self.layout = layout
        self.metrics = metrics
        self.max_retries = max_retries
        self.min_backoff_ms, self.max_backoff_ms = backoff

    @property
    def actor_options(self) -> set[str]:
        return {"max_retries", "min_backoff", "max_backoff", "throws"}

    def is_final_attempt(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy | dramatiq.Message[Any]
    ) -> bool:
        """Whether no retry follows if this delivery fails: the one rule the actor (for the
        job record's state) and this middleware (for the queue) both use."""
        max_retries = broker.get_actor(message.actor_name).options.get(
            "max_retries", self.max_retries
        )
        return int(message.options.get(wire.RETRIES_OPTION, 0)) >= max_retries

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        options = broker.get_actor(message.actor_name).options
        throws = options.get("throws")
        code = as_heavylift_error(exception).code
        if throws and isinstance(exception, throws):
            message.fail()  # permanent: straight to the dead letters
            self.metrics.dead_lettered(message.queue_name, code)
            return
        if self.is_final_attempt(broker, message):
            log.warning("retries exhausted; dead-lettered", extra={"job_id": job_id_of(message)})
            message.fail()
            self.metrics.dead_lettered(message.queue_name, code)
            return
        retries = int(message.options.get(wire.RETRIES_OPTION, 0))
        delay = backoff_ms(
            retries,
            options.get("min_backoff", self.min_backoff_ms),
            options.get("max_backoff", self.max_backoff_ms),
        )
        self._schedule(broker, message, retries + 1, delay)
        self.metrics.retried(message.queue_name)

    def _schedule(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, retries: int, delay: int
    ) -> None:
        """Park the retry, waiting out a Redis outage: giving up here would lose the job."""
        body = message.asdict()
        pause = 0.2
        while True:
            try:
                scheduled = schedule_retry(
                    self.client,
                    self.layout,
                    worker_id=broker.broker_id,  # type: ignore[attr-defined]
                    message=body,
                    retries=retries,
                    delay_ms=delay,
                )
                break
            except REDIS_DOWN as exc:
                log.warning("cannot schedule a retry yet", extra={"error": str(exc)})
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
        log.info(
            "retry scheduled" if scheduled else "retry already requeued by recovery",
            extra={"job_id": job_id_of(message), "retry": retries, "delay_ms": delay},
        )


class DeliveryLimit(Middleware):
    def __init__(
        self,
        client: redis.Redis,
        layout: Layout,
        store: JobStore,
        metrics: MetricsRecorder,
        max_deliveries: int,
    ) -> None:
        self.client = client
        self.layout = layout
        self.store = store
        self.metrics = metrics
        self.max_deliveries = max_deliveries

    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy
    ) -> None:
        redis_id = message.options[wire.REDIS_ID_OPTION]
        try:
            delivery = start_delivery(self.client, self.layout, redis_id)
        except REDIS_DOWN:
            delivery = 1  # cannot count now; the job's own Redis writes will wait it out
        message.options[wire.DELIVERY_OPTION] = delivery
        if delivery <= self.max_deliveries:
            return
        job_id = job_id_of(message)
        record = record_poison_message(self.store, job_id, delivery - 1) if job_id else None
        if record is not None and record.callback_url:
            DramatiqDispatcher(broker).dispatch_callback(record.job_id)
        message.fail()
        self.metrics.dead_lettered(message.queue_name, "poison_message")
        raise SkipMessage(f"{delivery - 1} deliveries killed their worker: dead-lettered")

    def after_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, **_: Any
    ) -> None:
        self._finish(message)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        self._finish(message)

    def _finish(self, message: dramatiq.MessageProxy) -> None:
        try:
            finish_delivery(self.client, self.layout, message.options[wire.REDIS_ID_OPTION])
        except REDIS_DOWN:  # worst case the next delivery is counted once too many
            log.warning("could not clear a delivery count", extra={"job_id": job_id_of(message)})


class Housekeeping(Middleware):
    def __init__(
        self,
        client: redis.Redis,
        layout: Layout,
        heartbeat_timeout_s: float,
        job_ttl_seconds: int,
    ) -> None:
        self.client = client
        self.layout = layout
        self.timeout_s = heartbeat_timeout_s
        self.job_ttl_seconds = job_ttl_seconds
        self.next_prune = 0.0
        self.interval_s = min(1.0, heartbeat_timeout_s / 5)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        worker_id: str = broker.broker_id  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self._run, args=(worker_id,), name="heavylift-housekeeping", daemon=True
        )
        self.thread.start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)

    def _run(self, worker_id: str) -> None:
        # After losing Redis ourselves, everyone's heartbeat looks stale for a moment: judge
        # other workers only once they have had a full timeout to reconnect too.
        trusted_from = time.monotonic()
        while not self.stopping.wait(self.interval_s):
            try:
                heartbeat(self.client, self.layout, worker_id)
                promote_due(self.client, self.layout)
                if time.monotonic() >= self.next_prune:  # the job index forgets expired jobs
                    prune_expired(self.client, self.layout.namespace, self.job_ttl_seconds)
                    self.next_prune = time.monotonic() + PRUNE_INTERVAL_S
                if time.monotonic() >= trusted_from:
                    self._reap()
            except REDIS_DOWN as exc:
                trusted_from = time.monotonic() + self.timeout_s
                log.warning("housekeeping: Redis unavailable", extra={"error": str(exc)})
            except Exception:  # never let the thread die: retries depend on it
                log.exception("housekeeping failed; continuing")

    def _reap(self) -> None:
        for dead_worker, requeued in reap_dead_workers(
            self.client, self.layout, self.timeout_s
        ).items():
            log.warning(
                "requeued the jobs of a silent worker",
                extra={"worker": dead_worker, "requeued": requeued},
            )
