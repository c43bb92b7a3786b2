"""Nothing lost: Redis killed while traffic flows, graceful shutdown, a spool left behind.

Each scenario counts the requests the edge answered and then the events in Redis: they
must be equal, with every event id distinct (exactly once, not at least once).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.edge.helpers import EdgeProcess, fetch, queued_events
from tracer.brands import Brands
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer

HOST = "t.northjobs.example"


class Traffic(threading.Thread):
    """Clicks distinct links one after another until stopped; counts what was answered."""

    def __init__(self, edge: EdgeProcess, paths: list[tuple[str, str]]) -> None:
        super().__init__(daemon=True)
        self.edge = edge
        self.paths = paths
        self.answered: list[str] = []
        self.failures: list[str] = []
        self.stop_requested = threading.Event()

    def run(self) -> None:
        for message_id, path in self.paths:
            if self.stop_requested.is_set():
                return
            try:
                reply = fetch(self.edge.port, path, HOST)
            except OSError as exc:
                self.failures.append(f"{message_id}: {exc}")
                continue
            if reply.status == 302 and "/jobs/" in reply.location:
                self.answered.append(message_id)
            else:
                self.failures.append(f"{message_id}: {reply.status} {reply.location}")


def click_paths(builder: LinkBuilder, count: int) -> list[tuple[str, str]]:
    """(message id, path) of `count` distinct click links."""
    return [
        (
            f"m-{n}",
            builder.click("northjobs", f"m-{n}", f"https://northjobs.example/jobs/{n}").split(HOST)[
                1
            ],
        )
        for n in range(count)
    ]


def metric(edge: EdgeProcess, name: str) -> float:
    for line in edge.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def assert_exactly_once(client: redis.Redis, answered: list[str]) -> None:
    stored = queued_events(client)
    ids = [event.id for event in stored]
    missing = sorted(set(answered) - {event.message_id for event in stored}, key=_number)
    assert len(stored) == len(answered), (len(stored), len(answered), missing[:3], missing[-3:])
    assert len(set(ids)) == len(ids)
    assert sorted(event.message_id for event in stored) == sorted(answered)


def _number(message_id: str) -> int:
    return int(message_id.rsplit("-", 1)[1])


def test_redis_killed_while_traffic_flows(
    tmp_path: Path, start_edge, edge_env: dict[str, str], builder: LinkBuilder
) -> None:
    # 1. A private Redis with an append-only file synced on every write: Redis itself then
    #    loses nothing it acknowledged when killed (with `everysec` it may, under disk load).
    server = RedisServer(tmp_path / "redis", persistent=True, appendfsync="always").start()
    try:
        edge = start_edge({**edge_env, "REDIS_URL": server.url})
        traffic = Traffic(edge, click_paths(builder, 1500))
        # 2. Traffic flows.
        traffic.start()
        assert wait_until(lambda: len(traffic.answered) >= 300)
        # 3. Redis dies (SIGKILL) and stays down for a while; answers keep coming.
        server.kill()
        answered_at_kill = len(traffic.answered)
        assert wait_until(lambda: len(traffic.answered) >= answered_at_kill + 300)
        assert metric(edge, "tracer_edge_events_spooled_total") > 0
        assert metric(edge, "tracer_edge_redis_up") == 0
        # 4. Redis comes back on the same port with its data; the spool is replayed.
        server.start()
        traffic.join(60)
        assert not traffic.is_alive()
        assert traffic.failures == []
        assert wait_until(
            lambda: (
                metric(edge, "tracer_edge_spool_bytes") == 0
                and metric(edge, "tracer_edge_redis_up") == 1
            )
        )
        edge.stop()
        # Result: every answered click is in Redis exactly once.
        client = redis.Redis.from_url(server.url)
        try:
            assert_exactly_once(client, traffic.answered)
        finally:
            client.close()
    finally:
        server.stop()


def test_graceful_shutdown_flushes_every_buffer(
    start_edge, edge_env: dict[str, str], builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    # 1. Slow flushes (1 s) so that events are certainly still buffered at shutdown.
    edge = start_edge(
        {**edge_env, "TRACER_FLUSH_INTERVAL_S": "1.0", "TRACER_FLUSH_MAX_EVENTS": "100000"},
        workers=2,
    )
    paths = click_paths(builder, 200)
    threads = [Traffic(edge, paths[i::4]) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    answered = [m for thread in threads for m in thread.answered]
    assert len(answered) == 200
    # 2. SIGTERM right away.
    log = edge.log_path
    assert edge.stop(signal.SIGTERM) == 0, log.read_text()[-3000:]
    # Result: nothing was lost in the buffers.
    assert_exactly_once(redis_client, answered)


def test_a_spool_left_by_a_stopped_edge_is_replayed_by_the_next_one(
    tmp_path: Path, start_edge, edge_env: dict[str, str], builder: LinkBuilder
) -> None:
    server = RedisServer(tmp_path / "redis", persistent=True, appendfsync="always").start()
    try:
        env = {**edge_env, "REDIS_URL": server.url}
        edge = start_edge(env)
        # 1. Redis is down; clicks are answered and spooled.
        server.kill()
        traffic = Traffic(edge, click_paths(builder, 100))
        traffic.run()
        assert len(traffic.answered) == 100
        # 2. The edge stops while Redis is still down: the spool stays on disk.
        edge.stop()
        spools = list((Path(env["TRACER_DATA_DIR"]) / "spool").glob("*.spool"))
        assert len(spools) == 1 and spools[0].stat().st_size > 0
        # 3. Redis is back; a new edge process adopts and replays the spool.
        server.start()
        start_edge(env)
        client = redis.Redis.from_url(server.url)
        try:
            assert wait_until(lambda: len(queued_events(client)) >= 100)
            assert_exactly_once(client, traffic.answered)
            assert wait_until(lambda: not list(spools[0].parent.glob("*.spool")))
        finally:
            client.close()
    finally:
        server.stop()


def test_metrics_count_every_worker(
    start_edge, edge_env: dict[str, str], builder: LinkBuilder, example_brands: Brands
) -> None:
    edge = start_edge(edge_env, workers=2)
    for n in range(40):  # one connection per request, spread over both workers
        edge.get(builder.click("northjobs", f"m-{n}", "https://northjobs.example/jobs/1"))
    # Each worker publishes its counters within a second.
    assert wait_until(
        lambda: metric(edge, "tracer_edge_workers") == 2 and _clicks(edge) == 40,
        timeout_s=5,
    ), edge.metrics()


def _clicks(edge: EdgeProcess) -> float:
    total = 0.0
    for line in edge.metrics().splitlines():
        if line.startswith('tracer_edge_requests_total{route="click"'):
            total += float(line.rsplit(" ", 1)[1])
    return total


def worker_pids(edge: EdgeProcess) -> list[int]:
    """The granian worker processes of `edge` (children of its main process)."""
    assert edge.process is not None
    pid = edge.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_a_worker_killed_with_sigkill_loses_no_answered_click(
    start_edge, edge_env: dict[str, str], builder: LinkBuilder, redis_client: redis.Redis
) -> None:
    """1. Two workers flush only once a second, so answered clicks certainly wait in a
    worker's buffer. 2. Traffic flows; one worker is killed with SIGKILL.
    Result: every click answered (by either worker) is in Redis exactly once: the dead
    worker's journal was replayed by its replacement or its sibling."""
    edge = start_edge(
        {**edge_env, "TRACER_FLUSH_INTERVAL_S": "1.0", "TRACER_FLUSH_MAX_EVENTS": "100000"},
        workers=2,
    )
    paths = click_paths(builder, 1200)
    threads = [Traffic(edge, paths[i::4]) for i in range(4)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: sum(len(t.answered) for t in threads) >= 300)
    victim = worker_pids(edge)[0]
    os.kill(victim, signal.SIGKILL)
    for thread in threads:
        thread.join(60)
    answered = [m for thread in threads for m in thread.answered]
    assert len(answered) >= 600
    assert wait_until(lambda: metric(edge, "tracer_edge_events_recovered_total") > 0), (
        edge.log_text()[-3000:]
    )
    assert edge.stop(signal.SIGTERM) == 0, edge.log_text()[-3000:]
    # Every answered click once; a click whose answer the kill cut off (the client saw the
    # connection drop) may be stored too: it was recorded before its answer went out.
    stored = [event.message_id for event in queued_events(redis_client)]
    cut_off = {failure.split(":", 1)[0] for thread in threads for failure in thread.failures}
    assert len(stored) == len(set(stored))
    assert set(answered) <= set(stored)
    assert set(stored) - set(answered) <= cut_off
    assert "replayed the journal" in edge.log_text()
