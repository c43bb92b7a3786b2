"""Hand-off to the dispatcher: one `WebhookJob` per stored event and subscribed endpoint.

Jobs are spread over the webhook shards by endpoint, so all of an endpoint's jobs are in
one shard (the dispatcher can batch and rate-limit per endpoint). The dispatcher consumes
`webhook_shard(n)` for n in range(settings.queue_shards).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable

from tracer import redis_keys
from tracer.brands import Brands, Webhook
from tracer.events import Event
from tracer.webhooks import WebhookJob, encode_job, endpoint_id, subscribers


def webhook_shard_of(endpoint: str, shards: int) -> int:
    return int(endpoint[:8], 16) % shards


class Handoff:
    """Builds the encoded jobs of a batch, with each endpoint's id and shard key worked out
    once (they are hashes of the brand and URL) instead of once per event."""

    def __init__(self, brands: Brands, shards: int) -> None:
        self.brands = brands
        self._targets: dict[tuple[str, str], tuple[str, str]] = {}
        for brand in brands:
            for hook in brand.webhooks:
                endpoint = endpoint_id(brand.id, hook.url)
                key = redis_keys.webhook_shard(webhook_shard_of(endpoint, shards))
                self._targets[brand.id, hook.url] = (endpoint, key)

    def jobs(self, events: Iterable[Event]) -> dict[str, list[bytes]]:
        """Encoded jobs per webhook shard key. Events of unknown brands get no webhook; bots
        only go to endpoints that opted in (`tracer.webhooks.subscribers`)."""
        now = time.time()
        jobs: dict[str, list[bytes]] = defaultdict(list)
        by_id = self.brands.by_id
        for event in events:
            brand = by_id.get(event.brand)
            if brand is None or not brand.webhooks:
                continue
            for hook in subscribers(brand, event):
                endpoint, key = self._target(brand.id, hook)
                job = WebhookJob(event=event, brand=brand.id, endpoint=endpoint, enqueued=now)
                jobs[key].append(encode_job(job))
        return jobs

    def _target(self, brand_id: str, hook: Webhook) -> tuple[str, str]:
        return self._targets[brand_id, hook.url]
