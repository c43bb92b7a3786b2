"""A local three-node Redis Cluster (no replicas) for the tests of every role.

A test asks for the `redis_cluster` fixture (the running nodes, stopped after the test)
and `cluster_client` (a sync client of that cluster), both in
`tests/fixtures/redis_cluster.py`; the helpers here start, stop and inspect clusters.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis.cluster import RedisCluster

from tracer.redis_server import RedisServer, free_port

NODES = 3


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


def seed_url(nodes: list[ClusterNode]) -> str:
    """What REDIS_URL is set to: one node; the client discovers the others."""
    return f"redis://127.0.0.1:{nodes[0].port}/0"


def start_cluster(directory: Path, nodes: int = NODES) -> list[ClusterNode]:
    """Start `nodes` masters under `directory` and join them into one cluster with the
    slots split evenly (what `redis-cli --cluster create` does)."""
    started: list[ClusterNode] = []
    try:
        for n in range(nodes):
            node = ClusterNode(directory / f"node-{n}", port=cluster_port(), persistent=False)
            started.append(node.start())
        subprocess.run(
            [
                shutil.which("redis-cli") or "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in started),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for_cluster(started)
    except BaseException:
        stop_cluster(started)
        raise
    return started


def stop_cluster(nodes: list[ClusterNode]) -> None:
    for node in nodes:
        node.stop()


def wait_for_cluster(nodes: list[ClusterNode], timeout_s: float = 30.0) -> None:
    """Until every node reports the cluster as ok (a client that asks a node still
    catching up with the others' slots would be told CLUSTERDOWN)."""
    deadline = time.monotonic() + timeout_s
    waiting = list(nodes)
    while waiting:
        info = subprocess.run(
            ["redis-cli", "-p", str(waiting[0].port), "cluster", "info"],
            capture_output=True,
            text=True,
        ).stdout
        if "cluster_state:ok" in info:
            waiting.pop(0)
            continue
        if time.monotonic() > deadline:
            raise RuntimeError("the cluster did not come up")
        time.sleep(0.05)


def node_ports(client: RedisCluster, keys: list[str]) -> set[int]:
    """The ports of the nodes that serve `keys`."""
    return {client.get_node_from_key(key).port for key in keys}


def node_of(nodes: list[ClusterNode], client: RedisCluster, key: str) -> ClusterNode:
    """The node that serves `key`."""
    port = client.get_node_from_key(key).port
    return next(node for node in nodes if node.port == port)
