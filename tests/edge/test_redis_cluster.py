"""The edge on a local three-node Redis Cluster: every shard's keys share a hash tag, so the
exactly-once batch script runs in one slot and the shards spread over the nodes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from tests.edge.conftest import SHARDS, EdgeProcess
from tracer import events, redis_keys
from tracer.links import LinkBuilder
from tracer.redis_server import RedisServer, free_port


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port <= 55535 and _is_free(port + 10000):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ClusterNode(RedisServer):
    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(self.directory / "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
        ]


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[list[ClusterNode]]:
    nodes = [
        ClusterNode(tmp_path / f"node-{n}", port=cluster_port(), persistent=False).start()
        for n in range(3)
    ]
    try:
        subprocess.run(
            [
                shutil.which("redis-cli") or "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait_for_cluster(nodes[0].port)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _wait_for_cluster(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True
        ).stdout
        if "cluster_state:ok" in info:
            return
        time.sleep(0.1)
    raise RuntimeError("the cluster did not come up")


def test_events_reach_a_redis_cluster_exactly_once_across_its_nodes(
    redis_cluster: list[ClusterNode],
    start_edge,
    edge_env: dict[str, str],
    builder: LinkBuilder,
) -> None:
    seed = f"redis://127.0.0.1:{redis_cluster[0].port}/0"
    edge: EdgeProcess = start_edge({**edge_env, "REDIS_URL": seed, "TRACER_REDIS_CLUSTER": "1"})
    answered = []
    for n in range(200):
        url = builder.click("northjobs", f"m-{n}", f"https://northjobs.example/jobs/{n}")
        if edge.get(url).status == 302:
            answered.append(f"m-{n}")
    edge.stop()  # flushes every buffer

    client = RedisCluster.from_url(seed)
    try:
        stored = [
            events.decode(raw)
            for shard in range(SHARDS)
            for raw in client.lrange(redis_keys.event_shard(shard), 0, -1)
        ]
        nodes_used = {
            client.get_node_from_key(redis_keys.event_shard(shard)).port
            for shard in range(SHARDS)
            if client.llen(redis_keys.event_shard(shard))
        }
    finally:
        client.disconnect_connection_pools()
        client.close()
    assert sorted(event.message_id for event in stored) == sorted(answered)
    assert len({event.id for event in stored}) == len(answered) == 200
    assert len(nodes_used) >= 2  # the shards really are spread over the cluster
