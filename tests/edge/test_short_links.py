"""SMS short links at the edge: `/s/{slug}` resolved through Redis (then cached)."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio as aioredis

from tests.edge.helpers import EdgeProcess, wait_for_events
from tracer.keyring import KeyRing
from tracer.links import LinkBuilder
from tracer.slugs import ShortLinks, SlugAllocator


def create_short_links(
    redis_url: str, builder: LinkBuilder, keyring: KeyRing, payloads: list
) -> list[str]:
    async def create() -> list[str]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            allocator = SlugAllocator(client, keyring.slug_secret())
            return await ShortLinks(client, allocator, builder.codec).create(payloads)
        finally:
            await client.aclose()

    return asyncio.run(create())


def test_a_short_link_redirects_and_records_an_sms_click(
    edge: EdgeProcess,
    builder: LinkBuilder,
    keyring: KeyRing,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    payload = builder.click_payload(
        "shiftpro",
        "sms-1",
        "https://shiftpro.example/shifts/77",
        recipient="+1 555 0100",
        campaign="weekend",
        job_source="direct",
        channel="sms",
    )
    (slug,) = create_short_links(redis_url, builder, keyring, [payload])

    first = edge.get(f"/s/{slug}", host="t.shiftpro.example")
    second = edge.get(f"/s/{slug}", host="t.shiftpro.example")  # from the worker's cache

    for reply in (first, second):
        assert reply.status == 302
        assert reply.location.startswith("https://shiftpro.example/shifts/77?")
        assert "utm_medium=sms" in reply.location
    found = wait_for_events(redis_client, 2)
    assert [(e.type, e.channel, e.message_id) for e in found] == [("click", "sms", "sms-1")] * 2


def test_unknown_foreign_and_malformed_slugs_get_the_landing_page(
    edge: EdgeProcess,
    builder: LinkBuilder,
    keyring: KeyRing,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    payload = builder.click_payload(
        "shiftpro", "sms-2", "https://shiftpro.example/x", channel="sms"
    )
    (slug,) = create_short_links(redis_url, builder, keyring, [payload])

    for path, host in [
        ("/s/zzzzzzz", "t.shiftpro.example"),  # well-formed, never issued
        (f"/s/{slug}", "t.metrohire.example"),  # another brand's host
        ("/s/../../etc", "t.shiftpro.example"),
        ("/s/" + "a" * 30, "t.shiftpro.example"),
    ]:
        reply = edge.get(path, host=host)
        assert reply.status == 302, path
        assert reply.location in ("https://shiftpro.example/", "https://metrohire.example/")
    assert wait_for_events(redis_client, 1, timeout_s=0.5) == []
