"""The producers' side of the queue: implements ``heavylift.jobs.Dispatcher`` with Dramatiq."""

from __future__ import annotations

import dramatiq

from actors.queues import CALLBACK_ACTOR, CALLBACK_QUEUE, QUEUE_ACTORS
from heavylift.errors import BrokerUnavailable
from heavylift.jobstore import REDIS_DOWN
from heavylift.models import JobMessage


class DramatiqDispatcher:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def dispatch(self, message: JobMessage, queue: str) -> None:
        self._enqueue(queue, QUEUE_ACTORS[queue], message.model_dump(mode="json"), message.job_id)

    def dispatch_callback(self, job_id: str) -> None:
        self._enqueue(CALLBACK_QUEUE, CALLBACK_ACTOR, job_id, job_id)

    def _enqueue(self, queue: str, actor: str, argument: object, job_id: str) -> None:
        envelope: dramatiq.Message[object] = dramatiq.Message(
            queue_name=queue, actor_name=actor, args=(argument,), kwargs={}, options={}
        )
        try:
            self.broker.enqueue(envelope)
        except (*REDIS_DOWN, dramatiq.errors.ConnectionError) as exc:
            raise BrokerUnavailable(f"cannot enqueue {job_id} on {queue}: {exc}") from exc
