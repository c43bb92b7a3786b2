"""The batcher's `/metrics`: parsed with prometheus_client's parser, counts checked against
the events pushed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from batcher.metrics import BatcherMetrics, read_queue
from batcher.worker import BatcherStats
from tests.batcher.helpers import SHARDS, events, push, queued
from tests.store.events import make_event
from tests.support import ROOT
from tracer.redis_server import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(reply.read().decode())


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def bucket(samples: Samples, name: str, le: float) -> float:
    """The cumulative count of the bucket with upper bound `le`, however it is spelled."""
    for (sample, labels), count in samples.items():
        if sample == f"{name}_bucket" and float(dict(labels)["le"]) == le:
            return count
    raise KeyError(f"{name}_bucket{{le={le}}}")


def per_shard(samples: Samples, name: str) -> list[float]:
    return [value(samples, name, shard=str(shard)) for shard in range(SHARDS)]


def wait_for(port: int, name: str, expected: float, timeout_s: float = 30.0) -> Samples:
    """Scrape until counter `name` reaches `expected` (the batcher is another process)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            samples = scrape(port)
        except OSError:
            samples = {}
        if samples.get((name, ())) == expected:
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not reach {expected}: {samples.get((name, ()))}")
        time.sleep(0.05)


@pytest.fixture
def batcher_process(tmp_path: Path, redis_url: str) -> Iterator[int]:
    """`tracer batcher` with its metrics on a free port (given by the environment)."""
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "TRACER_DATA_DIR": str(tmp_path / "var"),
        "TRACER_BATCHER_METRICS_PORT": str(port),
        "TRACER_LOG_FORMAT": "text",
    }
    log = (tmp_path / "batcher.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "batcher", "--no-periodic-jobs", "--lease-ttl", "1"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_metrics_count_what_the_batcher_stored_set_aside_and_saw_twice(
    batcher_process: int, redis_client: redis.Redis
) -> None:
    """1. 200 fresh events, 100 events 30 s old and 5 undecodable payloads are queued.
    2. 40 of the fresh events are queued again (as after a lost ack).
    Result: /metrics counts 300 stored, 40 duplicates, 5 dead; the lag histogram puts the
    old events above 25 s and the others below; the queue is empty, the dead lists hold 5."""
    port = batcher_process
    now = time.time()
    fresh = events(200)
    old = [make_event("click", message_id=f"old-{i}", ts=now - 30) for i in range(100)]
    push(redis_client, [*fresh, *old, *[b"not msgpack %d" % i for i in range(5)]])
    wait_for(port, "tracer_batcher_events_stored_total", 300)
    push(redis_client, fresh[:40])
    samples = wait_for(port, "tracer_batcher_events_duplicate_total", 40)

    assert value(samples, "tracer_batcher_events_stored_total") == 300
    assert value(samples, "tracer_batcher_events_dead_total") == 5
    assert value(samples, "tracer_batcher_batch_size_sum") == 345
    writes = value(samples, "tracer_batcher_batch_size_count")
    assert 2 <= writes <= value(samples, "tracer_batcher_batches_total")
    assert value(samples, "tracer_batcher_store_write_duration_seconds_count") >= 2
    assert value(samples, "tracer_batcher_store_write_duration_seconds_sum") > 0
    assert value(samples, "tracer_batcher_lag_seconds_count") == 340
    assert bucket(samples, "tracer_batcher_lag_seconds", 10) == 240
    assert bucket(samples, "tracer_batcher_lag_seconds", 60) == 340
    assert value(samples, "tracer_batcher_lag_seconds_sum") >= 100 * 30
    assert value(samples, "tracer_batcher_webhook_jobs_total") > 0
    assert value(samples, "tracer_batcher_shards_owned") == SHARDS
    assert value(samples, "tracer_batcher_redis_up") == 1
    assert per_shard(samples, "tracer_batcher_queue_depth") == [0] * SHARDS
    assert per_shard(samples, "tracer_batcher_queue_oldest_age_seconds") == [0] * SHARDS
    assert sum(per_shard(samples, "tracer_batcher_dead_list_size")) == 5
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_resident_memory_bytes") > 10_000_000
    assert queued(redis_client) == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
        assert reply.read() == b"ok\n"


async def test_queue_gauges_show_depth_and_the_age_of_the_oldest_waiting_event(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """With no batcher running, what waits is visible: depth per shard and how long the
    head event has waited (the gauge to alert on when batchers fall behind or stop)."""
    push(redis_client, [make_event(ts=time.time() - 120) for _ in range(10)])
    client = aioredis.Redis.from_url(redis_url)
    try:
        queue = await read_queue(client, SHARDS)
    finally:
        await client.aclose()

    assert queue is not None
    assert queue.depth == [2, 2, 1, 1, 1, 1, 1, 1]
    assert all(120 <= age < 180 for age in queue.oldest_age_s)
    samples = parse(BatcherMetrics().render(BatcherStats(), 0, queue))
    assert per_shard(samples, "tracer_batcher_queue_depth") == queue.depth


def test_a_scrape_without_redis_still_parses_and_says_so() -> None:
    samples = parse(BatcherMetrics().render(BatcherStats(), 0, None))

    assert value(samples, "tracer_batcher_redis_up") == 0
    assert value(samples, "tracer_batcher_batch_size_count") == 0
    assert value(samples, "tracer_batcher_events_stored_total") == 0
    assert not any(name == "tracer_batcher_queue_depth" for name, _ in samples)


def test_verdicts_and_dropped_hits_are_counted_and_the_dashboard_shows_the_verdicts() -> None:
    """The per-verdict counts left the edge with classification: the batcher counts the
    events it stored by type, brand and agent, and the raw hits it dropped by reason; the
    dashboard's "traffic by verdict" reads the former."""
    from admin.dashboard.prometheus import parse as parse_dashboard
    from admin.dashboard.sections import _agents
    from batcher.worker import BatchReport
    from tracer.store import WriteResult

    metrics = BatcherMetrics()
    stored = [
        make_event("open", agent="human"),
        make_event("open", agent="mpp", bot=True),
        make_event("click", agent="human"),
        make_event("click", brand="harborcareers", agent="scanner", bot=True),
    ]
    metrics.observe(BatchReport([0], stored, WriteResult(), time.time(), 0.01, dropped={}))
    stats = BatcherStats(dropped={"tampered": 2, "wrong_host": 1})

    text = metrics.render(stats, 1, None)

    samples = parse(text)
    assert value(samples, "tracer_batcher_events_total", type="open", brand="northjobs",
                 agent="mpp") == 1  # fmt: skip
    assert value(samples, "tracer_batcher_hits_dropped_total", reason="tampered") == 2
    assert _agents(parse_dashboard(text)) == {
        "northjobs": {"human": 2, "mpp": 1},
        "harborcareers": {"scanner": 1},
    }
