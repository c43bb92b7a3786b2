"""The batcher on queues the edge fills with hit batches, on a real redis-server: raw
hits enriched and stored next to events queued by older edges, bad ones dropped and
counted, a take bounded by events rather than entries."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import redis

from batcher import lua
from batcher.dead import decode_dead
from batcher.worker import Batcher, BatchReport
from tests.batcher.helpers import FAST, events, push
from tracer import hits, redis_keys
from tracer.brands import Brands
from tracer.keyring import KeyRing
from tracer.links import LinkBuilder
from tracer.store.sqlite import SQLiteStore

MakeBatcher = Callable[..., Batcher]


def open_hits(builder: LinkBuilder, count: int, prefix: str) -> list[hits.RawHit]:
    found = []
    for n in range(count):
        token = builder.open("northjobs", f"{prefix}-{n}").rsplit("/", 1)[1].removesuffix(".gif")
        found.append(
            hits.RawHit(
                route=hits.OPEN,
                brand="northjobs",
                token=token,
                plain=b"",
                ua=b"Mozilla/5.0",
                xff=b"",
                peer=["192.0.2.1", 9],
                method="GET",
                ts=1_700_000_000.0 + n,
                id=f"{prefix}-{n:04d}",
            )
        )
    return found


async def test_hit_batches_and_old_events_are_stored_together(
    make_batcher: MakeBatcher,
    redis_client: redis.Redis,
    tmp_path,
    example_brands: Brands,
    keyring: KeyRing,
) -> None:
    builder = LinkBuilder(example_brands, keyring)
    good = open_hits(builder, 12, "h")
    tampered = msgspec.structs.replace(good[0], token=good[0].token[:-6] + "AAAAAA", id="bad")
    old = events(5)  # queued as `Event`s by an edge from before raw hits
    broken = hits.HIT_BATCH_V1_PREFIX + b"\x91\xc1"
    push(
        redis_client,
        [hits.encode_batch(good[:7]), *old, hits.encode_batch([*good[7:], tampered]), broken],
        shards=1,
    )
    reports: list[BatchReport] = []
    store = SQLiteStore(tmp_path / "s.sqlite3", example_brands)
    await store.open()
    try:
        stats = await make_batcher(store, FAST, keyring=keyring, on_batch=reports.append).run(
            burst=True
        )
        stored_ids = sorted(await store.event_ids())
    finally:
        await store.close()

    assert stored_ids == sorted([h.id for h in good] + [e.id for e in old])
    assert stats.dropped == {"tampered": 1}
    assert sum(report.dropped.get("tampered", 0) for report in reports) == 1
    (dead,) = [decode_dead(raw) for raw in redis_client.lrange(redis_keys.event_dead(0), 0, -1)]
    # A hit batch holds full client addresses: its bytes never go to a dead list.
    assert dead.raw == b"" and dead.reason.startswith("undecodable hit batch of 4 bytes")


def test_a_take_moves_entries_up_to_a_budget_of_events(redis_client: redis.Redis) -> None:
    record = hits.encode_hit_fields((hits.OPEN, "b", "t", b"", b"", b"", None, "GET", 1.0, "e",
                                     None, -1))  # fmt: skip
    entries = [hits.frame([record] * 6) for _ in range(4)] + [b"an old event", b"another"]
    shard, processing, owner = "q{0}", "p{0}", "o{0}"
    take = redis_client.register_script(lua.TAKE)

    def moved(budget: int) -> list[bytes]:
        redis_client.delete(processing)
        return take(keys=[shard, processing, owner], args=["me", budget])[1]

    redis_client.rpush(shard, *entries)
    redis_client.set(owner, "me")

    assert moved(10) == entries[:2]  # 6, then 12 >= 10: two entries
    assert moved(1) == entries[2:3]  # at least one entry, whatever its size
    assert moved(7) == entries[3:5]  # 6 hits, then an event: 7
    assert moved(100) == entries[5:]
    assert moved(100) == []
