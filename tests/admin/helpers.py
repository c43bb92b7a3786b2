"""Helpers of the admin suite: reading tokens and the queue, running the batcher."""

from __future__ import annotations

from pathlib import Path

import redis

from batcher.main import run_batcher
from batcher.worker import BatcherStats
from tests.admin.conftest import ADMIN_KEYRING_FILE, SHARDS
from tests.batcher.helpers import FAST
from tests.conftest import EXAMPLE_BRANDS
from tests.edge.conftest import queued_events
from tracer.brands import Brands
from tracer.events import Event
from tracer.links import LinkBuilder
from tracer.settings import Settings
from tracer.tokens import LinkPayload

DATA = Path(__file__).resolve().parent.parent / "data"


def open_token(builder: LinkBuilder, url: str) -> LinkPayload:
    """The payload of a tracked `https://host/{c,o,u}/token` URL."""
    token = url.rsplit("/", 1)[1].removesuffix(".gif")
    return builder.codec.open(token)


def queued(client: redis.Redis) -> list[Event]:
    return queued_events(client, SHARDS)


async def store_queued_events(
    redis_url: str, brands: Brands, data_dir: Path, mongodb_url: str | None = None
) -> BatcherStats:
    """Drain the queue into the store as the batcher role does (`tracer batcher --burst`)."""
    settings = Settings(
        config_path=EXAMPLE_BRANDS,
        redis_url=redis_url,
        mongodb_url=mongodb_url,
        data_dir=data_dir,
        queue_shards=SHARDS,
        keys=str(ADMIN_KEYRING_FILE["path"]),
    )
    stats = await run_batcher(settings, brands, FAST, burst=True, handle_signals=False)
    assert stats.dead == 0, stats
    return stats
