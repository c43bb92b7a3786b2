"""The edge on a local three-node Redis Cluster: every shard's keys share a hash tag, so the
exactly-once batch script runs in one slot and the shards spread over the nodes."""

from __future__ import annotations

from pathlib import Path

from redis.cluster import RedisCluster

from tests.edge.helpers import SHARDS, EdgeProcess, queued_events
from tests.edge.test_faults import Traffic, assert_exactly_once, click_paths, wait_until
from tests.redis_cluster import (
    ClusterNode,
    seed_url,
    wait_for_cluster,
)
from tracer import redis_keys
from tracer.links import LinkBuilder


def test_events_reach_a_redis_cluster_exactly_once_across_its_nodes(
    redis_cluster: list[ClusterNode],
    start_edge,
    edge_env: dict[str, str],
    builder: LinkBuilder,
) -> None:
    seed = seed_url(redis_cluster)
    edge: EdgeProcess = start_edge({**edge_env, "REDIS_URL": seed, "TRACER_REDIS_CLUSTER": "1"})
    answered = []
    for n in range(200):
        url = builder.click("northjobs", f"m-{n}", f"https://northjobs.example/jobs/{n}")
        if edge.get(url).status == 302:
            answered.append(f"m-{n}")
    edge.stop()  # flushes every buffer

    client = RedisCluster.from_url(seed)
    try:
        stored = queued_events(client)
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


def test_no_cluster_node_answering_spools_the_events_for_the_next_edge(
    redis_cluster: list[ClusterNode],
    start_edge,
    edge_env: dict[str, str],
    builder: LinkBuilder,
) -> None:
    """1. Every node of the cluster dies while the edge runs (redis-py then raises its own
    cluster exception, not a connection error). 2. Clicks are still answered, and the
    edge stops with its events in the spool. 3. The nodes come back: the next edge
    replays the spool into the cluster, each event once."""
    env = {**edge_env, "REDIS_URL": seed_url(redis_cluster), "TRACER_REDIS_CLUSTER": "1"}
    edge: EdgeProcess = start_edge(env)
    for node in redis_cluster:
        node.kill()
    traffic = Traffic(edge, click_paths(builder, 60))
    traffic.run()
    assert len(traffic.answered) == 60, traffic.failures[:3]
    edge.stop()
    spools = list((Path(env["TRACER_DATA_DIR"]) / "spool").glob("*.spool"))
    assert len(spools) == 1 and spools[0].stat().st_size > 0

    for node in redis_cluster:  # same ports and cluster config: the cluster forms again
        node.start()
    wait_for_cluster(redis_cluster)
    start_edge(env)
    client = RedisCluster.from_url(seed_url(redis_cluster))
    try:
        assert wait_until(lambda: len(queued_events(client)) >= 60)
        assert_exactly_once(client, traffic.answered)
        assert wait_until(lambda: not list(spools[0].parent.glob("*.spool")))
    finally:
        client.disconnect_connection_pools()
        client.close()
