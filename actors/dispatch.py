"""The queue's sending side: ``heavylift.jobs.submission.Dispatcher`` with Dramatiq."""

from __future__ import annotations

import uuid

import dramatiq

from heavylift.errors import BrokerUnavailable
from heavylift.jobs.models import JobMessage
from heavylift.jobs.submission import Envelope
from heavylift.queue.names import CALLBACK_ACTOR, CALLBACK_QUEUE, QUEUE_ACTORS
from heavylift.state.store import REDIS_DOWN


class DramatiqDispatcher:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def envelope(self, message: JobMessage, queue: str) -> Envelope:
        """The message exactly as ``RedisBroker.enqueue`` would store it."""
        redis_id = str(uuid.uuid4())
        body = _message(queue, QUEUE_ACTORS[queue], message.model_dump(mode="json"), redis_id)
        return Envelope(redis_id, body.encode().decode())

    def dispatch(self, message: JobMessage, queue: str) -> None:
        self._enqueue(queue, QUEUE_ACTORS[queue], message.model_dump(mode="json"), message.job_id)

    def dispatch_callback(self, job_id: str) -> None:
        self._enqueue(CALLBACK_QUEUE, CALLBACK_ACTOR, job_id, job_id)

    def _enqueue(self, queue: str, actor: str, argument: object, job_id: str) -> None:
        try:
            self.broker.enqueue(_message(queue, actor, argument))
        except (*REDIS_DOWN, dramatiq.errors.ConnectionError) as exc:
            raise BrokerUnavailable(f"cannot enqueue {job_id} on {queue}: {exc}") from exc


def _message(
    queue: str, actor: str, argument: object, redis_id: str | None = None
) -> dramatiq.Message[object]:
    options = {"redis_message_id": redis_id} if redis_id else {}
    return dramatiq.Message(
        queue_name=queue, actor_name=actor, args=(argument,), kwargs={}, options=options
    )
