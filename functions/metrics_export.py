"""``GET /metrics``: Heavylift's shared counters and live queue gauges in Prometheus' text
format (prometheus_client renders; ``heavylift.state.counters`` knows what the numbers mean)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from heavylift.config import Settings
from heavylift.queue.inspection import read_gauges
from heavylift.queue.names import Queue
from heavylift.state.counters import (
    DURATION,
    DURATION_BUCKET,
    DURATION_BUCKETS,
    DURATION_SUM,
    PREFIX,
    CounterName,
    parse_field,
    read_counters,
)
from heavylift.state.keys import Layout

BY_QUEUE = ("queue", "media_type")
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    CounterName.JOBS_SUBMITTED: ("Jobs accepted by a producer.", BY_QUEUE),
    CounterName.JOBS_SUCCEEDED: ("Jobs that ended succeeded.", BY_QUEUE),
    CounterName.JOBS_FAILED: ("Failed attempts, by error code.", (*BY_QUEUE, "code")),
    CounterName.JOBS_RETRIED: ("Retries scheduled after transient errors.", BY_QUEUE),
    CounterName.JOBS_DEAD_LETTERED: ("Messages dead-lettered.", BY_QUEUE),
    CounterName.DEAD_LETTER_CODES: ("Dead letters by the error code that ended them.", ("code",)),
    CounterName.SOURCE_BYTES: ("Bytes read from sources of succeeded jobs.", BY_QUEUE),
    CounterName.OUTPUT_BYTES: ("Bytes written as outputs of succeeded jobs.", BY_QUEUE),
}
HISTOGRAM_LABELS = ("queue", "media_type", "outcome")


class HeavyliftCollector:
    def __init__(self, client: Any, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        counters = read_counters(self.client, self.settings.namespace)
        yield from _counters(counters)
        yield _histogram(counters)
        yield from _gauges(self.client, self.settings)


def _counters(counters: dict[str, float]) -> Iterator[Metric]:
    families = {
        name: CounterMetricFamily(PREFIX + name, doc, labels=list(labels))
        for name, (doc, labels) in COUNTERS.items()
    }
    for text, value in sorted(counters.items()):
        name, labels = parse_field(text)
        if name in families:
            order = COUNTERS[name][1]
            families[name].add_metric([labels.get(label, "") for label in order], value)
    yield from families.values()


def _histogram(counters: dict[str, float]) -> Metric:
    family = HistogramMetricFamily(
        PREFIX + DURATION,
        "Processing time of one attempt, from start to its outcome.",
        labels=list(HISTOGRAM_LABELS),
    )
    counts: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    sums: dict[tuple[str, ...], float] = {}
    for text, value in counters.items():
        name, labels = parse_field(text)
        key = tuple(labels.get(label, "") for label in HISTOGRAM_LABELS)
        if name == DURATION_BUCKET:
            counts[key][labels["le"]] = value
        elif name == DURATION_SUM:
            sums[key] = value
    bounds = [repr(bound) for bound in DURATION_BUCKETS] + ["+Inf"]
    for key, found in sorted(counts.items()):
        # A bucket never incremented holds no observation at or below its bound: 0.
        buckets = [(le, found.get(le, 0.0)) for le in bounds]
        family.add_metric(list(key), buckets, sums.get(key, 0.0))
    return family


def _gauges(client: Any, settings: Settings) -> Iterator[Metric]:
    layout = Layout(settings.namespace)
    now = read_gauges(client, layout, tuple(Queue), settings.heartbeat_timeout_s)
    for name, doc, values in (
        ("queue_waiting_jobs", "Messages waiting on a queue.", now.waiting),
        ("queue_in_flight_jobs", "Messages fetched by a worker and not yet acked.", now.in_flight),
        ("queue_dead_letters", "Messages in a queue's dead letters.", now.dead),
    ):
        gauge = GaugeMetricFamily(PREFIX + name, doc, labels=["queue"])
        for queue, value in values.items():
            gauge.add_metric([queue], value)
        yield gauge
    yield GaugeMetricFamily(
        PREFIX + "retries_scheduled", "Retries waiting for their time.", value=now.scheduled
    )
    yield GaugeMetricFamily(
        PREFIX + "workers", "Worker processes with a recent heartbeat.", value=now.workers
    )


def render(client: Any, settings: Settings) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HeavyliftCollector(client, settings))  # type: ignore[arg-type]
    return generate_latest(registry)
