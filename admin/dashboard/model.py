"""What `/dashboard/data` and every `/dashboard/events` message carry: one `Dashboard`.

Numbers are plain (counts, seconds, per-second rates); the page formats them. `None`
means "not known now" (a source is down, or nothing was observed yet), never zero.
"""

from __future__ import annotations

import msgspec


class Struct(msgspec.Struct, kw_only=True):
    pass


class Source(Struct):
    """One place the dashboard reads from, and whether it answered."""

    name: str
    up: bool
    detail: str = ""


class RouteStats(Struct):
    route: str
    requests: int
    per_s: float | None
    p50_ms: float | None
    p99_ms: float | None


class Rejection(Struct):
    reason: str
    total: int
    per_s: float | None


class Edge(Struct):
    requests: int = 0
    per_s: float | None = None
    # Over the last few seconds, all routes together.
    p50_ms: float | None = None
    p99_ms: float | None = None
    rejected: int = 0
    rejected_per_s: float | None = None
    events_pushed: int = 0
    events_spooled: int = 0
    spool_bytes: float = 0.0
    events_buffered: float = 0.0
    workers: int = 0
    workers_reaching_redis: int = 0
    routes: list[RouteStats] = msgspec.field(default_factory=list)
    rejections: list[Rejection] = msgspec.field(default_factory=list)
    # brand -> agent -> requests answered (since the edge started)
    agents: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)


class Shard(Struct):
    shard: int
    depth: int
    dead: int
    oldest_age_s: float
    webhook_ready: int
    webhook_retry: int
    webhook_dead: int


class Queue(Struct):
    depth: int | None = None
    dead: int | None = None
    oldest_age_s: float | None = None
    webhook_ready: int | None = None
    webhook_retry: int | None = None
    shards: list[Shard] = msgspec.field(default_factory=list)


class Batcher(Struct):
    """From the batchers' /metrics (None while none answers)."""

    stored: int | None = None
    stored_per_s: float | None = None
    duplicates: int | None = None
    dead: int | None = None
    store_failures: int | None = None
    lag_p50_s: float | None = None
    lag_p99_s: float | None = None
    write_p99_s: float | None = None


class Endpoint(Struct):
    brand: str
    endpoint: str
    url: str
    breaker: str
    disabled: bool
    disabled_reason: str = ""
    # From the dispatchers' /metrics (None while none answers).
    delivered: int | None = None
    failed: int | None = None
    retried: int | None = None
    dead_lettered: int | None = None
    latency_p99_s: float | None = None
    # The brand's dead-letter list (Redis).
    dlq: int | None = None


class Webhooks(Struct):
    delivered: int | None = None
    failed: int | None = None
    retried: int | None = None
    dlq: int | None = None
    endpoints: list[Endpoint] = msgspec.field(default_factory=list)


class Worker(Struct):
    role: str
    id: str
    # live, stale (no recent beat) or dead (heartbeat expired, still registered)
    state: str
    # Seconds since the last sign of life; None when unknown.
    last_beat_s: float | None
    detail: str = ""


class Counts(Struct):
    all: int = 0
    human: int = 0


class Share(Struct):
    """Opens of one client (or device class), people's and machines' apart."""

    value: str
    human: int = 0
    machine: int = 0


class BrandEngagement(Struct):
    brand: str
    name: str
    currency: str
    sent: int
    opens: Counts
    unique_opens: Counts
    mpp_opens: int
    mpp_adjusted_opens: float
    clicks: Counts
    unsubscribes: int
    revenue: float
    conversion_value: float
    # Over the engagement window: opens per email client (busiest first, the tail summed
    # as "other clients") and per device class, from the client rollups ("": unknown).
    clients: list[Share] = msgspec.field(default_factory=list)
    devices: list[Share] = msgspec.field(default_factory=list)


class Segment(Struct):
    """A brand's campaign x job source over the engagement window."""

    brand: str
    campaign: str
    job_source: str
    sent: int
    opens: Counts
    mpp_adjusted_opens: float
    clicks: Counts
    unsubscribes: int
    revenue: float


class Engagement(Struct):
    # Unix time of the store reading (refreshed less often than the rest).
    read_at: float | None = None
    window_days: int = 30
    brands: list[BrandEngagement] = msgspec.field(default_factory=list)
    segments: list[Segment] = msgspec.field(default_factory=list)
    # Segments left out beyond the busiest ones.
    segments_omitted: int = 0


class History(Struct):
    """The last few minutes, one point per reading, for the charts."""

    t: list[float] = msgspec.field(default_factory=list)
    edge_per_s: list[float | None] = msgspec.field(default_factory=list)
    p50_ms: list[float | None] = msgspec.field(default_factory=list)
    p99_ms: list[float | None] = msgspec.field(default_factory=list)
    queue_depth: list[int | None] = msgspec.field(default_factory=list)
    stored_per_s: list[float | None] = msgspec.field(default_factory=list)


class Dashboard(Struct):
    generated_at: float
    sources: list[Source]
    edge: Edge
    queue: Queue
    batcher: Batcher
    webhooks: Webhooks
    workers: list[Worker]
    engagement: Engagement
    history: History
