"""The worker's sending side: ``heavylift.jobs.runner.Dispatcher`` through Dramatiq's broker."""

from __future__ import annotations

import dramatiq

from heavylift.errors import BrokerUnavailable
from heavylift.jobs.models import JobMessage
from heavylift.queue.names import ACTORS, Queue
from heavylift.state.redis import REDIS_DOWN


class DramatiqDispatcher:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def dispatch(self, message: JobMessage, queue: Queue) -> None:
        self._enqueue(queue, message.model_dump(mode="json"), message.job_id)

    def dispatch_callback(self, job_id: str) -> None:
        self._enqueue(Queue.CALLBACKS, job_id, job_id)

    def _enqueue(self, queue: Queue, argument: object, job_id: str) -> None:
        message: dramatiq.Message[object] = dramatiq.Message(
            queue_name=queue.value,
            actor_name=ACTORS[queue],
            args=(argument,),
            kwargs={},
            options={},
        )
        try:
            self.broker.enqueue(message)
        except (*REDIS_DOWN, dramatiq.errors.ConnectionError) as exc:
            raise BrokerUnavailable(f"cannot enqueue {job_id} on {queue}: {exc}") from exc
