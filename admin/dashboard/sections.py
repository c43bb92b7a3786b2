"""The sections of the `Dashboard`, each built from the readings it needs (pure functions:
no I/O here, so each is easy to test and to read)."""

from __future__ import annotations

from urllib.parse import urlsplit

from admin.dashboard.edge_snapshots import EdgeReading
from admin.dashboard.model import (
    Batcher,
    Edge,
    Endpoint,
    Queue,
    Rejection,
    RouteStats,
    Webhooks,
    Worker,
)
from admin.dashboard.prometheus import Samples, quantile
from admin.dashboard.redis_state import RedisReading
from admin.dashboard.window import Window, total
from tracer.brands import Brands
from tracer.webhooks import endpoints

# Label of the all-routes latency histogram in `window.Reading.edge_latency`.
ALL_ROUTES = ""


def edge_section(reading: EdgeReading, window: Window, batchers: Samples | None = None) -> Edge:
    by_route = reading.requests_by_route()
    return Edge(
        requests=sum(by_route.values()),
        per_s=_round(window.per_s(lambda r: total(r.edge_requests))),
        p50_ms=_ms(window.recent_quantile(lambda r: r.edge_latency.get(ALL_ROUTES), 0.5)),
        p99_ms=_ms(window.recent_quantile(lambda r: r.edge_latency.get(ALL_ROUTES), 0.99)),
        rejected=sum(reading.rejected.values()),
        rejected_per_s=_round(window.per_s(lambda r: total(r.rejected))),
        events_pushed=int(reading.counters.get("tracer_edge_events_pushed_total", 0)),
        events_spooled=int(reading.counters.get("tracer_edge_events_spooled_total", 0)),
        spool_bytes=reading.gauges.get("tracer_edge_spool_bytes", 0.0),
        events_buffered=reading.gauges.get("tracer_edge_events_buffered", 0.0),
        workers=sum(1 for worker in reading.workers if worker.beating),
        workers_reaching_redis=int(reading.gauges.get("tracer_edge_redis_up", 0)),
        routes=[
            RouteStats(
                route=route,
                requests=count,
                per_s=_round(window.per_s(lambda r, route=route: r.edge_requests.get(route, 0))),
                p50_ms=_ms(quantile(reading.cumulative_buckets(route), 0.5)),
                p99_ms=_ms(quantile(reading.cumulative_buckets(route), 0.99)),
            )
            for route, count in sorted(by_route.items())
        ],
        rejections=[
            Rejection(
                reason=reason,
                total=count,
                per_s=_round(window.per_s(lambda r, reason=reason: r.rejected.get(reason, 0))),
            )
            for reason, count in sorted(reading.rejected.items(), key=lambda item: -item[1])
        ],
        agents=_agents(batchers),
    )


def _agents(batchers: Samples | None) -> dict[str, dict[str, int]]:
    """Recorded events per brand and traffic verdict: the batchers classify raw hits, so
    the verdicts are theirs (`tracer_batcher_events_total`), summed over the batchers."""
    agents: dict[str, dict[str, int]] = {}
    if batchers is None:
        return agents
    for labels, count in batchers.series("tracer_batcher_events_total").items():
        named = dict(labels)
        brand, agent = named.get("brand", ""), named.get("agent", "")
        if not brand or not agent:
            continue
        per_agent = agents.setdefault(brand, {})
        per_agent[agent] = per_agent.get(agent, 0) + int(count)
    return agents


def queue_section(redis: RedisReading | None) -> Queue:
    if redis is None:
        return Queue()
    shards = redis.shards
    return Queue(
        depth=sum(s.depth for s in shards),
        dead=sum(s.dead for s in shards),
        oldest_age_s=round(max((s.oldest_age_s for s in shards), default=0.0), 3),
        webhook_ready=sum(s.webhook_ready for s in shards),
        webhook_retry=sum(s.webhook_retry for s in shards),
        shards=shards,
    )


