"""The journal on its own and its replay by another recorder, against a real redis-server:
what a killed worker answered reaches Redis exactly once, the flush it was in the middle
of included."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge import recorder as recorder_module
from edge.journal import HEADER_BYTES, Journal, OrphanJournal, orphaned_journals
from edge.recorder import EventRecorder
from tests.dispatcher.helpers import until
from tracer import hits, redis_keys

SHARDS = 4


def fields(event_id: str, shard: int = hits.ANY_SHARD) -> tuple:
    return (hits.OPEN, "northjobs", "token", b"", b"ua", b"", ("192.0.2.1", 4000), "GET", 1.0,
            event_id, None, shard)  # fmt: skip


def queued_ids(redis_client) -> list[str]:
    return [
        hit.id
        for shard in range(SHARDS)
        for raw in redis_client.lrange(redis_keys.event_shard(shard), 0, -1)
        for hit in hits.decode_queued(raw)
    ]


def test_records_wrap_around_the_ring_and_a_full_ring_refuses(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, "p", HEADER_BYTES + 1024)
    record = b"r" * 100  # 108 bytes a record with its word
    written = 0
    while journal.append(record):
        written += 1
    assert written == 9 and journal.overflows == 1  # 9 * 108 + room for a wrap word
    journal.acknowledge((journal.position, journal.sequence), 5)
    assert journal.append(record)  # after the wrap, at the start of the ring
    assert journal.position == HEADER_BYTES + 108
    journal.close()

    (orphan,) = orphaned_journals(tmp_path, None)
    state = orphan.read()
    assert state is not None
    assert [seq for seq, _ in state.records] == [11]  # 10 was the wrap word
    assert state.next_batch == 5 and state.flush is None
    orphan.discard()
    assert not list(tmp_path.glob("*.journal"))


def test_a_live_journal_is_not_an_orphan(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, "live", 1 << 20)
    assert orphaned_journals(tmp_path, None) == []
    assert OrphanJournal.adopt(journal.path) is None
    journal.remove()


async def test_a_killed_recorders_journal_is_replayed_exactly_once(
    redis_url: str, redis_client, tmp_path: Path
) -> None:
    """1. A recorder flushes 6 hits (acknowledged), records 6 more that wait for the next
    flush, starts that flush and pushes only its first batch; then it dies.
    2. Another recorder starts on the same directory.
    Result: the 12 hits are in Redis once each: the first batch of the flush under way is
    turned away (same producer and sequence), the rest is pushed."""
    dead = EventRecorder(
        redis_url, tmp_path, shards=SHARDS, flush_max_events=10_000, flush_interval_s=30.0,
        redis_timeout_s=2.0, producer="dead",
    )  # fmt: skip
    await dead.start()
    for n in range(6):
        dead.record(fields(f"a{n}", n % SHARDS))
    await dead._flush()
    for n in range(6):
        dead.record(fields(f"b{n}", hits.ANY_SHARD if n % 2 else n % SHARDS))
    # The flush under way, cut short after its first batch (as `_flush` does it).
    buffers, dead._buffers = dead._buffers, [[] for _ in range(SHARDS + 1)]
    any_shard = dead._next_shard
    assert dead._journal is not None
    dead._journal.begin_flush(dead._sequence + 1, any_shard)
    shard, records = recorder_module._groups(buffers, any_shard)[0]
    first = recorder_module.SpooledBatch("dead", dead._sequence + 1, shard, [hits.frame(records)])
    assert await dead._push_batch(first)
    # Killed: the flusher stops, the journal stays (its lock goes with the process).
    assert dead._task is not None
    dead._task.cancel()
    await asyncio.gather(dead._task, return_exceptions=True)
    dead._journal.close()
    await dead.client.aclose()
    assert sorted(queued_ids(redis_client)) == sorted(
        [f"a{n}" for n in range(6)] + [hits.decode_hit(r).id for r in records]
    )

    heir = EventRecorder(
        redis_url, tmp_path, shards=SHARDS, flush_max_events=100, flush_interval_s=0.01,
        redis_timeout_s=2.0, producer="heir",
    )  # fmt: skip
    await heir.start()
    try:
        await until(lambda: heir.stats.journals_adopted == 1, 5.0, "the journal replayed")
    finally:
        await heir.close()

    ids = queued_ids(redis_client)
    assert sorted(ids) == sorted([f"a{n}" for n in range(6)] + [f"b{n}" for n in range(6)])
    assert heir.stats.events_recovered == 6  # the whole flush under way, and nothing more
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.journal")))
