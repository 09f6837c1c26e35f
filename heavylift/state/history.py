"""Per-minute job counters in Redis: the dashboard's throughput and failure-rate charts.

Prometheus keeps long histories, but a fresh deployment has no Prometheus, and an operator
looking at the dashboard wants "what happened in the last hour" even after the API and every
worker restarted. So each minute gets one small hash, ``<ns>:history:<epoch_minute>`` with
fields ``submitted``, ``succeeded`` and ``failed``, written where those things happen and
expiring after ``history_retention_s``: Redis itself applies the retention policy.

Writers: :func:`record` (its own round trip), :func:`stage_record` (onto a pipeline the
caller already sends, e.g. ``MetricsRecorder._add``), or the two Redis commands that
:func:`minute_key` names the key for (inside a Lua script, pass the key in ``KEYS``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from heavylift.state.keys import Layout
from heavylift.state.redis import REDIS_DOWN

FIELDS = ("submitted", "succeeded", "failed")
DEFAULT_RETENTION_S = 2 * 24 * 3600
HOUR_MINUTES = 60


def epoch_minute(at: float | None = None) -> int:
    """Minutes since the epoch (UTC) of ``at`` (seconds), or of now."""
    return int((time.time() if at is None else at) // 60)


def minute_key(namespace: str, minute: int | None = None) -> str:
    """The hash of one minute (the current one by default)."""
    return Layout(namespace).history_minute(epoch_minute() if minute is None else minute)


def _check(field: str) -> None:
    if field not in FIELDS:
        raise ValueError(f"unknown history field {field!r}; one of {', '.join(FIELDS)}")


def stage_record(
    pipe: Any,
    namespace: str,
    field: str,
    retention_s: int = DEFAULT_RETENTION_S,
    *,
    amount: int = 1,
    at: float | None = None,
) -> None:
    """Queue the increment and its expiry on ``pipe`` (the caller executes it)."""
    _check(field)
    key = minute_key(namespace, epoch_minute(at))
    pipe.hincrby(key, field, amount)
    pipe.expire(key, retention_s)


def record(
    client: redis.Redis,
    namespace: str,
    field: str,
    retention_s: int = DEFAULT_RETENTION_S,
    *,
    amount: int = 1,
    at: float | None = None,
) -> None:
    """Count ``amount`` of ``field`` in the current minute. Like the metrics, history is never
    worth failing a job for: Redis being away is swallowed."""
    _check(field)
    try:
        with client.pipeline(transaction=False) as pipe:
            stage_record(pipe, namespace, field, retention_s, amount=amount, at=at)
            pipe.execute()
    except REDIS_DOWN:
        pass


@dataclass(frozen=True)
class MinutePoint:
    """One minute's counts. ``failure_rate`` is failed / (succeeded + failed), None when
    nothing finished that minute (a gap in the chart, not a misleading zero)."""

    minute: int
    submitted: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def at(self) -> int:
        """The minute's start, in seconds since the epoch."""
        return self.minute * 60

    @property
    def failure_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.failed / finished if finished else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "minute": self.minute,
            "at": self.at,
            "submitted": self.submitted,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "failure_rate": self.failure_rate,
        }


def last_hour(
    client: redis.Redis, namespace: str, now: float | None = None, minutes: int = HOUR_MINUTES
) -> list[MinutePoint]:
    """The last ``minutes`` minutes, oldest first, the current minute last; minutes with no
    hash (nothing happened, or past retention) are zeros. One pipelined round trip."""
    end = epoch_minute(now)
    span = range(end - minutes + 1, end + 1)
    with client.pipeline(transaction=False) as pipe:
        for minute in span:
            pipe.hmget(minute_key(namespace, minute), list(FIELDS))
        rows = pipe.execute()
    return [
        MinutePoint(minute, *(int(value or 0) for value in row))
        for minute, row in zip(span, rows, strict=True)
    ]
