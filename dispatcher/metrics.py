"""Delivery metrics per brand and endpoint, kept in-process and rendered in the Prometheus
text format (no client library: a handful of counters does not need one).

Counters are plain attributes bumped on the hot path; the text is built only on a scrape.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable

from tracer.process_metrics import render_process

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
    def labels(self) -> str:
        return f'brand="{_escape(self.brand)}",endpoint="{_escape(self.endpoint)}"'


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
        lines: list[str] = []
        stats = list(self.endpoints.values())
        for name, help_text in COUNTERS.items():
            _header(lines, f"tracer_webhook_{name}_total", help_text, "counter")
            lines += [
                f"tracer_webhook_{name}_total{{{s.labels}}} {getattr(s, name)}" for s in stats
            ]
        _header(lines, "tracer_webhook_failed_total", "Failed attempts by reason.", "counter")
        for s in stats:
            for reason, count in sorted(s.failed.items()):
                lines.append(
                    f'tracer_webhook_failed_total{{{s.labels},reason="{_escape(reason)}"}} {count}'
                )
        self._render_latency(lines, stats)
        for metric, (attribute, help_text) in GAUGES.items():
            _header(lines, metric, help_text, "gauge")
            lines += [f"{metric}{{{s.labels}}} {getattr(s, attribute)}" for s in stats]
        _header(lines, "tracer_webhook_queue_depth", "Jobs in a webhook queue shard.", "gauge")
        for queue, shard, depth in queue_depths:
            lines.append(f'tracer_webhook_queue_depth{{queue="{queue}",shard="{shard}"}} {depth}')
        _header(
            lines,
            "tracer_webhook_pending",
            "Jobs of the endpoint not settled yet: queued, waiting for a retry, or in flight.",
            "gauge",
        )
        for brand, endpoint, count in pending:
            lines.append(
                f'tracer_webhook_pending{{brand="{_escape(brand)}",endpoint="{_escape(endpoint)}"}}'
                f" {count}"
            )
        _header(lines, "tracer_webhook_dlq_depth", "Dead letters waiting per brand.", "gauge")
        for brand, depth in dlq_depths:
            lines.append(f'tracer_webhook_dlq_depth{{brand="{_escape(brand)}"}} {depth}')
        _header(
            lines,
            "tracer_webhook_outcomes_refused_total",
            "Outcomes Redis refused to record (once each); jobs held, the write retried.",
            "counter",
        )
        lines.append(f"tracer_webhook_outcomes_refused_total {outcomes_refused}")
        render_process(lines)
        return "\n".join(lines) + "\n"

    @staticmethod
    def _render_latency(lines: list[str], stats: list[EndpointStats]) -> None:
        name = "tracer_webhook_latency_seconds"
        _header(lines, name, "Duration of webhook requests (one per batch).", "histogram")
        for s in stats:
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS_S, s.buckets, strict=False):
                cumulative += count
                lines.append(f'{name}_bucket{{{s.labels},le="{bound}"}} {cumulative}')
            lines.append(f'{name}_bucket{{{s.labels},le="+Inf"}} {s.latency_count}')
            lines.append(f"{name}_sum{{{s.labels}}} {s.latency_sum}")
            lines.append(f"{name}_count{{{s.labels}}} {s.latency_count}")


def _header(lines: list[str], name: str, help_text: str, kind: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
