"""The webhook jobs a batch hands to the dispatcher: each decodes to the job the
dispatcher expects, for exactly the endpoints that subscribe, on the endpoint's shard."""

from __future__ import annotations

import msgspec

from batcher.handoff import Handoff, webhook_shard_of
from tests.store.events import make_event
from tracer import events as event_codec
from tracer import redis_keys
from tracer.brands import Brands
from tracer.webhooks import WebhookJob, decode_job, endpoint_id, subscribers

SHARDS = 8


def expected_jobs(brands: Brands, events) -> dict[str, list[tuple[str, str]]]:
    """(event id, endpoint) per shard key, worked out from the brands file directly."""
    out: dict[str, list[tuple[str, str]]] = {}
    for event in events:
        brand = brands.by_id.get(event.brand)
        if brand is None:
            continue
        for hook in subscribers(brand, event):
            endpoint = endpoint_id(brand.id, hook.url)
            key = redis_keys.webhook_shard(webhook_shard_of(endpoint, SHARDS))
            out.setdefault(key, []).append((event.id, endpoint))
    return out


def test_jobs_decode_to_the_event_for_each_subscribed_endpoint(example_brands: Brands) -> None:
    brand = next(b for b in example_brands if any(h.include_bots for h in b.webhooks))
    events = [
        make_event("click", brand=brand.id, campaign="spring", attrs={"a": "1"}),
        make_event("open", brand=brand.id, bot=True, agent="scanner", reasons=["ua:bot"]),
        make_event("conversion", brand=brand.id, value=12.5, click_id="clk"),
        make_event("click", brand="no-such-brand"),
        make_event("unsubscribe_view", brand=brand.id),
    ]
    payloads = [event_codec.encode(event) for event in events]

    jobs = Handoff(example_brands, SHARDS).jobs(events, payloads)

    by_id = {event.id: event for event in events}
    got: dict[str, list[tuple[str, str]]] = {}
    for shard, shard_jobs in jobs.items():
        assert shard_jobs.key == redis_keys.webhook_shard(shard)
        assert shard_jobs.pending_key == redis_keys.webhook_pending(shard)
        per_endpoint: dict[str, int] = {}
        for raw in shard_jobs.payloads:
            job = decode_job(raw)
            assert job == WebhookJob(
                event=by_id[job.event.id], brand=brand.id, endpoint=job.endpoint,
                enqueued=job.enqueued,
            )  # fmt: skip
            assert job.enqueued > 0
            got.setdefault(shard_jobs.key, []).append((job.event.id, job.endpoint))
            per_endpoint[job.endpoint] = per_endpoint.get(job.endpoint, 0) + 1
        # What the dispatcher's queue depth per endpoint counts up by.
        assert dict(shard_jobs.counts) == per_endpoint
    assert got == expected_jobs(example_brands, events)
    # The bot open reached the endpoint that takes machine traffic, and only that one.
    bot_open = events[1].id
    bot_targets = [endpoint for pairs in got.values() for (i, endpoint) in pairs if i == bot_open]
    assert bot_targets == [
        endpoint_id(brand.id, hook.url) for hook in brand.webhooks if hook.include_bots
    ]


def test_an_event_from_a_newer_edge_reaches_the_dispatcher_whole(example_brands: Brands) -> None:
    brand = next(b for b in example_brands if b.webhooks)
    known = make_event("click", brand=brand.id)
    # A newer edge appends a field to the array (the schema only ever grows at its end).
    payload = msgspec.msgpack.encode([*msgspec.msgpack.decode(event_codec.encode(known)),
                                      "from the future"])  # fmt: skip
    event = event_codec.decode(payload)
    assert event == known

    jobs = Handoff(example_brands, SHARDS).jobs([event], [payload])

    raws = [raw for shard_jobs in jobs.values() for raw in shard_jobs.payloads]
    assert raws
    for raw in raws:
        # This dispatcher reads the event it knows; a newer one would find the new field.
        assert decode_job(raw).event == event
        newer = msgspec.msgpack.decode(raw)
        assert newer[0][-1] == "from the future"
