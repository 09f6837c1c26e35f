"""Prometheus metrics that every process adds to and any process can serve.

Producers run on Lambda, workers in many containers: no process sees the whole picture, and
in-process counters would reset on every restart. So counters and histogram buckets live in
one Redis hash (``<ns>:metrics``), incremented where things happen; gauges (queue depth,
in-flight, dead letters, live workers) are read from the queues themselves when ``/metrics``
is scraped (``heavylift.queue.inspection``). A field is ``name|label=value|label=value``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import redis

from heavylift.queue.names import MEDIA_QUEUES
from heavylift.state.history import DEFAULT_RETENTION_S, stage_record
from heavylift.state.keys import Layout
from heavylift.state.redis import REDIS_DOWN, as_text

PREFIX = "heavylift_"  # before every metric name /metrics serves


class CounterName(StrEnum):
    """Every counter, named once (``/metrics`` adds ``PREFIX`` and each one's help)."""

    JOBS_SUBMITTED = "jobs_submitted_total"
    JOBS_SUCCEEDED = "jobs_succeeded_total"
    JOBS_FAILED = "jobs_failed_total"
    JOBS_RETRIED = "jobs_retried_total"
    JOBS_DEAD_LETTERED = "jobs_dead_lettered_total"
    DEAD_LETTER_CODES = "dead_letter_codes_total"
    SOURCE_BYTES = "source_bytes_total"
    OUTPUT_BYTES = "output_bytes_total"


DURATION = "job_duration_seconds"  # the histogram: its fields add _bucket, _sum, _count
DURATION_BUCKET, DURATION_SUM, DURATION_COUNT = (
    f"{DURATION}_{part}" for part in ("bucket", "sum", "count")
)
# Seconds: thumbnails take well under a second, long videos tens of minutes.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def field(name: str, **labels: str) -> str:
    return "|".join([name, *(f"{k}={v}" for k, v in sorted(labels.items()))])


def parse_field(text: str) -> tuple[str, dict[str, str]]:
    name, *pairs = text.split("|")
    return name, dict(pair.split("=", 1) for pair in pairs)


def media_type_of(queue: str) -> str:
    return queue if queue in MEDIA_QUEUES else "none"


@dataclass(frozen=True)
class JobOutcome:
    """One finished attempt, as the metrics see it."""

    queue: str
    media_type: str
    outcome: str  # succeeded | failed (this attempt) | dead_lettered (for good)
    seconds: float
    bytes_in: int = 0
    bytes_out: int = 0
    code: str = ""


class MetricsRecorder:
    """Adds to the shared counters. Metrics are never worth failing a job for: a Redis error
    here is swallowed (the job's own writes will have surfaced it already)."""

    def __init__(
        self, client: redis.Redis, namespace: str, history_retention_s: int = DEFAULT_RETENTION_S
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.key = Layout(namespace).metrics
        self.history_retention_s = history_retention_s

    def attempt(self, outcome: JobOutcome) -> None:
        labels = {"queue": outcome.queue, "media_type": outcome.media_type}
        fields: dict[str, float] = {}
        if outcome.outcome == "succeeded":
            fields[field(CounterName.JOBS_SUCCEEDED, **labels)] = 1
            fields[field(CounterName.SOURCE_BYTES, **labels)] = outcome.bytes_in
            fields[field(CounterName.OUTPUT_BYTES, **labels)] = outcome.bytes_out
        else:
            fields[field(CounterName.JOBS_FAILED, **labels, code=outcome.code)] = 1
        fields.update(_histogram(outcome.seconds, outcome=outcome.outcome, **labels))
        self._add(fields, "succeeded" if outcome.outcome == "succeeded" else None)

    def retried(self, queue: str) -> None:
        name = field(CounterName.JOBS_RETRIED, queue=queue, media_type=media_type_of(queue))
        self._add({name: 1})

    def dead_lettered(self, queue: str, code: str) -> None:
        name = field(CounterName.JOBS_DEAD_LETTERED, queue=queue, media_type=media_type_of(queue))
        codes = field(CounterName.DEAD_LETTER_CODES, code=code or "unknown")
        # The dashboard's failure rate counts jobs lost for good (not callbacks that gave up).
        self._add({name: 1, codes: 1}, "failed" if queue in MEDIA_QUEUES else None)

    def _add(self, fields: dict[str, float], history: str | None = None) -> None:
        try:
            with self.client.pipeline(transaction=False) as pipe:
                if history is not None:
                    stage_record(pipe, self.namespace, history, self.history_retention_s)
                for name, amount in fields.items():
                    if name.startswith(DURATION_SUM):  # the only non-integer
                        pipe.hincrbyfloat(self.key, name, amount)
                    else:
                        pipe.hincrby(self.key, name, int(amount))
                pipe.execute()
        except REDIS_DOWN:
            pass


def _histogram(seconds: float, **labels: str) -> Iterator[tuple[str, float]]:
    """Cumulative buckets, as Prometheus expects them: every bucket at or above the value."""
    for bound in (*DURATION_BUCKETS, float("inf")):
        if seconds <= bound:
            le = "+Inf" if bound == float("inf") else repr(bound)
            yield field(DURATION_BUCKET, **labels, le=le), 1
    yield field(DURATION_SUM, **labels), seconds
    yield field(DURATION_COUNT, **labels), 1


def read_counters(client: redis.Redis, namespace: str) -> dict[str, float]:
    raw = client.hgetall(Layout(namespace).metrics)
    return {as_text(k): float(v) for k, v in raw.items()}
