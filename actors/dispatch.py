"""The producers' side of the queue: implements ``heavylift.jobs.Dispatcher`` with Dramatiq."""

from __future__ import annotations

import dramatiq

from actors.queues import QUEUE_ACTORS
from heavylift.errors import BrokerUnavailable
from heavylift.jobstore import REDIS_DOWN
from heavylift.models import JobMessage


class DramatiqDispatcher:
    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def dispatch(self, message: JobMessage, queue: str) -> None:
        envelope: dramatiq.Message[object] = dramatiq.Message(
            queue_name=queue,
            actor_name=QUEUE_ACTORS[queue],
            args=(message.model_dump(mode="json"),),
            kwargs={},
            options={},
        )
        try:
            self.broker.enqueue(envelope)
        except (*REDIS_DOWN, dramatiq.errors.ConnectionError) as exc:
            raise BrokerUnavailable(f"cannot enqueue {message.job_id}: {exc}") from exc
