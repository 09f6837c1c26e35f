"""Count deliveries that never finished, to stop poison messages.

A message whose processing kills its worker (a segfault in a decoder, the OOM killer) never
reaches the retry logic, so its retry count never grows and it would be redelivered
forever, killing a worker each time. Each delivery increments a counter in Redis before
any work starts and clears it when the attempt ends, however it ends. A counter that is
still set at the next delivery therefore counts deliveries that died with their process.
"""

from __future__ import annotations

import redis

from heavylift.state.keys import Layout

# Long enough for any retry schedule; only a leak guard for messages that vanish unfinished.
COUNTER_TTL_S = 30 * 24 * 3600


def start_delivery(client: redis.Redis, layout: Layout, redis_message_id: str) -> int:
    """Record that a delivery begins; return its number (1 for the first)."""
    key = layout.deliveries(redis_message_id)
    with client.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, COUNTER_TTL_S)
        count, _ = pipe.execute()
    return int(count)


def finish_delivery(client: redis.Redis, layout: Layout, redis_message_id: str) -> None:
    """The attempt ended (succeeded, failed or scheduled a retry): nothing died."""
    client.delete(layout.deliveries(redis_message_id))
