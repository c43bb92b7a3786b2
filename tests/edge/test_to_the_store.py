"""From the edge to the store over real processes: granian workers record raw hits, a
batcher enriches them (opens open tokens, classifies with every worker's clicks in view)
and stores them in SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis

from batcher.main import run_batcher
from batcher.worker import BatcherStats
from tests.batcher.helpers import FAST
from tests.edge.helpers import SHARDS, EdgeProcess, fetch, queued_hits
from tests.edge.test_faults import wait_until
from tests.support import EXAMPLE_BRANDS
from tracer.brands import Brands
from tracer.events import Event
from tracer.links import LinkBuilder
from tracer.settings import Settings
from tracer.store import create_store
from tracer.tokens import decode_payload

HOST = "t.northjobs.example"
BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/126.0"}


def drain(redis_url: str, keyring_file: Path, data_dir: Path, brands: Brands) -> BatcherStats:
    """`tracer batcher --burst` against the edge's Redis, with the edge's key ring."""
    settings = Settings(
        config_path=EXAMPLE_BRANDS,
        redis_url=redis_url,
        data_dir=data_dir,
        queue_shards=SHARDS,
        keys=str(keyring_file),
    )
    return asyncio.run(run_batcher(settings, brands, FAST, burst=True, handle_signals=False))


def stored(data_dir: Path, brands: Brands, message_id: str) -> list[Event]:
    async def find() -> list[Event]:
        settings = Settings(config_path=EXAMPLE_BRANDS, data_dir=data_dir)
        async with create_store(settings, brands) as store:
            return await store.find_events("northjobs", message_id=message_id, limit=1000)

    return asyncio.run(find())


def test_a_bad_open_token_is_answered_with_the_pixel_counted_and_never_stored(
    edge: EdgeProcess,
    builder: LinkBuilder,
    redis_url: str,
    redis_client: redis.Redis,
    keyring_file: Path,
    tmp_path: Path,
    example_brands: Brands,
) -> None:
    good = builder.open("northjobs", "m-px", recipient="a@b.example").split(HOST, 1)[1]
    token = good.removesuffix(".gif")[3:]
    tampered = "/o/" + token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    foreign = builder.open("harborcareers", "m-px", recipient="a@b.example")
    foreign_path = "/o/" + foreign.split("/o/", 1)[1]

    for path in (good, tampered, foreign_path):
        reply = fetch(edge.port, path, HOST, headers=BROWSER)
        assert (reply.status, reply.headers["content-type"]) == (200, "image/gif"), path
    assert wait_until(lambda: len(queued_hits(redis_client)) == 3)

    stats = drain(redis_url, keyring_file, tmp_path / "store", example_brands)

    assert stats.dropped == {"tampered": 1, "wrong_host": 1}
    assert stats.inserted == 1
    (event,) = stored(tmp_path / "store", example_brands, "m-px")
    assert (event.type, event.agent, event.ip) == ("open", "human", "127.0.0.0")


def test_a_burst_is_seen_across_two_edge_workers(
    start_edge,
    edge_env: dict[str, str],
    builder: LinkBuilder,
    redis_url: str,
    redis_client: redis.Redis,
    keyring_file: Path,
    tmp_path: Path,
    example_brands: Brands,
) -> None:
    """1. Two workers; six links of one message are clicked at once, one connection each
    (the kernel spreads the connections: a message is tried again in the rare case that
    one worker got them all).
    Result: the batcher, seeing the clicks of both, marks the message's burst."""
    edge = start_edge(edge_env, workers=2)
    for attempt in range(5):
        message_id = f"m-burst-{attempt}"
        for link in range(6):
            url = builder.click("northjobs", message_id, f"https://northjobs.example/j/{link}",
                                link=link)  # fmt: skip
            assert fetch(edge.port, url.split(HOST, 1)[1], HOST, headers=BROWSER).status == 302
        assert wait_until(lambda n=6 * attempt + 6: len(queued_hits(redis_client)) == n)
        mine = [
            hit
            for hit in queued_hits(redis_client)
            if decode_payload(hit.plain).message_id == message_id
        ]
        # The worker's node id is part of every event id it makes (tracer.events.EventIds).
        if len({hit.id[12:20] for hit in mine}) == 2:
            break
    else:
        raise AssertionError("the kernel never gave the second worker a connection")
    assert len({hit.shard for hit in mine}) == 1  # one message, one shard, one batcher

    drain(redis_url, keyring_file, tmp_path / "store", example_brands)

    events = stored(tmp_path / "store", example_brands, message_id)
    assert len(events) == 6
    bursts = [event for event in events if "burst" in event.reasons]
    assert len(bursts) == 4  # from the third distinct link on
    assert all(event.agent == "scanner" and event.bot for event in bursts)
