"""Running one batcher process: connections, signals, and a clean exit."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from batcher.backoff import Backoff
from batcher.config import BatcherConfig
from batcher.metrics import BatcherMetrics, read_queue
from batcher.worker import Batcher, BatcherStats
from tracer.brands import Brands
from tracer.enrichment import ClientEnricher
from tracer.errors import ConfigurationError
from tracer.geo import open_geoip
from tracer.instance import register_role, unregister_role
from tracer.keyring import load_keyring
from tracer.metrics_server import MetricsServer
from tracer.redis_cluster import AnyRedis, connect
from tracer.settings import Settings
from tracer.store import EventStore, StoreUnavailable, create_store

logger = logging.getLogger(__name__)

# A command failing on a dropped connection is tried again this many times, the waits
# growing up to the cap; longer outages are the batcher's own back-off's to handle.
CLIENT_RETRIES = 2
CLIENT_RETRY_CAP_S = 0.5


def redis_client(url: str, timeout_s: float = 5.0, *, cluster: bool = False) -> AnyRedis:
    """A client that reconnects by itself: a command failing on a dropped connection is
    retried on a new one a few times, then the batcher's own back-off takes over. With
    `cluster`, `url` names one node of a Redis Cluster and the client finds the others
    (and finds them again, with the slots, after a failure)."""
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": min(timeout_s, 2.0),
        "health_check_interval": 10,
        "retry": Retry(ExponentialBackoff(cap=CLIENT_RETRY_CAP_S, base=0.02), CLIENT_RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    return connect(url, cluster=cluster, **options)


async def run_batcher(
    settings: Settings,
    brands: Brands,
    config: BatcherConfig | None = None,
    *,
    burst: bool = False,
    consumer: str | None = None,
    handle_signals: bool = True,
) -> BatcherStats:
    """Open Redis and the store, run one batcher until SIGTERM/SIGINT (or, with `burst`,
    until the queue is drained), then close everything. With a `config.metrics_port`,
    serve `/metrics` and `/healthz` there meanwhile (registered under the data dir for
    the dashboard; a port in use is a `ConfigurationError` when it was set explicitly)."""
    if not settings.redis_url:
        raise ConfigurationError(
            "REDIS_URL: not set (`tracer up` starts a private redis-server and passes it on; "
            "a batcher run on its own needs the edge's REDIS_URL)"
        )
    # A bad GeoIP database stops the start, before anything is opened.
    geoip = open_geoip(settings.geoip_db)
    keyring = load_keyring(settings.keys, settings.dev_keyring_path)
    client = redis_client(settings.redis_url, cluster=settings.redis_cluster)
    store = create_store(settings, brands)
    metrics = BatcherMetrics()
    batcher = Batcher(
        client,
        store,
        brands,
        shards=settings.queue_shards,
        config=config,
        consumer=consumer,
        on_batch=metrics.observe,
        enricher=ClientEnricher(brands, geoip),
        keyring=keyring,
        trusted_proxies=settings.trusted_proxies,
    )
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, batcher.request_stop)
    server = registration = None
    if config.metrics_port:
        # Started before the store opens: a store down at start-up shows as a growing queue.
        server = await _serve_metrics(
            MetricsServer(
                config.metrics_host,
                config.metrics_port,
                _metrics_renderer(metrics, batcher),
                required=config.metrics_port_required,
                setting="TRACER_BATCHER_METRICS_PORT",
            )
        )
        if server is not None:
            registration = register_role(settings.data_dir, "batcher", server.url)
    try:
        if not await _open_store(store, batcher):
            return batcher.stats
        return await batcher.run(burst=burst)
    finally:
        if registration is not None:
            unregister_role(registration)
        if server is not None:
            await server.stop()
        await store.close()
        await client.aclose()
        if geoip is not None:
            geoip.close()


def _metrics_renderer(metrics: BatcherMetrics, batcher: Batcher) -> Callable[[], Awaitable[str]]:
    async def render() -> str:
        try:
            queue = await read_queue(batcher.client, batcher.shards)
        except RedisClusterException:
            queue = None  # no node of the cluster answers: as `read_queue` does for Redis
        return metrics.render(batcher.stats, len(batcher.leases.owned), queue)

    return render


async def _serve_metrics(server: MetricsServer) -> MetricsServer | None:
    """Start `server`; a port taken while explicitly set stops the start (raises), any
    other failure to serve metrics is logged and the pipeline runs on without them."""
    try:
        await server.start()
    except OSError as exc:
        logger.error(
            "Cannot serve metrics on %s:%d (%s); continuing without", server.host, server.port, exc
        )
        return None
    return server


async def _open_store(store: EventStore, batcher: Batcher) -> bool:
    """Wait for the store at start-up (a database that starts after us is not an error):
    events keep accumulating in Redis meanwhile."""
    config = batcher.config
    backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
    while not batcher.should_exit:
        try:
            await store.open()
            return True
        except StoreUnavailable as exc:
            if backoff.failures % 20 == 0:
                logger.warning("Store %s unavailable at start-up (%s): waiting", store.name, exc)
            await backoff.wait(batcher.exit_requested)
    return False
