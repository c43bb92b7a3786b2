"""Delivery metrics per brand and endpoint, kept in-process and rendered in the Prometheus
text format (no client library: a handful of counters does not need one).

Counters are plain attributes bumped on the hot path; the text is built only on a scrape.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable

from tracer.process_metrics import render_process
from tracer.prometheus import Exposition

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

COUNTERS = {
    "delivered": "Webhook requests answered 2xx (a batch counts once per event).",
    "retried": "Jobs rescheduled on the retry set.",
    "dead_lettered": "Jobs moved to the brand's dead-letter list.",
    "fallback": "Events written to the endpoint's fallback Redis Stream.",
}

GAUGES = {
    "tracer_webhook_breaker_state": ("breaker_state", "Breaker: 0 closed, 1 half-open, 2 open."),
    "tracer_webhook_endpoint_disabled": ("disabled", "1 when the endpoint is disabled (410 Gone)."),
    "tracer_webhook_backlog": ("backlog", "Jobs of the endpoint held by this dispatcher."),
}


class EndpointStats:
    """Everything counted for one endpoint of one brand."""

    __slots__ = (
        "backlog",
        "brand",
        "breaker_state",
        "buckets",
        "dead_lettered",
        "delivered",
        "disabled",
        "endpoint",
        "failed",
        "fallback",
        "latency_count",
        "latency_sum",
        "retried",
    )

    def __init__(self, brand: str, endpoint: str) -> None:
        self.brand = brand
        self.endpoint = endpoint
        self.delivered = self.retried = self.dead_lettered = self.fallback = 0
        # Failed attempts by reason (timeout, connection, http_503, circuit_open, ...).
        self.failed: Counter[str] = Counter()
        self.buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        # Gauges, set by the endpoint.
        self.breaker_state = 0
        self.disabled = 0
        self.backlog = 0

    def observe_latency(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    @property
    def labels(self) -> dict[str, str]:
        return {"brand": self.brand, "endpoint": self.endpoint}


class Metrics:
    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointStats] = {}

    def for_endpoint(self, brand: str, endpoint: str) -> EndpointStats:
        stats = self.endpoints.get(endpoint)
        if stats is None:
            stats = self.endpoints[endpoint] = EndpointStats(brand, endpoint)
        return stats

    def render(
        self,
        queue_depths: Iterable[tuple[str, int, int]] = (),
        dlq_depths: Iterable[tuple[str, int]] = (),
        pending: Iterable[tuple[str, str, int]] = (),
        outcomes_refused: int = 0,
    ) -> str:
        """Prometheus text: `queue_depths` holds (queue, shard, length), `dlq_depths`
        (brand, length), both read from Redis by the caller at scrape time;
        `pending` (brand, endpoint, jobs not settled); `outcomes_refused` counts outcomes
        Redis refused to record (their jobs held)."""
        out = Exposition()
        stats = list(self.endpoints.values())
        for name, help_text in COUNTERS.items():
            out.family(f"tracer_webhook_{name}_total", "counter", help_text)
            for s in stats:
                out.sample(f"tracer_webhook_{name}_total", getattr(s, name), s.labels)
        out.family("tracer_webhook_failed_total", "counter", "Failed attempts by reason.")
        for s in stats:
            for reason, count in sorted(s.failed.items()):
                out.sample("tracer_webhook_failed_total", count, {**s.labels, "reason": reason})
        name = "tracer_webhook_latency_seconds"
        out.family(name, "histogram", "Duration of webhook requests (one per batch).")
        for s in stats:
            out.histogram(name, LATENCY_BUCKETS_S, s.buckets, s.latency_sum, s.labels)
        for metric, (attribute, help_text) in GAUGES.items():
            out.family(metric, "gauge", help_text)
            for s in stats:
                out.sample(metric, getattr(s, attribute), s.labels)
        out.family("tracer_webhook_queue_depth", "gauge", "Jobs in a webhook queue shard.")
        for queue, shard, depth in queue_depths:
            out.sample("tracer_webhook_queue_depth", depth, {"queue": queue, "shard": shard})
        out.family(
            "tracer_webhook_pending",
            "gauge",
            "Jobs of the endpoint not settled yet: queued, waiting for a retry, or in flight.",
        )
        for brand, endpoint, count in pending:
            out.sample("tracer_webhook_pending", count, {"brand": brand, "endpoint": endpoint})
        out.family("tracer_webhook_dlq_depth", "gauge", "Dead letters waiting per brand.")
        for brand, depth in dlq_depths:
            out.sample("tracer_webhook_dlq_depth", depth, {"brand": brand})
        out.single(
            "tracer_webhook_outcomes_refused_total",
            "counter",
            "Outcomes Redis refused to record (once each); jobs held, the write retried.",
            outcomes_refused,
        )
        render_process(out)
        return out.text()
