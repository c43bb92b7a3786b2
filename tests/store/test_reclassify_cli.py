"""`tracer reclassify` as an operator runs it, on each backend: killed part-way and run
again, it ends where one uninterrupted run would; it queues no webhook job; a third run
finds nothing to change."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests.store.backends import FAST_FAILURE, drop_database, with_database
from tests.store.events import make_event
from tests.support import EXAMPLE_BRANDS, environment_without_settings
from tracer.brands import Brands
from tracer.classify.replay import Replay
from tracer.events import Event
from tracer.store import EventStore
from tracer.store.mongo import MongoStore
from tracer.store.sqlite import SQLiteStore

TRACER = str(Path(sys.executable).with_name("tracer"))
T0 = 1_790_000_000.0
SCRIPTS = ["echocrawl 2.0", "Go http package", "Bun/1.2.10", "Datadog/Synthetics"]
MESSAGES = 300


def stale_history() -> list[Event]:
    """Clicks of crawlers stored as people's, and people's clicks after them."""
    events = []
    for n in range(MESSAGES):
        ts = T0 + n * 37.0
        for link, ua in enumerate([SCRIPTS[n % 4], "curl/8.5.0"]):
            events.append(make_event("click", message_id=f"m-{n}", ts=ts + link, ua=ua,
                                     agent="human", reasons=["no_signal"], link=link,
                                     job_source="indeed", ip="93.184.216.0"))  # fmt: skip
    return sorted(events, key=lambda e: e.id)


class Backend:
    """Where the command's store lives: a SQLite file under TRACER_DATA_DIR, or a
    MongoDB database named in MONGODB_URL."""

    def __init__(self, kind: str, tmp_path: Path, mongo_base: str) -> None:
        self.kind = kind
        self.data_dir = tmp_path / "var"
        self.database = f"tracer_cli_{uuid.uuid4().hex[:12]}"
        self.mongo_base = mongo_base
        self.url = with_database(mongo_base, self.database, **FAST_FAILURE) if mongo_base else ""

    def store(self, brands: Brands, name: str = "tracer") -> EventStore:
        if self.kind == "sqlite":
            return SQLiteStore(self.data_dir / f"{name}.sqlite3", brands)
        database = self.database if name == "tracer" else f"{self.database}_{name}"
        return MongoStore(with_database(self.mongo_base, database, **FAST_FAILURE), brands)

    def env(self, redis_url: str) -> dict[str, str]:
        env = environment_without_settings()
        env.update(TRACER_CONFIG=str(EXAMPLE_BRANDS), TRACER_DATA_DIR=str(self.data_dir),
                   REDIS_URL=redis_url)  # fmt: skip
        if self.url:
            env["MONGODB_URL"] = self.url
        return env

    def cleanup(self) -> None:
        if self.kind == "mongo":
            drop_database(self.mongo_base, self.database)
            drop_database(self.mongo_base, f"{self.database}_oracle")


@pytest.fixture
def backend(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest):
    base = request.getfixturevalue("mongo_base_url") if store_kind == "mongo" else ""
    found = Backend(store_kind, tmp_path, base)
    yield found
    found.cleanup()


def write(store: EventStore, events: list[Event]) -> None:
    async def go() -> None:
        await store.open()
        try:
            for start in range(0, len(events), 200):
                await store.write(events[start : start + 200])
        finally:
            await store.close()

    asyncio.run(go())


def snapshot(store: EventStore) -> tuple:
    """The brand's rollup rows and every event's verdict (a store opened and closed on a
    loop of its own: the test runs the command between looks)."""

    async def go() -> tuple:
        await store.open()
        try:
            rollups = sorted(
                (r.day, r.type, r.all, r.human, r.unique_all, r.unique_human, round(r.revenue, 6))
                for r in await store.rollups("northjobs")
            )
            found = await store.find_events("northjobs", limit=10_000)
        finally:
            await store.close()
        return rollups, sorted((e.id, e.agent, tuple(e.reasons), e.bot) for e in found)

    return asyncio.run(go())


def run(backend: Backend, redis_url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TRACER, "reclassify", "--brand", "northjobs", *extra],
        env=backend.env(redis_url), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_killed_part_way_then_resumed_it_ends_as_one_whole_run(
    backend: Backend, redis_url: str, example_brands: Brands
) -> None:
    """1. A stale history is stored. 2. The command is killed (SIGKILL) as soon as it
    reports progress. 3. It is run again to the end. Result: verdicts and rollups equal a
    store written with today's verdicts, no Redis key was created, and a third run
    changes nothing."""
    events = stale_history()
    store, oracle = backend.store(example_brands), backend.store(example_brands, "oracle")
    write(store, events)
    outcome = Replay.for_brand(example_brands.get("northjobs"))(events)
    changed = {new.id: new for _, new in outcome.changed}
    write(oracle, [changed.get(e.id, e) for e in events])
    assert len(changed) == len(events)  # every stored verdict is stale
    client = redis.Redis.from_url(redis_url)

    process = subprocess.Popen(
        [TRACER, "reclassify", "--brand", "northjobs", "--batch-size", "7"],
        env=backend.env(redis_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first_progress = process.stderr.readline()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()
    assert "events (" in first_progress
    assert snapshot(store) != snapshot(oracle)  # killed before the end

    resumed = run(backend, redis_url, "--batch-size", "50")
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(store) == snapshot(oracle)
    assert "click" in resumed.stdout and "bot" in resumed.stdout

    again = run(backend, redis_url)
    assert again.returncode == 0, again.stderr
    assert f"{len(events):,} events read; 0 rewritten" in again.stdout
    assert snapshot(store) == snapshot(oracle)
    assert client.dbsize() == 0  # no webhook job, no key of any kind
    client.close()


def test_dry_run_prints_the_table_and_writes_nothing(
    backend: Backend, redis_url: str, example_brands: Brands
) -> None:
    store = backend.store(example_brands)
    write(store, stale_history()[:40])
    before = snapshot(store)
    done = run(backend, redis_url, "--dry-run", "--since", "2026-01-01")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["type", "agent", "before", "after", "change"]
    assert lines[1].split() == ["click", "bot", "0", "40", "+40"]
    assert lines[2].split() == ["click", "human", "40", "0", "-40"]
    assert "40 would be rewritten (dry run: nothing written)" in done.stdout
    assert snapshot(store) == before


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    env = environment_without_settings()
    env.update(TRACER_CONFIG=str(EXAMPLE_BRANDS), TRACER_DATA_DIR=str(tmp_path))
    for extra, message in (
        (["--brand", "nope"], "--brand: 'nope' is not a brand"),
        (["--brand", "northjobs", "--since", "last tuesday"], "--since: 'last tuesday'"),
        (["--brand", "northjobs", "--batch-size", "0"], "--batch-size: 0 must be"),
    ):
        done = subprocess.run([TRACER, "reclassify", *extra], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 1
        assert message in done.stderr
