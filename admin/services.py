"""What the handlers share: link builder, Redis, event queue, short links, the store.

Built when the application starts and closed when it stops (`services_context`), so that
a test or `tracer admin` gets connections that live exactly as long as the server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from admin.queue import EventQueue
from admin.rewrites import RewritePool
from admin.store import StoreHandle
from tracer.brands import Brands
from tracer.context import Context
from tracer.events import EventIds
from tracer.links import LinkBuilder
from tracer.redis_cluster import REDIS_ERRORS, AnyRedis, connect
from tracer.settings import Settings, mask_url
from tracer.slugs import ShortLinks, SlugAllocator
from tracer.store import StoreUnavailable

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    brands: Brands
    builder: LinkBuilder
    redis: AnyRedis
    queue: EventQueue
    short_links: ShortLinks
    store: StoreHandle
    ids: EventIds
    # Messages are rewritten off the event loop, within a time budget.
    rewrites: RewritePool = field(default_factory=RewritePool)


SERVICES = web.AppKey("services", Services)


def services_context(
    context: Context,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context that sets `app[SERVICES]` and closes it at the end."""

    async def services(app: web.Application) -> AsyncIterator[None]:
        settings = context.settings
        client = redis_client(
            settings.redis_url or "", settings.redis_timeout_s, cluster=settings.redis_cluster
        )
        builder = LinkBuilder(context.brands, context.keyring)
        allocator = SlugAllocator(client, context.keyring.slug_secret())
        store = StoreHandle(settings, context.brands)
        app[SERVICES] = Services(
            settings=settings,
            brands=context.brands,
            builder=builder,
            redis=client,
            queue=EventQueue(client, settings.queue_shards),
            short_links=ShortLinks(client, allocator, builder.codec),
            store=store,
            ids=EventIds(),
            rewrites=RewritePool(budget_s=settings.rewrite_budget_s),
        )
        await _report_dependencies(client, store, settings)
        try:
            yield
        finally:
            app[SERVICES].rewrites.close()
            await store.close()
            await client.aclose()
            logger.info("Closed the Redis client and the event store.")

    return services


async def _report_dependencies(client: AnyRedis, store: StoreHandle, settings: Settings) -> None:
    """Warn at start-up about what is down: requests needing it answer 503 until it is up,
    and everything else keeps working."""
    try:
        await client.ping()
    except REDIS_ERRORS as exc:
        logger.warning("Redis at %s is unavailable: %s", mask_url(settings.redis_url or ""), exc)
    try:
        await store.get()
    except StoreUnavailable as exc:
        logger.warning("The event store is unavailable: %s", exc)


def redis_client(url: str, timeout_s: float, *, cluster: bool = False) -> AnyRedis:
    """Fail fast (the caller gets 503 and retries) yet survive a dropped connection: one
    retry, on a fresh connection. With `cluster`, `url` names one node of a Redis Cluster."""
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    return connect(url, cluster=cluster, **options)
