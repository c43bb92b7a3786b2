"""Helpers of the batcher tests: filling the queue as the edge does, waiting, and reading
what a `tracer batcher` process stored."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import redis

from batcher.config import BatcherConfig
from tests.store.events import make_event
from tracer import events as event_codec
from tracer import redis_keys
from tracer.brands import Brands
from tracer.events import Event
from tracer.store.sqlite import SQLiteStore

SHARDS = 8
ROOT = Path(__file__).resolve().parents[2]
# Short leases and back-offs so fault tests end in a second or two.
FAST = BatcherConfig(
    lease_ttl_s=0.6,
    heartbeat_ttl_s=0.6,
    idle_poll_s=0.001,
    backoff_initial_s=0.01,
    backoff_max_s=0.1,
    shutdown_grace_period_s=0.3,
    periodic_jobs=False,
)


def push(client: redis.Redis, payloads: Sequence[bytes | Event], shards: int = SHARDS) -> None:
    """RPUSH round-robin over the shards, as the edge's batched flush does."""
    pipe = client.pipeline(transaction=False)
    for index, item in enumerate(payloads):
        raw = item if isinstance(item, bytes) else event_codec.encode(item)
        pipe.rpush(redis_keys.event_shard(index % shards), raw)
    pipe.execute()


def events(count: int, event_type: str = "open", **fields: object) -> list[Event]:
    """`count` events of distinct messages."""
    return [make_event(event_type, message_id=f"m-{i}", **fields) for i in range(count)]


def queued(client: redis.Redis, shards: int = SHARDS) -> int:
    """Events still in Redis: in the shards and in every processing list."""
    total = sum(client.llen(redis_keys.event_shard(n)) for n in range(shards))
    for n in range(shards):
        for key in client.scan_iter(match=redis_keys.event_processing_pattern(n)):
            total += client.llen(key)
    return total


async def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll a condition the test cannot be told about (e.g. another process's progress)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s")
        await asyncio.sleep(0.005)


def stored_count(data_dir: Path) -> int:
    """Events in the SQLite store of a `tracer batcher` process using `data_dir`."""
    path = data_dir / "tracer.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # schema not created yet
    finally:
        db.close()


async def heir_stores_everything_once(
    command: list[str], env: dict[str, str], data_dir: Path, sent: Sequence[Event],
    brands: Brands,
) -> None:  # fmt: skip
    """Run `command --burst` as a second batcher after the first was killed: it adopts what
    the first left, and in the end the store holds every event sent exactly once."""
    finished = await asyncio.to_thread(
        subprocess.run, [*command, "--burst", "--consumer", "heir"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "Adopted" in finished.stderr
    store = SQLiteStore(data_dir / "tracer.sqlite3", brands)
    await store.open()
    try:
        assert sorted(await store.event_ids()) == sorted(e.id for e in sent)
        assert sum(row.all for row in await store.rollups("northjobs")) == len(sent)
    finally:
        await store.close()
