"""Hand-off to the dispatcher: one `WebhookJob` per stored event and subscribed endpoint.

Jobs are spread over the webhook shards by endpoint, so all of an endpoint's jobs are in
one shard (the dispatcher can batch and rate-limit per endpoint). The dispatcher consumes
`webhook_shard(n)` for n in range(settings.queue_shards).

A job is a msgpack array (`WebhookJob` is `array_like`) whose first element is the event:
its bytes are built as the array's header, the event's payload exactly as it came from
the queue, and the rest of the job encoded once per endpoint and batch. Decoding the
event and encoding it again for every job would cost more than the whole hand-off.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

import msgspec

from tracer import redis_keys
from tracer.brands import Brand, Brands
from tracer.events import EVENT_TYPES, Event
from tracer.webhooks import WebhookJob, endpoint_id, subscribers

# (endpoint id, webhook shard number) of each endpoint an event goes to.
Targets = tuple[tuple[str, int], ...]

# msgpack fixarray header of a job: as many elements as `WebhookJob` has fields.
_JOB_FIELDS = len(WebhookJob.__struct_fields__)
assert _JOB_FIELDS < 16 and WebhookJob.__struct_fields__[0] == "event"
_JOB_HEADER = bytes([0x90 | _JOB_FIELDS])
_encode = msgspec.msgpack.Encoder().encode


def webhook_shard_of(endpoint: str, shards: int) -> int:
    return int(endpoint[:8], 16) % shards


class ShardJobs:
    """A batch's jobs for one webhook shard, and how many of them each endpoint has (the
    dispatcher's per-endpoint queue depth counts them in `webhook_pending`)."""

    __slots__ = ("counts", "key", "payloads", "pending_key")

    def __init__(self, shard: int) -> None:
        self.key = redis_keys.webhook_shard(shard)
        self.pending_key = redis_keys.webhook_pending(shard)
        self.payloads: list[bytes] = []
        self.counts: dict[str, int] = defaultdict(int)


class Handoff:
    """Builds the encoded jobs of a batch. Each endpoint's id and shard key are worked out
    once (they are hashes of the brand and URL), and so is, per brand, event type and bot
    verdict, which endpoints subscribe."""

    def __init__(self, brands: Brands, shards: int) -> None:
        self.brands = brands
        self.shards = shards
        self._targets: dict[tuple[str, str, bool], Targets] = {}
        for brand in brands:
            if not brand.webhooks:
                continue
            for event_type in EVENT_TYPES:
                for bot in (False, True):
                    probe = Event(id="", type=event_type, ts=0.0, brand=brand.id, bot=bot)
                    self._targets[brand.id, event_type, bot] = self._subscribed(brand, probe)

    def _subscribed(self, brand: Brand, event: Event) -> Targets:
        targets = []
        for hook in subscribers(brand, event):
            endpoint = endpoint_id(brand.id, hook.url)
            targets.append((endpoint, webhook_shard_of(endpoint, self.shards)))
        return tuple(targets)

    def jobs(self, events: Sequence[Event], payloads: Sequence[bytes]) -> dict[int, ShardJobs]:
        """Encoded jobs per webhook shard; `payloads` are the events' msgpack bytes.
        Events of unknown brands get no webhook; bots only go to endpoints that opted in
        (`tracer.webhooks.subscribers`)."""
        now = time.time()
        jobs: dict[int, ShardJobs] = {}
        targets_of = self._targets
        # The encoded fields after the event, per endpoint: the same for the whole batch.
        tails: dict[str, bytes] = {}
        for event, payload in zip(events, payloads, strict=True):
            targets = targets_of.get((event.brand, event.type, event.bot))
            if targets is None:
                targets = self._targets_of_unusual(event)
            for endpoint, shard in targets:
                tail = tails.get(endpoint)
                if tail is None:
                    tail = tails[endpoint] = _job_tail(event.brand, endpoint, now)
                shard_jobs = jobs.get(shard)
                if shard_jobs is None:
                    shard_jobs = jobs[shard] = ShardJobs(shard)
                shard_jobs.payloads.append(_JOB_HEADER + payload + tail)
                shard_jobs.counts[endpoint] += 1
        return jobs

    def _targets_of_unusual(self, event: Event) -> Targets:
        # A brand without webhooks, an unknown brand, or a type the table does not list.
        brand = self.brands.by_id.get(event.brand)
        if brand is None or not brand.webhooks:
            return ()
        return self._subscribed(brand, event)


def _job_tail(brand: str, endpoint: str, enqueued: float) -> bytes:
    """The msgpack of a fresh job's fields after `event`, without the array header."""
    template = WebhookJob(
        event=Event(id="", type="", ts=0.0, brand=""), brand=brand, endpoint=endpoint,
        enqueued=enqueued,
    )  # fmt: skip
    rest = tuple(getattr(template, name) for name in WebhookJob.__struct_fields__[1:])
    # A tuple encodes as an array: drop its header (one byte: fewer than 16 elements).
    return _encode(rest)[1:]