def batcher_section(samples: Samples | None, window: Window) -> Batcher:
    if samples is None:
        return Batcher()
    lag_p50 = window.recent_quantile(lambda r: r.lag, 0.5)
    lag_p99 = window.recent_quantile(lambda r: r.lag, 0.99)
    if lag_p99 is None:
        # Nothing stored within the window: the lag since the batchers started.
        overall = samples.buckets("tracer_batcher_lag_seconds")
        lag_p50, lag_p99 = quantile(overall, 0.5), quantile(overall, 0.99)
    return Batcher(
        stored=int(samples.total("tracer_batcher_events_stored_total")),
        stored_per_s=_round(window.per_s(lambda r: r.stored)),
        duplicates=int(samples.total("tracer_batcher_events_duplicate_total")),
        dead=int(samples.total("tracer_batcher_events_dead_total")),
        store_failures=int(samples.total("tracer_batcher_store_failures_total")),
        lag_p50_s=_round(lag_p50, 4),
        lag_p99_s=_round(lag_p99, 4),
        write_p99_s=_round(
            quantile(samples.buckets("tracer_batcher_store_write_duration_seconds"), 0.99), 4
        ),
    )


def webhooks_section(
    brands: Brands, redis: RedisReading | None, samples: Samples | None
) -> Webhooks:
    rows = []
    for brand in brands:
        for endpoint_id, hook in endpoints(brand).items():
            state = redis.endpoints.get(endpoint_id) if redis is not None else None
            row = Endpoint(
                brand=brand.id,
                endpoint=endpoint_id,
                url=safe_url(hook.url),
                breaker=state.breaker.replace("_", "-") if state is not None else "unknown",
                disabled=state.disabled if state is not None else False,
                disabled_reason=state.disabled_reason if state is not None else "",
                dlq=redis.dlq.get(brand.id) if redis is not None else None,
            )
            if samples is not None:
                _add_delivery_counts(row, samples)
            rows.append(row)
    return Webhooks(
        delivered=_sum_known(row.delivered for row in rows),
        failed=_sum_known(row.failed for row in rows),
        retried=_sum_known(row.retried for row in rows),
        dlq=sum(redis.dlq.values()) if redis is not None else None,
        endpoints=rows,
    )


def _add_delivery_counts(row: Endpoint, samples: Samples) -> None:
    endpoint = row.endpoint
    row.delivered = int(samples.total("tracer_webhook_delivered_total", endpoint=endpoint))
    row.failed = int(samples.total("tracer_webhook_failed_total", endpoint=endpoint))
    row.retried = int(samples.total("tracer_webhook_retried_total", endpoint=endpoint))
    row.dead_lettered = int(samples.total("tracer_webhook_dead_lettered_total", endpoint=endpoint))
    buckets = samples.buckets("tracer_webhook_latency_seconds", endpoint=endpoint)
    row.latency_p99_s = _round(quantile(buckets, 0.99), 4)


def workers_section(edge: EdgeReading, redis: RedisReading | None, now: float) -> list[Worker]:
    workers = [
        Worker(
            role="edge",
            id=f"pid {worker.pid}",
            state="live" if worker.beating else "stale",
            last_beat_s=round(worker.age_s, 1),
            detail=f"{worker.requests} requests, {worker.rss_bytes / 2**20:.0f} MiB, "
            f"{worker.cpu_s:.1f} s CPU",
        )
        for worker in sorted(edge.workers, key=lambda w: w.pid)
    ]
    for beat in redis.heartbeats if redis is not None else []:
        last_beat = max(0.0, now - beat.last_beat) if beat.last_beat is not None else None
        detail = f"heartbeat expires in {beat.ttl_left_s:.1f} s" if beat.ttl_left_s else ""
        workers.append(
            Worker(
                role=beat.role,
                id=beat.consumer,
                state="live" if beat.alive else "dead",
                last_beat_s=_round(last_beat, 1),
                detail=detail if beat.alive else "heartbeat expired; its work is adopted",
            )
        )
    return workers


def safe_url(url: str) -> str:
    """Scheme, host and path: a receiver's query string may carry its token."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _sum_known(values) -> int | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
